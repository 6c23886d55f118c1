"""Cases as FHIR resources: one patient's coded resources, as a bulk export holds them."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from vertebro.batch.synthetic.base import AS_OF, Resource
from vertebro.core.catalogue import Procedure

# --- Cases as FHIR resources ------------------------------------------------------------------

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

_PROCEDURE_CODES: dict[Procedure, list[tuple[str, str, list[str]]]] = {
    Procedure.VERTEBROPLASTY: [
        (CPT, "22510", ["T12", "T11 and T12", "T7, T9", "Structure of twelfth thoracic vertebra"]),
        (CPT, "22511", ["L1", "L1-L2", "L2 to L4", "Structure of first lumbar vertebra"]),
        (HCPCS, "S2360", ["C5"]),
    ],
    Procedure.KYPHOPLASTY: [
        (CPT, "22513", ["T12", "T10-T11", "T8"]),
        (CPT, "22514", ["L1", "L2-3", "L4"]),
    ],
    Procedure.SACROPLASTY: [(CPT, "0200T", ["sacrum", "S1"]), (CPT, "0201T", ["sacrum"])],
}

# (system, code, text or None); text gives a fracture's type in words where the code does not.
_SCENARIOS: dict[str, list[list[tuple[str, str, str | None]]]] = {
    "osteoporotic": [
        [(ICD10CM, "M80.08XA", None)],
        [(ICD10CM, "M80.08XA", "Osteoporotic compression fracture of L1")],
        [(ICD10CM, "M80.88XA", "Osteoporotic wedge fracture"), (ICD10CM, "M81.0", None)],
        [(SNOMED, "443165006", None)],
        [(ICD10CM, "M48.54XA", None), (ICD10CM, "M81.0", None)],
        [(ICD10CM, "M80.08XG", None)],
        [(ICD10CM, "M80.08XS", None)],
        [(ICD10CM, "M80.0AXA", None)],
    ],
    "traumatic": [
        [(ICD10CM, "S32.010A", None)],
        [(ICD10CM, "S22.000A", None)],
        [(ICD10CM, "S32.011A", None)],
        [(ICD10CM, "S32.012A", None)],
    ],
    "myeloma": [
        [(ICD10CM, "C90.00", None), (ICD10CM, "M84.58XA", None)],
        [(SNOMED, "109989006", None), (ICD10CM, "M48.56XA", None)],
        [(ICD10CM, "C90.01", None)],
    ],
    "metastasis": [
        [(ICD10CM, "C79.51", None), (ICD10CM, "M48.56XA", None)],
        [(SNOMED, "94222008", None), (ICD10CM, "M84.58XA", "Pathological burst fracture")],
    ],
    "haemangioma": [[(ICD10CM, "D18.09", None)], [(ICD10CM, "D18.00", None)]],
    "other": [[(ICD10CM, "C41.2", None)], [(ICD10CM, "M54.50", None)], []],
}
_SCENARIO_WEIGHTS = {
    "osteoporotic": 50,
    "traumatic": 10,
    "myeloma": 10,
    "metastasis": 10,
    "haemangioma": 5,
    "other": 15,
}
_SAFETY = [(ICD10CM, "M46.26"), (ICD10CM, "G95.20")]
_PAIN_REASONS = [
    {"coding": [{"system": ICD10CM, "code": "M54.50"}]},
    {"text": "Back pain, analgesia"},
    {"text": "Vertebral compression fracture"},
    {"text": "Community-acquired pneumonia"},
]
_MEDICINES = [
    "Paracetamol 1 g tablets",
    "Oxycodone 5 mg capsules",
    "Codeine 30 mg",
    "Alendronic acid 70 mg",
    "Naproxen 500 mg",
]
_TREATMENTS = [
    {"coding": [{"system": CPT, "code": "97110", "display": "Therapeutic exercise"}]},
    {"text": "Physiotherapy course"},
    {"text": "Thoracolumbar brace (TLSO) fitting"},
    {"text": "Hip replacement"},
]


def _date(day: dt.date) -> str:
    return day.isoformat()


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def coded_case(index: int, seed: int = 0) -> list[Resource]:
    """One patient's resources, deterministic for (index, seed)."""
    rng = random.Random(seed * 1_000_003 + index)
    pid = f"p{index:07d}"
    subject = {"reference": f"Patient/{pid}"}
    request_day = AS_OF - dt.timedelta(days=rng.randint(0, 30))
    patient: Resource = {"resourceType": "Patient", "id": pid}
    gender = rng.choices(["female", "male", "other", "unknown", None], [55, 40, 2, 2, 1])[0]
    if gender:
        patient["gender"] = gender
    born = request_day - dt.timedelta(days=rng.randint(40 * 365, 95 * 365))
    birth = rng.choices([_date(born), str(born.year), None], [95, 3, 2])[0]
    if birth:
        patient["birthDate"] = birth
    resources: list[Resource] = [patient]

    conditions: list[Resource] = []
    scenario = rng.choices(list(_SCENARIO_WEIGHTS), list(_SCENARIO_WEIGHTS.values()))[0]
    onset = request_day - dt.timedelta(days=rng.choice((5, 20, 40, 41, 42, 43, 60, 120, 250)))
    for number, (system, code, text) in enumerate(rng.choice(_SCENARIOS[scenario])):
        conditions.append(_condition(rng, pid, len(conditions), system, code, text, onset))
        if number == 0 and rng.random() < 0.2:
            conditions[-1]["bodySite"] = [{"text": rng.choice(["L1 vertebra", "Left hip"])}]
    for system, code in _SAFETY:
        if rng.random() < 0.04:
            conditions.append(_condition(rng, pid, len(conditions), system, code, None, onset))
    resources += conditions

    procedures = rng.sample(list(Procedure), rng.choices((1, 2, 3), (80, 15, 5))[0])
    linked = conditions[0]["id"] if conditions and rng.random() < 0.6 else None
    if rng.random() < 0.9:
        resources.append(_claim(rng, pid, subject, procedures, request_day, linked))
    else:
        for number, procedure in enumerate(procedures):
            resources.append(_order(rng, pid, number, subject, procedure, request_day, linked))

    for number in range(rng.choices((0, 1, 2), (30, 55, 15))[0]):
        when = request_day - dt.timedelta(days=rng.choice((0, 3, 10, 30, 200, 400)))
        observation: Resource = {
            "resourceType": "Observation",
            "id": f"{pid}-o{number}",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "72514-3"}]},
            "subject": subject,
            "effectiveDateTime": _date(when),
        }
        score = rng.randint(0, 10)
        if rng.random() < 0.8:
            observation["valueQuantity"] = {"value": score, "unit": "{score}"}
        else:
            observation["valueInteger"] = score
        resources.append(observation)

    if rng.random() < 0.25:
        start = onset + dt.timedelta(days=rng.choice((-30, -1, 0, 2)))
        encounter: Resource = {
            "resourceType": "Encounter",
            "id": f"{pid}-e",
            "status": "finished",
            "class": {"system": ACT, "code": rng.choice(["IMP", "IMP", "AMB"])},
            "subject": subject,
            "period": {"start": _date(start), "end": _date(start + dt.timedelta(days=4))},
        }
        if rng.random() < 0.9:
            encounter["reasonCode"] = [rng.choice(_PAIN_REASONS)]
        resources.append(encounter)

    for number in range(rng.choices((0, 1, 2), (50, 40, 10))[0]):
        resources.append(_medication(rng, pid, number, subject, onset))
    for number in range(rng.choices((0, 1), (70, 30))[0]):
        resources.append(_treatment(rng, pid, number, subject, onset))
    return resources


def _condition(
    rng: random.Random,
    pid: str,
    number: int,
    system: str,
    code: str,
    text: str | None,
    onset: dt.date,
) -> Resource:
    concept: dict[str, Any] = {"coding": [{"system": system, "code": code}]}
    if text:
        concept["text"] = text
    resource: Resource = {
        "resourceType": "Condition",
        "id": f"{pid}-c{number}",
        "code": concept,
        "subject": {"reference": f"Patient/{pid}"},
    }
    clinical = rng.choices(["active", None, "resolved", "remission"], [80, 12, 6, 2])[0]
    if clinical:
        resource["clinicalStatus"] = _status(CLINICAL, clinical)
    verification = rng.choices(
        ["confirmed", None, "refuted", "provisional", "entered-in-error"], [70, 20, 4, 4, 2]
    )[0]
    if verification:
        resource["verificationStatus"] = _status(VERIFICATION, verification)
    if rng.random() < 0.8:
        resource["onsetDateTime"] = _date(onset)
    if rng.random() < 0.5:
        resource["recordedDate"] = _date(onset + dt.timedelta(days=rng.randint(0, 9)))
    return resource


def _item_levels(rng: random.Random, choices: list[str]) -> dict[str, Any] | None:
    if rng.random() < 0.15:
        return None
    text = rng.choice(choices)
    if text.startswith("Structure"):
        return {"coding": [{"system": SNOMED, "code": "0", "display": text}]}
    return {"text": text}


def _procedure_concept(
    rng: random.Random, procedure: Procedure
) -> tuple[dict[str, Any], list[str]]:
    system, code, levels = rng.choice(_PROCEDURE_CODES[procedure])
    if rng.random() < 0.03:
        words = {
            "vertebroplasty": "Percutaneous vertebroplasty",
            "kyphoplasty": "Balloon kyphoplasty",
            "sacroplasty": "Sacroplasty",
        }
        return {
            "coding": [{"system": SNOMED, "code": "0", "display": words[procedure.value]}]
        }, levels
    return {"coding": [{"system": system, "code": code}]}, levels


def _claim(
    rng: random.Random,
    pid: str,
    subject: dict[str, str],
    procedures: list[Procedure],
    day: dt.date,
    linked: str | None,
) -> Resource:
    items = []
    for sequence, procedure in enumerate(procedures, start=1):
        concept, levels = _procedure_concept(rng, procedure)
        item: dict[str, Any] = {"sequence": sequence, "productOrService": concept}
        site = _item_levels(rng, levels)
        if site is not None:
            item["bodySite"] = site
        if linked:
            item["diagnosisSequence"] = [1]
        items.append(item)
    claim: Resource = {
        "resourceType": "Claim",
        "id": f"{pid}-claim",
        "status": "active",
        "use": rng.choices(["preauthorization", "claim"], [97, 3])[0],
        "patient": subject,
        "created": _date(day),
        "item": items,
    }
    if linked:
        claim["diagnosis"] = [
            {"sequence": 1, "diagnosisReference": {"reference": f"Condition/{linked}"}}
        ]
    return claim


def _order(
    rng: random.Random,
    pid: str,
    number: int,
    subject: dict[str, str],
    procedure: Procedure,
    day: dt.date,
    linked: str | None,
) -> Resource:
    concept, levels = _procedure_concept(rng, procedure)
    order: Resource = {
        "resourceType": "ServiceRequest",
        "id": f"{pid}-sr{number}",
        "status": rng.choices(["active", "completed"], [95, 5])[0],
        "intent": "order",
        "code": concept,
        "subject": subject,
        "authoredOn": _date(day - dt.timedelta(days=number)),
    }
    site = _item_levels(rng, levels)
    if site is not None:
        order["bodySite"] = [site]
    if linked:
        order["reasonReference"] = [{"reference": f"Condition/{linked}"}]
    return order


def _medication(
    rng: random.Random, pid: str, number: int, subject: dict[str, str], onset: dt.date
) -> Resource:
    start = onset + dt.timedelta(days=rng.choice((-200, -5, 0, 3, 10)))
    resource: Resource = {
        "resourceType": "MedicationRequest",
        "id": f"{pid}-m{number}",
        "status": rng.choices(["completed", "active", "cancelled"], [60, 35, 5])[0],
        "intent": "order",
        "subject": subject,
        "medicationCodeableConcept": {"text": rng.choice(_MEDICINES)},
        "authoredOn": _date(start),
    }
    shape = rng.choices(["bounds", "supply", "none"], [60, 30, 10])[0]
    if shape == "bounds":
        end = start + dt.timedelta(days=rng.choice((13, 27, 41, 55)))
        resource["dosageInstruction"] = [
            {"timing": {"repeat": {"boundsPeriod": {"start": _date(start), "end": _date(end)}}}}
        ]
    elif shape == "supply":
        resource["dispenseRequest"] = {
            "numberOfRepeatsAllowed": rng.randint(0, 2),
            "expectedSupplyDuration": {"value": 28, "unit": "days", "code": "d"},
        }
    return resource


def _treatment(
    rng: random.Random, pid: str, number: int, subject: dict[str, str], onset: dt.date
) -> Resource:
    start = onset + dt.timedelta(days=rng.choice((-300, 2, 7, 14)))
    resource: Resource = {
        "resourceType": "Procedure",
        "id": f"{pid}-t{number}",
        "status": rng.choices(["completed", "in-progress", "not-done"], [70, 25, 5])[0],
        "code": rng.choice(_TREATMENTS),
        "subject": subject,
    }
    if rng.random() < 0.6:
        period: dict[str, str] = {"start": _date(start)}
        if rng.random() < 0.8:
            period["end"] = _date(start + dt.timedelta(days=rng.choice((20, 34, 48))))
        resource["performedPeriod"] = period
    else:
        resource["performedDateTime"] = _date(start)
    return resource
