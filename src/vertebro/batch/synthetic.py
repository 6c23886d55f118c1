"""Generated populations for agreement tests and benchmarks.

Two kinds:

* `fact_cases`: cases given directly as facts, every fact a policy tests either unknown or
  known with a value chosen to sit on and around the policy's thresholds. `unknown_masks`
  lists, for each rule's tree, every combination of its facts being unknown, so that a
  population built from it covers each combination at least once.
* `coded_case`: one patient's FHIR R4 resources as a payer's bulk export holds them (Patient,
  Claim or ServiceRequest, Condition, Observation, Encounter, MedicationRequest, Procedure),
  coded with the codes `vertebro.adapters.fhir.codes` knows and the element shapes its readers
  read, with the statuses, dates and links that change what they mean (refuted, resolved,
  sequela, outside the episode, tied to the request or not). `write_ndjson` writes a population
  as NDJSON files, one resource type per file, as `$export` does.

Everything is deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vertebro.batch.facts_table import CaseFacts
from vertebro.core.catalogue import CATALOGUE, Procedure
from vertebro.core.criteria import (
    AllOf,
    Criterion,
    Not,
    Predicate,
    Test,
    apply_test,
    children,
    walk,
)
from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import Fact, FactSet, FactType, FactValue
from vertebro.core.levels import ALL_LEVELS, Level
from vertebro.core.policy import Policy

AS_OF = dt.date(2026, 10, 1)
Resource = dict[str, Any]

# --- Cases as facts ---------------------------------------------------------------------------


def policy_facts(policy: Policy) -> list[str]:
    """The facts a policy's criteria test, the request's procedure excepted (it is always known)."""
    names = {n.fact for n in policy.nodes() if isinstance(n, Predicate)}
    return sorted(names - {"request.procedure"})


def unknown_masks(policy: Policy, fact_limit: int = 0) -> list[frozenset[str]]:
    """Sets of facts to leave unknown, deduplicated, that together cover:

    * at every criterion of every rule's tree, every combination of its sub-criteria being
      unknown (the facts under the chosen sub-criteria hidden, the others known);
    * for trees testing at most `fact_limit` facts, every combination of those facts.
    """
    seen: dict[frozenset[str], None] = {frozenset(): None}
    for rules in policy.rules.values():
        for rule in rules:
            if rule.when is None:
                continue
            tree = policy.criteria[rule.when]
            for node in walk(tree):
                parts = [_facts_under(child) for child in children(node)]
                for size in range(1, len(parts) + 1):
                    for chosen in itertools.combinations(parts, size):
                        seen.setdefault(frozenset().union(*chosen))
            names = sorted(_facts_under(tree))
            if len(names) <= fact_limit:
                for size in range(1, len(names) + 1):
                    for subset in itertools.combinations(names, size):
                        seen.setdefault(frozenset(subset))
    return list(seen)


def _facts_under(node: Criterion) -> frozenset[str]:
    """The facts a criterion tests, the request's procedure excepted (it is always known)."""
    return frozenset(
        n.fact for n in walk(node) if isinstance(n, Predicate) and n.fact != "request.procedure"
    )


def thresholds(policy: Policy) -> dict[str, list[float]]:
    """The numbers each number or date fact is compared with in the policy."""
    found: dict[str, list[float]] = {}
    for node in policy.nodes():
        if isinstance(node, Predicate):
            test = node.test
            for value in (test.at_least, test.less_than, test.weeks_at_least, test.weeks_less_than):
                if value is not None:
                    found.setdefault(node.fact, []).append(value)
    return found


def random_value(name: str, rng: random.Random, limits: Sequence[float] = ()) -> FactValue:
    """A value for a fact, biased to the policy's thresholds (on, just below, just above)."""
    spec = CATALOGUE[name]
    kind = spec.type
    if kind is FactType.BOOLEAN:
        return rng.random() < 0.5
    if kind is FactType.CHOICE:
        return rng.choice(spec.choices)
    if kind is FactType.CHOICES:
        return frozenset(rng.sample(spec.choices, rng.randint(0, min(4, len(spec.choices)))))
    if kind is FactType.NUMBER:
        if limits and rng.random() < 0.6:
            return max(0.0, rng.choice(limits) + rng.choice((-0.5, -0.1, 0.0, 0.0, 0.1, 1.0)))
        low = spec.minimum or 0.0
        high = min(spec.maximum if spec.maximum is not None else 100.0, 100.0)
        return round(rng.uniform(low, high), rng.choice((0, 1, 3)))
    if kind is FactType.DATE:
        if limits and rng.random() < 0.6:
            days = round(rng.choice(limits) * 7) + rng.choice((-1, 0, 0, 1))
        else:
            days = rng.randint(-10, 400)
        return AS_OF - dt.timedelta(days=days)
    pool = [*ALL_LEVELS, Level.parse("sacrum")]
    return tuple(sorted(set(rng.sample(pool, rng.randint(1, 4)))))


def witness(
    policy: Policy, node: Criterion, want: bool, rng: random.Random
) -> dict[str, FactValue] | None:
    """Values for the facts under `node` that make it met (`want`) or not met, found by
    choosing which children must hold and sampling values that pass every test put on each
    fact; None when the sampling finds none. `request.procedure` may be among the facts."""
    tests: dict[str, list[tuple[Test, bool]]] = {}
    _require(node, want, rng, tests)
    limits = thresholds(policy)
    found: dict[str, FactValue] = {}
    for name, wanted in tests.items():
        value = _sample(name, wanted, rng, limits.get(name, ()))
        if value is None:
            return None
        found[name] = value
    return found


def _require(
    node: Criterion, want: bool, rng: random.Random, tests: dict[str, list[tuple[Test, bool]]]
) -> None:
    if isinstance(node, Predicate):
        tests.setdefault(node.fact, []).append((node.test, want))
    elif isinstance(node, Not):
        _require(node.child, not want, rng, tests)
    elif isinstance(node, AllOf) == want:  # every child must give `want`
        for child in children(node):
            _require(child, want, rng, tests)
    else:  # one child is enough
        _require(rng.choice(children(node)), want, rng, tests)


def _sample(
    name: str, wanted: list[tuple[Test, bool]], rng: random.Random, limits: Sequence[float]
) -> FactValue | None:
    spec = CATALOGUE[name]
    included = {item for test, want in wanted if want for item in test.includes or ()}
    for _ in range(300):
        if name == "request.procedure":
            value: FactValue = rng.choice(list(Procedure)).value
        elif spec.type is FactType.CHOICES and included and rng.random() < 0.5:
            value = frozenset(included | set(rng.sample(spec.choices, rng.randint(0, 2))))
        else:
            value = random_value(name, rng, limits)
        if all(apply_test(name, test, value, AS_OF) is want for test, want in wanted):
            return value
    return None


def _request_levels(rng: random.Random) -> tuple[Level, ...]:
    pool = [*ALL_LEVELS, Level.parse("sacrum")]
    return tuple(sorted(set(rng.sample(pool, rng.randint(1, 3)))))


def fact_cases(policy: Policy, count: int, seed: int, fact_limit: int = 0) -> list[CaseFacts]:
    """`count` cases whose unknown facts run through `unknown_masks(policy, fact_limit)` in
    turn (then at random), each with one to three requested procedures, sometimes with the
    request's own levels. Half the cases start from a `witness` that makes some criterion met
    or not met, so that every criterion and outcome is reached, then hide their facts."""
    rng = random.Random(seed)
    names = policy_facts(policy)
    masks = unknown_masks(policy, fact_limit)
    limits = thresholds(policy)
    trees = [policy.criteria[r.when] for rules in policy.rules.values() for r in rules if r.when]
    # Roots are chosen as often as all their parts together, so that whole trees are met.
    nodes = [n for tree in trees for n in walk(tree)] + trees * 20
    cases = []
    for index in range(count):
        if index < len(masks):
            hidden = masks[index]
        else:
            hidden = frozenset(n for n in names if rng.random() < rng.choice((0.1, 0.3, 0.6)))
        values = {name: random_value(name, rng, limits.get(name, ())) for name in names}
        chosen = None
        if rng.random() < 0.5:
            chosen = witness(policy, rng.choice(nodes), rng.random() < 0.7, rng)
        procedure = None
        if chosen is not None:
            procedure = chosen.pop("request.procedure", None)
            values.update(chosen)
            if index >= len(masks) and rng.random() < 0.5:
                hidden = hidden - set(chosen)
        facts = FactSet(Fact(name, values[name]) for name in names if name not in hidden)
        procedures = rng.sample(list(Procedure), rng.choice((1, 1, 2, 3)))
        if isinstance(procedure, str) and Procedure(procedure) not in procedures:
            procedures[0] = Procedure(procedure)
        own_levels = chosen is None or "request.levels" not in chosen
        requests = tuple(
            ProcedureRequest(p, _request_levels(rng) if own_levels and rng.random() < 0.3 else None)
            for p in procedures
        )
        cases.append(CaseFacts(f"f{seed}-{index:06d}", facts, requests, AS_OF))
    return cases


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


def bundle(resources: list[Resource], bundle_id: str | None = None) -> Resource:
    """The resources as a collection Bundle (how the per-case reader takes one patient)."""
    out: Resource = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources],
    }
    if bundle_id:
        out["id"] = bundle_id
    return out


@dataclass(frozen=True, slots=True)
class Written:
    """What `write_ndjson` wrote: cases, and resources per type."""

    cases: int
    resources: dict[str, int]


def write_ndjson(
    folder: Path, count: int, seed: int = 0, start: int = 0, part: int | None = None
) -> Written:
    """Write cases start..start+count-1 as NDJSON, one file per resource type: `Type.ndjson`,
    or `Type.<part>.ndjson` when the export is split into parts."""
    folder.mkdir(parents=True, exist_ok=True)
    handles: dict[str, Any] = {}
    counts: dict[str, int] = {}
    try:
        for resources in iter_cases(count, seed, start):
            for resource in resources:
                rtype = resource["resourceType"]
                handle = handles.get(rtype)
                if handle is None:
                    name = f"{rtype}.ndjson" if part is None else f"{rtype}.{part:03d}.ndjson"
                    handle = handles[rtype] = (folder / name).open("w", encoding="utf-8")
                handle.write(json.dumps(resource, separators=(",", ":")) + "\n")
                counts[rtype] = counts.get(rtype, 0) + 1
    finally:
        for handle in handles.values():
            handle.close()
    return Written(count, counts)


def iter_cases(count: int, seed: int = 0, start: int = 0) -> Iterator[list[Resource]]:
    """The resources of cases start..start+count-1."""
    for index in range(start, start + count):
        yield coded_case(index, seed)
