"""Locust users for the prior-authorisation service, each sending realistic requests back to back
(closed loop: the number of users is the number of requests in flight).

- `AssessUser`: POST /assessments with the 14 example cases (examples/*.yaml as JSON) and the
  six FHIR R4 bundles of tests/fixtures/fhir (PAS, searchset, transaction; two carry report text
  that goes through the note reader), in turn.
- `SubmitUser`: POST /fhir/Claim/$submit with the Da Vinci PAS conformant request bundle
  (../shared/fixtures/davinci-pas) under a fresh Claim identifier every time: 2 in 5 a
  vertebroplasty or kyphoplasty request with a QuestionnaireResponse that meets CareFirst's
  criteria (approved, A1), 2 in 5 the same without answers (pended, A4), 1 in 5 the fixture as
  it is, a consultation no policy covers (pended for a clinician).
- `OrderSignUser`: POST /cds-services/vertebro-order-sign with the HL7 CRD order-sign example
  holding a vertebroplasty draft order (3 in 4; a coverage-information system action comes
  back) and the Inferno order-sign request whose orders are not ours (1 in 4; no action).

Any answer but 200 counts as a failure. Standalone, all three at once:

    .venv/bin/locust -f benchmarks/load/locustfile.py --host http://127.0.0.1:8000

`benchmarks/load_test.py` runs them one at a time at increasing concurrency against servers it
starts itself.
"""

from __future__ import annotations

import copy
import itertools
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from locust import FastHttpUser, constant, task

from vertebro.adapters.case_files import load_case_file
from vertebro.api.fhir.dtr import answer_values
from vertebro.core.catalogue import CATALOGUE

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "fixtures"
EXAMPLES = REPO / "examples"
API_KEY = "dev-requester-key"
Json = dict[str, Any]

ASSESS = "/assessments"
SUBMIT = "/fhir/Claim/$submit"
ORDER_SIGN = "/cds-services/vertebro-order-sign"


# --- Request bodies ----------------------------------------------------------------------------


@cache
def assessment_bodies() -> tuple[bytes, ...]:
    """The example cases as JSON and the FHIR fixtures, serialised once."""
    cases = [json.dumps(yaml.safe_load(p.read_text(encoding="utf-8")), default=str).encode()
             for p in sorted(EXAMPLES.glob("*.yaml"))]
    bundles = [p.read_bytes() for p in sorted((REPO / "tests" / "fixtures" / "fhir")
                                              .glob("*.json"))]
    return tuple(cases + bundles)


def _answers(example: str) -> list[Json]:
    case = load_case_file(EXAMPLES / example)
    return [{"linkId": f.name, "answer": answer_values(CATALOGUE[f.name], f.value)}
            for f in case.facts.values()
            if f.value is not None and f.name not in ("patient.sex", "patient.age")]


@cache
def _pas_templates() -> tuple[Json, ...]:
    """Vertebroplasty at L1 and kyphoplasty at T12 with answers, the same without, and the
    fixture as published."""
    original: Json = json.loads((SHARED / "davinci-pas" / "conformant_pas_bundle_v110.json")
                                .read_text(encoding="utf-8"))
    answers = _answers("01-osteoporotic-l1-failed-conservative.yaml")
    out = []
    for code, level, with_answers in (("22511", "L1", True), ("22513", "T12", True),
                                      ("22511", "L1", False), ("22513", "T12", False)):
        bundle = copy.deepcopy(original)
        claim = bundle["entry"][0]["resource"]
        cpt = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}]}
        claim["item"][0]["productOrService"] = cpt
        claim["diagnosis"][0]["diagnosisCodeableConcept"] = {"coding": [
            {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M80.08XA"}]}
        for entry in bundle["entry"]:
            if entry["resource"]["resourceType"] == "ServiceRequest":
                entry["resource"]["code"] = copy.deepcopy(cpt)
                entry["resource"]["bodySite"] = [{"text": level}]
        if with_answers:
            url = "urn:uuid:9d1b6c1e-6a55-4d8e-9d53-1c3e4f0a7b21"
            bundle["entry"].append({"fullUrl": url, "resource": {
                "resourceType": "QuestionnaireResponse", "status": "completed",
                "questionnaire": "http://localhost:8000/fhir/Questionnaire/vertebro-carefirst",
                "item": answers}})
            claim["supportingInfo"] = [{"sequence": 1, "category": {"coding": [
                {"code": "additionalInformation"}]}, "valueReference": {"reference": url}}]
        out.append(bundle)
    out.append(original)
    return tuple(out)


_pas_turn = itertools.count()


def pas_submission() -> Json:
    """The next PAS request bundle, under a Claim identifier never used before."""
    templates = _pas_templates()
    bundle = copy.deepcopy(templates[next(_pas_turn) % len(templates)])
    identifier = f"LOAD-{uuid.uuid4().hex}"
    bundle["identifier"]["value"] = f"T-{identifier}"
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = identifier
    return bundle


@cache
def order_sign_bodies() -> tuple[bytes, ...]:
    """Three CRD order-sign requests for a vertebroplasty, one for orders that are not ours."""
    crd = SHARED / "cds-hooks-crd"
    request: Json = json.loads((crd / "hl7-CRDServiceRequest.json").read_text(encoding="utf-8"))
    request["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                         "entry": [{"resource": {
        "resourceType": "ServiceRequest", "id": "va-1", "status": "draft",
        "intent": "original-order", "subject": {"reference": "Patient/123"},
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22511"}]},
        "bodySite": [{"text": "L1"}]}}]}
    ours = json.dumps(request).encode()
    other = (crd / "inferno-order_sign_hook_request.json").read_bytes()
    return (ours, ours, ours, other)


# --- Users -------------------------------------------------------------------------------------


class _ServiceUser(FastHttpUser):
    abstract = True
    wait_time = constant(0)
    network_timeout = 60.0
    connection_timeout = 10.0

    def _post(self, path: str, body: bytes, name: str) -> None:
        headers = {"X-API-Key": API_KEY, "Content-Type": "application/fhir+json"}
        # locust documents bytes as a body; its type annotation leaves them out.
        with self.client.post(path, data=body, headers=headers, name=name,  # type: ignore[arg-type]
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")


class AssessUser(_ServiceUser):
    """POST /assessments."""

    def on_start(self) -> None:
        self._bodies = itertools.cycle(assessment_bodies())

    @task
    def assess(self) -> None:
        self._post(ASSESS, next(self._bodies), "assess")


class SubmitUser(_ServiceUser):
    """POST /fhir/Claim/$submit, a new request every time."""

    @task
    def submit(self) -> None:
        self._post(SUBMIT, json.dumps(pas_submission()).encode(), "Claim/$submit")


class OrderSignUser(_ServiceUser):
    """POST /cds-services/vertebro-order-sign."""

    def on_start(self) -> None:
        self._bodies = itertools.cycle(order_sign_bodies())

    @task
    def order_sign(self) -> None:
        self._post(ORDER_SIGN, next(self._bodies), "order-sign")


SCENARIOS: dict[str, type[_ServiceUser]] = {
    "assess": AssessUser, "Claim/$submit": SubmitUser, "order-sign": OrderSignUser,
}
