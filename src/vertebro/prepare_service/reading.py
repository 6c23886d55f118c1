"""Reading a case from pasted or uploaded text (the web page's input)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vertebro.adapters.errors import InputError
from vertebro.core.case import Case


@dataclass(frozen=True, slots=True)
class ReadText:
    """A case read from pasted or uploaded text, what kind of input it was, and the reader's
    warnings (FHIR input: what was skipped or doubted)."""

    case: Case
    kind: Literal["clinical note", "FHIR", "vertebro case"]
    warnings: tuple[str, ...] = ()


MAX_TEXT_BYTES = 5_000_000


def read_text(text: str, name: str, *, today: dt.date) -> ReadText:
    """Read what `vertebro prepare` reads from a file, from text (the web page's input).

    JSON (`name` ends in .json, or the text is a JSON object) is FHIR R4 or a vertebro case;
    `name` ending in .yaml/.yml, or pasted YAML with `requests` or `facts`, is a case file;
    anything else is a clinical note, dated by its "Date:" line when it has one.

    Raises:
        InputError: empty, too long, unreadable as its kind, or holding no vertebroplasty,
            kyphoplasty or sacroplasty request.
    """
    # Imported here: the CLI's `prepare` never needs the service's readers (or their imports).
    from vertebro import case_service
    from vertebro.adapters import yaml_lines
    from vertebro.adapters.case_files import parse_case
    from vertebro.adapters.fhir.notes import nlp_function

    if not text.strip():
        raise InputError(name, "there is no text")
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise InputError(name, f"the text is {size:,} bytes; the limit is {MAX_TEXT_BYTES:,}")
    lower = name.lower()
    stem = Path(name).stem or "case"
    read: ReadText | None = None
    if lower.endswith(".json") or text.lstrip().startswith("{"):
        from vertebro.adapters.fhir import parse_json

        result = case_service.read_json_document(
            parse_json(text.encode("utf-8"), name), name, as_of=today
        )
        kind: Literal["FHIR", "vertebro case"] = (
            "vertebro case" if result.kind == "vertebro case" else "FHIR"
        )
        read = ReadText(case=result.case, kind=kind, warnings=result.warnings)
    elif not lower.endswith(".txt"):
        try:
            data = yaml_lines.load(text)
        except yaml_lines.YamlError as exc:
            if lower.endswith((".yaml", ".yml")):
                raise InputError(name, exc.message, exc.line) from None
            data = None  # not YAML: a note
        if lower.endswith((".yaml", ".yml")) or (
            isinstance(data, dict) and ("requests" in data or "facts" in data)
        ):
            read = ReadText(case=parse_case(data, name, default_id=stem), kind="vertebro case")
    if read is None:
        dated = nlp_function("note_date_from_text")
        note_date = dated(text) if dated is not None else None
        result = case_service.read_note_text(
            text, name, note_date=note_date if isinstance(note_date, dt.date) else None
        )
        read = ReadText(case=result.case, kind="clinical note", warnings=result.warnings)
    if not read.case.requests:
        raise InputError(
            name,
            f"the {'FHIR input' if read.kind == 'FHIR' else read.kind} names no "
            "vertebroplasty, kyphoplasty or sacroplasty request to prepare for",
        )
    return read
