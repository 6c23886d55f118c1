"""The registry API's output models, and how stored records become them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict

from vertebro.adapters.db.registry_repository import (
    RecordedBy,
    StoredComplication,
    StoredFollowUp,
    StoredProcedure,
)
from vertebro.core.registry.model import Complication, FollowUp, ProcedureRecord
from vertebro.registry_service import ProcedureDetail

# --- Output models ------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class RecordedByOut(_Out):
    """Who recorded a record, and when."""

    id: str
    name: str
    organisation: str
    at: dt.datetime


class CaseLinkOut(_Out):
    """The prior-authorisation case a procedure names, and the pathway it gives."""

    case_id: str
    state: str
    policy: str | None
    pathway: str


class RegistryProcedureOut(_Out):
    """A procedure as stored."""

    organisation: str
    id: str
    date: dt.date
    operator: str
    procedure: str
    levels: list[str]
    approach: str
    image_guidance: str
    cement_ml: dict[str, float]
    biopsy: bool
    patient: str | None
    age: int | None
    sex: str | None
    cement_product: str | None
    cement_manufacturer: str | None
    cement_lot: str | None
    cement_expiry: dt.date | None
    assessment_id: str | None
    decision_id: str | None
    policy: str | None  # as typed into the record
    pathway: str | None  # as typed into the record
    case_id: str | None
    recorded_by: RecordedByOut


class ComplicationOut(_Out):
    """A complication as stored."""

    organisation: str
    id: str
    procedure_id: str
    kind: str
    date: dt.date
    symptomatic: bool | None
    leak_site: str | None
    fracture_site: str | None
    level: str | None
    cause: str | None
    further_intervention: bool
    outcome: str
    device_related: bool | None
    description: str | None
    recorded_by: RecordedByOut


class FollowUpOut(_Out):
    """A follow-up as stored."""

    organisation: str
    procedure_id: str
    timepoint: str
    date: dt.date
    pain: int | None
    analgesics: str | None
    mobility: str | None
    roland_morris: int | None
    recorded_by: RecordedByOut


class ProcedureDetailOut(_Out):
    """A procedure with its complications, follow-ups and linked case."""

    procedure: RegistryProcedureOut
    case: CaseLinkOut | None
    complications: list[ComplicationOut]
    follow_ups: list[FollowUpOut]


class ProcedureListOut(_Out):
    """A page of procedures, newest first."""

    count: int
    procedures: list[RegistryProcedureOut]


class ImportOut(_Out):
    """What an import stored, and every row it skipped (an OperationOutcome of warnings)."""

    source: str
    loaded: dict[str, int]
    bad_rows: int
    outcome: dict[str, Any] | None


def _recorded(by: RecordedBy) -> RecordedByOut:
    return RecordedByOut(id=by.id, name=by.name, organisation=by.organisation, at=by.at)


def procedure_out(stored: StoredProcedure) -> RegistryProcedureOut:
    """A stored procedure as the API shows it."""
    p: ProcedureRecord = stored.record
    return RegistryProcedureOut(
        organisation=stored.organisation,
        id=p.id,
        date=p.date,
        operator=p.operator,
        procedure=p.procedure.value,
        levels=[str(lv) for lv in p.levels],
        approach=p.approach.value,
        image_guidance=p.image_guidance.value,
        cement_ml={str(lv): ml for lv, ml in p.cement_ml},
        biopsy=p.biopsy,
        patient=p.patient,
        age=p.age,
        sex=p.sex.value if p.sex else None,
        cement_product=p.cement.product,
        cement_manufacturer=p.cement.manufacturer,
        cement_lot=p.cement.lot,
        cement_expiry=p.cement.expiry,
        assessment_id=p.assessment_id,
        decision_id=p.decision_id,
        policy=p.policy,
        pathway=p.pathway,
        case_id=p.case_id,
        recorded_by=_recorded(stored.recorded),
    )


def complication_out(stored: StoredComplication) -> ComplicationOut:
    """A stored complication as the API shows it."""
    c: Complication = stored.record
    return ComplicationOut(
        organisation=stored.organisation,
        id=c.id,
        procedure_id=c.procedure_id,
        kind=c.kind.value,
        date=c.date,
        symptomatic=c.symptomatic,
        leak_site=c.leak_site.value if c.leak_site else None,
        fracture_site=c.fracture_site.value if c.fracture_site else None,
        level=str(c.level) if c.level else None,
        cause=c.cause.value if c.cause else None,
        further_intervention=c.further_intervention,
        outcome=c.outcome.value,
        device_related=c.device_related,
        description=c.description,
        recorded_by=_recorded(stored.recorded),
    )


def follow_up_out(stored: StoredFollowUp) -> FollowUpOut:
    """A stored follow-up as the API shows it."""
    f: FollowUp = stored.record
    return FollowUpOut(
        organisation=stored.organisation,
        procedure_id=f.procedure_id,
        timepoint=f.timepoint.value,
        date=f.date,
        pain=f.pain,
        analgesics=f.analgesics.value if f.analgesics else None,
        mobility=f.mobility.value if f.mobility else None,
        roland_morris=f.roland_morris,
        recorded_by=_recorded(stored.recorded),
    )


def detail_out(detail: ProcedureDetail) -> ProcedureDetailOut:
    """A procedure with its records and linked case as the API shows it."""
    case = None
    if detail.case is not None and detail.approval is not None:
        case = CaseLinkOut(
            case_id=detail.case.id,
            state=detail.case.state,
            policy=detail.approval.policy,
            pathway=detail.approval.pathway,
        )
    return ProcedureDetailOut(
        procedure=procedure_out(detail.stored),
        case=case,
        complications=[complication_out(c) for c in detail.complications],
        follow_ups=[follow_up_out(f) for f in detail.follow_ups],
    )
