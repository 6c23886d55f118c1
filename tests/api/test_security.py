"""Authentication, the role rules for every endpoint, tokens, and the settings' refusal of
placeholder secrets."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from vertebro.api.main import create_app
from vertebro.settings import (
    DEV_JWT_SECRET,
    PrincipalConfig,
    Role,
    Settings,
    SettingsError,
    sha256_hex,
)

from .conftest import KEYS, PAS_DIR, Api, FakeClock, case_document, load, va_pas_bundle

Json = dict[str, Any]
ROLES = ["requester", "reviewer", "coder", "auditor", "admin"]

# Who may call what - written out here independently of the code's own table.
MAY: dict[str, set[str]] = {
    "assess": {"requester", "reviewer", "coder"},
    "submit": {"requester"},
    "read-cases": {"requester", "reviewer", "coder", "auditor", "admin"},
    "answer": {"requester", "reviewer"},
    "decide": {"reviewer"},
    "appeal": {"requester"},
    "hooks": {"requester"},
    "questionnaire": {"requester"},
    "read-audit": {"auditor", "admin"},
    "record-outcomes": {"requester"},
    "read-registry": {"requester", "auditor", "admin"},
}


def _sign_request() -> Json:
    request: Json = load(PAS_DIR.parent / "cds-hooks-crd" / "inferno-order_sign_hook_request.json")
    return request


# method, path (with {case}), body, permission
ENDPOINTS: list[tuple[str, str, Callable[[], Any], str]] = [
    ("POST", "/assessments",
     lambda: case_document("01-osteoporotic-l1-failed-conservative.yaml"), "assess"),
    ("POST", "/cases", lambda: {"identifier": "M-new", "document": case_document(
        "10-osteoporotic-undocumented-treatment.yaml")}, "submit"),
    ("GET", "/cases", lambda: None, "read-cases"),
    ("GET", "/cases/{case}", lambda: None, "read-cases"),
    ("POST", "/cases/{case}/answers", lambda: {"facts": {"pain.score": 7}}, "answer"),
    ("POST", "/cases/{case}/questionnaire-response", lambda: {
        "resourceType": "QuestionnaireResponse", "status": "completed",
        "questionnaire": "http://x/fhir/Questionnaire/vertebro-carefirst-1",
        "item": [{"linkId": "pain.score", "answer": [{"valueDecimal": 7}]}]}, "answer"),
    ("POST", "/cases/{case}/decision", lambda: {"decision": "approve", "reason": "ok"},
     "decide"),
    ("POST", "/cases/{case}/appeal", lambda: {"reason": "please"}, "appeal"),
    ("GET", "/cases/{case}/audit", lambda: None, "read-audit"),
    ("GET", "/audit-events", lambda: None, "read-audit"),
    ("POST", "/fhir/Claim/$submit", lambda: va_pas_bundle("M-PAS"), "submit"),
    ("POST", "/fhir/Claim/$inquire",
     lambda: load(PAS_DIR / "conformant_pas_inquire_bundle_v110.json"), "submit"),
    ("POST", "/cds-services/vertebro-order-sign", _sign_request, "hooks"),
    ("POST", "/cds-services/vertebro-order-select", lambda: {
        **_sign_request(), "hook": "order-select"}, "hooks"),
    ("POST", "/fhir/Questionnaire/$questionnaire-package", lambda: {
        "resourceType": "Parameters", "parameter": [{"name": "context",
                                                     "valueString": "{case}"}]},
     "questionnaire"),
    ("POST", "/registry/procedures", lambda: {
        "id": "R1", "date": "2026-09-01", "operator": "OP-A", "procedure": "vertebroplasty",
        "levels": "L1", "approach": "bilateral", "image_guidance": "fluoroscopy",
        "cement_ml": {"L1": 4}}, "record-outcomes"),
    ("GET", "/registry/procedures", lambda: None, "read-registry"),
    ("GET", "/registry/procedures/{procedure_id}", lambda: None, "read-registry"),
    ("POST", "/registry/procedures/{procedure_id}/complications", lambda: {
        "id": "C1", "kind": "infection", "date": "2026-09-02"}, "record-outcomes"),
    ("POST", "/registry/procedures/{procedure_id}/follow-ups", lambda: {
        "timepoint": "2-weeks", "date": "2026-09-15", "pain": 3}, "record-outcomes"),
    ("POST", "/registry/imports", lambda: None, "record-outcomes"),
    ("GET", "/registry/audit-report", lambda: None, "read-registry"),
    ("GET", "/registry/complications/{complication_id}/incident", lambda: None,
     "read-registry"),
]
# Open to anyone: discovery, the token endpoint and the health checks.
OPEN = {("GET", "/cds-services"), ("POST", "/auth/token"), ("GET", "/healthz"),
        ("GET", "/readyz")}


def test_the_matrix_covers_every_route(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    routes = {(method.upper(), path) for path, operations in paths.items()
              for method in operations}
    listed = {(m, p.replace("{case}", "{case_id}")) for m, p, _, _ in ENDPOINTS}
    listed |= {("POST", "/cds-services/{service_id}")} | OPEN
    listed = {(m, "/cds-services/{service_id}" if p.startswith("/cds-services/") else p)
              for m, p in listed}
    assert routes == listed


@pytest.mark.requirement("pas-2.0.1:198", "pas-2.0.1:192", "dtr-2.0.1:151")
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "permission"), ENDPOINTS,
                         ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
def test_role_endpoint_matrix(
    api: Api, role: str, method: str, path: str, body: Callable[[], Any], permission: str,
) -> None:
    case = api.post("/cases", {"identifier": "M-1", "document": case_document(
        "10-osteoporotic-undocumented-treatment.yaml")}).json()
    target = path.replace("{case}", case["id"])
    payload = body()
    if isinstance(payload, dict):
        payload = json.loads(json.dumps(payload).replace("{case}", case["id"]))
    response = api.client.request(method, target, json=payload, headers=api.as_(role))
    if role in MAY[permission]:
        assert response.status_code not in (401, 403), (role, path, response.text)
        assert response.status_code < 500
    else:
        assert response.status_code == 403, (role, path, response.text)
        assert response.json()["issue"][0]["code"] == "forbidden"
    anonymous = api.client.request(method, target, json=payload)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")


def test_discovery_and_docs_are_open(api: Api) -> None:
    assert api.client.get("/cds-services").status_code == 200
    schema = api.client.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey",
                                                            "clientCredentials"}
    assert "security" not in schema["paths"]["/cds-services"]["get"]
    assert schema["paths"]["/cases"]["get"]["security"]
    assert api.client.get("/docs").status_code == 200


# --- Tokens -----------------------------------------------------------------------------------


def token(api: Api, client_id: str = "demo-requester", secret: str = "dev-client-secret",
          **extra: Any) -> Any:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    form.update(extra)
    return api.client.post("/auth/token", data=form)


def test_client_credentials_token_works_as_a_bearer(api: Api) -> None:
    response = token(api)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert response.headers["cache-control"] == "no-store"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert api.client.get("/cases", headers=headers).status_code == 200
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "demo-requester" and claims["exp"] - claims["iat"] == 300


def test_http_basic_client_authentication(api: Api) -> None:
    basic = base64.b64encode(b"demo-reviewer:dev-client-secret").decode()
    response = api.client.post("/auth/token", data={"grant_type": "client_credentials"},
                               headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200


@pytest.mark.parametrize(("form", "status", "error"), [
    ({"grant_type": "client_credentials", "client_id": "demo-requester",
      "client_secret": "wrong"}, 401, "invalid_client"),
    ({"grant_type": "client_credentials", "client_id": "nobody",
      "client_secret": "dev-client-secret"}, 401, "invalid_client"),
    ({"grant_type": "password", "client_id": "demo-requester",
      "client_secret": "dev-client-secret"}, 400, "unsupported_grant_type"),
    ({"grant_type": "client_credentials"}, 401, "invalid_client"),
])
def test_bad_token_requests(api: Api, form: dict[str, str], status: int, error: str) -> None:
    response = api.client.post("/auth/token", data=form)
    assert response.status_code == status
    assert response.json()["error"] == error


def test_token_endpoint_wants_a_form(api: Api) -> None:
    response = api.client.post("/auth/token", json={"grant_type": "client_credentials"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def _forged(claims: Json, secret: str = DEV_JWT_SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, secret, algorithm='HS256')}"}


def test_expired_forged_and_unsigned_tokens_are_refused(api: Api) -> None:
    now = int(time.time())
    base = {"iss": "vertebro", "aud": "vertebro-api", "sub": "demo-requester", "iat": now,
            "exp": now + 60}
    assert api.client.get("/cases", headers=_forged(base)).status_code == 200
    expired = api.client.get("/cases", headers=_forged({**base, "iat": now - 600,
                                                        "exp": now - 300}))
    assert expired.status_code == 401
    assert "expired" in expired.json()["issue"][0]["diagnostics"]
    assert api.client.get("/cases", headers=_forged(base, "another-secret-" * 3)
                          ).status_code == 401
    unsigned = jwt.encode(base, key="", algorithm="none")
    assert api.client.get("/cases", headers={"Authorization": f"Bearer {unsigned}"}
                          ).status_code == 401
    gone = api.client.get("/cases", headers=_forged({**base, "sub": "deleted-account"}))
    assert gone.status_code == 401
    wrong_audience = api.client.get("/cases", headers=_forged({**base, "aud": "other"}))
    assert wrong_audience.status_code == 401


def test_unknown_api_key_and_wrong_scheme(api: Api) -> None:
    assert api.client.get("/cases", headers={"X-API-Key": "guess"}).status_code == 401
    basic = base64.b64encode(b"demo-requester:dev-client-secret").decode()
    assert api.client.get("/cases", headers={"Authorization": f"Basic {basic}"}
                          ).status_code == 401


# --- Settings ---------------------------------------------------------------------------------

SECRET = "k" * 40
PEOPLE = [PrincipalConfig(id="rev-1", name="Dr Real", kind="person", role=Role.REVIEWER,
                          organisation="payer", api_key_sha256=sha256_hex("rev-key-123"))]


def test_placeholder_secrets_are_refused_outside_development() -> None:
    for secret in (DEV_JWT_SECRET, "changeme", "short-secret"):
        with pytest.raises(SettingsError, match="VERTEBRO_JWT_SECRET"):
            Settings(environment="production", database_url="sqlite://", jwt_secret=secret,
                     principals=tuple(PEOPLE))
    assert Settings(environment="production", database_url="sqlite://", jwt_secret=SECRET,
                    principals=tuple(PEOPLE)).accounts == tuple(PEOPLE)


def test_demo_accounts_exist_only_in_development() -> None:
    assert Settings(database_url="sqlite://").accounts[0].id == "demo-requester"
    assert Settings(environment="test", database_url="sqlite://", jwt_secret=SECRET
                    ).accounts == ()
    demo_key = PrincipalConfig(id="x", name="x", role=Role.CODER, organisation="o",
                               api_key_sha256=sha256_hex(KEYS["coder"]))
    with pytest.raises(SettingsError, match="demo key"):
        Settings(environment="production", database_url="sqlite://", jwt_secret=SECRET,
                 principals=(demo_key,))


def test_a_reviewer_must_be_a_person() -> None:
    with pytest.raises(ValueError, match="named person"):
        PrincipalConfig(id="bot", name="Auto Reviewer", kind="system", role=Role.REVIEWER,
                        organisation="payer")


def test_settings_from_the_environment(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps([p.model_dump() for p in PEOPLE]))
    settings = Settings.from_env({
        "VERTEBRO_ENV": "production", "VERTEBRO_HOME": str(tmp_path),
        "VERTEBRO_JWT_SECRET": SECRET, "VERTEBRO_PRINCIPALS_FILE": str(accounts),
        "VERTEBRO_MAX_BODY_BYTES": "123456", "VERTEBRO_WARM_UP": "false",
    })
    assert settings.warm_up is False
    assert settings.database_url == f"sqlite:///{tmp_path / 'vertebro.db'}"
    assert settings.max_body_bytes == 123456 and settings.accounts == tuple(PEOPLE)
    with pytest.raises(SettingsError, match="max_body_bytes"):
        Settings.from_env({"VERTEBRO_MAX_BODY_BYTES": "lots"})
    with pytest.raises(SettingsError, match="not valid JSON"):
        Settings.from_env({"VERTEBRO_PRINCIPALS": "[oops"})
    with pytest.raises(SettingsError, match="VERTEBRO_JWT_SECRET"):
        Settings.from_env({"VERTEBRO_ENV": "production", "VERTEBRO_PRINCIPALS": "[]"})


@pytest.fixture
def production_api(sqlite_url: str, clock: FakeClock) -> Iterator[TestClient]:
    settings = Settings(environment="production", database_url=sqlite_url, jwt_secret=SECRET,
                        principals=tuple(PEOPLE))
    app = create_app(settings, clock=clock, migrate=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_production_has_no_demo_accounts(production_api: TestClient) -> None:
    assert production_api.get("/cases", headers={"X-API-Key": KEYS["auditor"]}
                              ).status_code == 401
    assert production_api.get("/cases", headers={"X-API-Key": "rev-key-123"}).status_code == 200
    description = production_api.get("/openapi.json").json()["info"]["description"]
    assert "dev-requester-key" not in description
