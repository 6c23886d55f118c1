"""Bad input: one clear line per input, exit code 2, and the other inputs still assessed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir import MAX_FHIR_BYTES, load_fhir_file, notes, read_fhir
from vertebro.cli import main

OWN = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
GOOD = OWN / "sacroplasty-request.json"

@pytest.fixture(autouse=True)
def _coded_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read coded data only: report and document text is not handed to the note reader (slow to
    load, and tested on its own)."""
    monkeypatch.setitem(notes._FOUND, "read_note", None)



def sr(**extra: Any) -> dict[str, Any]:
    resource = {"resourceType": "ServiceRequest", "id": "x", "status": "active", "intent": "order",
                "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22511"}]}}
    resource.update(extra)
    return resource


def bundle(*resources: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources], **extra}


def rejected(data: Any) -> str:
    with pytest.raises(InputError) as caught:
        read_fhir(data, "input.json")
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_json_that_is_not_fhir() -> None:
    assert "not FHIR: JSON without 'resourceType'" in rejected({"patient": "x"})
    assert "not FHIR: the JSON is a list" in rejected([{"resourceType": "Patient"}])


@pytest.mark.parametrize(("data", "expected"), [
    ({"resourceType": "CapabilityStatement", "fhirVersion": "5.0.0"}, "fhirVersion 5.0.0"),
    ({"resourceType": "CapabilityStatement", "fhirVersion": "3.0.2"}, "fhirVersion 3.0.2"),
    (bundle(sr(meta={"profile": ["http://hl7.org/fhir/R5/StructureDefinition/ServiceRequest"]})),
     "is FHIR R5"),
    (bundle(sr(meta={"profile": ["http://hl7.org/fhir/StructureDefinition/Patient|5.0.0"]})),
     "FHIR of another version: profile"),
    (bundle(sr(), {"resourceType": "RequestOrchestration", "status": "active"}),
     "RequestOrchestration at Bundle.entry[1].resource is not an R4 resource"),
    (bundle({"resourceType": "ProcedureRequest", "status": "active"}),
     "ProcedureRequest at Bundle.entry[0].resource exists only before R4"),
    (bundle({"resourceType": "Condition", "clinicalStatus": "active"}),
     "clinicalStatus as a plain code (STU3)"),
    (bundle({"resourceType": "Encounter", "class": [{"text": "inpatient"}]}),
     "class as a list (R5)"),
    (bundle({"resourceType": "MedicationRequest", "medication": {"concept": {"text": "x"}}}),
     "CodeableReference (R5)"),
])
def test_fhir_of_another_version(data: dict[str, Any], expected: str) -> None:
    message = rejected(data)
    assert "FHIR of another version" in message
    assert expected in message


def test_bundle_without_entries() -> None:
    assert "Bundle has no entries" in rejected({"resourceType": "Bundle", "type": "collection"})
    assert "Bundle has no entries" in rejected(bundle())


def test_entries_without_resources_are_skipped_with_a_warning() -> None:
    data = bundle(sr(authoredOn="2026-01-05", bodySite=[{"text": "L4"}]))
    data["entry"].insert(0, {"fullUrl": "urn:uuid:nothing"})
    reading = read_fhir(data, "input.json")
    assert "Bundle.entry[0] has no resource; skipped" in reading.warnings
    assert len(reading.case.requests) == 1


def test_relative_reference_to_a_missing_resource_is_a_warning() -> None:
    data = bundle(sr(subject={"reference": "Patient/absent"}, authoredOn="2026-01-05"))
    reading = read_fhir(data, "input.json")
    assert any("Patient/absent (from ServiceRequest/x subject)" in w for w in reading.warnings)


def test_malformed_dates_are_ignored_not_fatal() -> None:
    data = bundle(sr(authoredOn="2026-13-45"),
                  {"resourceType": "Patient", "birthDate": "19xx", "gender": "male"})
    reading = read_fhir(data, "input.json")
    assert reading.case.request_date is None
    assert any("birthDate '19xx' is not a full date" in w for w in reading.warnings)


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_non_json_binary_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"not valid JSON: Expecting value"):
        load_fhir_file(write(tmp_path, "a.json", b"<Bundle xmlns='http://hl7.org/fhir'/>"))
    with pytest.raises(InputError, match="not UTF-8 text"):
        load_fhir_file(write(tmp_path, "b.json", b"\x89PNG\r\n\x1a\n\x00\xff\xfe"))
    with pytest.raises(InputError, match="empty file"):
        load_fhir_file(write(tmp_path, "c.json", b"  \n"))


def test_size_limit_is_stated(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_FHIR_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(InputError) as caught:
        load_fhir_file(path)
    assert "the limit for FHIR input is 20,000,000 bytes (20 MB)" in str(caught.value)


def test_bad_inputs_give_one_line_each_and_the_good_one_is_still_assessed(tmp_path: Path) -> None:
    bad = [
        write(tmp_path, "notjson.json", b"{ not json"),
        write(tmp_path, "notfhir.json", json.dumps({"hook": "order-sign", "context": {}}).encode()),
        write(tmp_path, "r5.json", json.dumps(
            {"resourceType": "Bundle", "type": "collection",
             "entry": [{"resource": {"resourceType": "DeviceUsage"}}]}).encode()),
        write(tmp_path, "empty.json", json.dumps({"resourceType": "Bundle"}).encode()),
    ]
    huge = tmp_path / "huge.json"
    with huge.open("wb") as handle:
        handle.truncate(MAX_FHIR_BYTES + 1)
    result = CliRunner().invoke(
        main, ["assess", *map(str, bad), str(huge), str(GOOD), "--policy", "nice",
               "--format", "json"])
    assert result.exit_code == 2
    errors = result.stderr.splitlines()
    assert len(errors) == 5
    assert errors[0].startswith(f"vertebro: {bad[0]}:1: not valid JSON")
    assert "CDS Hooks request" in errors[1]
    assert "DeviceUsage" in errors[2] and "FHIR of another version" in errors[2]
    assert "Bundle has no entries" in errors[3]
    assert "20 MB" in errors[4]
    (report,) = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert report["determinations"][0]["outcome"] == "investigational"


def test_vertebro_case_json_still_works(tmp_path: Path) -> None:
    case = {"requests": [{"procedure": "sacroplasty"}], "facts": {"patient.age": 80}}
    path = write(tmp_path, "case.json", json.dumps(case).encode())
    result = CliRunner().invoke(main, ["assess", str(path), "--policy", "carefirst"])
    assert result.exit_code == 0, result.output
    assert "SACROPLASTY" in result.output


def test_a_claim_diagnosis_sequence_that_is_not_a_number_links_nothing_and_breaks_nothing() -> None:
    # Found by the API fuzzer: an object as a sequence was an unhashable dict key (a 500).
    path = Path(__file__).parents[1] / "fixtures" / "fhir" / "pas-kyphoplasty-t12-l1.json"
    bundle = json.loads(path.read_text())
    claim = bundle["entry"][0]["resource"]
    claim["diagnosis"][0]["sequence"] = {"value": 1}
    claim["item"][0]["diagnosisSequence"] = [{"x": 1}, 2, [3]]
    reading = read_fhir(bundle, "fuzzed", default_id="b")
    assert [r.procedure.value for r in reading.case.requests] == ["kyphoplasty"]
    assert reading.case.facts["fracture.aetiology"].value == "osteoporotic"
