"""Reading a registry file or upload: the size and text checks, then CSV or FHIR by its content."""

from __future__ import annotations

from pathlib import Path

from vertebro.adapters.errors import InputError
from vertebro.adapters.registry_import.csv_reading import read_csv
from vertebro.adapters.registry_import.fhir_reading import read_fhir
from vertebro.adapters.registry_import.raw_rows import MAX_BYTES, Reading


def read_registry_file(path: Path) -> Reading:
    """Read a registry CSV or FHIR JSON file.

    Raises:
        InputError: the file cannot be read, is not CSV or JSON, or has an unknown header.
    """
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(source, f"cannot read: {exc.strerror or exc}") from None
    return read_registry_bytes(raw, source, fhir=path.suffix.lower() == ".json" or None)


def read_registry_bytes(raw: bytes, source: str, *, fhir: bool | None = None) -> Reading:
    """Read registry CSV or FHIR JSON from bytes (an upload). `fhir`: True for FHIR JSON,
    False for CSV, None to tell by the content (JSON starts with '{').

    Raises:
        InputError: too large, not UTF-8, empty, not CSV or JSON, or an unknown header.
    """
    if len(raw) > MAX_BYTES:
        raise InputError(source, f"{len(raw):,} bytes; the limit is {MAX_BYTES:,}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(source, "not UTF-8 text") from None
    if not text.strip():
        raise InputError(source, "empty file")
    if "\x00" in text:  # no database can store it (PostgreSQL refuses NUL in text)
        raise InputError(source, "holds a NUL character; not a text file")
    if fhir or (fhir is None and text.lstrip().startswith("{")):
        return read_fhir(text, source)
    return read_csv(text, source)
