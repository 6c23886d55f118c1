"""A case: the requested procedures and the facts known about the patient, as of a date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import FactSet


@dataclass(frozen=True, slots=True)
class Case:
    """Everything an assessment needs about one patient's request."""

    id: str
    source: str  # where the case was read from
    requests: tuple[ProcedureRequest, ...]
    facts: FactSet
    request_date: dt.date | None = None  # the date of the request, the default as-of date
