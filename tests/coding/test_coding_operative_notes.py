"""The operative-note reader and the coding of whole notes: every note in
tests/fixtures/operative_notes against expected.yaml, the real notes in ../shared, and notes that
describe no augmentation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from vertebro.adapters import code_tables
from vertebro.adapters.operative_notes import read_operative_note
from vertebro.coding_service import CodedInput, code_one, read_record
from vertebro.core.coding.run import ALL_SYSTEMS

NOTES = Path(__file__).resolve().parent.parent / "fixtures" / "operative_notes"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load((NOTES / "expected.yaml").read_text())
SHARED_NOTES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "notes"
URI = {
    "opcs4": "https://fhir.nhs.uk/Id/opcs-4",
    "icd10": "http://hl7.org/fhir/sid/icd-10",
    "cpt": "http://www.ama-assn.org/go/cpt",
    "icd10cm": "http://hl7.org/fhir/sid/icd-10-cm",
}


def coded(path: Path) -> CodedInput:
    codes = code_tables.load_codeset(Path("/nonexistent-vertebro-home"))
    return code_one(read_record(path), ALL_SYSTEMS, codes)


def listed(out: CodedInput, system: str) -> list[str | None]:
    return [
        (c.code + (f"x{c.units}" if c.units > 1 else "")) if c.code else None
        for c in out.codes
        if c.system == URI[system]
    ]


def words(out: CodedInput) -> str:
    return " ".join(f"{w.message} {w.question}" for w in out.warnings).lower()


def test_there_are_at_least_twenty_notes_and_each_has_expectations() -> None:
    notes = sorted(p.name for p in NOTES.glob("*.txt"))
    assert len(notes) >= 20
    assert sorted(EXPECTED) == notes


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_note(name: str) -> None:
    want = EXPECTED[name]
    out = coded(NOTES / name)
    assert out.augmentation is want.get("augmentation", True)
    if not out.augmentation:
        assert out.codes == []
        assert out.message and out.message.startswith("No codes:")
    levels = {(p.level or "-"): p for p in out.procedures}
    if "levels" in want:
        assert {k: p.technique for k, p in levels.items()} == want["levels"]
    for attribute in ("side", "biopsy", "implant", "cement_leak"):
        for level, value in (want.get(attribute) or {}).items():
            assert getattr(levels[level], attribute) == value, (attribute, level)
    if "guidance" in want:
        assert all(p.guidance == sorted(want["guidance"]) for p in out.procedures)
    for system in URI:
        if system in want:
            assert listed(out, system) == [str(c) if c else None for c in want[system]], system
    text = words(out)
    for phrase in want.get("questions") or []:
        assert phrase.lower() in text, phrase
    for phrase in want.get("no_questions") or []:
        assert phrase.lower() not in text, phrase


@pytest.mark.parametrize(
    "name", sorted(n for n, w in EXPECTED.items() if w.get("augmentation", True))
)
def test_every_code_carries_evidence_from_the_note(name: str) -> None:
    out = coded(NOTES / name)
    for p in out.procedures:
        assert p.evidence, p
        for e in p.evidence:
            assert e.kind == "note" and e.span is not None and e.quote
            text = (NOTES / name).read_text()
            start, end = e.span
            assert " ".join(text[start:end].split())[:40] == e.quote[:40]
    for c in out.codes:
        if c.kind == "procedure":
            assert c.evidence


def shared_note(name: str) -> Path:
    path = SHARED_NOTES / name
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    return path


def test_real_kyphoplasty_note() -> None:
    out = coded(shared_note("kyphoplasty.txt"))
    assert [(p.level, p.technique, p.side) for p in out.procedures] == [
        ("T12", "balloon-augmentation", "bilateral"),
        ("L1", "balloon-augmentation", "bilateral"),
    ]
    assert all(p.guidance == ["fluoroscopy"] and p.biopsy for p in out.procedures)
    assert listed(out, "cpt") == ["22513", "22515"]
    assert listed(out, "icd10cm") == ["M80.08XA"]
    assert listed(out, "opcs4") == ["V44.4", "V55.2", "Y53.4", None, None]
    assert listed(out, "icd10") == ["M80.9"]
    assert "which vertebral body was biopsied" in words(out)
    # L2 is fractured but was not treated: it is in the diagnosis, not among the procedures
    assert out.diagnoses[0].levels == ["T12", "L1", "L2"]


def test_real_vertebroplasty_note() -> None:
    out = coded(shared_note("vertebroplasty.txt"))
    assert [(p.level, p.technique, p.side, p.cement_leak) for p in out.procedures] == [
        ("T11", "vertebroplasty", "unilateral", True)
    ]
    assert listed(out, "cpt") == ["22510"]
    assert listed(out, "icd10cm") == ["M48.54XA"]
    assert listed(out, "opcs4") == ["V44.4", "V55.1", "Y53.4", None]
    assert listed(out, "icd10") == ["M48.5"]
    text = words(out)
    assert "cement leakage is documented at t11" in text
    assert "is the fracture osteoporotic" in text


@pytest.mark.parametrize(
    "name",
    [
        "psych-consult-depression-2.txt",
        "sleepiness-consult.txt",
        "chiropractic-ime-2.txt",
        "gen-med-consult-5.txt",
        "mri-t-spine-1.txt",
        "cervical-epidural-steroid-injection-2.txt",
        "cardiomyopathy-hypotension-consult.txt",
        "discharge-summary-17.txt",
    ],
)
def test_real_notes_without_augmentation_give_no_codes(name: str) -> None:
    out = coded(shared_note(name))
    assert not out.augmentation
    assert out.codes == [] and out.procedures == []
    assert out.message and out.message.startswith("No codes:")


def test_history_mention_is_explained() -> None:
    record = read_operative_note(shared_note("psych-consult-depression-2.txt").read_text(), "x")
    assert record.reason and "only in the history" in record.reason


@pytest.mark.parametrize(
    ("text", "levels"),
    [
        (
            "PROCEDURE: Vertebroplasty at T11; kyphoplasty at L1.\nDETAILS: balloon inflated in L1.",
            {"T11": "vertebroplasty", "L1": "balloon-augmentation"},
        ),
        (
            "PROCEDURE: T11 vertebroplasty and L1 balloon kyphoplasty.",
            {"T11": "vertebroplasty", "L1": "balloon-augmentation"},
        ),
        (
            "PROCEDURE: Kyphoplasty L2-4 with balloon tamps.",
            {
                "L2": "balloon-augmentation",
                "L3": "balloon-augmentation",
                "L4": "balloon-augmentation",
            },
        ),
        (
            "PROCEDURE: Vertebroplasty T12 through L2.",
            {"T12": "vertebroplasty", "L1": "vertebroplasty", "L2": "vertebroplasty"},
        ),
        (
            "PROCEDURE: Sacroplasty, bilateral sacral alae, and L5 vertebroplasty.",
            {"sacrum": "sacroplasty", "L5": "vertebroplasty"},
        ),
        (
            "PROCEDURE: L1 vertebroplasty.\nFINDINGS: T1-weighted MRI showed oedema.",
            {"L1": "vertebroplasty"},
        ),
    ],
)
def test_levels_and_techniques_in_the_procedure_heading(text: str, levels: dict[str, str]) -> None:
    record = read_operative_note(text, "x")
    assert {str(t.level): t.technique.value for t in record.levels} == levels


@pytest.mark.parametrize(
    ("sentence", "leak"),
    [
        ("No cement leakage was seen.", False),
        ("There was no extravasation of cement.", False),
        ("Cement fill was satisfactory without leakage.", False),
        ("A small amount of cement leaked into the disc space.", True),
        ("Cement extravasation into a paravertebral vein was noted.", True),
    ],
)
def test_cement_leak_and_its_negation(sentence: str, leak: bool) -> None:
    record = read_operative_note(f"PROCEDURE: L2 vertebroplasty.\nDETAILS: {sentence}", "x")
    assert record.levels[0].cement_leak is leak


@pytest.mark.parametrize(
    ("sentence", "biopsy"),
    [
        ("A bone biopsy was taken.", True),
        ("No biopsy was taken.", False),
        ("A biopsy was not performed.", False),
    ],
)
def test_biopsy_and_its_negation(sentence: str, biopsy: bool) -> None:
    record = read_operative_note(f"PROCEDURE: L2 vertebroplasty.\nDETAILS: {sentence}", "x")
    assert record.levels[0].biopsy is biopsy


@pytest.mark.parametrize(
    "text",
    [
        "",
        "PLAN: Consider vertebroplasty if pain persists.",
        "PAST SURGICAL HISTORY: Kyphoplasty L1 2018.",
        "PROCEDURE: Lumbar epidural steroid injection at L4-5 under fluoroscopy.",
        "PROCEDURE: No vertebroplasty was performed.",
    ],
)
def test_notes_without_an_augmentation_performed(text: str) -> None:
    record = read_operative_note(text, "x")
    assert not record.augmentation and record.reason


@pytest.mark.parametrize(
    "text",
    [
        "After informed consent was obtained, the patient underwent L1 vertebroplasty with PMMA "
        "injected under fluoroscopy.",
        "Risks and benefits of vertebroplasty were discussed. PMMA was injected into L1 under "
        "fluoroscopy.",
    ],
)
def test_consent_wording_does_not_hide_the_procedure(text: str) -> None:
    record = read_operative_note(text, "x")
    assert record.augmentation
    assert [str(t.level) for t in record.levels] == ["L1"]


def test_a_past_procedure_named_after_the_fact_is_history() -> None:
    record = read_operative_note("She had vertebroplasty at T7 in 2019 and now has L1 pain.", "x")
    assert not record.augmentation
