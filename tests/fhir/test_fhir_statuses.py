"""How statuses, links and dates change what a Condition, Encounter or medication says."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from vertebro.adapters.fhir import notes, read_fhir
from vertebro.core.facts import FactSet

CM = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

@pytest.fixture(autouse=True)
def _coded_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read coded data only: report and document text is not handed to the note reader (slow to
    load, and tested on its own)."""
    monkeypatch.setitem(notes._FOUND, "read_note", None)



def request(**extra: Any) -> dict[str, Any]:
    resource = {"resourceType": "ServiceRequest", "id": "req", "status": "active",
                "intent": "order", "authoredOn": "2026-10-01", "bodySite": [{"text": "T11"}],
                "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22513"}]}}
    resource.update(extra)
    return resource


def condition(cid: str, system: str, code: str, **extra: Any) -> dict[str, Any]:
    resource = {"resourceType": "Condition", "id": cid,
                "code": {"coding": [{"system": system, "code": code}]}}
    resource.update(extra)
    return resource


def facts_of(*resources: dict[str, Any]) -> FactSet:
    data = {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}
    return read_fhir(data, "test").case.facts


def verification(code: str) -> dict[str, Any]:
    return {"verificationStatus": {"coding": [{"system": VER, "code": code}]}}


def test_confirmed_osteomyelitis_is_present_and_active() -> None:
    facts = facts_of(request(), condition("om", CM, "M46.25"))
    assert facts.value("infection.osteomyelitis_at_site") is True
    assert facts.value("infection.active") is True


def test_provisional_osteomyelitis_is_unknown_with_its_evidence() -> None:
    facts = facts_of(request(), condition("om", CM, "M46.25", **verification("provisional")))
    fact = facts["infection.osteomyelitis_at_site"]
    assert fact.value is None
    assert [p.source for p in fact.evidence] == ["Condition/om"]


def test_refuted_cord_compression_is_absent_but_an_affirmed_one_wins() -> None:
    refuted = condition("c1", CM, "G95.20", **verification("refuted"))
    assert facts_of(request(), refuted).value("cord_compression.present") is False
    both = facts_of(request(), refuted, condition("c2", "http://hl7.org/fhir/sid/icd-10", "G95.2"))
    fact = both["cord_compression.present"]
    assert fact.value is True
    assert [c.value for c in fact.conflicts] == [False]


def test_fracture_of_unstated_site_counts_only_when_tied_to_the_request() -> None:
    fracture = condition("fx", SCT, "443165006", onsetDateTime="2026-09-01")
    assert facts_of(request(), fracture).value("fracture.aetiology") is None
    tied = facts_of(request(reasonReference=[{"reference": "Condition/fx"}]), fracture)
    assert tied.value("fracture.aetiology") == "osteoporotic"
    assert tied.value("fracture.onset_date") == dt.date(2026, 9, 1)
    spinal = facts_of(request(), {**fracture, "bodySite": [{"text": "T11 vertebral body"}]})
    assert spinal.value("fracture.present") is True


def test_tied_diagnosis_beats_a_background_disease() -> None:
    facts = facts_of(
        request(reasonCode=[{"coding": [{"system": CM, "code": "M80.08XA"}]}]),
        condition("mets", CM, "C79.51"),
    )
    fact = facts["fracture.aetiology"]
    assert fact.value == "osteoporotic"
    assert [c.value for c in fact.conflicts] == ["metastasis"]


def test_unstable_burst_fracture_code() -> None:
    facts = facts_of(request(), condition("fx", CM, "S22.082A"))
    assert facts.value("fracture.type") == "burst"
    assert facts.value("fracture.unstable") is True
    assert facts.value("fracture.aetiology") == "traumatic"


def test_nonunion_code_says_not_healed_and_sequela_is_not_current() -> None:
    assert facts_of(request(), condition("fx", CM, "M80.08XK")).value("fracture.healed") is False
    sequela = facts_of(request(), condition("fx", CM, "M80.08XS"))
    assert sequela.value("fracture.present") is None


def test_invalid_icd_code_is_ignored() -> None:
    data = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": request()}, {"resource": condition("fx", CM, "M80.08XZ")}]}
    reading = read_fhir(data, "test")
    assert reading.case.facts.value("fracture.present") is None
    assert "Condition/fx: M80.08XZ is not a valid ICD-10-CM code; ignored" in reading.warnings


def test_resolved_metastasis_is_not_read_but_myeloma_in_remission_is() -> None:
    resolved = {"clinicalStatus": {"coding": [{"code": "resolved"}]}}
    remission = {"clinicalStatus": {"coding": [{"code": "remission"}]}}
    assert facts_of(request(), condition("m", CM, "C79.51", **resolved)).value(
        "fracture.aetiology") is None
    assert facts_of(request(), condition("m", CM, "C90.01", **remission)).value(
        "fracture.aetiology") == "myeloma"


def admission(eid: str, start: str, reason: str, klass: str = "IMP") -> dict[str, Any]:
    return {"resourceType": "Encounter", "id": eid, "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": klass},
            "period": {"start": start, "end": start}, "reasonCode": [{"text": reason}]}


def test_admission_for_another_reason_gives_false_only_in_the_episode() -> None:
    facts = facts_of(request(), admission("a", "2026-09-10", "Community-acquired pneumonia"))
    assert facts.value("hospitalisation.for_pain_control") is False
    assert facts.value("hospitalisation.admitted") is None
    old = facts_of(request(), admission("a", "2024-01-10", "Community-acquired pneumonia"))
    assert old.value("hospitalisation.for_pain_control") is None


def test_any_admission_for_pain_wins_over_others() -> None:
    facts = facts_of(request(), admission("a", "2026-09-10", "Pneumonia"),
                     admission("b", "2026-09-20", "Pain management, T11 fracture"))
    assert facts.value("hospitalisation.for_pain_control") is True
    assert facts.value("hospitalisation.admitted") is True


def test_admission_for_the_fracture_without_pain_leaves_pain_control_unknown() -> None:
    facts = facts_of(request(), admission("a", "2026-09-10", "T11 vertebral fracture"))
    assert facts.value("hospitalisation.admitted") is True
    assert facts.value("hospitalisation.for_pain_control") is None


def test_an_outpatient_visit_is_not_an_admission() -> None:
    facts = facts_of(request(), admission("a", "2026-09-10", "back pain", klass="AMB"))
    assert facts.value("hospitalisation.admitted") is None


def test_medication_course_from_supply_duration_and_open_ended_course() -> None:
    supplied = {"resourceType": "MedicationRequest", "id": "m1", "status": "completed",
                "intent": "order", "authoredOn": "2026-08-01",
                "medicationCodeableConcept": {"text": "Tramadol 50 mg capsules"},
                "dispenseRequest": {"numberOfRepeatsAllowed": 1,
                                    "expectedSupplyDuration": {"value": 28, "code": "d"}}}
    facts = facts_of(request(), supplied)
    assert facts.value("conservative_treatment.duration_weeks") == 8.0
    no_end = {"resourceType": "MedicationStatement", "id": "m2", "status": "completed",
              "medicationCodeableConcept": {"text": "Ibuprofen 400 mg"},
              "effectiveDateTime": "2026-09-01"}
    unsure = facts_of(request(), supplied, no_end)
    assert unsure.value("conservative_treatment.modalities") == frozenset({"analgesics"})
    assert unsure.value("conservative_treatment.duration_weeks") is None


def test_non_analgesics_are_not_conservative_treatment() -> None:
    statin = {"resourceType": "MedicationStatement", "id": "s", "status": "active",
              "medicationCodeableConcept": {"text": "Simvastatin 20 mg"},
              "effectivePeriod": {"start": "2026-08-01"}}
    assert facts_of(request(), statin).value("conservative_treatment.modalities") is None


def test_resources_about_another_patient_are_skipped() -> None:
    data = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": request(subject={"reference": "Patient/p1"})},
        {"resource": {"resourceType": "Patient", "id": "p1", "gender": "female"}},
        {"resource": {"resourceType": "Patient", "id": "p2", "gender": "male"}},
        {"resource": condition("other", CM, "C90.00", subject={"reference": "Patient/p2"})},
    ]}
    reading = read_fhir(data, "test")
    assert reading.case.facts.value("patient.sex") == "female"
    assert reading.case.facts.value("fracture.aetiology") is None
    assert "Condition/other: about another patient; skipped" in reading.warnings


def test_current_blood_thinners_are_read_by_generic_name() -> None:
    from vertebro.core.catalogue import CATALOGUE

    if "medication.blood_thinners" not in CATALOGUE:
        pytest.skip("the catalogue has no medication.blood_thinners fact")
    current = {"resourceType": "MedicationStatement", "id": "w", "status": "active",
               "medicationCodeableConcept": {"text": "Apixaban 5 mg twice daily"}}
    stopped = {"resourceType": "MedicationStatement", "id": "c", "status": "stopped",
               "medicationCodeableConcept": {"text": "Clopidogrel 75 mg"}}
    facts = facts_of(request(), current, stopped)
    assert facts.value("medication.blood_thinners") == frozenset({"apixaban"})
