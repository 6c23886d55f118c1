"""The minimal FHIR reader for coding: Procedure and Condition resources into a record."""

from __future__ import annotations

from pathlib import Path

import pytest

from vertebro.adapters import code_tables
from vertebro.adapters.coding_input import read_bundle
from vertebro.coding_service import CodedInput, code_one, read_record
from vertebro.core.coding.run import ALL_SYSTEMS

DATA = Path(__file__).resolve().parent / "data"
CPT = "http://www.ama-assn.org/go/cpt"
CM = "http://hl7.org/fhir/sid/icd-10-cm"
OPCS = "https://fhir.nhs.uk/Id/opcs-4"


def coded(name: str) -> CodedInput:
    codes = code_tables.load_codeset(Path("/nonexistent-vertebro-home"))
    return code_one(read_record(DATA / name), ALL_SYSTEMS, codes)


def of(out: CodedInput, system: str) -> list[str | None]:
    return [c.code for c in out.codes if c.system == system]


def test_procedures_with_cpt_codes_and_a_reason_condition() -> None:
    out = coded("bundle-kyphoplasty.json")
    assert [(p.level, p.technique, p.side) for p in out.procedures] == [
        ("T12", "augmentation", "bilateral"),
        ("L1", "augmentation", "bilateral"),
    ]
    assert [p.biopsy for p in out.procedures] == [True, False]
    assert of(out, CPT) == ["22513", "22515"]
    assert of(out, CM) == ["M80.08XA"]  # the unreferenced hypertension Condition is ignored
    assert out.procedures[0].evidence[0].source == "Procedure/p1"
    assert out.procedures[0].evidence[0].kind == "fhir"


def test_opcs_implant_code_and_who_condition() -> None:
    out = coded("bundle-implant-metastasis.json")
    assert [(p.level, p.implant, p.guidance) for p in out.procedures] == [("L3", True, ["ct"])]
    assert of(out, OPCS)[0] == "V44.6"
    assert of(out, CPT) == ["22514"]
    assert of(out, CM) == ["M84.58XA", "C79.51"]


def test_sacroplasty_code_gives_side_and_sacrum() -> None:
    out = coded("bundle-sacroplasty.json")
    assert [(p.level, p.technique, p.side) for p in out.procedures] == [
        ("sacrum", "sacroplasty", "bilateral")
    ]
    assert of(out, CPT) == ["0201T"]


def test_refuted_and_provisional_conditions_are_not_coded_and_stopped_is_asked() -> None:
    out = coded("bundle-refuted-and-stopped.json")
    assert of(out, CM) == ["M48.56XA"]
    text = " ".join(w.message for w in out.warnings)
    assert "status 'stopped'" in text
    assert "Condition/c3 is provisional" in text


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("bundle-not-done.json", "no completed Procedure"),
        ("bundle-conditions-only.json", "holds no Procedure resource"),
    ],
)
def test_bundles_without_a_performed_procedure_give_no_codes(name: str, reason: str) -> None:
    out = coded(name)
    assert not out.augmentation and out.codes == []
    assert out.message and reason in out.message


def test_a_bare_procedure_resource_is_read() -> None:
    resource = {
        "resourceType": "Procedure",
        "id": "x",
        "status": "completed",
        "code": {"coding": [{"system": CPT, "code": "22511"}]},
        "bodySite": [{"text": "L4"}],
    }
    record = read_bundle(resource, "x.json")
    assert [str(t.level) for t in record.levels] == ["L4"]
