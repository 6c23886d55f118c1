"""Impossible values are rejected, each with the field named."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from vertebro.core.registry import validation
from vertebro.core.registry.model import ComplicationKind, ProcedureRecord, Timepoint
from vertebro.core.registry.rows import (
    ComplicationIn,
    FieldProblem,
    FollowUpIn,
    ProcedureIn,
    problems_of,
)

TODAY = dt.date(2026, 11, 21)
PROCEDURE: dict[str, Any] = {
    "id": "P1",
    "date": "2026-03-02",
    "operator": "OP-A",
    "procedure": "vertebroplasty",
    "levels": "T12-L1",
    "approach": "bilateral",
    "image_guidance": "fluoroscopy",
    "cement_ml": "T12=3.5; L1=4",
    "biopsy": "no",
    "age": "81",
    "sex": "female",
}


def _procedure(**changes: Any) -> ProcedureRecord:
    return ProcedureIn.model_validate({**PROCEDURE, **changes}).to_record()


def _problems(model: type[Any], data: dict[str, Any]) -> list[FieldProblem]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return problems_of(caught.value)


def _fields(problems: list[FieldProblem]) -> set[str]:
    return {p.field for p in problems}


def test_a_good_procedure_row_becomes_a_record() -> None:
    record = _procedure()
    assert [str(lv) for lv in record.levels] == ["T12", "L1"]
    assert [(str(lv), ml) for lv, ml in record.cement_ml] == [("T12", 3.5), ("L1", 4.0)]
    assert record.total_cement_ml == 7.5
    assert record.age == 81 and record.biopsy is False
    assert validation.check_procedure(record, today=TODAY) == []


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"levels": "L9"}, "levels", "not a spinal level: L9"),
        ({"levels": "T13", "cement_ml": "T13=3"}, "levels", "T13"),
        ({"levels": "lumbar"}, "levels", "not a spinal level"),
        ({"cement_ml": "T12=-2; L1=4"}, "cement_ml", "greater than 0"),
        ({"cement_ml": "T12=0; L1=4"}, "cement_ml", "greater than 0"),
        ({"cement_ml": "T12=80; L1=4"}, "cement_ml", "not plausible"),
        ({"cement_ml": "T12=nan; L1=4"}, "cement_ml", "greater than 0"),
        ({"cement_ml": "T12=lots; L1=4"}, "cement_ml", "not a number"),
        ({"cement_ml": "T12=3"}, "cement_ml", "no volume for treated level L1"),
        ({"cement_ml": "T12=3; L1=3; L2=3"}, "cement_ml", "L2 is not a treated level"),
        ({"cement_ml": "T12 3"}, "cement_ml", "LEVEL=ML"),
        ({"procedure": "sacroplasty"}, "levels", "sacroplasty treats the sacrum"),
        ({"levels": "S1", "cement_ml": "S1=5"}, "levels", "sacral levels are sacroplasty"),
        ({"procedure": "kypho"}, "procedure", "'kypho' is not one of"),
        ({"approach": "sideways"}, "approach", "'sideways' is not one of"),
        ({"image_guidance": "mri"}, "image_guidance", "'mri' is not one of"),
        ({"date": "2024-13-05"}, "date", "'2024-13-05' is not a date"),
        ({"age": "150"}, "age", "'150' is above the maximum of 120"),
        ({"age": "-1"}, "age", "below the minimum of 0"),
        ({"age": "eighty"}, "age", "not a whole number"),
        ({"biopsy": "maybe"}, "biopsy", "'maybe' is not yes or no"),
        ({"operator": ""}, "operator", "is required"),
        ({"id": "P 1!"}, "id", "not an identifier"),
        ({"colour": "red"}, "colour", "not a field"),
    ],
)
def test_impossible_procedure_values_name_the_field(
    changes: dict[str, Any], field: str, words: str
) -> None:
    data = {k: v for k, v in {**PROCEDURE, **changes}.items() if v != ""}
    problems = _problems(ProcedureIn, data)
    matching = [p for p in problems if p.field == field]
    assert matching, problems
    assert any(words in p.message for p in matching), matching


def test_a_procedure_in_the_future_or_with_expired_cement_is_rejected() -> None:
    future = _procedure(date="2027-01-05")
    assert _fields(validation.check_procedure(future, today=TODAY)) == {"date"}
    expired = _procedure(cement_expiry="2026-01-01")
    problems = validation.check_procedure(expired, today=TODAY)
    assert _fields(problems) == {"cement_expiry"}
    assert "before the procedure" in problems[0].message


FOLLOW_UP = {"procedure_id": "P1", "timepoint": "3-months", "date": "2026-06-01", "pain": "3"}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"pain": "14"}, "pain", "'14' is above the maximum of 10"),
        ({"pain": "-1"}, "pain", "below the minimum of 0"),
        ({"pain": "7.5"}, "pain", "not a whole number"),
        ({"roland_morris": "25"}, "roland_morris", "'25' is above the maximum of 24"),
        ({"analgesics": "morphine"}, "analgesics", "is not one of"),
        ({"mobility": "running"}, "mobility", "is not one of"),
        ({"timepoint": "6-months"}, "timepoint", "is not one of"),
        ({"date": "01/06/2026"}, "date", "is not a date"),
    ],
)
def test_impossible_follow_up_values_name_the_field(
    changes: dict[str, Any], field: str, words: str
) -> None:
    problems = _problems(FollowUpIn, {**FOLLOW_UP, **changes})
    assert any(p.field == field and words in p.message for p in problems), problems


@pytest.mark.parametrize(
    ("timepoint", "date", "words"),
    [
        ("3-months", "2026-02-01", "not after the procedure"),  # before the procedure
        ("2-weeks", "2026-03-02", "not after the procedure"),  # the same day
        ("baseline", "2026-03-09", "after the procedure"),
        ("3-months", "2027-01-02", "in the future"),
        ("3-months", "2026-03-10", "a 3-months measure is taken 30 to 200 days after"),
        ("12-months", "2026-05-01", "a 12-months measure is taken 180 to 550 days after"),
    ],
)
def test_follow_ups_outside_their_window_are_rejected(
    timepoint: str, date: str, words: str
) -> None:
    follow_up = FollowUpIn.model_validate({**FOLLOW_UP, "timepoint": timepoint, "date": date})
    problems = validation.check_follow_up(follow_up.to_record(), _procedure(), today=TODAY)
    assert any(p.field == "date" and words in p.message for p in problems), problems


def test_a_follow_up_needs_a_measure() -> None:
    empty = FollowUpIn.model_validate({**FOLLOW_UP, "pain": ""}).to_record()
    problems = validation.check_follow_up(empty, _procedure(), today=TODAY)
    assert [p.field for p in problems] == ["pain"]
    assert "no measure" in problems[0].message


def test_a_good_follow_up_passes() -> None:
    good = FollowUpIn.model_validate(FOLLOW_UP).to_record()
    assert good.timepoint is Timepoint.MONTHS_3
    assert validation.check_follow_up(good, _procedure(), today=TODAY) == []


LEAK = {
    "id": "C1", "procedure_id": "P1", "kind": "cement-leak", "date": "2026-03-02",
    "symptomatic": "no", "leak_site": "veins",
}


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({**LEAK, "date": "2026-03-01"}, "date", "before the procedure"),
        ({**LEAK, "date": "2027-03-01"}, "date", "in the future"),
        ({**LEAK, "symptomatic": None}, "symptomatic", "must say yes or no"),
        ({**LEAK, "leak_site": None}, "leak_site", "where the cement went"),
        ({**LEAK, "kind": "infection"}, "symptomatic", "only for a cement leak"),
        ({**LEAK, "cause": "needle"}, "cause", "only for a nerve or cord injury"),
        ({"id": "C2", "procedure_id": "P1", "kind": "new-fracture", "date": "2026-03-20"},
         "fracture_site", "adjacent or distant"),
        ({"id": "C2", "procedure_id": "P1", "kind": "new-fracture", "date": "2027-04-20",
          "fracture_site": "distant"}, "date", "within 12 months"),
        ({"id": "C2", "procedure_id": "P1", "kind": "new-fracture", "date": "2026-04-20",
          "fracture_site": "adjacent", "level": "T8"}, "level", "not next to a treated level"),
        ({"id": "C2", "procedure_id": "P1", "kind": "new-fracture", "date": "2026-04-20",
          "fracture_site": "distant", "level": "L2"}, "level", "next to a treated level"),
        ({"id": "C2", "procedure_id": "P1", "kind": "new-fracture", "date": "2026-04-20",
          "fracture_site": "adjacent", "level": "L1"}, "level", "was treated"),
        ({"id": "C3", "procedure_id": "P1", "kind": "death", "date": "2026-04-20"},
         "date", "within 30 days"),
        ({"id": "C3", "procedure_id": "P1", "kind": "death", "date": "2026-03-20",
          "outcome": "recovered"}, "outcome", "expected fatal"),
    ],
)
def test_impossible_complications_name_the_field(
    data: dict[str, Any], field: str, words: str
) -> None:
    row = ComplicationIn.model_validate({k: v for k, v in data.items() if v is not None})
    problems = validation.check_complication(row.to_record(), _procedure(), today=TODAY)
    assert any(p.field == field and words in p.message for p in problems), problems


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "explosion"}, "kind"),
        ({"leak_site": "brain"}, "leak_site"),
        ({"level": "L9"}, "level"),
        ({"outcome": "fine"}, "outcome"),
        ({"further_intervention": "perhaps"}, "further_intervention"),
    ],
)
def test_complication_rows_reject_unknown_values(changes: dict[str, Any], field: str) -> None:
    assert field in _fields(_problems(ComplicationIn, {**LEAK, **changes}))


def test_good_complications_pass() -> None:
    for data in (
        LEAK,
        {"id": "C2", "procedure_id": "P1", "kind": "new-fracture", "date": "2026-04-20",
         "fracture_site": "adjacent", "level": "L2"},
        {"id": "C3", "procedure_id": "P1", "kind": "death", "date": "2026-03-20",
         "outcome": "fatal"},
        {"id": "C4", "procedure_id": "P1", "kind": "cord-injury", "date": "2026-03-02",
         "cause": "cement", "further_intervention": "yes", "outcome": "recovering"},
    ):
        record = ComplicationIn.model_validate(data).to_record()
        assert validation.check_complication(record, _procedure(), today=TODAY) == [], data
    assert ComplicationIn.model_validate(LEAK).to_record().kind is ComplicationKind.CEMENT_LEAK


def test_every_problem_is_reported_not_only_the_first() -> None:
    data = {**PROCEDURE, "levels": "L9", "approach": "sideways", "age": "150", "date": "x"}
    assert {"levels", "approach", "age", "date"} <= _fields(_problems(ProcedureIn, data))
