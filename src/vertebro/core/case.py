"""A case: the requested procedures and the facts known about the patient, as of a date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import FactSet

# The id of a case read from pasted note text, which names no patient or record: a placeholder,
# not something to show a patient as theirs.
UNNAMED_NOTE_CASE = "note"


@dataclass(frozen=True, slots=True)
class Case:
    """Everything an assessment needs about one patient's request."""

    id: str
    source: str  # where the case was read from
    requests: tuple[ProcedureRequest, ...]
    facts: FactSet
    request_date: dt.date | None = None  # the date of the request, the default as-of date
