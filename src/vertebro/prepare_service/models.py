"""The report models: what `vertebro prepare` says about one patient, in the shape of its JSON."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

from vertebro.report import CitationOut, CriterionOut, EvidenceOut, MissingOut

CheckStatus = Literal["pass", "fail", "unknown"]


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class PathwayOut(Out):
    """The identity of the exact pathway text used."""

    id: str
    title: str
    version: str
    hash: str


class SourceOut(Out):
    """A document the pathway cites."""

    id: str
    title: str
    publisher: str
    published: str | None
    url: str | None
    confidence: str
    note: str | None


class HospitalOut(Out):
    """Who the patient calls and where the procedure happens."""

    name: str
    department: str
    phone: str
    website: str | None
    location: str
    working_days: list[str]
    citations: list[CitationOut]


class CheckOut(Out):
    """One safety or suitability check with its verdict, evidence and what to do."""

    id: str
    title: str
    group: str
    status: CheckStatus
    if_failed: str  # the action a failure calls for
    advice: str | None  # what to do now: the failure's advice, or how to settle an unknown
    advice_citations: list[CitationOut]
    citation: CitationOut
    also_cited: list[CitationOut]
    evidence: list[EvidenceOut]
    criteria: list[CriterionOut]
    missing: list[MissingOut]
    note: str | None


class StepOut(Out):
    """One dated instruction of the plan."""

    kind: str
    phase: str
    date: dt.date | None
    time: str | None  # HH:MM
    summary: str
    drug: str | None
    last_dose: dt.date | None
    hours: float | None
    needs_clinician: bool
    citations: list[CitationOut]
    evidence: list[EvidenceOut]


class FlagOut(Out):
    """Something for a clinician to decide or confirm."""

    code: str
    message: str
    drug: str | None
    citations: list[CitationOut]
    evidence: list[EvidenceOut]


class DrugRuleOut(Out):
    """What the pathway says about one blood thinner."""

    drug: str
    drug_class: str
    action: str
    stop_days_before: int | None
    citations: list[CitationOut]


class PlanOut(Out):
    """The dated plan, and the numbers its wording uses."""

    procedure_date: dt.date
    procedure_time: str | None
    review_by: dt.date | None
    food_hours_before: float
    drinks_hours_before: float
    bed_rest_hours: tuple[float, float]  # at least, at most
    toilet_after_hours: float
    steps: list[StepOut]
    flags: list[FlagOut]
    blood_thinner_rules: list[DrugRuleOut]


class ConsentOut(Out):
    """A benefit, risk or limitation with its figure and the source of the figure."""

    id: str
    kind: str
    figure: str | None
    statement: str
    in_leaflet: bool
    note: str | None
    citations: list[CitationOut]


class BringOut(Out):
    """Something to bring; `local` when it is the hospital's own practice, not from a source."""

    text: str
    local: bool
    citations: list[CitationOut]


class PreparationReport(Out):
    """Everything `vertebro prepare` says about one patient, in the shape of its JSON."""

    input: str
    case: str
    procedures: list[str]
    prepared_on: dt.date
    pathway: PathwayOut
    hospital: HospitalOut
    readiness: str
    checks: list[CheckOut]
    plan: PlanOut
    what_to_bring: list[BringOut]
    consent: list[ConsentOut]
    sources: list[SourceOut]
