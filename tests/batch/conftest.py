"""Shared material for the batch tests: FHIR bundles shaped like real ones (built from the
Da Vinci PAS and Synthea fixtures in ../shared/fixtures and vertebro's own FHIR fixtures) and a
fake note reader."""

from __future__ import annotations

import base64
import copy
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
PAS_UUID = SHARED / "davinci-pas" / "conformant_pas_bundle_v110_uuid.json"
TWYLA = SHARED / "synthea" / "Twyla_Moen_a3f60302-e902-468f-a683-6373d24fc4fd.json"
OWN = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
PAS_EXT = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"

# A note reader that recognises a few phrases (each a fact), so the test sees which texts
# reached it and with which date and rank.
NOTE_READER = """
from dataclasses import dataclass
from vertebro.core.facts import Fact, FactSet, Provenance


@dataclass
class Reading:
    facts: FactSet
    requests: tuple = ()


def read_note(text, *, source, note_date=None):
    evidence = (Provenance("note", source, text[:40]),)
    facts = []
    if "MDT" in text:
        facts.append(Fact("mdt.discussed", True, evidence))
    if "severe" in text:
        facts.append(Fact("pain.severe", True, evidence))
    if "no cord compression" in text:
        facts.append(Fact("cord_compression.present", False, evidence))
    if "myeloma" in text:
        facts.append(Fact("fracture.aetiology", "myeloma", evidence))
    if "physio" in text:
        modalities = frozenset({"physiotherapy"})
        facts.append(Fact("conservative_treatment.modalities", modalities, evidence))
    if "cannot walk" in text:
        facts.append(Fact("pain.prevents_ambulation", True, evidence))
    return Reading(FactSet(facts))
"""


def installed_note_reader(
    name: str, source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """`read_note` of a module written from `source` and importable by name, so that worker
    processes can receive it; the module is forgotten afterwards."""
    (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers get sys.path too
    yield importlib.import_module(name).read_note
    sys.modules.pop(name, None)


@pytest.fixture
def fake_note_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from installed_note_reader("fidelity_notes", NOTE_READER, tmp_path, monkeypatch)


def _shared(path: Path) -> dict[str, Any]:
    if not path.exists():
        pytest.skip(f"shared fixture {path} is not present")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _text(words: str) -> str:
    return base64.b64encode(words.encode()).decode()


def _uuid(n: int) -> str:
    return f"urn:uuid:0d5e2d8c-7b0e-4c55-9a1b-{n:012d}"


def _entry(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": full_url, "resource": resource}


def pas_with_uuid_references(keep_ids: bool) -> dict[str, Any]:
    """The conformant PAS bundle that refers by urn:uuid, its Claim recoded as a request for
    vertebroplasty (levels only from the ServiceRequest its requestedService extension names)
    and kyphoplasty at L1, with the patient's record added: a Condition the Claim names by
    urn:uuid, medicines as a contained Medication and as a Medication entry, an admission whose
    reason is that Condition, a pain score, a report with only narrative and a letter whose
    text is a Binary. With `keep_ids` false the added resources have no id (only a fullUrl)."""
    bundle = copy.deepcopy(_shared(PAS_UUID))
    entries = bundle["entry"]
    claim = entries[0]["resource"]
    patient_url = claim["patient"]["reference"]
    subject = {"reference": patient_url}
    order = next(
        e["resource"] for e in entries if e["resource"]["resourceType"] == "ServiceRequest"
    )
    order["bodySite"] = [{"text": "T12 vertebral body"}]
    claim["created"] = "2026-09-28"
    item = claim["item"][0]
    item["productOrService"] = {"coding": [{"system": CPT, "code": "22510"}]}
    item["diagnosisSequence"] = [1, 2]
    second = {
        "sequence": 2,
        "productOrService": {"coding": [{"system": CPT, "code": "22514"}]},
        "bodySite": {"text": "L1"},
        "diagnosisSequence": [2],
    }
    claim["item"].append(second)
    claim["diagnosis"].append({"sequence": 2, "diagnosisReference": {"reference": _uuid(1)}})

    def resource(rtype: str, n: int, **body: Any) -> dict[str, Any]:
        found = {"resourceType": rtype, **body}
        if keep_ids:
            found["id"] = f"{rtype.lower()}-{n}"
        return found

    added = [
        _entry(
            _uuid(1),
            resource(
                "Condition",
                1,
                subject=subject,
                onsetDateTime="2026-08-20",
                clinicalStatus={"coding": [{"code": "active"}]},
                # M80.00XA does not place the fracture in the spine: its facts count only
                # because the Claim names this Condition (by urn:uuid).
                code={
                    "coding": [{"system": CM, "code": "M80.00XA"}],
                    "text": "Osteoporotic wedge compression fracture of T12",
                },
            ),
        ),
        _entry(
            _uuid(2),
            resource(
                "MedicationRequest",
                2,
                status="completed",
                intent="order",
                subject=subject,
                contained=[
                    {
                        "resourceType": "Medication",
                        "id": "med",
                        "code": {"text": "Paracetamol 1 g tablets"},
                    }
                ],
                medicationReference={"reference": "#med"},
                authoredOn="2026-08-21",
                dosageInstruction=[
                    {
                        "timing": {
                            "repeat": {"boundsPeriod": {"start": "2026-08-21", "end": "2026-09-18"}}
                        }
                    }
                ],
            ),
        ),
        _entry(_uuid(3), resource("Medication", 3, code={"text": "Codeine phosphate 30 mg"})),
        _entry(
            _uuid(4),
            resource(
                "MedicationStatement",
                4,
                status="active",
                subject=subject,
                medicationReference={"reference": _uuid(3)},
                effectivePeriod={"start": "2026-09-01"},
            ),
        ),
        _entry(
            _uuid(5),
            resource(
                "Encounter",
                5,
                status="finished",
                subject=subject,
                **{"class": {"code": "IMP"}},
                period={"start": "2026-08-20", "end": "2026-08-24"},
                reasonReference=[{"reference": _uuid(1)}],
            ),
        ),
        _entry(
            _uuid(6),
            resource(
                "Observation",
                6,
                status="final",
                subject=subject,
                code={"coding": [{"system": LOINC, "code": "72514-3"}]},
                effectiveDateTime="2026-09-25",
                valueQuantity={"value": 8},
            ),
        ),
        _entry(
            _uuid(7),
            resource(
                "DiagnosticReport",
                7,
                status="final",
                subject=subject,
                code={"text": "MRI thoracolumbar spine"},
                effectiveDateTime="2026-09-02",
                text={
                    "status": "additional",
                    "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Acute T12 '
                    "fracture; no cord compression.</p></div>",
                },
            ),
        ),
        _entry(
            _uuid(8),
            resource(
                "DocumentReference",
                8,
                status="current",
                subject=subject,
                date="2026-09-26",
                type={"text": "Clinic letter"},
                content=[{"attachment": {"contentType": "text/plain", "url": _uuid(9)}}],
            ),
        ),
        _entry(
            _uuid(9),
            resource(
                "Binary",
                9,
                contentType="text/plain",
                data=_text("Discussed at the spinal MDT. Pain remains severe."),
            ),
        ),
    ]
    entries += added
    return bundle


def document_bundle() -> dict[str, Any]:
    """A FHIR document (a Composition first, its sections' narrative the text) holding a
    sacroplasty ServiceRequest; references are urn:uuid, the entries have no ids."""
    patient = _uuid(20)
    subject = {"reference": patient}

    def section(title: str, words: str) -> dict[str, Any]:
        div = f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{words}</p></div>'
        return {"title": title, "text": {"status": "additional", "div": div}}

    composition = {
        "resourceType": "Composition",
        "status": "final",
        "subject": subject,
        "date": "2026-09-15",
        "type": {"text": "Discharge summary"},
        "title": "Discharge",
        "section": [
            section("History", "Sacral insufficiency fracture; pain is severe."),
            {
                **section("Plan", "Discussed at the MDT."),
                "section": [section("Mobility", "She cannot walk unaided.")],
            },
        ],
    }
    return {
        "resourceType": "Bundle",
        "id": "document-sacroplasty",
        "type": "document",
        "entry": [
            _entry(_uuid(21), composition),
            _entry(
                patient, {"resourceType": "Patient", "gender": "female", "birthDate": "1941-03-02"}
            ),
            _entry(
                _uuid(22),
                {
                    "resourceType": "ServiceRequest",
                    "status": "active",
                    "intent": "order",
                    "subject": subject,
                    "authoredOn": "2026-09-20",
                    "code": {"coding": [{"system": CPT, "code": "0200T"}]},
                    "reasonReference": [{"reference": _uuid(23)}],
                },
            ),
            _entry(
                _uuid(23),
                {
                    "resourceType": "Condition",
                    "subject": subject,
                    "code": {"coding": [{"system": CM, "code": "M80.08XA"}]},
                    "onsetDateTime": "2026-09-01",
                },
            ),
        ],
    }


def synthea_with_request() -> dict[str, Any]:
    """A Synthea record (every reference a urn:uuid) with a kyphoplasty Claim, its
    Condition and an analgesic added, as the shared-fixture reader test builds it."""
    bundle = _shared(TWYLA)
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    subject = {"reference": patient["fullUrl"]}
    bundle["entry"] += [
        _entry(
            _uuid(31),
            {
                "resourceType": "Claim",
                "status": "active",
                "use": "preauthorization",
                "patient": subject,
                "created": "2026-10-01",
                "diagnosis": [{"sequence": 1, "diagnosisReference": {"reference": _uuid(32)}}],
                "item": [
                    {
                        "sequence": 1,
                        "productOrService": {"coding": [{"system": CPT, "code": "22514"}]},
                        "bodySite": {"text": "L1"},
                    }
                ],
            },
        ),
        _entry(
            _uuid(32),
            {
                "resourceType": "Condition",
                "subject": subject,
                "onsetDateTime": "2026-08-20",
                "clinicalStatus": {"coding": [{"code": "active"}]},
                "code": {
                    "coding": [{"system": CM, "code": "M80.08XA"}],
                    "text": "Osteoporotic compression fracture of L1",
                },
            },
        ),
        _entry(
            _uuid(33),
            {
                "resourceType": "MedicationStatement",
                "status": "active",
                "subject": subject,
                "medicationCodeableConcept": {"text": "Acetaminophen 500 MG Oral Tablet"},
                "effectivePeriod": {"start": "2026-08-21"},
            },
        ),
    ]
    return bundle


@pytest.fixture
def synthea_bundle() -> dict[str, Any]:
    """See `synthea_with_request`."""
    return synthea_with_request()


@pytest.fixture
def fidelity_bundles() -> dict[str, dict[str, Any]]:
    """See `_bundles`."""
    return _bundles()


def _bundles() -> dict[str, dict[str, Any]]:
    """file stem -> bundle, every kind above and vertebro's own FHIR fixtures."""
    found = {
        "pas-uuid-ids": pas_with_uuid_references(keep_ids=True),
        "pas-uuid-no-ids": pas_with_uuid_references(keep_ids=False),
        "document-sacroplasty": document_bundle(),
    }
    found["pas-uuid-no-ids"]["id"] = "pas-uuid-no-ids"
    found["pas-uuid-ids"]["id"] = "pas-uuid-ids"
    for path in sorted(OWN.glob("*.json")):
        found[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return found
