"""CDS Hooks discovery and the CRD services: every shared CRD fixture, vertebral augmentation
orders answered with the coverage-information system action, and the sloppy requests."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from vertebro.api.fhir import crd
from vertebro.core.cases import (
    AutoApproved,
    PendedForInformation,
    Question,
    QueuedForReview,
    ReviewCause,
    ReviewFlag,
)
from vertebro.core.catalogue import Procedure

from .conftest import CRD_DIR, Api, load

Json = dict[str, Any]
SIGN = "/cds-services/vertebro-order-sign"
SELECT = "/cds-services/vertebro-order-select"
COVERAGE_INFO = crd.COVERAGE_INFORMATION
ALLOWED_PARTS = {"coverage", "covered", "pa-needed", "doc-needed", "doc-purpose", "info-needed",
                 "billingCode", "reason", "detail", "dependency", "questionnaire", "date",
                 "coverage-assertion-id", "satisfied-pa-id", "contact", "expiry-date"}

# Each shared fixture: where it is posted and what must come back (status, check).
FIXTURES: dict[str, tuple[str | None, int, str]] = {
    "hl7-CRDServiceRequest.json": (SIGN, 200, "no-actions"),  # mammography + oxygen: not ours
    "hl7-CRDServiceRequest3.json": (SIGN, 200, "no-actions"),  # a CommunicationRequest
    "inferno-order_sign_hook_request.json": (SIGN, 200, "no-actions"),  # no Bundle.type
    "inferno-order_select_hook_request.json": (SELECT, 200, "no-actions"),  # no Bundle.type
    "hl7-CRDServiceRequest2.json": (SIGN, 400, "answers the order-sign hook"),  # order-dispatch
    "hl7-CRDServiceRequest4.json": (SIGN, 400, "answers the order-sign hook"),  # appointment
    "inferno-appointment_book_hook_request.json": (SIGN, 400, "answers the order-sign hook"),
    "inferno-encounter_start_hook_request.json": (SELECT, 400, "answers the order-select hook"),
    "inferno-encounter_discharge_hook_request.json": (
        SELECT, 400, "answers the order-select hook"),
    "inferno-order_dispatch_hook_request.json": (SIGN, 400, "answers the order-sign hook"),
    "inferno-fancy_structure_hook_request.json": (SIGN, 400, "answers the order-sign hook"),
    # Responses, cards and system actions posted as if they were requests.
    "hl7-CRDServiceResponse.json": (SIGN, 400, "Field required"),
    "hl7-CRDServiceResponse2.json": (SIGN, 400, "Field required"),
    "hl7-CRDServiceResponse3.json": (SIGN, 400, "Field required"),
    "inferno-crd_authorization_hook_response.json": (SIGN, 400, "Field required"),
    "inferno-coverage_info_system_action_covered.json": (SIGN, 400, "Field required"),
    "inferno-coverage_info_system_action_conditional.json": (SIGN, 400, "Field required"),
    "inferno-valid_cards.json": (SIGN, 400, "got a JSON list"),
    # Discovery documents: checked as discovery documents below.
    "hl7-CRDServices.json": (None, 0, "discovery"),
    "inferno-cds-services.json": (None, 0, "discovery"),
}


def test_every_shared_fixture_has_an_expectation() -> None:
    assert {p.name for p in CRD_DIR.glob("*.json")} == set(FIXTURES)


@pytest.mark.requirement("crd-2.0.1:169", "crd-2.0.1:4", "cds-hooks-2.0:74",
                         "crd-2.0.1:208", "crd-2.0.1:217")
@pytest.mark.parametrize("name", sorted(n for n, (path, _, _) in FIXTURES.items() if path))
def test_crd_fixture(api_any: Api, name: str) -> None:
    path, status, check = FIXTURES[name]
    assert path is not None
    response = api_any.post(path, load(CRD_DIR / name))
    assert response.status_code == status, response.text
    body = response.json()
    if status == 200:
        assert body == {"cards": [], "systemActions": []}
    else:
        assert body["resourceType"] == "OperationOutcome"
        assert check in body["issue"][0]["diagnostics"]
    assert api_any.unexpected_errors == 0


def _discovery_problems(document: Json) -> list[str]:
    problems = []
    for service in document.get("services", []):
        for field in ("hook", "description", "id"):
            if not isinstance(service.get(field), str) or not service[field]:
                problems.append(f"{service.get('id')}: {field} missing")
        for key, template in (service.get("prefetch") or {}).items():
            for token in template.split("{{")[1:]:
                name = token.split("}}")[0]
                if name.startswith("context.") and name[8:] in {
                        "draftOrders", "selections", "appointments", "fulfillmentTasks"}:
                    problems.append(f"{service['id']}: prefetch {key} uses {name}")
    return problems


@pytest.mark.requirement("cds-hooks-2.0:4", "cds-hooks-2.0:5", "cds-hooks-2.0:6",
                         "cds-hooks-2.0:7", "cds-hooks-2.0:9", "cds-hooks-2.0:10",
                         "cds-hooks-2.0:13", "cds-hooks-2.0:16", "cds-hooks-2.0:29",
                         "cds-hooks-2.0:36", "cds-hooks-2.0:55", "cds-hooks-2.0:57",
                         "cds-hooks-2.0:59", "cds-hooks-library-1.0.1:16",
                         "cds-hooks-library-1.0.1:89", "cds-hooks-library-1.0.1:93")
def test_discovery_needs_no_authentication_and_follows_the_spec(api: Api) -> None:
    response = api.client.get("/cds-services")
    assert response.status_code == 200
    ours = response.json()
    assert {s["hook"] for s in ours["services"]} == {"order-select", "order-sign"}
    assert _discovery_problems(ours) == []
    for service in ours["services"]:
        assert api.client.post(f"/cds-services/{service['id']}", json={}).status_code == 401
    # The shared discovery documents pass the same checks.
    for name in ("hl7-CRDServices.json", "inferno-cds-services.json"):
        assert _discovery_problems(load(CRD_DIR / name)) == []


def va_request(*, hook: str = "order-sign", coverage_status: str | None = "active",
               code: Json | None = None, config: Json | None = None) -> Json:
    """The IG's order-sign example with one vertebroplasty order (CPT 22511, L1)."""
    request: Json = copy.deepcopy(load(CRD_DIR / "hl7-CRDServiceRequest.json"))
    request["hook"] = hook
    order = {
        "resourceType": "ServiceRequest", "id": "va-1", "status": "draft",
        "intent": "original-order",
        "code": code or {"coding": [{"system": "http://www.ama-assn.org/go/cpt",
                                     "code": "22511"}]},
        "bodySite": [{"text": "L1"}],
        "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
                                    "code": "M80.08XA"}]}],
        "subject": {"reference": "Patient/123"}, "authoredOn": "2026-10-05",
    }
    request["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                         "entry": [{"resource": order}]}
    if hook == "order-select":
        request["context"]["selections"] = ["ServiceRequest/va-1"]
    coverage = request["prefetch"]["coverage"]["entry"][0]["resource"]
    if coverage_status is None:
        request["prefetch"].pop("coverage")
    else:
        coverage["status"] = coverage_status
    if config is not None:
        request["extension"] = {"davinci-crd.configuration": config}
    return request


def _coverage_info(body: Json) -> dict[str, Any]:
    (action,) = body["systemActions"]
    assert action["type"] == "update" and action["description"]
    extension = next(e for e in action["resource"]["extension"] if e["url"] == COVERAGE_INFO)
    parts: dict[str, Any] = {}
    for part in extension["extension"]:
        assert part["url"] in ALLOWED_PARTS
        value = next(v for k, v in part.items() if k.startswith("value"))
        parts.setdefault(part["url"], []).append(value)
    return parts


@pytest.mark.requirement("crd-2.0.1:164", "crd-2.0.1:184", "crd-2.0.1:207", "crd-2.0.1:226",
                         "crd-2.0.1:279", "crd-2.0.1:63", "cds-hooks-2.0:75",
                         "cds-hooks-2.0:127", "cds-hooks-2.0:128", "cds-hooks-2.0:130",
                         "cds-hooks-2.0:132")
def test_order_sign_for_vertebroplasty_returns_coverage_information(api_any: Api) -> None:
    request = va_request()
    response = api_any.post(SIGN, request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cards"] == []  # coverage information is never a card
    (action,) = body["systemActions"]
    resource = action["resource"]
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    assert {k: v for k, v in resource.items() if k != "extension"} == order  # whole resource
    parts = _coverage_info(body)
    assert parts["coverage"] == [{"reference": "Coverage/COV1"}]
    assert parts["covered"] == ["covered"]
    assert parts["pa-needed"] == ["auth-needed"]
    assert parts["doc-needed"] == ["clinical"] and parts["doc-purpose"] == ["withpa"]
    assert "info-needed" not in parts
    assert parts["billingCode"] == [{"system": "http://www.ama-assn.org/go/cpt",
                                     "code": "22511"}]
    assert "weeks has conservative treatment" in parts["reason"][0]["text"]
    assert parts["questionnaire"][0].endswith("/fhir/Questionnaire/vertebro-carefirst")
    assert parts["date"] == ["2026-10-06"] and len(parts["coverage-assertion-id"]) == 1


def test_order_select_answers_for_the_selected_orders_only(api: Api) -> None:
    request = va_request(hook="order-select")
    assert len(api.post(SELECT, request).json()["systemActions"]) == 1
    request["context"]["selections"] = ["MedicationRequest/other"]
    assert api.post(SELECT, request).json()["systemActions"] == []


def test_inactive_coverage_is_not_covered(api: Api) -> None:
    parts = _coverage_info(api.post(SIGN, va_request(coverage_status="cancelled")).json())
    assert parts["covered"] == ["not-covered"]
    assert "pa-needed" not in parts and "doc-needed" not in parts
    assert "cancelled" in parts["reason"][0]["text"]


def test_an_order_named_only_in_words_is_conditional_on_a_billing_code(api: Api) -> None:
    words = {"text": "Percutaneous vertebroplasty L1"}
    parts = _coverage_info(api.post(SIGN, va_request(code=words)).json())
    assert parts["covered"] == ["conditional"]
    assert parts["info-needed"] == ["detail-code"]  # crd-ci-q3: info-needed iff conditional
    assert "billingCode" not in parts


@pytest.mark.requirement("cds-hooks-2.0:54")
def test_no_coverage_at_all_is_a_precondition_failure(api: Api) -> None:
    response = api.post(SIGN, va_request(coverage_status=None))
    assert response.status_code == 412
    assert "Coverage" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.requirement("crd-2.0.1:128", "crd-2.0.1:129", "crd-2.0.1:131")
def test_client_configuration_is_honoured_and_unknown_options_ignored(api: Api) -> None:
    off = api.post(SIGN, va_request(config={"coverage-info": False}))
    assert off.json() == {"cards": [], "systemActions": []}
    odd = api.post(SIGN, va_request(config={"no-such-option": True, "max-cards": 0}))
    assert len(odd.json()["systemActions"]) == 1


def test_sloppy_requests_are_tolerated(api: Api) -> None:
    request = va_request()
    del request["context"]["draftOrders"]["type"]
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["authoredOn"] = "2019-08-10T09:10:00:00-06:00"  # the fixture's malformed datetime
    request["context"]["unexpectedField"] = {"nested": [1, 2]}
    request["prefetch"]["device"] = None
    response = api.post(SIGN, request)
    assert response.status_code == 200
    assert _coverage_info(response.json())["covered"] == ["covered"]


def test_malformed_hook_requests_are_rejected_with_a_reason(api: Api) -> None:
    request = va_request()
    request["context"]["draftOrders"] = ["not", "a", "bundle"]
    bad = api.post(SIGN, request)
    assert bad.status_code == 400 and "draftOrders" in bad.json()["issue"][0]["diagnostics"]
    missing = va_request()
    del missing["hookInstance"]
    assert "hookInstance" in api.post(SIGN, missing).json()["issue"][0]["diagnostics"]
    assert api.post("/cds-services/no-such-service", va_request()).status_code == 404


@pytest.mark.requirement("crd-2.0.1:5", "crd-2.0.1:6", "crd-2.0.1:11")
def test_response_time_is_far_inside_the_5_second_target(api: Api) -> None:
    request = va_request()
    api.post(SIGN, request)  # warm up
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        assert api.post(SIGN, request).status_code == 200
        timings.append(time.perf_counter() - start)
    assert max(timings) < 1.0  # the target is 5 s for 90% of calls (benchmarks/ measures it)


# --- The mapping from triage to coverage information (the table in vertebro.api.fhir.crd) -----

ORDER = crd.AugmentationOrder({"resourceType": "ServiceRequest"}, Procedure.VERTEBROPLASTY,
                              {"system": "http://www.ama-assn.org/go/cpt", "code": "22510"})


@pytest.mark.parametrize(("result", "expected"), [
    (AutoApproved(("v",)), ("covered", "auth-needed", None, None)),
    (PendedForInformation((Question("f", "q?", ("v",)),)),
     ("covered", "auth-needed", "clinical", None)),
    (QueuedForReview((ReviewFlag(ReviewCause.DOES_NOT_MEET_CRITERIA, "v", "not met"),)),
     ("covered", "auth-needed", "clinical", None)),
    (QueuedForReview((ReviewFlag(ReviewCause.INVESTIGATIONAL, "v", "investigational"),)),
     ("covered", "auth-needed", "clinical", None)),
])
def test_clinical_findings_never_become_not_covered(
    result: Any, expected: tuple[str, str | None, str | None, str | None]
) -> None:
    answer = crd.answer(ORDER, {"resourceType": "Coverage", "status": "active"}, result)
    assert (answer.covered, answer.pa_needed, answer.doc_needed, answer.info_needed) == expected


def test_the_shared_system_action_examples_have_the_shape_we_produce() -> None:
    for name in ("inferno-coverage_info_system_action_covered.json",
                 "inferno-coverage_info_system_action_conditional.json"):
        example = load(CRD_DIR / name)
        assert _coverage_info({"systemActions": [example]})["covered"][0] in {
            "covered", "conditional"}
