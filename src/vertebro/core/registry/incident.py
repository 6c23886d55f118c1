"""A device-related adverse incident report, in the shape a regulator's device form asks for.

Built from one complication, its procedure and the reporter's details; never submitted
anywhere: the report is for a person to check, complete and file (in the UK through the MHRA
Yellow Card scheme in England and Wales, Health Facilities Scotland in Scotland and the
Northern Ireland Adverse Incident Centre in Northern Ireland). Device forms ask for who
reports, the device (type, brand, manufacturer, lot or batch, expiry), what happened and when,
the patient (age, sex: no name is needed), the outcome, and whether the device is kept for
the manufacturer's investigation; `missing` lists what the registry could not fill.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

from vertebro.core.registry.model import (
    Complication,
    ComplicationKind,
    EventOutcome,
    InjuryCause,
    ProcedureRecord,
)

DEVICE_TYPE = "Bone cement (polymethylmethacrylate, PMMA) for vertebral augmentation"
Seriousness = Literal["death", "serious-deterioration", "other"]


class IncidentNotDeviceRelated(ValueError):
    """The complication is not recorded as one the cement (the device) may have caused."""


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Reporter(_Out):
    """Who files the report (from the command line or the user's profile)."""

    name: str | None = None
    role: str | None = None
    organisation: str | None = None
    email: str | None = None
    phone: str | None = None


class DeviceOut(_Out):
    """The device as recorded on the procedure."""

    type: str
    brand: str | None
    manufacturer: str | None
    lot: str | None
    expiry: dt.date | None
    catalogue_number: str | None  # not recorded by the registry
    udi: str | None  # not recorded by the registry
    quantity_ml: float
    kept_for_investigation: bool | None  # not recorded by the registry


class ProcedureOut(_Out):
    """The procedure in which the device was used."""

    id: str
    type: str
    date: dt.date
    levels: list[str]
    cement_ml: dict[str, float]
    approach: str
    image_guidance: str
    operator: str


class PatientOut(_Out):
    """The patient, without name or other identifying details."""

    reference: str | None
    age: int | None
    sex: str | None


class IncidentEventOut(_Out):
    """What happened."""

    complication_id: str
    kind: str
    date: dt.date
    days_after_procedure: int
    description: str
    leak_site: str | None
    symptomatic: bool | None
    cause: str | None
    further_intervention: bool
    seriousness: Seriousness
    outcome: str
    setting: str


class IncidentReport(_Out):
    """A draft device incident report; `submitted` is always false."""

    reference: str
    report_type: Literal["initial"]
    report_date: dt.date
    submitted: Literal[False]
    route: list[str]
    reporter: Reporter
    device: DeviceOut
    procedure: ProcedureOut
    patient: PatientOut
    event: IncidentEventOut
    actions: list[str]
    missing: list[str]  # required before filing
    to_confirm: list[str]  # asked by forms, not recorded by the registry
    ready_to_file: bool


ROUTES = (
    "England and Wales: MHRA Yellow Card scheme (medical device adverse incident)",
    "Scotland: Health Facilities Scotland incident reporting",
    "Northern Ireland: Northern Ireland Adverse Incident Centre",
)
ACTIONS = (
    "Keep any unused cement, its packaging and labels for the manufacturer's investigation.",
    "Tell the manufacturer or supplier of the cement.",
    "Copy the report to your organisation's Medical Device Safety Officer.",
    "Do not include the patient's name or other identifying details.",
)
_CEMENT_KINDS = frozenset(
    {ComplicationKind.CEMENT_LEAK, ComplicationKind.PULMONARY_CEMENT_EMBOLISM}
)


def device_related(complication: Complication) -> bool:
    """Whether a complication may be reported as a device incident: recorded as device-related,
    or, when not recorded either way, a cement leak, cement in the lungs or a nerve or cord
    injury caused by cement."""
    if complication.device_related is not None:
        return complication.device_related
    return complication.kind in _CEMENT_KINDS or complication.cause is InjuryCause.CEMENT


def seriousness(complication: Complication) -> Seriousness:
    """Death, serious deterioration in health (harm, lasting harm or further treatment), or
    other."""
    c = complication
    if c.kind is ComplicationKind.DEATH or c.outcome is EventOutcome.FATAL:
        return "death"
    serious_outcome = c.outcome in (EventOutcome.NOT_RECOVERED, EventOutcome.RECOVERED_WITH_HARM)
    if c.kind is ComplicationKind.CORD_INJURY or serious_outcome or c.further_intervention:
        return "serious-deterioration"
    return "other"


def _description(c: Complication, p: ProcedureRecord) -> str:
    if c.description:
        return c.description
    parts = [f"{c.kind.value.replace('-', ' ').capitalize()} after {p.procedure.value}"]
    parts.append(f"at {', '.join(str(lv) for lv in p.levels)} on {p.date.isoformat()}")
    if c.leak_site is not None:
        parts.append(f"(cement into {c.leak_site.value}; symptomatic: "
                     f"{'yes' if c.symptomatic else 'no'})")
    return " ".join(parts) + "."


def build_incident(
    complication: Complication,
    procedure: ProcedureRecord,
    *,
    reporter: Reporter,
    report_date: dt.date,
) -> IncidentReport:
    """The draft report for one complication.

    Raises:
        IncidentNotDeviceRelated: the complication is not recorded as device-related.
        ValueError: the complication belongs to another procedure.
    """
    c, p = complication, procedure
    if c.procedure_id != p.id:
        raise ValueError(f"complication {c.id} belongs to {c.procedure_id}, not {p.id}")
    if not device_related(c):
        raise IncidentNotDeviceRelated(
            f"complication {c.id} ({c.kind.value}) is not recorded as device-related; the "
            "incident export is for events the cement may have caused"
        )
    device = DeviceOut(
        type=DEVICE_TYPE,
        brand=p.cement.product,
        manufacturer=p.cement.manufacturer,
        lot=p.cement.lot,
        expiry=p.cement.expiry,
        catalogue_number=None,
        udi=None,
        quantity_ml=round(p.total_cement_ml, 2),
        kept_for_investigation=None,
    )
    event = IncidentEventOut(
        complication_id=c.id,
        kind=c.kind.value,
        date=c.date,
        days_after_procedure=(c.date - p.date).days,
        description=_description(c, p),
        leak_site=c.leak_site.value if c.leak_site else None,
        symptomatic=c.symptomatic,
        cause=c.cause.value if c.cause else None,
        further_intervention=c.further_intervention,
        seriousness=seriousness(c),
        outcome=c.outcome.value,
        setting="hospital (interventional radiology or theatre)",
    )
    required = {
        "reporter.name": reporter.name,
        "reporter.organisation": reporter.organisation,
        "reporter.email or reporter.phone": reporter.email or reporter.phone,
        "device.brand": device.brand,
        "device.manufacturer": device.manufacturer,
        "device.lot": device.lot,
        "patient.age": p.age,
        "patient.sex": p.sex.value if p.sex else None,
        "event.outcome": None if c.outcome is EventOutcome.UNKNOWN else c.outcome.value,
    }
    missing = [name for name, value in required.items() if value in (None, "")]
    to_confirm = [
        "device.catalogue_number (if on the label)",
        "device.udi (if on the label)",
        "device.kept_for_investigation",
    ]
    return IncidentReport(
        reference=f"VERTEBRO-{c.id}",
        report_type="initial",
        report_date=report_date,
        submitted=False,
        route=list(ROUTES),
        reporter=reporter,
        device=device,
        procedure=ProcedureOut(
            id=p.id,
            type=p.procedure.value,
            date=p.date,
            levels=[str(lv) for lv in p.levels],
            cement_ml={str(lv): ml for lv, ml in p.cement_ml},
            approach=p.approach.value,
            image_guidance=p.image_guidance.value,
            operator=p.operator,
        ),
        patient=PatientOut(
            reference=p.patient, age=p.age, sex=p.sex.value if p.sex else None
        ),
        event=event,
        actions=list(ACTIONS),
        missing=missing,
        to_confirm=to_confirm,
        ready_to_file=not missing,
    )
