"""The registry's records: a procedure, its complications and its follow-up outcomes.

Pure, frozen dataclasses. Records are built from validated input rows (`rows`) and checked
against each other (`validation`); the statistics (`audit`) read only these types.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from vertebro.core.catalogue import Procedure
from vertebro.core.levels import Level


class Approach(StrEnum):
    """How the needle reached the vertebral body."""

    UNILATERAL = "unilateral"
    BILATERAL = "bilateral"
    OTHER = "other"


class ImageGuidance(StrEnum):
    """The imaging that guided the needle and the cement."""

    FLUOROSCOPY = "fluoroscopy"
    CT = "ct"
    CT_FLUOROSCOPY = "ct-fluoroscopy"
    OTHER = "other"


class Sex(StrEnum):
    """The patient's sex as recorded."""

    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class ComplicationKind(StrEnum):
    """The complications the registry records (one record per event)."""

    CEMENT_LEAK = "cement-leak"
    PULMONARY_CEMENT_EMBOLISM = "pulmonary-cement-embolism"
    NERVE_INJURY = "nerve-injury"
    CORD_INJURY = "cord-injury"
    INFECTION = "infection"
    BLEEDING = "bleeding"
    NEW_FRACTURE = "new-fracture"
    DEATH = "death"


class LeakSite(StrEnum):
    """Where leaked cement went."""

    CANAL = "canal"  # the spinal canal (epidural)
    FORAMEN = "foramen"  # the exit of a nerve root
    VEINS = "veins"
    DISC = "disc"
    SOFT_TISSUE = "soft-tissue"
    OTHER = "other"


class FractureSite(StrEnum):
    """Where a new vertebral fracture is, relative to the treated levels."""

    ADJACENT = "adjacent"
    DISTANT = "distant"


class InjuryCause(StrEnum):
    """What caused a nerve or cord injury."""

    CEMENT = "cement"
    NEEDLE = "needle"
    OTHER = "other"
    UNKNOWN = "unknown"


class EventOutcome(StrEnum):
    """How a complication ended, as far as is known."""

    RECOVERED = "recovered"
    RECOVERING = "recovering"
    NOT_RECOVERED = "not-recovered"
    RECOVERED_WITH_HARM = "recovered-with-harm"
    FATAL = "fatal"
    UNKNOWN = "unknown"


class Timepoint(StrEnum):
    """When an outcome was measured."""

    BASELINE = "baseline"
    WEEKS_2 = "2-weeks"
    MONTHS_3 = "3-months"
    MONTHS_12 = "12-months"


TIMEPOINTS: tuple[Timepoint, ...] = tuple(Timepoint)


class AnalgesicUse(StrEnum):
    """The strongest regular pain relief taken, an ordered scale (see `ANALGESIC_RANK`)."""

    NONE = "none"
    NON_OPIOID = "non-opioid"
    WEAK_OPIOID = "weak-opioid"
    STRONG_OPIOID = "strong-opioid"


ANALGESIC_RANK: dict[AnalgesicUse, int] = {a: i for i, a in enumerate(AnalgesicUse)}


class Mobility(StrEnum):
    """How the patient walks, an ordered scale from best to worst (see `MOBILITY_RANK`)."""

    INDEPENDENT = "independent"
    WITH_AIDS = "with-aids"
    UNABLE = "unable"


MOBILITY_RANK: dict[Mobility, int] = {m: i for i, m in enumerate(Mobility)}


@dataclass(frozen=True, slots=True)
class CementProduct:
    """The bone cement used, as recorded on the procedure (the device for incident reports)."""

    product: str | None = None  # brand / trade name
    manufacturer: str | None = None
    lot: str | None = None
    expiry: dt.date | None = None


@dataclass(frozen=True, slots=True)
class ProcedureRecord:
    """One cement augmentation procedure on one patient on one day."""

    id: str
    date: dt.date
    operator: str
    procedure: Procedure
    levels: tuple[Level, ...]
    approach: Approach
    image_guidance: ImageGuidance
    cement_ml: tuple[tuple[Level, float], ...]  # volume per treated level, in level order
    biopsy: bool
    patient: str | None = None  # a pseudonymous reference, never a name
    age: int | None = None  # years, at the procedure
    sex: Sex | None = None
    cement: CementProduct = field(default_factory=CementProduct)
    assessment_id: str | None = None
    decision_id: str | None = None
    policy: str | None = None  # the policy id of the assessment that approved the patient
    pathway: str | None = None  # its decided_by criterion id
    case_id: str | None = None  # the prior-authorisation case; when set, it supplies the pathway

    @property
    def total_cement_ml(self) -> float:
        """The cement injected at all levels."""
        return sum(volume for _, volume in self.cement_ml)


@dataclass(frozen=True, slots=True)
class Complication:
    """One complication of a procedure."""

    id: str
    procedure_id: str
    kind: ComplicationKind
    date: dt.date
    symptomatic: bool | None = None  # cement leak only
    leak_site: LeakSite | None = None  # cement leak only
    fracture_site: FractureSite | None = None  # new fracture only
    level: Level | None = None  # new fracture: the level that broke
    cause: InjuryCause | None = None  # nerve or cord injury only
    further_intervention: bool = False  # treatment beyond observation was needed
    outcome: EventOutcome = EventOutcome.UNKNOWN
    device_related: bool | None = None  # the cement (device) is suspected to have contributed
    description: str | None = None


@dataclass(frozen=True, slots=True)
class FollowUp:
    """The outcome measures at one timepoint after (or, for baseline, before) a procedure."""

    procedure_id: str
    timepoint: Timepoint
    date: dt.date
    pain: int | None = None  # 0-10 numeric rating
    analgesics: AnalgesicUse | None = None
    mobility: Mobility | None = None
    roland_morris: int | None = None  # Roland-Morris disability questionnaire, 0-24


@dataclass(frozen=True, slots=True)
class Registry:
    """A set of procedures with their complications and follow-ups."""

    procedures: tuple[ProcedureRecord, ...] = ()
    complications: tuple[Complication, ...] = ()
    follow_ups: tuple[FollowUp, ...] = ()

    def __len__(self) -> int:
        return len(self.procedures)
