"""The shared raw row types, the CSV column names and the size limits of registry files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

RowKind = Literal["procedure", "complication", "follow-up"]
EXT = "urn:vertebro:registry:"  # vertebro's extension URLs and code system for FHIR
MAX_BYTES = 200_000_000
LINES_UP_TO_BYTES = 2_000_000  # larger JSON is parsed without line numbers (it is much faster)

PROCEDURE_COLUMNS = (
    "id",
    "date",
    "operator",
    "procedure",
    "levels",
    "approach",
    "image_guidance",
    "cement_ml",
    "biopsy",
    "patient",
    "age",
    "sex",
    "cement_product",
    "cement_manufacturer",
    "cement_lot",
    "cement_expiry",
    "assessment_id",
    "decision_id",
    "policy",
    "pathway",
    "case_id",
)
COMPLICATION_COLUMNS = (
    "id",
    "procedure_id",
    "kind",
    "date",
    "symptomatic",
    "leak_site",
    "fracture_site",
    "level",
    "cause",
    "further_intervention",
    "outcome",
    "device_related",
    "description",
)
FOLLOW_UP_COLUMNS = (
    "procedure_id",
    "timepoint",
    "date",
    "pain",
    "analgesics",
    "mobility",
    "roland_morris",
)


@dataclass(frozen=True, slots=True)
class RawRow:
    """One record as read: its kind, where it was (line, label) and its fields, unjudged."""

    kind: RowKind
    line: int | None
    label: str  # e.g. "row 12" or "Procedure/p-1"
    data: dict[str, Any]
    problems: tuple[tuple[str, str], ...] = ()  # (field, message) found while reading


@dataclass(frozen=True, slots=True)
class Reading:
    """Everything read from one file."""

    source: str
    rows: list[RawRow]
    notes: list[str] = field(default_factory=list)  # what was skipped and why
