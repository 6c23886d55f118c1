"""The hand-made bundles in tests/fixtures/fhir: the facts read, and the outcome through the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vertebro.adapters.fhir import FhirReading, load_fhir_file, notes
from vertebro.cli import main
from vertebro.core.catalogue import Procedure
from vertebro.core.levels import parse_levels

OWN = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"

@pytest.fixture(autouse=True)
def _coded_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read coded data only: report and document text is not handed to the note reader (slow to
    load, and tested on its own)."""
    monkeypatch.setitem(notes._FOUND, "read_note", None)



def read(name: str) -> FhirReading:
    return load_fhir_file(OWN / name)


def assess(name: str, policy: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["assess", str(OWN / name), "--policy", policy,
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def only_determination(report: dict[str, Any]) -> dict[str, Any]:
    (determination,) = report["determinations"]
    return determination  # type: ignore[no-any-return]


def test_there_are_at_least_six_own_bundles() -> None:
    assert len(list(OWN.glob("*.json"))) >= 6


def test_pas_kyphoplasty_t12_l1_facts() -> None:
    reading = read("pas-kyphoplasty-t12-l1.json")
    case = reading.case
    assert reading.kind == "Da Vinci PAS request bundle"
    assert case.id == "pas-kyphoplasty-t12-l1"
    assert case.request_date == dt.date(2026, 10, 1)
    (request,) = case.requests
    assert request.procedure is Procedure.KYPHOPLASTY
    assert request.levels == tuple(parse_levels("T12-L1"))
    assert {p.location for p in request.evidence} >= {
        "Bundle.entry[0].resource.item[0].productOrService.coding[0]; "
        "Bundle.entry[0].resource.item[0].bodySite",
    }
    facts = case.facts
    assert facts.value("patient.age") == 78
    assert facts.value("patient.sex") == "female"
    assert facts.value("fracture.aetiology") == "osteoporotic"
    assert facts.value("fracture.type") == "compression"
    assert facts.value("fracture.present") is True
    assert facts.value("fracture.symptomatic") is True
    assert facts.value("fracture.onset_date") == dt.date(2026, 7, 28)
    assert facts.value("conservative_treatment.modalities") == frozenset(
        {"analgesics", "physiotherapy"})
    # 29 July to 30 September, every day covered by paracetamol: 64 days.
    assert facts.value("conservative_treatment.duration_weeks") == round(64 / 7, 1)
    assert facts.value("pain.score") == 8  # the latest of two scores
    assert facts.value("pain.severe") is True
    assert facts.value("conservative_treatment.failed") is None  # only text could say so
    aetiology = facts["fracture.aetiology"]
    assert {p.source for p in aetiology.evidence} == {
        "Claim/kyph-t12-l1", "Condition/vcf-t12-l1"}
    assert all(p.kind == "fhir" for p in aetiology.evidence)
    assert "Bundle.entry[5].resource.code.coding[0]" in {p.location for p in aetiology.evidence}


def test_pas_kyphoplasty_outcomes() -> None:
    carefirst = only_determination(assess("pas-kyphoplasty-t12-l1.json", "carefirst"))
    assert carefirst["procedure"] == "kyphoplasty"
    assert carefirst["levels"] == ["T12", "L1"]
    assert carefirst["outcome"] == "insufficient-information"
    assert [m["fact"] for m in carefirst["missing"]] == ["conservative_treatment.failed"]
    nice = only_determination(assess("pas-kyphoplasty-t12-l1.json", "nice"))
    assert nice["outcome"] == "insufficient-information"


def test_myeloma_bundle_reads_codes_and_finds_the_report_text() -> None:
    reading = read("myeloma-vertebroplasty-l2.json")
    facts = reading.case.facts
    (request,) = reading.case.requests
    assert request.procedure is Procedure.VERTEBROPLASTY
    assert request.levels == tuple(parse_levels("L2"))
    assert facts.value("fracture.aetiology") == "myeloma"
    assert facts.value("pain.severe") is True
    warnings = " | ".join(reading.warnings)
    assert "presentedForm[2]: application/pdf attachment is not text; skipped" in warnings
    assert "'Binary/not-in-bundle' is not a Binary in the bundle" in warnings


def test_myeloma_outcome_waits_for_the_imaging_facts() -> None:
    determination = only_determination(assess("myeloma-vertebroplasty-l2.json", "carefirst"))
    assert determination["outcome"] == "insufficient-information"
    missing = {m["fact"] for m in determination["missing"]}
    assert {"lesion.osteolytic", "imaging.mri_marrow_oedema", "fracture.unstable"} <= missing
    assert "fracture.aetiology" not in missing and "pain.severe" not in missing


def test_sacroplasty_is_investigational_under_both_policies() -> None:
    reading = read("sacroplasty-request.json")
    (request,) = reading.case.requests
    assert request.procedure is Procedure.SACROPLASTY
    assert [str(level) for level in request.levels or ()] == ["sacrum"]
    assert reading.case.facts.value("patient.age") == 85
    # Osteoporosis not tied to the request says nothing about the fracture.
    assert reading.case.facts.value("fracture.aetiology") is None
    for policy in ("carefirst", "nice"):
        assert only_determination(assess("sacroplasty-request.json", policy))["outcome"] == \
            "investigational"


def test_admission_for_pain_control_meets_carefirst_pathway_two() -> None:
    facts = read("admission-pain-control-l1.json").case.facts
    assert facts.value("hospitalisation.admitted") is True
    assert facts.value("hospitalisation.for_pain_control") is True
    assert facts.value("fracture.onset_date") == dt.date(2026, 9, 14)
    assert facts.value("fracture.type") == "compression"
    quote = facts["hospitalisation.for_pain_control"].evidence[0].quote or ""
    assert "admitted for pain control" in quote
    determination = only_determination(assess("admission-pain-control-l1.json", "carefirst"))
    assert determination["outcome"] == "meets-criteria"
    assert determination["decided_by"] == "cf-medically-necessary"
    statuses = {c["id"]: c["status"] for c in determination["criteria"]}
    assert statuses["cf-pathway-under-six-weeks"] == "met"
    assert statuses["cf-p2-admitted-for-pain"] == "met"


def test_missing_bundle_type_is_tolerated() -> None:
    reading = read("traumatic-l3-no-bundle-type.json")
    assert "Bundle.type is missing; read as a collection" in reading.warnings
    facts = reading.case.facts
    assert facts.value("fracture.aetiology") == "traumatic"
    assert facts.value("fracture.type") == "compression"  # S32.030A: 6th character 0, wedge
    assert facts.value("infection.osteomyelitis_at_site") is False  # refuted Condition
    assert facts.value("conservative_treatment.modalities") == frozenset({"bracing"})
    # A brace fitted on one day does not say for how long it was worn.
    assert facts.value("conservative_treatment.duration_weeks") is None
    assert only_determination(assess("traumatic-l3-no-bundle-type.json", "carefirst"))[
        "outcome"] == "investigational"
    assert only_determination(assess("traumatic-l3-no-bundle-type.json", "nice"))[
        "outcome"] == "does-not-meet-criteria"


def test_searchset_reads_a_procedure_by_its_display_and_who_codes() -> None:
    reading = read("searchset-metastasis-t9.json")
    (request,) = reading.case.requests
    assert request.procedure is Procedure.VERTEBROPLASTY
    assert request.levels == tuple(parse_levels("T9"))  # 'Structure of ninth thoracic vertebra'
    assert any("read as vertebroplasty from its display" in w for w in reading.warnings)
    facts = reading.case.facts
    assert facts.value("fracture.aetiology") == "metastasis"
    assert facts.value("cord_compression.present") is True
    assert facts.value("pain.score") == 5
    assert facts.value("pain.severe") is None  # 0-6 is not read as "not severe"
    # A search result may point outside itself: no dangling-reference warning.
    assert not any("missing from the bundle" in w for w in reading.warnings)
    nice = only_determination(assess("searchset-metastasis-t9.json", "nice"))
    assert nice["outcome"] == "does-not-meet-criteria"
    statuses = {c["id"]: c["status"] for c in nice["criteria"]}
    assert "not-met" in {status for cid, status in statuses.items() if "metastatic" in cid}


@pytest.mark.parametrize("policy", ["carefirst", "nice"])
def test_folder_of_bundles_is_assessed(policy: str) -> None:
    result = CliRunner().invoke(main, ["assess", str(OWN), "--policy", policy, "--format", "json"])
    assert result.exit_code == 0, result.output
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(reports) == len(list(OWN.glob("*.json")))
