"""Fact specs coerce raw values strictly; unknown stays unknown."""

from __future__ import annotations

import datetime as dt

import pytest

from vertebro.core.catalogue import CATALOGUE, spec
from vertebro.core.facts import Fact, FactSet


@pytest.mark.parametrize("raw", [None, "unknown", "", "  "])
def test_unknown_spellings_are_unknown(raw: object) -> None:
    assert spec("pain.severe").coerce(raw) is None


@pytest.mark.parametrize(
    ("raw", "value"), [(True, True), ("yes", True), ("No", False), (False, False)]
)
def test_booleans(raw: object, value: bool) -> None:
    assert spec("pain.severe").coerce(raw) is value


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("pain.severe", "maybe", "expected true, false or unknown"),
        ("fracture.aetiology", "viral", "not one of"),
        ("pain.score", 14, "above the maximum 10"),
        ("pain.score", "a lot", "expected a number"),
        ("pain.score", True, "expected a number"),
        ("fracture.onset_date", "last week", "YYYY-MM-DD"),
        ("request.levels", "L9", "not a spinal level"),
        ("mdt.members", ["radiologist", "plumber"], "not one of"),
    ],
)
def test_bad_values_are_rejected_with_a_reason(name: str, raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(name).coerce(raw)


def test_typed_values() -> None:
    assert spec("pain.score").coerce("7") == 7.0
    assert spec("fracture.onset_date").coerce("2026-08-24") == dt.date(2026, 8, 24)
    levels = spec("request.levels").coerce(["T12", "L1-L2"])
    assert isinstance(levels, tuple) and [str(x) for x in levels] == ["T12", "L1", "L2"]
    assert spec("mdt.members").coerce("oncologist") == frozenset({"oncologist"})


def test_choices_implications() -> None:
    members = spec("mdt.members")
    assert members.expand(frozenset({"interventional-radiologist"})) == {
        "interventional-radiologist",
        "radiologist",
    }


def test_unknown_fact_name() -> None:
    with pytest.raises(KeyError, match="unknown fact"):
        spec("fracture.colour")


def test_every_fact_has_a_question() -> None:
    for fact_spec in CATALOGUE.values():
        assert fact_spec.question.endswith("?"), fact_spec.name


def test_factset_absent_and_unknown_are_both_unknown() -> None:
    facts = FactSet([Fact("pain.severe", None)])
    assert facts.value("pain.severe") is None
    assert facts.value("pain.score") is None
    replaced = facts.with_facts([Fact("pain.severe", True)])
    assert replaced.value("pain.severe") is True and facts.value("pain.severe") is None
