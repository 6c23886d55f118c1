"""Every file in ../shared/fixtures/davinci-pas, the CRD hook requests and the Synthea records.

None of them is about vertebral augmentation: the reader must read the conformant ones (their
patient, their requests, which are not ours), warn about the sloppy ones, and reject what is
not FHIR with one clear line.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir import load_fhir_file, notes, read_fhir
from vertebro.cli import main
from vertebro.core.catalogue import Procedure
from vertebro.core.levels import parse_levels

SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
PAS = SHARED / "davinci-pas"
CRD = SHARED / "cds-hooks-crd"
TWYLA = SHARED / "synthea" / "Twyla_Moen_a3f60302-e902-468f-a683-6373d24fc4fd.json"

CONSULTATION = "holds no vertebroplasty, kyphoplasty or sacroplasty request"
RESPONSE = "not a request: no vertebroplasty, kyphoplasty or sacroplasty request to assess"

# file -> (kind read, expected warning fragment or None, the one-line error from `assess`)
READ: dict[str, tuple[str, str | None, str]] = {
    "conformant_pas_bundle_v110.json": ("Da Vinci PAS request bundle", None, CONSULTATION),
    "conformant_pas_bundle_v110_multiple_items.json":
        ("Da Vinci PAS request bundle", None, CONSULTATION),
    "conformant_pas_bundle_v110_uuid.json": ("Da Vinci PAS request bundle", None, CONSULTATION),
    "conformant_pas_inquire_bundle_v110.json": ("Da Vinci PAS request bundle", None, CONSULTATION),
    "invalid_first_entry_response_bundle.json": (
        "PAS response bundle", "first entry is Organization, not a ClaimResponse", RESPONSE),
    "missing_referenced_resource_request_bundle.json": (
        "Da Vinci PAS request bundle",
        "Practitioner/ReferralPractitionerExample (from Claim/ReferralAuthorizationExample "
        "careTeam[0].provider)", CONSULTATION),
    "missing_referenced_resource_response_bundle.json": (
        "PAS response bundle", "Patient/SubscriberExample (from ClaimResponse/", RESPONSE),
    "pa_response_bundle_missing_elements.json": (
        "ClaimResponse Bundle", "4 reference(s) name resources missing", RESPONSE),
    "pas_claim.json": ("Claim", "6 reference(s) name resources missing", CONSULTATION),
    "pas_device_request_all_must_support.json": (
        "DeviceRequest", "Patient/BeneficiaryExample", CONSULTATION),
    "response_bundle_patient_wrong_fullurl.json": ("PAS response bundle", None, RESPONSE),
    "valid_pa_inquire_response_bundle.json": ("PAS response bundle", None, RESPONSE),
    "valid_pa_response_bundle.json": ("PAS response bundle", None, RESPONSE),
    "valid_pa_response_bundle_denial.json": ("PAS response bundle", None, RESPONSE),
}
# file -> the reader's own one-line rejection
REJECTED: dict[str, str] = {
    "nonconformant_pas_bundle_v110.json": "Bundle has no entries: nothing to read",
    "pas_client_v221_must_support_preset.json": "not FHIR: JSON without 'resourceType'",
}

@pytest.fixture(autouse=True)
def _coded_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read coded data only: report and document text is not handed to the note reader (slow to
    load, and tested on its own)."""
    monkeypatch.setitem(notes._FOUND, "read_note", None)



def pas(name: str) -> Path:
    path = PAS / name
    if not path.exists():
        pytest.skip(f"shared fixture {path} is not present")
    return path


def test_every_pas_fixture_has_an_expectation() -> None:
    if not PAS.is_dir():
        pytest.skip("../shared/fixtures/davinci-pas is not present")
    assert {p.name for p in PAS.glob("*.json")} == set(READ) | set(REJECTED)


@pytest.mark.parametrize("name", sorted(READ))
def test_pas_fixture_is_read(name: str) -> None:
    kind, warning, _ = READ[name]
    reading = load_fhir_file(pas(name))
    assert reading.kind == kind
    assert reading.case.requests == ()
    if warning is None:
        assert not [w for w in reading.warnings if "missing" in w or "first entry" in w]
    else:
        assert any(warning in w for w in reading.warnings), reading.warnings


@pytest.mark.parametrize("name", sorted(READ))
def test_pas_fixture_through_assess_gives_one_line(name: str) -> None:
    result = CliRunner().invoke(main, ["assess", str(pas(name)), "--policy", "carefirst"])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"vertebro: {pas(name)}: ")
    assert READ[name][2] in line


def test_pas_request_patient_and_consultation_item_are_read() -> None:
    reading = load_fhir_file(pas("conformant_pas_bundle_v110.json"))
    assert reading.case.facts.value("patient.sex") == "male"
    assert "Claim/ReferralAuthorizationExample item 1: Consultation" in reading.other_requests


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_broken_pas_fixture_is_rejected(name: str) -> None:
    with pytest.raises(InputError) as caught:
        load_fhir_file(pas(name))
    assert REJECTED[name] in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_bundles_inside_the_inferno_preset_are_read() -> None:
    preset = json.loads(pas("pas_client_v221_must_support_preset.json").read_text())
    bundles = [json.loads(i["value"]) for i in preset["inputs"]
               if isinstance(i.get("value"), str) and i["value"].lstrip().startswith("{")]
    assert len(bundles) == 4
    for bundle in bundles:
        reading = read_fhir(bundle, "preset")
        assert reading.kind == "PAS response bundle"
        assert reading.case.requests == ()


def test_a_pas_request_for_kyphoplasty_is_read_from_the_conformant_shape() -> None:
    """The conformant PAS bundle with its item recoded as CPT 22514 at L2 (same structure)."""
    bundle = json.loads(pas("conformant_pas_bundle_v110.json").read_text())
    claim = bundle["entry"][0]["resource"]
    claim["item"][0]["productOrService"] = {
        "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22514"}]}
    claim["item"][0]["bodySite"] = {"text": "L2"}
    reading = read_fhir(bundle, "recoded PAS")
    (request,) = reading.case.requests
    assert request.procedure is Procedure.KYPHOPLASTY
    assert request.levels == tuple(parse_levels("L2"))
    assert reading.case.request_date is not None
    assert reading.case.request_date.isoformat() == "2005-05-02"
    # The Claim's diagnosis G89.4 (chronic pain syndrome) is tied to the request.
    assert reading.case.facts.value("fracture.symptomatic") is True


# --- CDS Hooks (CRD) requests: their bundles and resources --------------------------------------


def hook_resources(name: str) -> list[tuple[str, Any]]:
    path = CRD / name
    if not path.exists():
        pytest.skip(f"shared fixture {path} is not present")
    hook = json.loads(path.read_text())
    found = []
    for part in ("context", "prefetch"):
        for key, value in (hook.get(part) or {}).items():
            if isinstance(value, dict) and "resourceType" in value:
                found.append((f"{part}.{key}", value))
    return found


CRD_REQUESTS = sorted(p.name for p in CRD.glob("*request*.json")) if CRD.is_dir() else []


@pytest.mark.parametrize("name", CRD_REQUESTS)
def test_crd_hook_request_file_is_not_fhir(name: str) -> None:
    with pytest.raises(InputError, match="it is a CDS Hooks request"):
        load_fhir_file(CRD / name)


@pytest.mark.parametrize("name", CRD_REQUESTS)
def test_crd_hook_resources_are_read(name: str) -> None:
    for where, resource in hook_resources(name):
        if resource.get("resourceType") == "Bundle" and not resource.get("entry"):
            with pytest.raises(InputError, match="no entries"):
                read_fhir(resource, where)
            continue
        reading = read_fhir(resource, f"{name} {where}")
        assert reading.case.requests == ()
        if resource.get("resourceType") == "Bundle" and "type" not in resource:
            assert "Bundle.type is missing; read as a collection" in reading.warnings


def test_crd_draft_orders_without_bundle_type_are_tolerated() -> None:
    (draft,) = [r for w, r in hook_resources("inferno-order_sign_hook_request.json")
                if w == "context.draftOrders"]
    assert "type" not in draft
    reading = read_fhir(draft, "draftOrders")
    assert "Bundle.type is missing; read as a collection" in reading.warnings
    assert reading.kind == "untyped Bundle"


def test_crd_prefetch_bundle_for_an_augmentation_order() -> None:
    """The CRD example's draft orders and prefetch, with one order recoded to CPT 22510 at T8."""
    hook = json.loads((CRD / "hl7-CRDServiceRequest.json").read_text()) if CRD.is_dir() else None
    if hook is None:
        pytest.skip("CRD fixtures are not present")
    draft = copy.deepcopy(hook["context"]["draftOrders"])
    draft["entry"][0]["resource"]["code"] = {
        "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22510"}],
        "text": "Vertebroplasty T8"}
    draft["entry"].append({"resource": hook["prefetch"]["patient"]})
    reading = read_fhir(draft, "order-sign")
    (request,) = reading.case.requests
    assert request.procedure is Procedure.VERTEBROPLASTY
    assert request.levels == tuple(parse_levels("T8"))
    assert reading.case.facts.value("patient.sex") == "female"
    assert reading.case.facts.value("patient.age") == 31  # born 1987-02-20, ordered 2019-02-15
    assert "ServiceRequest/2468: Portable gaseous oxygen system, rental; includes portable " \
           "container, regulator, flowmeter, humidifier, cannula or mask, and tubing" in \
           reading.other_requests


# --- Synthea ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def twyla_text() -> str:
    """The Synthea record of an osteoporotic patient (1.4 MB), read once."""
    if not TWYLA.exists():
        pytest.skip(f"shared fixture {TWYLA} is not present")
    return TWYLA.read_text(encoding="utf-8")


def synthea_twyla(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    return data


def test_synthea_record_is_read_without_a_request(twyla_text: str) -> None:
    reading = read_fhir(synthea_twyla(twyla_text), "synthea")
    assert reading.kind == "transaction Bundle"
    assert reading.case.requests == ()
    assert reading.case.facts.value("patient.sex") == "female"
    # Its osteoporotic fracture (SNOMED 443165006) is a resolved wrist fracture: not read.
    assert reading.case.facts.value("fracture.present") is None
    assert any("443165006" in w and "resolved" in w for w in reading.warnings)
    assert any(w.startswith("Condition: ") and "not used by the reader" in w
               for w in reading.warnings)


def test_synthea_record_with_a_kyphoplasty_request_added(twyla_text: str) -> None:
    bundle = synthea_twyla(twyla_text)
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    subject = {"reference": patient["fullUrl"]}
    cm = "http://hl7.org/fhir/sid/icd-10-cm"
    bundle["entry"] += [
        {"fullUrl": "urn:uuid:0d5e2d8c-7b0e-4c55-9a1b-5a5a0c1a0001", "resource": {
            "resourceType": "Claim", "status": "active", "use": "preauthorization",
            "patient": subject, "created": "2026-10-01",
            "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {
                "coding": [{"system": cm, "code": "M80.08XA"}]}}],
            "item": [{"sequence": 1, "productOrService": {
                "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22514"}]},
                "bodySite": {"text": "L1"}}]}},
        {"fullUrl": "urn:uuid:0d5e2d8c-7b0e-4c55-9a1b-5a5a0c1a0002", "resource": {
            "resourceType": "Condition", "subject": subject, "onsetDateTime": "2026-08-20",
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "code": {"coding": [{"system": cm, "code": "M80.08XA"}],
                     "text": "Osteoporotic compression fracture of L1"}}},
        {"fullUrl": "urn:uuid:0d5e2d8c-7b0e-4c55-9a1b-5a5a0c1a0003", "resource": {
            "resourceType": "MedicationStatement", "status": "active", "subject": subject,
            "medicationCodeableConcept": {"text": "Acetaminophen 500 MG Oral Tablet"},
            "effectivePeriod": {"start": "2026-08-21"}}},
    ]
    reading = read_fhir(bundle, "synthea+request")
    (request,) = reading.case.requests
    assert request.procedure is Procedure.KYPHOPLASTY
    facts = reading.case.facts
    assert facts.value("patient.age") == 80  # born 1945-12-09
    assert facts.value("fracture.aetiology") == "osteoporotic"
    assert facts.value("fracture.type") == "compression"
    # The 2017 acetaminophen is outside the episode; the new course runs on to the request.
    assert facts.value("conservative_treatment.duration_weeks") == round(42 / 7, 1)
    evidence = facts["conservative_treatment.duration_weeks"].evidence
    assert [p.source for p in evidence] == ["urn:uuid:0d5e2d8c-7b0e-4c55-9a1b-5a5a0c1a0003"]
