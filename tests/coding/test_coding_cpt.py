"""Golden tests for the CPT rules: one primary per family, add-on units, regions, cervical,
sacroplasty, bundled imaging and biopsy, and the questions an incomplete record raises."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vertebro.core.coding.model import (
    Guidance,
    OperativeRecord,
    Side,
    Technique,
    TreatedLevel,
)
from vertebro.core.coding.result import CodingResult
from vertebro.core.coding.tables import CodeSystem, Confidence
from vertebro.core.levels import Level

Coder = Callable[..., CodingResult]
Listed = Callable[[CodingResult, CodeSystem], list[str | None]]
Asked = Callable[[CodingResult], str]

CPT = CodeSystem.CPT
VP, BALLOON, MECH, SACRO, UNKNOWN = (
    Technique.VERTEBROPLASTY,
    Technique.BALLOON_AUGMENTATION,
    Technique.MECHANICAL_AUGMENTATION,
    Technique.SACROPLASTY,
    Technique.UNKNOWN,
)


def record(*levels: tuple[str | None, Technique], **kw: object) -> OperativeRecord:
    treated = tuple(
        TreatedLevel(Level.parse(name) if name else None, technique, **kw)  # type: ignore[arg-type]
        for name, technique in levels
    )
    return OperativeRecord("test", True, treated)


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ([("T11", VP)], ["22510"]),
        ([("C5", VP)], ["22510"]),
        ([("L2", VP)], ["22511"]),
        ([("T12", VP), ("L1", VP)], ["22510", "22512"]),
        ([("L1", VP), ("T12", VP)], ["22511", "22512"]),
        ([("T10", VP), ("T11", VP), ("T12", VP)], ["22510", "22512x2"]),
        ([("T12", BALLOON)], ["22513"]),
        ([("L4", MECH)], ["22514"]),
        ([("T12", BALLOON), ("L1", BALLOON)], ["22513", "22515"]),
        ([("T11", BALLOON), ("L1", BALLOON), ("L3", BALLOON)], ["22513", "22515x2"]),
        ([("T8", VP), ("L2", BALLOON)], ["22510", "22514"]),
        ([("L2", BALLOON), ("T8", VP)], ["22514", "22510"]),
        ([("T8", VP), ("T9", VP), ("L2", BALLOON)], ["22510", "22512", "22514"]),
        ([("C2", BALLOON)], ["22899"]),
        ([("C2", BALLOON), ("T1", BALLOON)], ["22513", "22899"]),
    ],
)
def test_primary_and_add_on_codes(
    code: Coder, levels: list[tuple[str, Technique]], expected: list[str], listed: Listed
) -> None:
    assert listed(code(record(*levels), CPT), CPT) == expected


def test_every_cpt_code_is_confirmed_with_its_source(code: Coder) -> None:
    result = code(record(("T12", BALLOON), ("L1", BALLOON), ("C3", BALLOON)), CPT)
    for line in result.for_system(CPT):
        assert line.confidence is Confidence.CONFIRMED
        assert any("code from" in note for note in line.notes)


def test_imaging_and_biopsy_are_included_not_coded(code: Coder, listed: Listed) -> None:
    rec = record(("L1", VP), biopsy=True, guidance=frozenset({Guidance.FLUOROSCOPY}))
    result = code(rec, CPT)
    assert listed(result, CPT) == ["22511"]
    assert any("inclusive of all imaging guidance" in n for n in result.for_system(CPT)[0].notes)
    assert any("bone biopsy included" in n for n in result.for_system(CPT)[0].notes)


def test_add_on_lists_its_levels_and_units(code: Coder) -> None:
    line = code(record(("T12", VP), ("L1", VP), ("L2", VP)), CPT).for_system(CPT)[1]
    assert line.code == "22512"
    assert line.units == 2
    assert [str(lv) for lv in line.levels] == ["L1", "L2"]


def test_sacroplasty_by_side(code: Coder, listed: Listed) -> None:
    bilateral = record(("sacrum", SACRO), side=Side.BILATERAL)
    unilateral = record(("sacrum", SACRO), side=Side.UNILATERAL)
    assert listed(code(bilateral, CPT), CPT) == ["0201T"]
    assert listed(code(unilateral, CPT), CPT) == ["0200T"]


def test_sacroplasty_side_unknown_is_a_placeholder_with_question(
    code: Coder, listed: Listed, asked: Asked
) -> None:
    result = code(record(("sacrum", SACRO)), CPT)
    assert listed(result, CPT) == [None]
    assert result.for_system(CPT)[0].confidence is Confidence.UNCONFIRMED
    assert "unilateral (one side) or bilateral" in asked(result)


def test_augmentation_of_the_sacrum_is_sacroplasty(code: Coder, listed: Listed) -> None:
    result = code(record(("S1", BALLOON), side=Side.BILATERAL), CPT)
    assert listed(result, CPT) == ["0201T"]


def test_vertebroplasty_of_a_sacral_body_asks_whether_it_was_sacroplasty(
    code: Coder, listed: Listed, asked: Asked
) -> None:
    result = code(record(("S1", VP)), CPT)
    assert listed(result, CPT) == ["22511"]
    assert "was this sacroplasty" in asked(result)


def test_unknown_technique_gets_no_code_and_the_question(
    code: Coder, listed: Listed, asked: Asked
) -> None:
    result = code(record(("L1", UNKNOWN)), CPT)
    assert listed(result, CPT) == []
    assert "cavity created with a balloon or a mechanical device" in asked(result)


def test_unnamed_levels_give_a_placeholder_primary_and_known_add_ons(
    code: Coder, listed: Listed, asked: Asked
) -> None:
    result = code(record((None, VP), (None, VP)), CPT)
    assert listed(result, CPT) == [None, "22512"]
    assert "primary code is open" in asked(result)


def test_unknown_count_gives_no_add_on(code: Coder, listed: Listed, asked: Asked) -> None:
    rec = OperativeRecord("t", True, (TreatedLevel(None, BALLOON),), count_unknown=True)
    result = code(rec, CPT)
    assert listed(result, CPT) == [None]
    assert "how many vertebral levels" in asked(result)


def test_same_body_recorded_twice_with_a_balloon_is_augmentation(
    code: Coder, listed: Listed
) -> None:
    rec = OperativeRecord(
        "t", True, (TreatedLevel(Level.parse("L3"), VP), TreatedLevel(Level.parse("L3"), BALLOON))
    )
    result = code(rec, CPT)
    assert listed(result, CPT) == ["22514"]
    assert any("balloon-assisted" in n for n in result.for_system(CPT)[0].notes)


def test_same_body_vertebroplasty_and_sacroplasty_is_asked(code: Coder, asked: Asked) -> None:
    rec = OperativeRecord(
        "t", True, (TreatedLevel(Level.parse("S1"), VP), TreatedLevel(Level.parse("S1"), SACRO))
    )
    assert "which procedure was performed at s1" in asked(code(rec, CPT))


def test_implant_asks_about_hcpcs(code: Coder, listed: Listed, asked: Asked) -> None:
    result = code(record(("L1", MECH), implant=True), CPT)
    assert listed(result, CPT) == ["22514"]
    assert "c1062" in asked(result)


def test_cervical_vertebroplasty_mentions_hcpcs_s_codes(code: Coder) -> None:
    line = code(record(("C4", VP)), CPT).for_system(CPT)[0]
    assert any("S2360" in n for n in line.notes)


def test_no_augmentation_no_codes(code: Coder, asked: Asked) -> None:
    rec = OperativeRecord("t", False, reason="the note is a clinic letter")
    result = code(rec, CPT)
    assert result.lines == ()
    assert "no codes: the note is a clinic letter" in asked(result)
