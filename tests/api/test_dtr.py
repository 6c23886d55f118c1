"""Da Vinci DTR over HTTP: the questionnaire generated from the policy (only what is still
open, pre-filled from the record), the round trip back to the case, and the shared fixtures."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from vertebro.api.fhir.dtr import INFORMATION_ORIGIN, QR_CONTEXT

from .conftest import DTR_DIR, Api, example_facts, load, va_pas_bundle

Json = dict[str, Any]
PACKAGE = "/fhir/Questionnaire/$questionnaire-package"


def parameters(*params: Json) -> Json:
    return {"resourceType": "Parameters", "parameter": list(params)}


def package_problems(output: Json) -> list[str]:
    """The DTR output shape: Parameters with a PackageBundle whose first entry is a
    Questionnaire (the same check passes on the reference implementation's output)."""
    problems = []
    if output.get("resourceType") != "Parameters":
        return ["not Parameters"]
    bundles = [p for p in output["parameter"] if p.get("resource", {}).get("resourceType")
               == "Bundle"]
    if not bundles:
        problems.append("no Bundle parameter")
    for param in bundles:
        first = param["resource"]["entry"][0]["resource"]
        if first["resourceType"] != "Questionnaire":
            problems.append(f"{param['name']}: first entry is {first['resourceType']}")
    return problems


def pended_case(api: Api) -> str:
    answer = api.post("/fhir/Claim/$submit", va_pas_bundle("DTR-1")).json()
    case_id: str = answer["entry"][0]["resource"]["id"]
    return case_id


def unpack(output: Json) -> tuple[Json, Json]:
    bundle = output["parameter"][0]["resource"]
    assert output["parameter"][0]["name"] == "PackageBundle"
    assert bundle["type"] == "collection"
    return bundle["entry"][0]["resource"], bundle["entry"][1]["resource"]


def answers_of(response: Json) -> dict[str, list[Json]]:
    return {item["linkId"]: item["answer"] for item in response["item"]}


@pytest.mark.requirement("dtr-2.0.1:239", "dtr-2.0.1:292", "dtr-2.0.1:294", "dtr-2.0.1:169",
                         "dtr-2.0.1:303", "dtr-2.0.1:305", "dtr-2.0.1:308", "dtr-2.0.1:321",
                         "dtr-2.0.1:322", "dtr-2.0.1:323", "dtr-2.0.1:175", "dtr-2.0.1:79",
                         "dtr-2.0.1:298")
def test_questionnaire_asks_only_what_is_open_and_prefills_what_is_known(
    api_any: Api,
) -> None:
    case_id = pended_case(api_any)
    case = api_any.get(f"/cases/{case_id}").json()
    response = api_any.post(PACKAGE, parameters({"name": "context", "valueString": case_id}))
    assert response.status_code == 200, response.text
    output = response.json()
    assert package_problems(output) == []
    form, prefilled = unpack(output)
    assert form["meta"]["profile"] == [
        "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/dtr-std-questionnaire"]
    asked = {item["linkId"]: item for item in form["item"]}
    open_facts = {q["fact"] for q in case["questions"]}
    assert open_facts <= set(asked)  # every open question is on the form
    # Only facts of criteria still open: nothing about, e.g., the operator's training, which
    # CareFirst's rules do not test for vertebroplasty.
    assert "service.operator_trained" not in asked
    choice = asked["fracture.type"]
    assert choice["type"] == "choice" and {o["valueCoding"]["code"]
                                           for o in choice["answerOption"]} == {
        "compression", "burst", "other"}
    # Pre-filled: known facts only, each with information-origin auto-server and no author.
    filled = answers_of(prefilled)
    assert filled, "the record's known facts are pre-filled"
    assert not open_facts & set(filled)
    assert filled["fracture.aetiology"][0]["valueCoding"]["code"] == "osteoporotic"
    for values in filled.values():
        for value in values:
            (origin,) = [e for e in value["extension"] if e["url"] == INFORMATION_ORIGIN]
            assert origin["extension"] == [{"url": "source", "valueCode": "auto-server"}]
    assert prefilled["questionnaire"] == f"{form['url']}|{form['version']}"
    assert prefilled["subject"] == {"reference": "Patient/SubscriberExample"}
    assert prefilled["extension"][0]["url"] == QR_CONTEXT
    assert prefilled["extension"][0]["valueReference"]["identifier"]["value"] == case_id


def test_round_trip_the_completed_response_settles_the_case(
    api_any: Api, review_status: Callable[[Json], list[str]],
) -> None:
    case_id = pended_case(api_any)
    output = api_any.post(PACKAGE, parameters({"name": "context", "valueString": case_id}))
    form, response = unpack(output.json())
    completed = copy.deepcopy(response)
    completed["status"] = "completed"
    completed["author"] = {"reference": "Practitioner/ReferralPractitionerExample"}
    known = example_facts("01-osteoporotic-l1-failed-conservative.yaml")
    filled = {item["linkId"] for item in completed["item"]}
    origin = {"url": INFORMATION_ORIGIN, "extension": [
        {"url": "source", "valueCode": "manual"},
        {"url": "author", "valueReference": {"display": "Dr Jones"}}]}
    for item in form["item"]:
        link = item["linkId"]
        if link not in filled and link in known:
            completed["item"].append({"linkId": link, "text": item["text"],
                                      "answer": [{**v, "extension": [origin]}
                                                 for v in known[link]]})
    result = api_any.post(f"/cases/{case_id}/questionnaire-response", completed)
    assert result.status_code == 200, result.text
    case = result.json()
    assert case["state"] == "approved-automatically"
    evidence = [e for c in case["assessment"]["determinations"][0]["criteria"]
                for e in c["evidence"] if e["kind"] == "attestation"]
    assert any(e["source"] == "Dr Jones" and "manual" in e["location"] for e in evidence)
    assert any("auto-server" in e["location"] for e in evidence)
    inquiry = load(DTR_DIR.parent / "davinci-pas" / "conformant_pas_inquire_bundle_v110.json")
    inquiry["entry"][0]["resource"]["identifier"][0]["value"] = "DTR-1"
    assert review_status(api_any.post("/fhir/Claim/$inquire", inquiry).json()) == ["A1"]


def test_questionnaire_for_an_order_without_a_case(api: Api) -> None:
    order = {"resourceType": "ServiceRequest", "id": "kp-1", "status": "draft",
             "intent": "order", "subject": {"reference": "Patient/p1"},
             "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22513"}]},
             "bodySite": [{"text": "T12"}]}
    coverage = {"resourceType": "Coverage", "id": "cov-1", "status": "active",
                "beneficiary": {"reference": "Patient/p1"},
                "payor": [{"reference": "Organization/payer"}]}
    output = api.post(PACKAGE, parameters({"name": "order", "resource": order},
                                           {"name": "coverage", "resource": coverage})).json()
    form, prefilled = unpack(output)
    assert any(i["linkId"] == "fracture.aetiology" for i in form["item"])
    assert prefilled["subject"] == {"reference": "Patient/p1"}
    assert {e["valueReference"]["reference"] for e in prefilled["extension"]} == {
        "ServiceRequest/kp-1", "Coverage/cov-1"}


@pytest.mark.requirement("dtr-2.0.1:301", "dtr-2.0.1:297")
def test_an_unknown_questionnaire_gives_a_warning_not_a_failure(api: Api) -> None:
    case_id = pended_case(api)
    output = api.post(PACKAGE, parameters(
        {"name": "questionnaire", "valueCanonical": "http://payer.example/Questionnaire/other"},
        {"name": "context", "valueString": case_id})).json()
    warnings = [p for p in output["parameter"] if p["name"] == "operationOutcome"]
    assert "http://payer.example/Questionnaire/other" in warnings[0]["resource"]["issue"][0][
        "diagnostics"]
    assert package_problems(output) == []


def test_a_settled_case_gets_a_form_with_nothing_to_ask(api: Api, approvable_answers: Json) -> None:
    answer = api.post("/fhir/Claim/$submit", va_pas_bundle("DTR-OK", answers=approvable_answers))
    case_id = answer.json()["entry"][0]["resource"]["id"]
    output = api.post(PACKAGE, parameters({"name": "context", "valueString": case_id})).json()
    form, _ = unpack(output)
    assert [i["type"] for i in form["item"]] == ["display"]
    assert "nothing is missing" in output["parameter"][1]["resource"]["issue"][0]["diagnostics"]


# --- The shared DTR fixtures and bad input ----------------------------------------------------


def test_reference_implementation_output_has_the_shape_we_produce() -> None:
    assert package_problems(load(DTR_DIR / "questionnaire_package_output_params_ri.json")) == []


@pytest.mark.parametrize(("name", "path", "status", "words"), [
    # A QuestionnaireResponse to another payer's form (respiratory assist devices).
    ("respiratory_assist_device_prepopulated_response.json", "case", 400,
     "not a questionnaire from this server"),
    # A package Bundle is an output, not the operation's input.
    ("respiratory_assist_device_questionnaire_package.json", PACKAGE, 400,
     "takes a Parameters resource; got 'Bundle'"),
    # The RI's output Parameters: no order, questionnaire or context to work from.
    ("questionnaire_package_output_params_ri.json", PACKAGE, 400, "dtr-1"),
])
def test_dtr_fixtures_are_refused_with_a_reason(
    api: Api, name: str, path: str, status: int, words: str
) -> None:
    target = f"/cases/{pended_case(api)}/questionnaire-response" if path == "case" else path
    response = api.post(target, load(DTR_DIR / name))
    assert response.status_code == status
    assert words in response.json()["issue"][0]["diagnostics"]
    assert api.unexpected_errors == 0


def test_bad_questionnaire_responses_name_the_item(api: Api) -> None:
    case_id = pended_case(api)
    target = f"/cases/{case_id}/questionnaire-response"
    base = {"resourceType": "QuestionnaireResponse", "status": "completed",
            "questionnaire": "http://localhost:8000/fhir/Questionnaire/vertebro-carefirst-x"}
    unknown = {**base, "item": [{"linkId": "favourite.colour", "answer": [{"valueString": "x"}]}]}
    response = api.post(target, unknown)
    assert response.status_code == 400
    assert "favourite.colour" in response.json()["issue"][0]["diagnostics"]
    wrong = {**base, "item": [{"linkId": "conservative_treatment.duration_weeks",
                               "answer": [{"valueString": "a while"}]}]}
    response = api.post(target, wrong)
    assert response.status_code == 400
    assert "conservative_treatment.duration_weeks" in response.json()["issue"][0]["diagnostics"]
    assert api.post(target, {**base, "item": []}).status_code == 400
    assert api.get(f"/cases/{case_id}").json()["state"] == "pended-for-information"


def test_context_must_be_a_case_the_caller_may_see(api: Api) -> None:
    case_id = pended_case(api)
    other = api.post(PACKAGE, parameters({"name": "context", "valueString": case_id}),
                     role="other-org")
    assert other.status_code == 404
    assert api.post(PACKAGE, parameters({"name": "context", "valueString": "nope"})
                    ).status_code == 404
