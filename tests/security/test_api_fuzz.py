"""Schema-driven fuzzing of the API with schemathesis: every operation in the app's OpenAPI
schema, in-process (ASGI), on SQLite and on PostgreSQL, authenticated as an account whose role
may call it. Three kinds of request: valid for the schema, invalid for the schema, and (for
operations that take FHIR) mutations of the real fixtures. For every response:

- no 5xx;
- the status is one the schema documents, and the body matches the schema for it;
- the media type is the documented one (`application/fhir+json` counts as JSON);
- every error is a FHIR OperationOutcome (the OAuth2 token endpoint's errors are RFC 6749's);
- the audit table only grew: no entry changed or vanished.

Examples per operation and kind: `VERTEBRO_FUZZ_EXAMPLES` (default 6; the deeper run in
benchmarks/README.md used 200).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from vertebro.adapters.db.repository import make_database
from vertebro.api.main import create_app
from vertebro.settings import Settings

from .conftest import (
    CLINIC,
    HOSPITAL,
    KEYS,
    Service,
    assert_audit_only_grew,
    audit_rows,
    case_document,
    service,
    va_hook_request,
    va_pas_bundle,
)
from .strategies import fhir_documents, mutated

EXAMPLES = int(os.environ.get("VERTEBRO_FUZZ_EXAMPLES", "6"))
# The suite runs a fixed sequence of examples, so CI is repeatable; VERTEBRO_FUZZ_RANDOM=1
# explores new ones (with VERTEBRO_FUZZ_EXAMPLES for depth), and what it finds becomes a test.
RANDOM = os.environ.get("VERTEBRO_FUZZ_RANDOM") == "1"
JSON_TYPES = {"application/json", "application/fhir+json"}


def _operations() -> list[str]:
    """The operations of the schema ('POST /cases', ...), read from an app on a throw-away
    in-memory database."""
    db = make_database("sqlite://")
    try:
        app = create_app(Settings(database_url="sqlite://", warm_up=False), database=db,
                         migrate=True)
        paths = app.openapi()["paths"]
    finally:
        db.dispose()
    return sorted(f"{method.upper()} {path}" for path, ops in paths.items() for method in ops)


OPERATIONS = _operations()


def caller(label: str) -> str:
    """An account whose role may make the call (see tests/security/test_access_matrix.py)."""
    method, path = label.split(" ", 1)
    if path.endswith("/decision"):
        return "demo-reviewer"
    if "audit" in path or (path.startswith("/registry") and method == "GET"):
        return "demo-auditor"
    return HOSPITAL


# --- Checks -----------------------------------------------------------------------------------


def media_type_is_documented(ctx: Any, response: Any, case: Any) -> bool | None:
    """The response's media type is one the schema documents for its status; a FHIR JSON
    answer where the schema says JSON counts (the routes declare their 200s as JSON)."""
    del ctx
    actual = (response.headers.get("content-type") or [""])[0].split(";")[0].strip().lower()
    if not response.content:
        return None
    responses = case.operation.definition.raw.get("responses", {})
    status = str(response.status_code)
    documented = responses.get(status) or responses.get(f"{status[0]}XX") or {}
    media = set(documented.get("content", {}))
    if not media:
        return None
    ok = actual in media or (actual in JSON_TYPES and media & JSON_TYPES)
    assert ok, f"{actual} answered; the schema documents {sorted(media)} for {status}"
    return True


def errors_are_operation_outcomes(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error is a FHIR OperationOutcome with at least one issue."""
    del ctx
    if response.status_code < 400 or (case.operation.path == "/auth/token" and (
            response.status_code in (400, 401))):
        return None
    body = response.json()
    assert isinstance(body, dict) and body.get("resourceType") == "OperationOutcome", (
        f"{response.status_code} without an OperationOutcome: {response.text[:300]}")
    issue = body["issue"][0]
    assert issue["severity"] in ("fatal", "error", "warning", "information")
    assert isinstance(issue.get("diagnostics"), str) and issue["diagnostics"]
    return True


CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance,
          media_type_is_documented, errors_are_operation_outcomes]


# --- The service under fuzzing ----------------------------------------------------------------


@dataclass
class Target:
    api: Service
    schema: Any
    case_ids: list[str]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """One service per backend for the whole module (state builds up as on a real server),
    with a pended case, a PAS case and another organisation's case to aim path ids at."""
    if request.param == "sqlite":
        import shutil

        template = request.getfixturevalue("sqlite_template")
        path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
        shutil.copy(template, path)
        url, drop = f"sqlite:///{path}", None
    else:
        server = request.getfixturevalue("postgres")
        url = server.database()
        drop = server
    with service(url) as api:
        made = api.post("/cases", {"identifier": "FUZZ-1", "document": case_document(
            "10-osteoporotic-undocumented-treatment.yaml")})
        pas = api.post("/fhir/Claim/$submit", va_pas_bundle("FUZZ-PAS"))
        other = api.post("/fhir/Claim/$submit", va_pas_bundle("FUZZ-OTHER"), CLINIC)
        ids = [made.json()["id"], pas.json()["entry"][0]["resource"]["id"],
               other.json()["entry"][0]["resource"]["id"]]
        schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
        yield Target(api, schema, ids)
    if drop is not None:
        drop.drop(url)


FHIR_BODIES = {
    "POST /assessments", "POST /fhir/Claim/$submit", "POST /fhir/Claim/$inquire",
    "POST /fhir/Questionnaire/$questionnaire-package", "POST /cds-services/{service_id}",
    "POST /cases/{case_id}/questionnaire-response", "POST /cases",
}


def _fixture_body(label: str) -> st.SearchStrategy[Any]:
    """Mutated real requests for the operations that take FHIR."""
    if label == "POST /cds-services/{service_id}":
        return mutated(va_hook_request())
    if label == "POST /cases":
        return fhir_documents.map(lambda doc: {"identifier": "FUZZ-DOC", "document": doc})
    if label == "POST /fhir/Claim/$submit":
        return st.one_of(fhir_documents, mutated(va_pas_bundle("FUZZ-MUT")))
    return fhir_documents


def _sendable(node: Any) -> Any:
    """The body with NaN and infinities as text: the test client cannot send them as JSON
    (test_resource_limits.py sends them raw)."""
    if isinstance(node, float) and not math.isfinite(node):
        return str(node)
    if isinstance(node, dict):
        return {k: _sendable(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_sendable(v) for v in node]
    return node


def _run(target: Target, label: str, mode: str) -> None:
    operation = target.schema[label.split(" ", 1)[1]][label.split(" ", 1)[0]]
    headers = {"X-API-Key": KEYS[caller(label)]}
    if mode == "fixtures":
        cases = st.tuples(operation.as_strategy(), _fixture_body(label))
    else:
        generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
        cases = st.tuples(operation.as_strategy(generation_mode=generation), st.none())
    real_ids = st.one_of(st.none(), st.sampled_from(target.case_ids))

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not RANDOM,
              suppress_health_check=list(HealthCheck))
    @given(pair=cases, real_id=real_ids)
    def fuzz(pair: tuple[Any, Any], real_id: str | None) -> None:
        case, body = pair
        case.headers = {**(case.headers or {}), **headers}
        if real_id is not None and "case_id" in (case.path_parameters or {}):
            case.path_parameters["case_id"] = real_id
        if body is not None:
            case.body = _sendable(body)
            case.media_type = "application/fhir+json"
        response = case.call()
        case.validate_response(response, checks=CHECKS)

    fuzz()


def _has_input(label: str) -> bool:
    """Whether the operation takes anything that can be made invalid (else schemathesis has
    no negative case to make)."""
    return label not in {"GET /cds-services", "GET /healthz", "GET /readyz"}


@pytest.mark.parametrize("label", OPERATIONS)
def test_fuzz_operation(target: Target, label: str) -> None:
    before = audit_rows(target.api.db)
    errors = target.api.unexpected_errors
    _run(target, label, "positive")
    if _has_input(label):
        _run(target, label, "negative")
    if label in FHIR_BODIES:
        _run(target, label, "fixtures")
    assert target.api.unexpected_errors == errors
    assert_audit_only_grew(before, audit_rows(target.api.db))


def test_every_fhir_operation_is_fuzzed_with_real_documents() -> None:
    assert set(OPERATIONS) >= FHIR_BODIES
