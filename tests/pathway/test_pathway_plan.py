"""The dated plan: stop dates, weekends, fasting clock times, the day and after, and the flags."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vertebro.adapters import pathway_files
from vertebro.adapters.case_files import parse_facts
from vertebro.core.catalogue import Procedure
from vertebro.core.pathway.plan import (
    FlagCode,
    Plan,
    PlanInputError,
    Step,
    StepKind,
    build_plan,
    last_working_day,
)

pathway = pathway_files.shipped()
TODAY = dt.date(2026, 11, 21)  # a Saturday
MONDAY = dt.date(2026, 12, 7)
EIGHT = dt.time(8, 0)


def plan_for(
    values: dict[str, object],
    day: dt.date = MONDAY,
    time: dt.time | None = EIGHT,
    today: dt.date = TODAY,
    procedures: tuple[Procedure, ...] = (Procedure.VERTEBROPLASTY,),
) -> Plan:
    """The plan for facts given as plain values (as a case file gives them)."""
    facts = parse_facts(values, "test")
    return build_plan(
        pathway, facts, procedure_date=day, procedure_time=time, today=today, procedures=procedures
    )


def steps(plan: Plan, kind: StepKind) -> list[Step]:
    return [s for s in plan.steps if s.kind is kind]


def one(plan: Plan, kind: StepKind) -> Step:
    found = steps(plan, kind)
    assert len(found) == 1, f"{kind}: {found}"
    return found[0]


def codes(plan: Plan) -> list[FlagCode]:
    return [f.code for f in plan.flags]


# Blood thinners ------------------------------------------------------------------------------


def test_warfarin_before_a_monday_stops_by_the_previous_wednesday() -> None:
    plan = plan_for({"medication.blood_thinners": ["warfarin"], "thrombosis.risk_high": False})
    stop = one(plan, StepKind.STOP_DRUG)
    assert (stop.drug, stop.day, stop.last_dose) == (
        "warfarin",
        dt.date(2026, 12, 2),
        dt.date(2026, 12, 1),
    )
    assert stop.day is not None and stop.day.strftime("%A") == "Wednesday"
    assert stop.summary == (
        "Stop warfarin at least 5 days before: last dose Tuesday 1 December 2026, "
        "none from Wednesday 2 December 2026"
    )
    assert "stopped at least 5 days before" in stop.citations[0].words
    check = one(plan, StepKind.CLOTTING_CHECK)
    assert (check.day, check.drug) == (MONDAY, "warfarin")
    assert "blood test to check the clotting has normalised" in check.citations[1].words
    assert one(plan, StepKind.RESTART_BLOOD_THINNERS).day == MONDAY
    assert plan.flags == ()
    assert plan.review_by is None


def test_clopidogrel_stops_five_days_before_without_a_clotting_test() -> None:
    plan = plan_for({"medication.blood_thinners": ["clopidogrel"], "thrombosis.risk_high": False})
    assert one(plan, StepKind.STOP_DRUG).day == dt.date(2026, 12, 2)
    assert steps(plan, StepKind.CLOTTING_CHECK) == []


def test_aspirin_continues_and_needs_no_restart() -> None:
    plan = plan_for({"medication.blood_thinners": ["aspirin"]})
    keep = one(plan, StepKind.CONTINUE_DRUG)
    assert (keep.drug, keep.day, keep.summary) == ("aspirin", None, "Keep taking aspirin as normal")
    assert keep.citations[0].words == "Aspirin can be taken as normal."
    assert steps(plan, StepKind.STOP_DRUG) == []
    assert steps(plan, StepKind.CLOTTING_CHECK) == []
    assert steps(plan, StepKind.RESTART_BLOOD_THINNERS) == []
    assert plan.flags == ()


def test_a_drug_without_a_cited_rule_is_flagged_never_dropped() -> None:
    plan = plan_for({"medication.blood_thinners": ["apixaban", "aspirin"]})
    ask = one(plan, StepKind.ASK_CLINICIAN)
    assert (ask.drug, ask.day, ask.needs_clinician) == ("apixaban", dt.date(2026, 12, 1), True)
    assert steps(plan, StepKind.STOP_DRUG) == []
    assert codes(plan) == [FlagCode.DRUG_WITHOUT_RULE]
    assert plan.flags[0].message == (
        "No cited rule says when to stop apixaban: a clinician decides, and tells the patient by "
        "Tuesday 1 December 2026."
    )
    assert plan.review_by == dt.date(2026, 12, 1)
    assert one(plan, StepKind.RESTART_BLOOD_THINNERS)


@pytest.mark.parametrize("drug", ["edoxaban", "dabigatran", "ticagrelor", "enoxaparin"])
def test_every_catalogued_drug_without_a_rule_is_flagged(drug: str) -> None:
    plan = plan_for({"medication.blood_thinners": [drug]})
    assert codes(plan) == [FlagCode.DRUG_WITHOUT_RULE]
    assert one(plan, StepKind.ASK_CLINICIAN).drug == drug


def test_an_unnamed_blood_thinner_is_flagged() -> None:
    plan = plan_for({"medication.blood_thinners": ["other"]})
    assert codes(plan) == [FlagCode.UNNAMED_BLOOD_THINNER]
    assert one(plan, StepKind.ASK_CLINICIAN).summary.startswith("unnamed blood thinner:")


def test_blood_thinners_not_recorded_is_a_question_not_a_no() -> None:
    plan = plan_for({})
    assert FlagCode.BLOOD_THINNERS_NOT_RECORDED in codes(plan)
    ask = one(plan, StepKind.ASK_CLINICIAN)
    assert (ask.drug, ask.day) == (None, dt.date(2026, 12, 1))
    assert one(plan, StepKind.RESTART_BLOOD_THINNERS)


def test_no_blood_thinners_means_no_medicine_steps() -> None:
    plan = plan_for({"medication.blood_thinners": []})
    kinds = {s.kind for s in plan.steps}
    assert kinds.isdisjoint(
        {StepKind.STOP_DRUG, StepKind.ASK_CLINICIAN, StepKind.RESTART_BLOOD_THINNERS}
    )
    assert plan.flags == ()
    assert one(plan, StepKind.OTHER_MEDICINES).day is None


@pytest.mark.parametrize(
    ("risk", "flag", "bridging_steps"),
    [
        (True, FlagCode.BRIDGING, 1),
        (None, FlagCode.CLOTTING_RISK_NOT_RECORDED, 0),
        (False, None, 0),
    ],
)
def test_bridging_when_the_clotting_risk_is_high(
    risk: bool | None, flag: FlagCode | None, bridging_steps: int
) -> None:
    plan = plan_for({"medication.blood_thinners": ["warfarin"], "thrombosis.risk_high": risk})
    assert codes(plan) == ([flag] if flag else [])
    assert len(steps(plan, StepKind.BRIDGING)) == bridging_steps
    if risk:
        bridging = one(plan, StepKind.BRIDGING)
        assert bridging.day == dt.date(2026, 12, 2)
        assert "temporary blood thinner" in bridging.citations[0].words


# Dates, weekends and clock times ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "stop_from", "last_dose", "review_by"),
    [
        (dt.date(2026, 12, 7), dt.date(2026, 12, 2), dt.date(2026, 12, 1), dt.date(2026, 12, 1)),  # Mon: Wed, Tue
        (dt.date(2026, 12, 8), dt.date(2026, 12, 3), dt.date(2026, 12, 2), dt.date(2026, 12, 2)),  # Tue
        (dt.date(2026, 12, 10), dt.date(2026, 12, 5), dt.date(2026, 12, 4), dt.date(2026, 12, 4)),  # Thu: stop Sat
        (dt.date(2026, 12, 11), dt.date(2026, 12, 6), dt.date(2026, 12, 5), dt.date(2026, 12, 4)),  # Fri: call Fri before
        (dt.date(2026, 12, 14), dt.date(2026, 12, 9), dt.date(2026, 12, 8), dt.date(2026, 12, 8)),  # Mon
    ],
)  # fmt: skip
def test_stop_dates_count_calendar_days_and_calls_fall_on_working_days(
    day: dt.date, stop_from: dt.date, last_dose: dt.date, review_by: dt.date
) -> None:
    plan = plan_for(
        {"medication.blood_thinners": ["warfarin", "apixaban"], "thrombosis.risk_high": False},
        day=day,
    )
    stop = one(plan, StepKind.STOP_DRUG)
    assert (stop.day, stop.last_dose) == (stop_from, last_dose)
    assert plan.review_by == review_by
    assert review_by.weekday() < 5
    assert one(plan, StepKind.ASK_CLINICIAN).day == review_by


def test_a_weekend_procedure_is_flagged() -> None:
    plan = plan_for({"medication.blood_thinners": []}, day=dt.date(2026, 12, 12))
    assert codes(plan) == [FlagCode.NON_WORKING_DAY]
    assert plan.flags[0].message == (
        "The procedure is on a Saturday, when the Radiology Department does not usually work: "
        "check the date."
    )


def test_an_eight_oclock_procedure_means_no_food_from_two_and_no_drinks_from_six() -> None:
    plan = plan_for({"medication.blood_thinners": []})
    food, drinks = one(plan, StepKind.NO_FOOD), one(plan, StepKind.NO_DRINKS)
    assert (food.day, food.time, food.hours) == (MONDAY, dt.time(2, 0), 6)
    assert (drinks.day, drinks.time, drinks.hours) == (MONDAY, dt.time(6, 0), 2)
    assert food.summary == "No food from 02:00 on Monday 7 December 2026 (6 hours before)"
    assert one(plan, StepKind.PROCEDURE).time == EIGHT


def test_an_early_procedure_moves_the_last_meal_to_the_evening_before() -> None:
    plan = plan_for({"medication.blood_thinners": []}, time=dt.time(5, 30))
    food, drinks = one(plan, StepKind.NO_FOOD), one(plan, StepKind.NO_DRINKS)
    assert (food.day, food.time) == (dt.date(2026, 12, 6), dt.time(23, 30))
    assert (drinks.day, drinks.time) == (MONDAY, dt.time(3, 30))
    kinds = [s.kind for s in plan.steps]
    assert (
        kinds.index(StepKind.NO_FOOD)
        < kinds.index(StepKind.NO_DRINKS)
        < kinds.index(StepKind.PROCEDURE)
    )


def test_without_a_time_fasting_is_in_hours_and_flagged() -> None:
    plan = plan_for({"medication.blood_thinners": []}, time=None)
    assert codes(plan) == [FlagCode.NO_PROCEDURE_TIME]
    food = one(plan, StepKind.NO_FOOD)
    assert (food.day, food.time, food.summary) == (
        MONDAY,
        None,
        "No food for 6 hours before the procedure",
    )
    assert one(plan, StepKind.PROCEDURE).summary.endswith("(time to be confirmed)")


def test_a_procedure_date_in_the_past_is_refused() -> None:
    with pytest.raises(PlanInputError, match=r"2026-11-20 is in the past \(today is 2026-11-21\)"):
        plan_for({}, day=dt.date(2026, 11, 20))


def test_a_stop_date_already_passed_is_flagged_as_urgent() -> None:
    today = dt.date(2026, 12, 3)  # Thursday; warfarin should have stopped on Wednesday
    plan = plan_for(
        {"medication.blood_thinners": ["warfarin", "apixaban"], "thrombosis.risk_high": False},
        today=today,
    )
    assert FlagCode.STOP_DATE_PASSED in codes(plan)
    assert one(plan, StepKind.STOP_DRUG).needs_clinician
    assert plan.review_by == today
    assert (
        "by today (Thursday 3 December 2026): this is urgent"
        in one(plan, StepKind.ASK_CLINICIAN).summary
    )


def test_a_procedure_today_is_allowed() -> None:
    plan = plan_for(
        {"medication.blood_thinners": []}, day=dt.date(2026, 11, 23), today=dt.date(2026, 11, 23)
    )
    assert one(plan, StepKind.PROCEDURE).day == dt.date(2026, 11, 23)


# The day and after ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "kind"),
    [("outpatient", StepKind.GO_HOME), ("inpatient", StepKind.STAY_IN_HOSPITAL),
     (None, StepKind.DISCHARGE_TO_CONFIRM)],
)  # fmt: skip
def test_discharge_follows_the_setting(setting: str | None, kind: StepKind) -> None:
    plan = plan_for({"medication.blood_thinners": [], "request.setting": setting})
    step = one(plan, kind)
    assert step.day == MONDAY
    assert step.needs_clinician is (setting is None)


def test_the_day_in_order_with_its_citations() -> None:
    plan = plan_for({"medication.blood_thinners": ["warfarin"], "thrombosis.risk_high": False,
                     "request.setting": "outpatient"})  # fmt: skip
    assert [(s.kind.value, s.day, s.time) for s in plan.steps] == [
        ("other-medicines", None, None),
        ("stop-drug", dt.date(2026, 12, 2), None),
        ("no-food", MONDAY, dt.time(2, 0)),
        ("no-drinks", MONDAY, dt.time(6, 0)),
        ("clotting-check", MONDAY, None),
        ("antibiotics", MONDAY, None),
        ("procedure", MONDAY, EIGHT),
        ("bed-rest", MONDAY, None),
        ("go-home", MONDAY, None),
        ("restart-blood-thinners", MONDAY, None),
        ("aftercare", None, None),
    ]
    assert all(step.citations for step in plan.steps)
    bed = one(plan, StepKind.BED_REST)
    assert "1-2 hours" in bed.citations[0].words and bed.hours == 2
    assert (
        "antibiotics a few minutes beforehand" in one(plan, StepKind.ANTIBIOTICS).citations[0].words
    )
    assert "Outpatients go home the same day." in one(plan, StepKind.GO_HOME).citations[0].words


def test_a_procedure_outside_the_pathway_is_flagged() -> None:
    plan = plan_for({"medication.blood_thinners": []}, procedures=(Procedure.KYPHOPLASTY,))
    assert codes(plan) == [FlagCode.PROCEDURE_NOT_COVERED]


# Properties ------------------------------------------------------------------------------------


def test_last_working_day_skips_the_weekend() -> None:
    weekdays = frozenset(range(5))
    assert last_working_day(dt.date(2026, 12, 6), weekdays) == dt.date(2026, 12, 4)  # Sun -> Fri
    assert last_working_day(dt.date(2026, 12, 4), weekdays) == dt.date(2026, 12, 4)


@given(
    day=st.dates(min_value=dt.date(2026, 11, 21), max_value=dt.date(2030, 12, 31)),
    time=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
)
def test_clock_times_and_stop_dates_follow_the_procedure(day: dt.date, time: dt.time) -> None:
    plan = plan_for({"medication.blood_thinners": ["warfarin", "rivaroxaban"],
                     "thrombosis.risk_high": False}, day=day, time=time)  # fmt: skip
    start = dt.datetime.combine(day, time)
    food, drinks = one(plan, StepKind.NO_FOOD), one(plan, StepKind.NO_DRINKS)
    assert food.day is not None and food.time is not None
    assert drinks.day is not None and drinks.time is not None
    assert start - dt.datetime.combine(food.day, food.time) == dt.timedelta(hours=6)
    assert start - dt.datetime.combine(drinks.day, drinks.time) == dt.timedelta(hours=2)
    assert one(plan, StepKind.STOP_DRUG).day == day - dt.timedelta(days=5)
    assert plan.review_by is not None
    assert plan.review_by == TODAY or (
        plan.review_by.weekday() < 5 and plan.review_by <= day - dt.timedelta(days=6)
    )
