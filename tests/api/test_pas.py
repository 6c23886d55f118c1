"""Da Vinci PAS over HTTP: every shared fixture end to end, on SQLite and PostgreSQL; approval,
pending and the human-only denial; inquiries; idempotent submission."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from vertebro.api.fhir.pas import response_problems

from .conftest import PAS_DIR, Api, load, va_pas_bundle

Json = dict[str, Any]
SUBMIT = "/fhir/Claim/$submit"
INQUIRE = "/fhir/Claim/$inquire"

# What each shared fixture is, and what $submit must answer: (status, review actions | words
# the OperationOutcome must contain).
FIXTURES: dict[str, tuple[int, list[str] | str]] = {
    # Conformant requests for a consultation (X12 1365 code 3): no shipped policy covers it,
    # so every item is pended (A4) for a clinician - never refused, never denied.
    "conformant_pas_bundle_v110.json": (200, ["A4"]),
    "conformant_pas_bundle_v110_uuid.json": (200, ["A4"]),
    # Two items share sequence 1 but carry distinct itemTraceNumbers: tolerated, both echoed.
    "conformant_pas_bundle_v110_multiple_items.json": (200, ["A4", "A4"]),
    # An inquiry bundle is not a submission.
    "conformant_pas_inquire_bundle_v110.json": (400, "POST it to Claim/$inquire"),
    # Broken requests.
    "missing_referenced_resource_request_bundle.json": (
        400, "Practitioner/ReferralPractitionerExample"),
    "nonconformant_pas_bundle_v110.json": (400, "has no entries"),
    "pas_claim.json": (400, "got a Claim resource"),
    "pas_device_request_all_must_support.json": (400, "got a DeviceRequest resource"),
    "pas_client_v221_must_support_preset.json": (400, "without 'resourceType'"),
    # Response bundles (valid or not as responses) are not requests.
    "invalid_first_entry_response_bundle.json": (400, "must be a Claim; it is an Organization"),
    "missing_referenced_resource_response_bundle.json": (400, "PAS response bundle"),
    "pa_response_bundle_missing_elements.json": (400, "PAS response bundle"),
    "response_bundle_patient_wrong_fullurl.json": (400, "PAS response bundle"),
    "valid_pa_inquire_response_bundle.json": (400, "PAS response bundle"),
    "valid_pa_response_bundle.json": (400, "PAS response bundle"),
    "valid_pa_response_bundle_denial.json": (400, "PAS response bundle"),
}


def test_every_shared_fixture_has_an_expectation() -> None:
    assert {p.name for p in PAS_DIR.glob("*.json")} == set(FIXTURES)


@pytest.mark.requirement("pas-2.2.1:spec-11", "pas-2.2.1:spec-12", "pas-2.2.1:spec-13",
                         "pas-2.2.1:spec-35", "pas-2.2.1:spec-39", "pas-2.0.1:104",
                         "pas-2.0.1:105", "pas-2.0.1:111", "pas-2.0.1:112", "pas-2.0.1:113",
                         "pas-2.0.1:207", "pas-2.0.1:107", "pas-2.0.1:66")
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_pas_fixture_end_to_end(
    api_any: Api, name: str, review_status: Callable[[Json], list[str]]
) -> None:
    status, expected = FIXTURES[name]
    body = load(PAS_DIR / name)
    response = api_any.post(SUBMIT, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    answer = response.json()
    if status == 200:
        assert answer["resourceType"] == "Bundle"
        assert review_status(answer) == expected
        assert response_problems(answer, body) == []
        assert answer["entry"][0]["resource"]["outcome"] == "queued"
    else:
        assert answer["resourceType"] == "OperationOutcome"
        assert len(answer["issue"]) == 1 and answer["issue"][0]["severity"] == "error"
        assert isinstance(expected, str) and expected in answer["issue"][0]["diagnostics"]
        assert "ClaimResponse" not in response.text.split("diagnostics")[0]
    assert api_any.unexpected_errors == 0


# The response fixtures, read as responses: which are conformant and what is wrong with the rest.
RESPONSES: dict[str, str | None] = {
    "valid_pa_response_bundle.json": None,
    "valid_pa_response_bundle_denial.json": None,
    "valid_pa_inquire_response_bundle.json": None,
    "invalid_first_entry_response_bundle.json": "not a ClaimResponse",
    "missing_referenced_resource_response_bundle.json": "Patient/SubscriberExample, which is not",
    "pa_response_bundle_missing_elements.json": "ClaimResponse.created is missing",
    "response_bundle_patient_wrong_fullurl.json": "is not the request's",
}


@pytest.mark.requirement("pas-2.2.1:spec-30", "pas-2.0.1:100", "pas-2.0.1:101")
@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_response_fixtures_checked_by_the_same_rules_our_answers_pass(name: str) -> None:
    request = load(PAS_DIR / "conformant_pas_bundle_v110.json")
    problems = response_problems(load(PAS_DIR / name), request)
    expected = RESPONSES[name]
    if expected is None:
        assert problems == []
    else:
        assert any(expected in p for p in problems), problems


@pytest.mark.requirement("pas-2.2.1:spec-30", "pas-2.2.1:spec-31", "pas-2.2.1:spec-33",
                         "pas-2.2.1:spec-34", "pas-2.0.1:100", "pas-2.0.1:101",
                         "pas-2.0.1:102", "pas-2.0.1:103")
def test_response_echoes_request_resources_and_items(api: Api) -> None:
    body = load(PAS_DIR / "conformant_pas_bundle_v110_uuid.json")
    answer = api.post(SUBMIT, body).json()
    request_urls = {e["fullUrl"]: e["resource"] for e in body["entry"]}
    response = answer["entry"][0]["resource"]
    assert answer["entry"][0]["resource"]["resourceType"] == "ClaimResponse"
    for entry in answer["entry"][1:]:
        assert request_urls[entry["fullUrl"]] == entry["resource"]  # same fullUrl, same resource
    urls = [e["fullUrl"] for e in answer["entry"]]
    assert len(urls) == len(set(urls))
    assert response["patient"]["reference"] == body["entry"][0]["resource"]["patient"]["reference"]
    item = response["item"][0]
    assert item["itemSequence"] == 1
    assert item["extension"][0]["valueIdentifier"]["value"] == "1122334"  # itemTraceNumber
    assert response["request"]["identifier"]["value"] == "111099"


@pytest.mark.requirement("pas-2.0.1:136")
def test_vertebral_augmentation_with_documentation_is_approved_automatically(
    api_any: Api, approvable_answers: Json, review_status: Callable[[Json], list[str]],
) -> None:
    body = va_pas_bundle("VA-A1", answers=approvable_answers)
    answer = api_any.post(SUBMIT, body).json()
    response = answer["entry"][0]["resource"]
    assert review_status(answer) == ["A1"]
    assert response["outcome"] == "complete"
    assert response["preAuthRef"] == response["id"]
    review = response["item"][0]["adjudication"][0]["extension"][0]["extension"]
    assert review[0] == {"url": "number", "valueString": response["id"]}
    assert response_problems(answer, body) == []
    case = api_any.get(f"/cases/{response['id']}").json()
    assert case["state"] == "approved-automatically"
    assert case["assessment"]["determinations"][0]["outcome"] == "meets-criteria"
    # The requester's QuestionnaireResponse answers are recorded as attestations.
    evidence = [e for c in case["assessment"]["determinations"][0]["criteria"]
                for e in c["evidence"]]
    assert any(e["kind"] == "attestation" and "information-origin manual" in (e["location"] or "")
               for e in evidence)


@pytest.mark.requirement("pas-2.0.1:136", "pas-2.0.1:66")
def test_missing_documentation_is_pended_with_the_questions(
    api_any: Api, review_status: Callable[[Json], list[str]],
) -> None:
    answer = api_any.post(SUBMIT, va_pas_bundle("VA-A4")).json()
    response = answer["entry"][0]["resource"]
    assert review_status(answer) == ["A4"]
    assert response["outcome"] == "queued"
    assert "preAuthRef" not in response
    note = response["processNote"][0]["text"]
    assert note.startswith("Pended for information")
    assert "For how many weeks has conservative treatment been given?" in note


def test_no_submission_is_ever_denied_by_software(
    api: Api, review_status: Callable[[Json], list[str]], approvable_answers: Json,
) -> None:
    # Criteria clearly not met: the fracture is healed and pain is settling.
    not_met = dict(approvable_answers)
    not_met["fracture.healed"] = [{"valueBoolean": True}]
    not_met["conservative_treatment.failed"] = [{"valueBoolean": False}]
    answer = api.post(SUBMIT, va_pas_bundle("VA-NOT-MET", answers=not_met)).json()
    assert review_status(answer) == ["A4"]
    case = api.get(f"/cases/{answer['entry'][0]['resource']['id']}").json()
    assert case["state"] == "queued-for-review"
    assert case["review_flags"][0]["cause"] == "does-not-meet-criteria"


@pytest.mark.requirement("pas-2.0.1:208", "pas-2.0.1:131", "pas-2.0.1:139", "pas-2.2.1:spec-46",
                         "pas-2.2.1:spec-53", "pas-2.2.1:spec-44", "pas-2.0.1:124")
def test_inquiry_returns_current_status_and_a3_only_after_a_human_denial(
    api_any: Api, review_status: Callable[[Json], list[str]],
) -> None:
    inquiry = load(PAS_DIR / "conformant_pas_inquire_bundle_v110.json")
    before = api_any.post(INQUIRE, inquiry)
    assert before.status_code == 404
    assert before.json()["resourceType"] == "OperationOutcome"

    submitted = api_any.post(SUBMIT, load(PAS_DIR / "conformant_pas_bundle_v110.json")).json()
    case_id = submitted["entry"][0]["resource"]["id"]
    pending = api_any.post(INQUIRE, inquiry)
    assert pending.status_code == 200
    assert review_status(pending.json()) == ["A4"]
    claim_response = pending.json()["entry"][0]["resource"]
    assert claim_response["meta"]["profile"][0].endswith("profile-claiminquiryresponse")
    assert pending.json()["meta"]["profile"][0].endswith("profile-pas-inquiry-response-bundle")
    assert claim_response["request"]["identifier"]["value"] == "111099"

    api_any.clock.advance(hours=20)
    decided = api_any.post(f"/cases/{case_id}/decision",
                           {"decision": "deny", "reason": "Consultation not medically necessary"},
                           role="reviewer")
    assert decided.status_code == 200, decided.text
    denied = api_any.post(INQUIRE, inquiry).json()
    assert review_status(denied) == ["A3"]
    note = denied["entry"][0]["resource"]["processNote"][0]["text"]
    assert "Dr Ada Reviewer" in note and "not medically necessary" in note
    assert denied["entry"][0]["resource"]["outcome"] == "complete"


@pytest.mark.requirement("pas-2.2.1:spec-53", "pas-2.0.1:139")
def test_inquiry_must_match_member_and_provider_and_organisation(api: Api) -> None:
    api.post(SUBMIT, load(PAS_DIR / "conformant_pas_bundle_v110.json"))
    inquiry = load(PAS_DIR / "conformant_pas_inquire_bundle_v110.json")
    wrong_member = copy.deepcopy(inquiry)
    for entry in wrong_member["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["identifier"][0]["value"] = "99999999999"
    assert api.post(INQUIRE, wrong_member).status_code == 404
    wrong_provider = copy.deepcopy(inquiry)
    for entry in wrong_provider["entry"]:
        if entry["resource"]["resourceType"] in ("Organization", "Practitioner"):
            for ident in entry["resource"].get("identifier", []):
                ident["value"] = "0000000000"
    assert api.post(INQUIRE, wrong_provider).status_code == 404
    assert api.post(INQUIRE, inquiry, role="other-org").status_code == 404
    assert api.post(INQUIRE, inquiry).status_code == 200


@pytest.mark.requirement("pas-2.2.1:spec-73", "pas-2.0.1:183", "pas-2.0.1:155")
def test_pended_requests_stay_queryable_months_later(api: Api) -> None:
    api.post(SUBMIT, load(PAS_DIR / "conformant_pas_bundle_v110.json"))
    api.clock.advance(days=200)
    inquiry = load(PAS_DIR / "conformant_pas_inquire_bundle_v110.json")
    for _ in range(3):  # no retry limit
        assert api.post(INQUIRE, inquiry).status_code == 200


def test_repeated_submission_returns_the_original_answer_and_no_second_case(api_any: Api) -> None:
    body = load(PAS_DIR / "conformant_pas_bundle_v110.json")
    first = api_any.post(SUBMIT, body)
    api_any.clock.advance(minutes=5)
    second = api_any.post(SUBMIT, body)
    assert second.status_code == 200
    assert second.json() == first.json()
    listed = api_any.get("/cases").json()
    assert listed["count"] == 1


def test_reusing_an_identifier_for_a_different_request_is_a_conflict(api: Api) -> None:
    body = load(PAS_DIR / "conformant_pas_bundle_v110.json")
    api.post(SUBMIT, body)
    changed = copy.deepcopy(body)
    changed["timestamp"] = "2005-05-03T11:01:00+05:00"
    response = api.post(SUBMIT, changed)
    assert response.status_code == 409
    assert "already used" in response.json()["issue"][0]["diagnostics"]
    assert api.get("/cases").json()["count"] == 1
    # Another organisation's identifiers are its own.
    assert api.post(SUBMIT, changed, role="other-org").status_code == 200


def test_the_response_never_holds_a3_before_a_decision(
    api: Api, review_status: Callable[[Json], list[str]],
) -> None:
    for n, name in enumerate(sorted(k for k, (status, _) in FIXTURES.items() if status == 200)):
        body = load(PAS_DIR / name)
        body["entry"][0]["resource"]["identifier"][0]["value"] = f"A3-{n}"
        assert "A3" not in review_status(api.post(SUBMIT, body).json())


@pytest.mark.parametrize("whose", ["Claim", "Patient"])
def test_an_identifier_longer_than_the_store_keeps_is_refused_alike_on_every_database(
    api_any: Api, whose: str
) -> None:
    # SQLite would store any length and PostgreSQL refuse it: the request is refused before
    # either, with the element named.
    body = load(PAS_DIR / "conformant_pas_bundle_v110.json")
    resource = next(
        e["resource"] for e in body["entry"] if e["resource"]["resourceType"] == whose
    )
    resource["identifier"][0]["value"] = "9" * 600
    response = api_any.post(SUBMIT, body)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert "the limit is 500" in issue["diagnostics"]
    assert issue["expression"][0].endswith("identifier")
    assert api_any.get("/cases").json()["count"] == 0
