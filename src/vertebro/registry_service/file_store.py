"""The registry in a SQLite file of its own (the CLI's `--db`): opening it."""

from __future__ import annotations

from pathlib import Path

from vertebro.adapters.errors import InputError
from vertebro.adapters.registry_store import SqliteRegistryRepository


def open_repository(path: Path | str) -> SqliteRegistryRepository:
    """The registry stored in a SQLite file (created on first use).

    Raises:
        InputError: the file is not a registry database vertebro can use.
    """
    try:
        return SqliteRegistryRepository(path)
    except (ValueError, OSError) as exc:
        raise InputError(str(path), f"cannot open the registry: {exc}") from None
    except Exception as exc:  # sqlite3.DatabaseError: not a database
        raise InputError(str(path), f"cannot open the registry: {exc}") from None
