"""Every read and write of a case is an AuditEvent; the trail cannot be changed through the
API; application logs hold no patient data."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from .conftest import PAS_DIR, Api, load

Json = dict[str, Any]
PATIENT_DATA = ("SMITH", "JOE", "12345678901", "WATSON", "SUBSCRIBEREXAMPLE")


def trail(api: Api, case_id: str) -> list[Json]:
    bundle = api.get(f"/cases/{case_id}/audit", role="auditor").json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return [entry["resource"] for entry in bundle["entry"]]


@pytest.mark.requirement("crd-2.0.1:76", "crd-2.0.1:80", "pas-2.0.1:196")
def test_each_read_and_write_of_a_case_is_recorded(api_any: Api) -> None:
    submitted = api_any.post("/fhir/Claim/$submit",
                             load(PAS_DIR / "conformant_pas_bundle_v110.json")).json()
    case_id = submitted["entry"][0]["resource"]["id"]
    api_any.get(f"/cases/{case_id}")
    api_any.get("/cases", role="reviewer")
    api_any.post(f"/cases/{case_id}/answers", {"facts": {"pain.score": 8}}, role="reviewer")
    api_any.post(f"/cases/{case_id}/decision", {"decision": "deny", "reason": "not indicated"},
                 role="reviewer")
    api_any.post("/fhir/Claim/$inquire", load(PAS_DIR / "conformant_pas_inquire_bundle_v110.json"))
    api_any.get(f"/cases/{case_id}", role="other-org")  # refused: recorded as a failure
    events = trail(api_any, case_id)
    summary = [(e["action"], e["entity"][0]["description"], e["outcome"],
                e["agent"][0]["who"]["identifier"]["value"]) for e in events]
    assert summary == [
        ("C", "submit", "0", "demo-requester"),
        ("R", "read", "0", "demo-requester"),
        ("R", "list", "0", "demo-reviewer"),
        ("U", "answer", "0", "demo-reviewer"),
        ("U", "decide-deny", "0", "demo-reviewer"),
        ("R", "inquire", "0", "demo-requester"),
        ("R", "read", "4", "demo-requester-other-org"),
    ]
    for event in events:
        assert event["resourceType"] == "AuditEvent"
        assert event["type"]["code"] == "rest"
        assert event["entity"][0]["what"]["identifier"]["value"] == case_id
        text = json.dumps(event).upper()
        assert not any(word in text for word in PATIENT_DATA)


def test_refused_role_access_to_a_case_is_recorded(api: Api) -> None:
    case_id = api.post("/fhir/Claim/$submit",
                       load(PAS_DIR / "conformant_pas_bundle_v110.json")).json()["entry"][0][
        "resource"]["id"]
    assert api.post(f"/cases/{case_id}/decision", {"decision": "approve", "reason": "x"},
                    role="coder").status_code == 403
    last = trail(api, case_id)[-1]
    assert (last["action"], last["outcome"]) == ("E", "4")
    assert last["agent"][0]["who"]["identifier"]["value"] == "demo-coder"


def test_the_audit_trail_can_only_be_read(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    methods = {m for operations in paths.values() for m in operations}
    assert methods <= {"get", "post"}  # no PUT, PATCH or DELETE anywhere
    for method in ("PUT", "PATCH", "DELETE"):
        assert api.client.request(method, "/audit-events",
                                  headers=api.as_("admin")).status_code == 405
    listed = api.get("/audit-events?limit=5", role="admin").json()
    assert listed["resourceType"] == "Bundle"


def test_application_logs_hold_no_patient_data(
    api: Api, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        submitted = api.post("/fhir/Claim/$submit",
                             load(PAS_DIR / "conformant_pas_bundle_v110.json")).json()
        case_id = submitted["entry"][0]["resource"]["id"]
        api.get(f"/cases/{case_id}")
        api.post("/fhir/Claim/$inquire", load(PAS_DIR / "conformant_pas_inquire_bundle_v110.json"))
        api.post("/fhir/Claim/$submit", load(PAS_DIR / "missing_referenced_resource_request_bundle.json"))
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("vertebro")]
    assert any("POST /fhir/Claim/$submit -> 200" in line for line in lines)
    assert any("GET /cases/{case_id} -> 200" in line for line in lines)  # the template only
    text = "\n".join(lines).upper()
    assert case_id.upper() not in text
    assert not any(word in text for word in PATIENT_DATA)
