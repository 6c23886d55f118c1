"""The error adapters raise for bad input: one line naming the file, the place and the fault."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input, reported to the user as one line (and as an OperationOutcome on the API)."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line
        self.message = message
