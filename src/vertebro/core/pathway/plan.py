"""The dated personal plan: what to stop and when, fasting clock times, the day and after.

Pure: the procedure date and time and today's date are arguments. Dates are calendar dates, so a
drug stopped "5 days before" a Monday procedure is not taken from the Wednesday before, weekend or
not. Anything the pathway cannot settle (a blood thinner without a cited rule, a missing record, a
stop date already past) becomes a flag for a clinician, never a silent omission.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from vertebro.core.catalogue import CATALOGUE, Procedure
from vertebro.core.criteria import Citation
from vertebro.core.facts import Fact, FactSet
from vertebro.core.pathway.model import DrugAction, DrugRule, Pathway

_MEDICATION = "medication.blood_thinners"


class PlanInputError(ValueError):
    """The arguments cannot make a plan (for example a procedure date in the past)."""


class Phase(StrEnum):
    """When a step happens relative to the procedure."""

    THROUGHOUT = "until-the-procedure"  # every day until the procedure
    BEFORE = "before"
    DAY = "on-the-day"
    AFTER = "after"


class StepKind(StrEnum):
    """What a step asks of the patient or the team."""

    CONTINUE_DRUG = "continue-drug"
    OTHER_MEDICINES = "other-medicines"
    ASK_CLINICIAN = "ask-clinician"
    STOP_DRUG = "stop-drug"
    BRIDGING = "bridging"
    NO_FOOD = "no-food"
    NO_DRINKS = "no-drinks"
    CLOTTING_CHECK = "clotting-check"
    ANTIBIOTICS = "antibiotics"
    PROCEDURE = "procedure"
    BED_REST = "bed-rest"
    GO_HOME = "go-home"
    STAY_IN_HOSPITAL = "stay-in-hospital"
    DISCHARGE_TO_CONFIRM = "discharge-to-confirm"
    RESTART_BLOOD_THINNERS = "restart-blood-thinners"
    AFTERCARE = "aftercare"


_KIND_ORDER = list(StepKind)


@dataclass(frozen=True, slots=True)
class Step:
    """One dated instruction. `day` is None for a step that holds every day until the procedure."""

    kind: StepKind
    phase: Phase
    day: dt.date | None
    time: dt.time | None
    summary: str  # one line for the clinician
    citations: tuple[Citation, ...]
    drug: str | None = None
    last_dose: dt.date | None = None  # for STOP_DRUG: the last day the drug may be taken
    hours: float | None = None  # fasting hours before, or the longest bed rest
    evidence: tuple[Fact, ...] = ()
    needs_clinician: bool = False


class FlagCode(StrEnum):
    """Why a clinician must look at the plan."""

    DRUG_WITHOUT_RULE = "drug-without-rule"
    UNNAMED_BLOOD_THINNER = "unnamed-blood-thinner"
    BLOOD_THINNERS_NOT_RECORDED = "blood-thinners-not-recorded"
    BRIDGING = "bridging"
    CLOTTING_RISK_NOT_RECORDED = "clotting-risk-not-recorded"
    STOP_DATE_PASSED = "stop-date-passed"
    NO_PROCEDURE_TIME = "no-procedure-time"
    NON_WORKING_DAY = "non-working-day"
    PROCEDURE_NOT_COVERED = "procedure-not-covered"


@dataclass(frozen=True, slots=True)
class Flag:
    """Something a clinician must decide or confirm before the plan is given to the patient."""

    code: FlagCode
    message: str
    citations: tuple[Citation, ...] = ()
    evidence: tuple[Fact, ...] = ()
    drug: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """The patient's dated plan and the flags raised while making it."""

    procedure_date: dt.date
    procedure_time: dt.time | None
    steps: tuple[Step, ...]
    flags: tuple[Flag, ...]
    review_by: dt.date | None  # when flagged medicine questions must be settled


def long_date(day: dt.date) -> str:
    """A date as people read it: 'Wednesday 10 June 2026'."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def clock(time: dt.time) -> str:
    """A 24-hour clock time: '08:00'."""
    return f"{time:%H:%M}"


def last_working_day(day: dt.date, working_days: frozenset[int]) -> dt.date:
    """The latest day on or before `day` that is a working day (0 = Monday)."""
    for back in range(7):
        candidate = day - dt.timedelta(days=back)
        if candidate.weekday() in working_days:
            return candidate
    return day  # no working days at all: nothing to move to


def build_plan(
    pathway: Pathway,
    facts: FactSet,
    *,
    procedure_date: dt.date,
    procedure_time: dt.time | None,
    today: dt.date,
    procedures: tuple[Procedure, ...] = (),
) -> Plan:
    """Date every instruction of the pathway for this patient.

    Raises:
        PlanInputError: the procedure date is before today.
    """
    if procedure_date < today:
        raise PlanInputError(
            f"the procedure date {procedure_date} is in the past (today is {today})"
        )
    return _PlanBuilder(pathway, facts, procedure_date, procedure_time, today, procedures).build()


class _PlanBuilder:
    def __init__(
        self,
        pathway: Pathway,
        facts: FactSet,
        day: dt.date,
        time: dt.time | None,
        today: dt.date,
        procedures: tuple[Procedure, ...],
    ) -> None:
        self.pathway = pathway
        self.rules = pathway.plan
        self.facts = facts
        self.day = day
        self.time = time
        self.today = today
        self.procedures = procedures
        self.steps: list[Step] = []
        self.flags: list[Flag] = []
        stops = [r.stop_days_before or 0 for r in self.rules.drugs.values()]
        longest = max(stops, default=0)
        # Questions about medicines must be settled by the last working day before the day on
        # which the longest cited stop begins, so that any answer can still be followed.
        deadline = last_working_day(
            day - dt.timedelta(days=longest + 1), pathway.hospital.working_days
        )
        self.review_by = max(deadline, today)
        self.by = long_date(self.review_by)
        if deadline < today:
            self.by = f"today ({self.by}): this is urgent"
        self.review_used = False
        self.paused = False  # some blood thinner is (or may be) stopped and must be restarted

    def build(self) -> Plan:
        self._procedure_checks()
        stopped = self._blood_thinners()
        self._add(
            StepKind.OTHER_MEDICINES,
            Phase.THROUGHOUT,
            None,
            "Take all medicines other than blood thinners as normal",
            self.rules.other_medicines.citations,
        )
        self._fasting()
        self._on_the_day(stopped)
        self._after()
        steps = sorted(self.steps, key=self._order)
        return Plan(
            self.day,
            self.time,
            tuple(steps),
            tuple(self.flags),
            self.review_by if self.review_used else None,
        )

    def _order(self, step: Step) -> tuple[int, dt.date, int, str]:
        # Within a day the kinds are in the order things happen (fasting before the procedure).
        return (
            list(Phase).index(step.phase),
            step.day or self.day,
            _KIND_ORDER.index(step.kind),
            step.drug or "",
        )

    def _add(
        self,
        kind: StepKind,
        phase: Phase,
        day: dt.date | None,
        summary: str,
        citations: tuple[Citation, ...],
        *,
        time: dt.time | None = None,
        drug: str | None = None,
        last_dose: dt.date | None = None,
        hours: float | None = None,
        evidence: tuple[Fact, ...] = (),
        needs_clinician: bool = False,
    ) -> None:
        self.steps.append(
            Step(
                kind,
                phase,
                day,
                time,
                summary,
                citations,
                drug,
                last_dose,
                hours,
                evidence,
                needs_clinician,
            )
        )

    def _flag(
        self,
        code: FlagCode,
        message: str,
        *,
        citations: tuple[Citation, ...] = (),
        evidence: tuple[Fact, ...] = (),
        drug: str | None = None,
    ) -> None:
        self.flags.append(Flag(code, message, citations, evidence, drug))

    def _procedure_checks(self) -> None:
        hospital = self.pathway.hospital
        if self.day.weekday() not in hospital.working_days:
            self._flag(
                FlagCode.NON_WORKING_DAY,
                f"The procedure is on a {self.day:%A}, when the {hospital.department} does not "
                "usually work: check the date.",
                citations=hospital.citations,
            )
        covered = set(self.pathway.procedures)
        for procedure in self.procedures:
            if procedure not in covered:
                names = ", ".join(p.value for p in self.pathway.procedures)
                self._flag(
                    FlagCode.PROCEDURE_NOT_COVERED,
                    f"The case requests {procedure.value}; this pathway is written for {names}: "
                    "check that its instructions apply.",
                )
        if self.time is None:
            self._flag(
                FlagCode.NO_PROCEDURE_TIME,
                "No procedure time was given, so fasting is shown as hours before the procedure "
                "rather than clock times.",
                citations=self.rules.fasting.citations,
            )

    # Blood thinners ------------------------------------------------------------------------

    def _blood_thinners(self) -> list[DrugRule]:
        fact = self.facts.get(_MEDICATION)
        evidence = () if fact is None else (fact,)
        value = None if fact is None else fact.value
        if value is None:
            self.review_used = self.paused = True
            self._flag(
                FlagCode.BLOOD_THINNERS_NOT_RECORDED,
                "Whether the patient takes blood thinners is not recorded: "
                + CATALOGUE[_MEDICATION].question,
                evidence=evidence,
            )
            self._add(
                StepKind.ASK_CLINICIAN,
                Phase.BEFORE,
                self.review_by,
                f"Blood thinners not recorded: ask the patient by {self.by}",
                self._stop_citations(),
                evidence=evidence,
                needs_clinician=True,
            )
            return []
        assert isinstance(value, frozenset)
        stopped: list[DrugRule] = []
        for drug in sorted(value):
            rule = self.rules.drugs.get(drug)
            if rule is None or rule.action is DrugAction.ASK_CLINICIAN:
                self._ask_clinician(drug, rule, evidence)
            elif rule.action is DrugAction.CONTINUE:
                self._add(
                    StepKind.CONTINUE_DRUG,
                    Phase.THROUGHOUT,
                    None,
                    f"Keep taking {drug} as normal",
                    rule.citations,
                    drug=drug,
                    evidence=evidence,
                )
            else:
                self._stop(rule, evidence)
                stopped.append(rule)
        if stopped:
            self.paused = True
            self._bridging(stopped)
        return stopped

    def _stop_citations(self) -> tuple[Citation, ...]:
        return tuple(
            dict.fromkeys(
                c
                for rule in self.rules.drugs.values()
                if rule.action is DrugAction.STOP
                for c in rule.citations
            )
        )

    def _ask_clinician(self, drug: str, rule: DrugRule | None, evidence: tuple[Fact, ...]) -> None:
        self.review_used = self.paused = True
        by = self.by
        if drug == "other":
            code = FlagCode.UNNAMED_BLOOD_THINNER
            message = (
                "The patient takes a blood thinner that is not named: find out which, and decide "
                f"when to stop it by {by}."
            )
        else:
            code = FlagCode.DRUG_WITHOUT_RULE
            message = (
                f"No cited rule says when to stop {drug}: a clinician decides, and tells the "
                f"patient by {by}."
            )
        citations = rule.citations if rule is not None else ()
        self._flag(code, message, citations=citations, evidence=evidence, drug=drug)
        self._add(
            StepKind.ASK_CLINICIAN,
            Phase.BEFORE,
            self.review_by,
            f"{'unnamed blood thinner' if drug == 'other' else drug}: clinician to decide when "
            f"to stop it, by {by}",
            citations,
            drug=drug,
            evidence=evidence,
            needs_clinician=True,
        )

    def _stop(self, rule: DrugRule, evidence: tuple[Fact, ...]) -> None:
        assert rule.stop_days_before is not None
        stop_from = self.day - dt.timedelta(days=rule.stop_days_before)
        last_dose = stop_from - dt.timedelta(days=1)
        late = stop_from < self.today
        self._add(
            StepKind.STOP_DRUG,
            Phase.BEFORE,
            stop_from,
            f"Stop {rule.drug} at least {rule.stop_days_before} days before: last dose "
            f"{long_date(last_dose)}, none from {long_date(stop_from)}",
            rule.citations,
            drug=rule.drug,
            last_dose=last_dose,
            evidence=evidence,
            needs_clinician=late,
        )
        if late:
            self._flag(
                FlagCode.STOP_DATE_PASSED,
                f"{rule.drug} should not be taken from {long_date(stop_from)}, which has passed: "
                "check when it was last taken; the procedure may need another date.",
                citations=rule.citations,
                evidence=evidence,
                drug=rule.drug,
            )

    def _bridging(self, stopped: list[DrugRule]) -> None:
        fact = self.facts.get("thrombosis.risk_high")
        evidence = () if fact is None else (fact,)
        value = None if fact is None else fact.value
        names = " and ".join(rule.drug for rule in stopped)
        citations = self.rules.bridging.citations
        if value is True:
            self.review_used = True
            first_stop = min(
                self.day - dt.timedelta(days=rule.stop_days_before or 0) for rule in stopped
            )
            self._flag(
                FlagCode.BRIDGING,
                f"High clotting risk while {names} is stopped: decide on a temporary blood "
                f"thinner (bridging) by {self.by}.",
                citations=citations,
                evidence=evidence,
            )
            self._add(
                StepKind.BRIDGING,
                Phase.BEFORE,
                first_stop,
                f"Temporary blood thinner while {names} is stopped, as the doctor decides",
                citations,
                evidence=evidence,
                needs_clinician=True,
            )
        elif value is None:
            self.review_used = True
            self._flag(
                FlagCode.CLOTTING_RISK_NOT_RECORDED,
                f"{names} will be stopped but the clotting risk is not recorded: decide whether "
                f"a temporary blood thinner is needed by {self.by}.",
                citations=citations,
                evidence=evidence,
            )

    # The day and after ---------------------------------------------------------------------

    def _fasting(self) -> None:
        fasting = self.rules.fasting
        for kind, hours, what in (
            (StepKind.NO_FOOD, fasting.food_hours_before, "food"),
            (StepKind.NO_DRINKS, fasting.drinks_hours_before, "drinks"),
        ):
            if self.time is None:
                self._add(
                    kind,
                    Phase.DAY,
                    self.day,
                    f"No {what} for {hours:g} hours before the procedure",
                    fasting.citations,
                    hours=hours,
                )
                continue
            start = dt.datetime.combine(self.day, self.time) - dt.timedelta(hours=hours)
            self._add(
                kind,
                Phase.DAY,
                start.date(),
                f"No {what} from {clock(start.time())} on {long_date(start.date())} "
                f"({hours:g} hours before)",
                fasting.citations,
                time=start.time(),
                hours=hours,
            )

    def _on_the_day(self, stopped: list[DrugRule]) -> None:
        for rule in stopped:
            if rule.clotting_check:
                inr = self.facts.get("coagulation.inr")
                self._add(
                    StepKind.CLOTTING_CHECK,
                    Phase.DAY,
                    self.day,
                    f"Blood test just before the procedure to check clotting is back to normal "
                    f"({rule.drug} was stopped)",
                    rule.citations,
                    drug=rule.drug,
                    evidence=() if inr is None else (inr,),
                )
        self._add(
            StepKind.ANTIBIOTICS,
            Phase.DAY,
            self.day,
            "Antibiotics a few minutes before the procedure",
            self.rules.antibiotics.citations,
        )
        at = f" at {clock(self.time)}" if self.time else " (time to be confirmed)"
        self._add(
            StepKind.PROCEDURE,
            Phase.DAY,
            self.day,
            f"Procedure in the {self.pathway.hospital.location}{at}",
            self.pathway.hospital.citations,
            time=self.time,
        )
        bed = self.rules.bed_rest
        self._add(
            StepKind.BED_REST,
            Phase.DAY,
            self.day,
            f"Bed rest for {bed.min_hours:g}-{bed.max_hours:g} hours afterwards; up to use the "
            f"toilet after {bed.toilet_after_hours:g} hour"
            + ("s" if bed.toilet_after_hours != 1 else ""),
            bed.citations,
            hours=bed.max_hours,
        )
        setting = self.facts.get("request.setting")
        evidence = () if setting is None else (setting,)
        value = None if setting is None else setting.value
        if value == "outpatient":
            self._add(
                StepKind.GO_HOME,
                Phase.DAY,
                self.day,
                "Outpatient: home the same day",
                self.rules.outpatient_discharge.citations,
                evidence=evidence,
            )
        elif value == "inpatient":
            self._add(
                StepKind.STAY_IN_HOSPITAL,
                Phase.DAY,
                self.day,
                "Inpatient: stays in hospital while pain medicines are reduced, with physiotherapy",
                self.rules.inpatient_stay.citations,
                evidence=evidence,
            )
        else:
            self._add(
                StepKind.DISCHARGE_TO_CONFIRM,
                Phase.DAY,
                self.day,
                "Outpatient or inpatient not recorded: tell the patient whether they go home "
                "the same day",
                self.rules.outpatient_discharge.citations + self.rules.inpatient_stay.citations,
                evidence=evidence,
                needs_clinician=True,
            )

    def _after(self) -> None:
        if self.paused:
            medication = self.facts.get(_MEDICATION)
            self._add(
                StepKind.RESTART_BLOOD_THINNERS,
                Phase.AFTER,
                self.day,
                "Restart blood thinners when the doctor says (usually on the day of the procedure)",
                self.rules.restart.citations,
                evidence=() if medication is None else (medication,),
            )
        self._add(
            StepKind.AFTERCARE,
            Phase.AFTER,
            None,
            "After going home: increase activity gradually and take regular medicines again",
            self.rules.aftercare.citations,
        )
