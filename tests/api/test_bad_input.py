"""Bad input gets a FHIR OperationOutcome with a 4xx status, never a 500 - and an unexpected
failure is a 500 OperationOutcome whose log line holds no patient data."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vertebro import case_service
from vertebro.api.main import create_app
from vertebro.settings import Settings

from .conftest import PAS_DIR, Api, FakeClock, case_document, load

Json = dict[str, Any]
JSON_ENDPOINTS = ["/assessments", "/cases", "/fhir/Claim/$submit", "/fhir/Claim/$inquire",
                  "/cds-services/vertebro-order-sign",
                  "/fhir/Questionnaire/$questionnaire-package"]


def outcome(response: Any) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert response.headers["content-type"].startswith("application/fhir+json")
    diagnostics: str = body["issue"][0]["diagnostics"]
    return diagnostics


@pytest.mark.requirement("pas-2.0.1:113", "pas-2.2.1:spec-35")
@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_malformed_json_is_a_400_naming_the_place(api: Api, path: str) -> None:
    response = api.client.post(path, content=b'{"resourceType": "Bundle", "entry": [',
                               headers={**api.as_("requester"),
                                        "content-type": "application/fhir+json"})
    assert response.status_code == 400
    assert "malformed JSON at line 1 column" in outcome(response)


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_wrong_media_type_and_empty_bodies(api: Api, path: str) -> None:
    xml = api.client.post(path, content=b"<Bundle/>",
                          headers={**api.as_("requester"), "content-type": "application/xml"})
    assert xml.status_code == 415
    assert "application/xml" in outcome(xml)
    empty = api.client.post(path, content=b"", headers={**api.as_("requester"),
                                                        "content-type": "application/json"})
    assert empty.status_code == 400
    assert "empty" in outcome(empty)


@pytest.mark.parametrize(("path", "body", "words"), [
    ("/fhir/Claim/$submit", [1, 2, 3], "JSON list"),
    ("/fhir/Claim/$submit", {"resourceType": "Patient", "id": "p"}, "got a Patient resource"),
    ("/cds-services/vertebro-order-sign", {"resourceType": "Bundle"}, "Field required"),
    ("/cds-services/vertebro-order-sign", "just a string", "a CDS Hooks request"),
    ("/fhir/Questionnaire/$questionnaire-package", {"resourceType": "Bundle"},
     "takes a Parameters resource"),
    ("/cases", {"identifier": "x"}, "document"),
    ("/cases", {"identifier": "x", "document": {"requests": ["vertebroplasty"],
                                                "facts": {"no.such_fact": 1}}},
     "unknown fact 'no.such_fact'"),
    ("/cases", {"identifier": "x", "document": {"requests": ["laminectomy"], "facts": {}}},
     "procedure 'laminectomy' is not one of"),
    ("/cases", {"identifier": "x", "policy": "no-such-policy",
                "document": case_document("01-osteoporotic-l1-failed-conservative.yaml")},
     "unknown policy 'no-such-policy'"),
    ("/cases", {"identifier": "x", "priority": "whenever", "document": {}}, "priority"),
    ("/assessments", {"resourceType": "ProcedureRequest", "id": "stu3"}, "another version"),
    ("/assessments", {"hook": "order-sign", "context": {}}, "CDS Hooks request"),
    ("/assessments", {"requests": [{"procedure": "vertebroplasty", "levels": "Q9"}],
                      "facts": {}}, "levels"),
])
def test_wrong_types_and_unknown_codes_are_named(
    api: Api, path: str, body: Any, words: str
) -> None:
    response = api.post(path, body)
    assert 400 <= response.status_code < 500, response.text
    assert words in outcome(response)


def test_bad_query_parameters(api: Api) -> None:
    doc = case_document("01-osteoporotic-l1-failed-conservative.yaml")
    response = api.post("/assessments?as_of=yesterday", doc)
    assert response.status_code == 400 and "as_of" in outcome(response)
    assert api.get("/cases?limit=0").status_code == 400


def test_unknown_routes_and_methods(api: Api) -> None:
    missing = api.get("/no/such/thing")
    assert missing.status_code == 404 and outcome(missing)
    wrong = api.client.delete("/cases", headers=api.as_("admin"))
    assert wrong.status_code == 405 and outcome(wrong)
    assert api.get("/cases/not-a-case").status_code == 404


@pytest.fixture
def small_api(sqlite_url: str, clock: FakeClock) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=sqlite_url, max_body_bytes=2000), clock=clock,
                     migrate=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_oversized_bodies_get_413(small_api: TestClient) -> None:
    headers = {"X-API-Key": "dev-requester-key", "content-type": "application/fhir+json"}
    body = load(PAS_DIR / "conformant_pas_bundle_v110.json")  # ~21 KB
    declared = small_api.post("/fhir/Claim/$submit", json=body, headers=headers)
    assert declared.status_code == 413
    assert "2,000 bytes" in outcome(declared)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        for _ in range(10):
            yield b" " * 500

    streamed = small_api.post("/fhir/Claim/$submit", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert small_api.get("/cases", headers=headers).json()["count"] == 0


def test_an_unexpected_failure_is_a_500_outcome_without_patient_data_in_the_log(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(*_: Any, **__: Any) -> None:
        raise RuntimeError("patient JOE SMITH 12345678901 broke it")

    monkeypatch.setattr(case_service, "submit", explode)
    with caplog.at_level(logging.DEBUG, logger="vertebro"):
        response = api.post("/fhir/Claim/$submit", load(PAS_DIR / "conformant_pas_bundle_v110.json"))
    assert response.status_code == 500
    assert "internal error" in outcome(response)
    assert "SMITH" not in response.text
    assert api.unexpected_errors == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged and "/fhir/Claim/$submit" in logged
    assert "SMITH" not in logged and "12345678901" not in logged
