"""The patient pathway as data: checks, plan rules, consent figures and the hospital's details.

Build a `Pathway` with `vertebro.core.pathway.format.pathway_from_dict`; every rule carries the
citations it encodes, so each conclusion drawn from it can show its source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from vertebro.core.catalogue import Procedure
from vertebro.core.criteria import Citation, Criterion
from vertebro.core.policy import Source


class CheckGroup(StrEnum):
    """What a check is about, for grouping in reports."""

    SUITABILITY = "suitability"  # is the procedure the right treatment?
    SAFETY = "safety"  # is it safe to go ahead now?
    TEAM = "team"  # the team, the service and consent


class FailAction(StrEnum):
    """What a failed check means for the procedure."""

    URGENT_SPINAL_REVIEW = "urgent-spinal-review"  # a red flag: refer instead of treating
    NOT_SUITABLE = "not-suitable"  # the procedure is not the right treatment
    RESOLVE_FIRST = "resolve-first"  # do not go ahead until it is resolved
    PLAN_ACCOMMODATIONS = "plan-accommodations"  # go ahead, with arrangements made


@dataclass(frozen=True, slots=True)
class Advice:
    """What to do, for the clinician, with the citations that support it."""

    text: str
    citations: tuple[Citation, ...]


@dataclass(frozen=True, slots=True)
class Check:
    """A safety or suitability check: it passes when `pass_when` is met."""

    id: str
    title: str
    group: CheckGroup
    citations: tuple[Citation, ...]
    pass_when: Criterion
    fail_action: FailAction
    fail_advice: Advice
    unknown_advice: str
    note: str | None


class DrugAction(StrEnum):
    """What the pathway says to do with a blood thinner before the procedure."""

    STOP = "stop"
    CONTINUE = "continue"
    ASK_CLINICIAN = "ask-clinician"  # the sources give no rule: a clinician decides


class DrugClass(StrEnum):
    """The kind of blood thinner."""

    ANTICOAGULANT = "anticoagulant"
    ANTIPLATELET = "antiplatelet"


@dataclass(frozen=True, slots=True)
class DrugRule:
    """One blood thinner's rule. A drug with no rule is flagged for a clinician."""

    drug: str
    drug_class: DrugClass
    action: DrugAction
    stop_days_before: int | None  # for STOP: the drug is not taken on this many days before
    clotting_check: bool  # a blood test on the day checks clotting has returned to normal
    citations: tuple[Citation, ...]
    note: str | None


@dataclass(frozen=True, slots=True)
class CitedRule:
    """An instruction with no numbers of its own, and its citations."""

    citations: tuple[Citation, ...]
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Fasting:
    """How long before the procedure the patient stops eating and drinking."""

    food_hours_before: float
    drinks_hours_before: float
    citations: tuple[Citation, ...]


@dataclass(frozen=True, slots=True)
class BedRest:
    """Rest in bed after the procedure."""

    min_hours: float
    max_hours: float
    toilet_after_hours: float  # when the patient may get up to use the toilet
    citations: tuple[Citation, ...]


@dataclass(frozen=True, slots=True)
class PlanRules:
    """The rules that turn a procedure date and time into a dated personal plan."""

    drugs: Mapping[str, DrugRule]
    bridging: CitedRule  # a temporary blood thinner when the clotting risk is high
    restart: CitedRule  # restarting blood thinners after the procedure
    fasting: Fasting
    other_medicines: CitedRule
    antibiotics: CitedRule
    bed_rest: BedRest
    outpatient_discharge: CitedRule  # outpatients go home the same day
    inpatient_stay: CitedRule
    aftercare: CitedRule


@dataclass(frozen=True, slots=True)
class Hospital:
    """The hospital's details that the patient sees."""

    name: str
    department: str
    phone: str
    website: str | None
    location: str  # where the procedure is done
    working_days: frozenset[int]  # 0 = Monday ... 6 = Sunday: when the department answers calls
    citations: tuple[Citation, ...]


@dataclass(frozen=True, slots=True)
class BringItem:
    """Something to bring; without citations it is the hospital's local practice."""

    text: str
    citations: tuple[Citation, ...]


class ConsentKind(StrEnum):
    """What a consent item is."""

    BENEFIT = "benefit"
    RISK = "risk"
    LIMITATION = "limitation"


@dataclass(frozen=True, slots=True)
class ConsentItem:
    """A benefit, risk or limitation to discuss before consent, with its figure and source."""

    id: str
    kind: ConsentKind
    figure: str | None  # e.g. '1 in 500'; None for an item without a number
    statement: str  # plain English, for the patient
    citations: tuple[Citation, ...]
    in_leaflet: bool
    note: str | None


@dataclass(frozen=True, slots=True)
class Pathway:
    """A hospital's pathway for preparing a patient for the procedure."""

    id: str
    title: str
    version: str
    procedures: tuple[Procedure, ...]
    sources: Mapping[str, Source]
    hospital: Hospital
    checks: tuple[Check, ...]
    plan: PlanRules
    what_to_bring: tuple[BringItem, ...]
    consent: tuple[ConsentItem, ...]
    content_hash: str
