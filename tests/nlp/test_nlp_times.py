"""Spinal levels, durations and dates as written in notes."""

from __future__ import annotations

import datetime as dt

import pytest

from vertebro.adapters.nlp.times import (
    date_convention,
    find_dates,
    find_durations,
    find_levels,
    subtract,
    to_date,
)


def levels(text: str) -> list[list[str]]:
    return [[str(level) for level in group.levels] for group in find_levels(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T12-L2", [["T12", "L1", "L2"]]),
        ("T12- L2", [["T12", "L1", "L2"]]),
        ("from T12 to L2", [["T12", "L1", "L2"]]),
        ("L1 and L2", [["L1", "L2"]]),
        ("T7, T9", [["T7", "T9"]]),
        ("L2-4", [["L2", "L3", "L4"]]),
        ("T11 and 12 vertebral bodies", [["T11", "T12"]]),
        ("kyphoplasty at T12 and L1evels", [["T12", "L1"]]),
        ("sacral alae", [["sacrum"]]),
    ],
)
def test_levels_as_written(text: str, expected: list[list[str]]) -> None:
    assert levels(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "T2 hyperintense signal",
        "T1-weighted images",
        "T2/STIR bright",
        "normal S1 and S2 heart sounds",
    ],
)
def test_sequences_and_heart_sounds_are_not_levels(text: str) -> None:
    assert levels(text) == []


def test_a_number_after_a_level_that_is_a_duration_is_not_a_level() -> None:
    assert levels("L1, 2 weeks ago") == [["L1"]]


@pytest.mark.parametrize(
    ("text", "weeks", "ago", "qualifier"),
    [
        ("for 8 weeks", 8.0, False, None),
        ("three months ago", 13.0, True, None),
        ("approximately 4 weeks ago", 4.0, True, "about"),
        ("nearly 6 weeks", 6.0, False, "under"),
        ("over 6 weeks", 6.0, False, "over"),
        ("an 8-week history", 8.0, False, None),
        ("10 days", 1.4, False, None),
        ("a few weeks", None, False, None),
    ],
)
def test_durations(text: str, weeks: float | None, ago: bool, qualifier: str | None) -> None:
    [duration] = find_durations(text)
    assert (duration.weeks, duration.ago, duration.qualifier) == (weeks, ago, qualifier)


def test_subtract_uses_calendar_months() -> None:
    [months] = find_durations("three months ago")
    assert subtract(dt.date(2026, 8, 24), months) == dt.date(2026, 5, 24)
    [weeks] = find_durations("10 weeks ago")
    assert subtract(dt.date(2026, 9, 14), weeks) == dt.date(2026, 7, 6)


def test_dates_in_every_written_form() -> None:
    text = "24/08/2026; 2026-08-24; 24th August 2026; August 24, 2026; 24 Aug 2026"
    dates = find_dates(text)
    assert [to_date(d, None) for d in dates] == [dt.date(2026, 8, 24)] * 5


def test_ambiguous_numeric_date_needs_a_convention() -> None:
    [date] = find_dates("since 03/04/2026")
    assert to_date(date, None) is None
    assert to_date(date, "dmy") == dt.date(2026, 4, 3)
    assert to_date(date, "mdy") == dt.date(2026, 3, 4)


def test_convention_from_an_unambiguous_date_or_spelling() -> None:
    assert date_convention(find_dates("24/08/2026 and 03/04/2026")) == "dmy"
    assert date_convention(find_dates("08/24/2026 and 03/04/2026")) == "mdy"
    assert date_convention(find_dates("24/08/2026 and 08/24/2026")) is None
    assert date_convention(find_dates("03/04/2026"), "marrow oedema") == "dmy"
    assert date_convention(find_dates("03/04/2026"), "marrow edema") == "mdy"
    assert date_convention(find_dates("03/04/2026"), "back pain") is None


def test_a_date_is_not_a_fraction() -> None:
    assert to_date(find_dates("31/02/2026")[0], "dmy") is None
