"""Spinal levels: parsing single levels, ranges and lists; regions and order."""

from __future__ import annotations

import pytest

from vertebro.core.levels import Level, Region, parse_levels


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T12-L2", ["T12", "L1", "L2"]),
        ("L1 and L2", ["L1", "L2"]),
        ("T7, T9", ["T7", "T9"]),
        ("L2-4", ["L2", "L3", "L4"]),
        ("L4 to L2", ["L2", "L3", "L4"]),
        ("c7–t1", ["C7", "T1"]),
        ("sacrum", ["sacrum"]),
        ("L5, S1", ["L5", "S1"]),
    ],
)
def test_parse_levels(text: str, expected: list[str]) -> None:
    assert [str(level) for level in parse_levels(text)] == expected


@pytest.mark.parametrize("text", ["L9", "T13", "C0", "X1", "", "lumbar", "T12-sacrum"])
def test_rejects_what_is_not_a_level(text: str) -> None:
    with pytest.raises(ValueError):
        parse_levels(text)


def test_regions_and_order() -> None:
    assert Level.parse("C7").region is Region.CERVICAL
    assert Level.parse("T1").region is Region.THORACIC
    assert Level.parse("L5").region is Region.LUMBAR
    assert Level.parse("sacrum").region is Region.SACRAL
    assert Level.parse("C7") < Level.parse("T1") < Level.parse("L1") < Level.parse("S1")
