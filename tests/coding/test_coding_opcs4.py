"""Golden tests for the OPCS-4 rules: procedure code first, V55 levels second, Y53/Y68 image
control, then the site code; unconfirmed codes are never presented as confirmed."""

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
OPCS = CodeSystem.OPCS4
FLUORO = frozenset({Guidance.FLUOROSCOPY})
VP, BALLOON, MECH, SACRO = (
    Technique.VERTEBROPLASTY,
    Technique.BALLOON_AUGMENTATION,
    Technique.MECHANICAL_AUGMENTATION,
    Technique.SACROPLASTY,
)


def record(*levels: tuple[str | None, Technique], **kw: object) -> OperativeRecord:
    kw.setdefault("guidance", FLUORO)
    treated = tuple(
        TreatedLevel(Level.parse(name) if name else None, technique, **kw)  # type: ignore[arg-type]
        for name, technique in levels
    )
    return OperativeRecord("test", True, treated)


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ([("L1", VP)], ["V44.4", "V55.1", "Y53.4", None]),
        ([("T12", BALLOON), ("L1", BALLOON)], ["V44.4", "V55.2", "Y53.4", None, None]),
        ([("T10", VP), ("T11", VP), ("T12", VP)], ["V44.4", "V55.3", "Y53.4", None]),
        ([("T9", VP), ("T10", VP), ("T11", VP), ("T12", VP)], ["V44.4", None, "Y53.4", None]),
        ([("C5", VP)], ["V44.4", "V55.1", "Y53.4", None]),
    ],
)
def test_nice_sequence(
    code: Coder, listed: Listed, levels: list[tuple[str, Technique]], expected: list[str | None]
) -> None:
    assert listed(code(record(*levels), OPCS), OPCS) == expected


def test_procedure_code_first_then_levels_second(code: Coder) -> None:
    lines = code(record(("L2", VP)), OPCS).for_system(OPCS)
    assert [line.sequence for line in lines] == [1, 2, 3, 4]
    assert lines[0].code == "V44.4"
    assert lines[1].code is not None and lines[1].code.startswith("V55")
    assert "second place" in lines[1].notes[0]


def test_implant_gives_v44_6(code: Coder, listed: Listed) -> None:
    result = code(record(("L1", MECH), implant=True), OPCS)
    assert listed(result, OPCS)[:2] == ["V44.6", "V55.1"]


def test_implant_and_no_implant_are_separate_blocks_each_with_levels(
    code: Coder, listed: Listed
) -> None:
    rec = OperativeRecord(
        "t",
        True,
        (
            TreatedLevel(Level.parse("T8"), VP, guidance=FLUORO),
            TreatedLevel(Level.parse("L1"), MECH, implant=True, guidance=FLUORO),
        ),
    )
    assert listed(code(rec, OPCS), OPCS) == [
        "V44.4", "V55.1", "Y53.4", None,
        "V44.6", "V55.1", "Y53.4", None,
    ]  # fmt: skip


def test_balloon_kyphoplasty_without_implant_is_v44_4_with_the_reason(code: Coder) -> None:
    first = code(record(("T12", BALLOON)), OPCS).for_system(OPCS)[0]
    assert first.code == "V44.4"
    assert "No intravertebral implant is documented" in first.notes[0]


def test_mechanical_augmentation_asks_about_an_implant(code: Coder, asked: Asked) -> None:
    assert "v44.6 applies" in asked(code(record(("L1", MECH)), OPCS))


def test_v44_and_unverified_v55_are_unconfirmed_never_confirmed(code: Coder) -> None:
    lines = code(record(("T12", BALLOON), ("L1", BALLOON)), OPCS).for_system(OPCS)
    by_code = {line.code: line for line in lines}
    assert by_code["V44.4"].confidence is Confidence.UNCONFIRMED
    assert by_code["V55.2"].confidence is Confidence.UNCONFIRMED
    assert by_code["Y53.4"].confidence is Confidence.CONFIRMED
    for line in lines:
        if line.code is None:
            assert line.confidence is Confidence.UNCONFIRMED
            assert line.display.startswith("[code not confirmed]")


def test_v55_1_is_confirmed(code: Coder) -> None:
    lines = code(record(("L2", VP)), OPCS).for_system(OPCS)
    assert lines[1].code == "V55.1"
    assert lines[1].confidence is Confidence.CONFIRMED


def test_unknown_number_of_levels_is_v55_9(code: Coder, listed: Listed, asked: Asked) -> None:
    rec = OperativeRecord("t", True, (TreatedLevel(None, VP, guidance=FLUORO),), count_unknown=True)
    result = code(rec, OPCS)
    assert listed(result, OPCS)[:3] == ["V44.4", "V55.9", "Y53.4"]
    assert "how many vertebral levels" in asked(result)


@pytest.mark.parametrize(
    ("guidance", "image_codes"),
    [
        ({Guidance.FLUOROSCOPY}, ["Y53.4"]),
        ({Guidance.ULTRASOUND}, ["Y53.2"]),
        ({Guidance.FLUOROSCOPY, Guidance.ULTRASOUND}, ["Y53.4", "Y53.2"]),
        ({Guidance.UNSPECIFIED}, ["Y53.9"]),
        ({Guidance.CT}, [None]),
    ],
)
def test_image_control(
    code: Coder, listed: Listed, guidance: set[Guidance], image_codes: list[str | None]
) -> None:
    result = code(record(("L1", VP), guidance=frozenset(guidance)), OPCS)
    assert listed(result, OPCS)[2:-1] == image_codes


def test_image_control_not_stated_asks_which(code: Coder, asked: Asked) -> None:
    result = code(record(("L1", VP), guidance=frozenset({Guidance.UNSPECIFIED})), OPCS)
    assert "fluoroscopy, ct or ultrasound" in asked(result)


def test_ct_control_is_left_open_with_the_question(code: Coder, asked: Asked) -> None:
    result = code(record(("L1", VP), guidance=frozenset({Guidance.CT})), OPCS)
    assert "y53.- or y68.- code is approach to organ under ct control" in asked(result)


def test_site_code_per_region_is_open_with_the_question(code: Coder, asked: Asked) -> None:
    result = code(record(("T12", VP), ("L1", VP)), OPCS)
    sites = [line for line in result.for_system(OPCS) if "Site code" in line.display]
    assert [str(line.levels[0]) for line in sites] == ["T12", "L1"]
    text = asked(result)
    assert "chapter z site code is the thoracic spine" in text
    assert "chapter z site code is the lumbar spine" in text


def test_sacroplasty_is_a_placeholder_and_its_levels_code_is_unconfirmed(
    code: Coder, listed: Listed, asked: Asked
) -> None:
    result = code(record(("sacrum", SACRO), side=Side.BILATERAL), OPCS)
    lines = result.for_system(OPCS)
    assert listed(result, OPCS) == [None, "V55.1", "Y53.4", None]
    assert lines[1].confidence is Confidence.UNCONFIRMED
    assert "opcs-4 code do the national clinical coding standards give for sacroplasty" in asked(
        result
    )


def test_biopsy_raises_the_opcs_question(code: Coder, asked: Asked) -> None:
    result = code(record(("L3", VP), biopsy=True), OPCS)
    assert "separate biopsy code" in asked(result)


def test_uses_the_nhs_opcs_uri(code: Coder) -> None:
    line = code(record(("L1", VP)), OPCS).for_system(OPCS)[0]
    assert line.system.uri == "https://fhir.nhs.uk/Id/opcs-4"
