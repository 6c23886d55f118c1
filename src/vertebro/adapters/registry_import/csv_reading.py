"""Reading registry CSV files (the kind of file told by its header) into raw rows."""

from __future__ import annotations

import csv
import io

from vertebro.adapters.errors import InputError
from vertebro.adapters.registry_import.raw_rows import (
    COMPLICATION_COLUMNS,
    FOLLOW_UP_COLUMNS,
    PROCEDURE_COLUMNS,
    RawRow,
    Reading,
    RowKind,
)

_REQUIRED: dict[RowKind, tuple[str, ...]] = {
    "procedure": PROCEDURE_COLUMNS[:8],
    "complication": COMPLICATION_COLUMNS[:4],
    "follow-up": FOLLOW_UP_COLUMNS[:3],
}
_COLUMNS: dict[RowKind, tuple[str, ...]] = {
    "procedure": PROCEDURE_COLUMNS,
    "complication": COMPLICATION_COLUMNS,
    "follow-up": FOLLOW_UP_COLUMNS,
}


def _csv_kind(header: list[str], source: str) -> RowKind:
    names = set(header)
    kind: RowKind
    if "operator" in names:
        kind = "procedure"
    elif "kind" in names:
        kind = "complication"
    elif "timepoint" in names:
        kind = "follow-up"
    else:
        raise InputError(
            source,
            "cannot tell the kind of file from its header: a procedures file has an 'operator' "
            "column, a complications file 'kind', a follow-ups file 'timepoint'",
            1,
        )
    unknown = [name for name in header if name not in _COLUMNS[kind]]
    if unknown:
        raise InputError(
            source,
            f"unknown column {unknown[0]!r} in a {kind} file; the columns are: "
            f"{', '.join(_COLUMNS[kind])}",
            1,
        )
    missing = [name for name in _REQUIRED[kind] if name not in names]
    if missing:
        raise InputError(source, f"the header lacks the column {missing[0]!r}", 1)
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise InputError(source, f"the column {repeated[0]!r} appears twice", 1)
    return kind


def read_csv(text: str, source: str) -> Reading:
    """Read a registry CSV file (see the module notes for its header).

    Raises:
        InputError: not CSV, or an unknown, missing or repeated column.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise InputError(source, f"not a CSV file: {exc}", 1) from None
    kind = _csv_kind(header, source)
    rows = []
    line = reader.line_num + 1
    try:
        for values in reader:
            start, line = line, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            problems: tuple[tuple[str, str], ...] = ()
            if len(values) != len(header):
                problems = (("row", f"{len(values)} values for {len(header)} columns"),)
            data = {
                name: value for name, value in zip(header, values, strict=False) if value.strip()
            }
            rows.append(RawRow(kind, start, f"line {start}", data, problems))
    except csv.Error as exc:
        raise InputError(source, f"not valid CSV: {exc}", reader.line_num) from None
    return Reading(source, rows)
