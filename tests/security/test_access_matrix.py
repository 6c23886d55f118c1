"""Who can read and write what: every endpoint of the API x every role (each demo account, no
credentials, a forged token, an expired token) x whose case it is (the caller's organisation's
or another's), with the exact status, no sign of another organisation's case in any answer (not
even its existence), and the audit trail only ever growing.

The matrix below is the specification; `docs/access-matrix.md` is generated from it
(`VERTEBRO_WRITE_ACCESS_DOC=1 .venv/bin/pytest tests/security/test_access_matrix.py -k doc`).
A route in the OpenAPI schema without a row, or a role without a column, fails the tests.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest

from vertebro.settings import DEMO_CLIENT_SECRET, DEV_JWT_SECRET, Role

from .conftest import (
    ACCOUNTS,
    CLINIC,
    HOSPITAL,
    PAS_DIR,
    REPO,
    FakeClock,
    Json,
    Service,
    as_account,
    assert_audit_only_grew,
    audit_rows,
    case_document,
    load,
    service,
    va_hook_request,
    va_pas_bundle,
)

# Cells: the status for a call by that role. "A/B": A on a case (or registry record) of the
# caller's own organisation, B on another organisation's (payer staff belong to no provider, so
# one status holds for every case). "case" names what the call is made on: a case pended for
# information, a denied case, a PAS case (the call is its $inquire), a registry procedure or
# complication.
MATRIX = """
| method | path                                               | case         | requester | reviewer | coder | auditor | admin | anonymous | forged token | expired token |
|--------|----------------------------------------------------|--------------|-----------|----------|-------|---------|-------|-----------|--------------|---------------|
| GET    | /healthz                                           | -            | 200       | 200      | 200   | 200     | 200   | 200       | 200          | 200           |
| GET    | /readyz                                            | -            | 200       | 200      | 200   | 200     | 200   | 200       | 200          | 200           |
| POST   | /auth/token                                        | -            | 200       | 200      | 200   | 200     | 200   | 401       | 401          | 401           |
| GET    | /cds-services                                      | -            | 200       | 200      | 200   | 200     | 200   | 200       | 200          | 200           |
| POST   | /cds-services/{service_id}                         | -            | 200       | 403      | 403   | 403     | 403   | 401       | 401          | 401           |
| POST   | /assessments                                       | -            | 200       | 200      | 200   | 403     | 403   | 401       | 401          | 401           |
| POST   | /cases                                             | -            | 201       | 403      | 403   | 403     | 403   | 401       | 401          | 401           |
| GET    | /cases                                             | -            | 200       | 200      | 200   | 200     | 200   | 401       | 401          | 401           |
| GET    | /cases/{case_id}                                   | pended       | 200/404   | 200      | 200   | 200     | 200   | 401       | 401          | 401           |
| POST   | /cases/{case_id}/answers                           | pended       | 200/404   | 200      | 403   | 403     | 403   | 401       | 401          | 401           |
| POST   | /cases/{case_id}/questionnaire-response            | pended       | 200/404   | 200      | 403   | 403     | 403   | 401       | 401          | 401           |
| POST   | /cases/{case_id}/decision                          | pended       | 403       | 200      | 403   | 403     | 403   | 401       | 401          | 401           |
| POST   | /cases/{case_id}/appeal                            | denied       | 200/404   | 403      | 403   | 403     | 403   | 401       | 401          | 401           |
| GET    | /cases/{case_id}/audit                             | pended       | 403       | 403      | 403   | 200     | 200   | 401       | 401          | 401           |
| GET    | /audit-events                                      | -            | 403       | 403      | 403   | 200     | 200   | 401       | 401          | 401           |
| POST   | /fhir/Claim/$submit                                | -            | 200       | 403      | 403   | 403     | 403   | 401       | 401          | 401           |
| POST   | /fhir/Claim/$inquire                               | pas          | 200/404   | 403      | 403   | 403     | 403   | 401       | 401          | 401           |
| POST   | /fhir/Questionnaire/$questionnaire-package         | pended       | 200/404   | 403      | 403   | 403     | 403   | 401       | 401          | 401           |
| POST   | /registry/procedures                               | -            | 201       | 403      | 403   | 403     | 403   | 401       | 401          | 401           |
| POST   | /registry/procedures/{procedure_id}/complications  | procedure    | 201/404   | 403      | 403   | 403     | 403   | 401       | 401          | 401           |
| POST   | /registry/procedures/{procedure_id}/follow-ups     | procedure    | 201/404   | 403      | 403   | 403     | 403   | 401       | 401          | 401           |
| POST   | /registry/imports                                  | -            | 201       | 403      | 403   | 403     | 403   | 401       | 401          | 401           |
| GET    | /registry/procedures                               | -            | 200       | 403      | 403   | 200     | 200   | 401       | 401          | 401           |
| GET    | /registry/procedures/{procedure_id}                | procedure    | 200/404   | 403      | 403   | 200     | 200   | 401       | 401          | 401           |
| GET    | /registry/audit-report                             | -            | 200       | 403      | 403   | 200     | 200   | 401       | 401          | 401           |
| GET    | /registry/complications/{complication_id}/incident | complication | 200/404   | 403      | 403   | 200     | 200   | 401       | 401          | 401           |
"""

PSEUDO_CALLERS = ("anonymous", "forged token", "expired token")


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    case: str | None  # 'pended', 'denied', 'pas', 'procedure', 'complication' or None
    cells: dict[str, str]  # role or pseudo-caller -> cell


def parse_matrix(text: str) -> tuple[list[str], list[Row]]:
    lines = [line.strip() for line in text.strip().splitlines()]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        record = dict(zip(header, cells, strict=True))
        rows.append(Row(record["method"], record["path"],
                        None if record["case"] == "-" else record["case"],
                        {k: v for k, v in record.items() if k not in ("method", "path", "case")}))
    return header[3:], rows


COLUMNS, ROWS = parse_matrix(MATRIX)
CALLERS = [*ACCOUNTS, *PSEUDO_CALLERS]
ORGS = {HOSPITAL: "org-demo-hospital", CLINIC: "org-other-clinic"}


def expected(row: Row, caller: str, target_org: str | None) -> int:
    """The status the matrix gives for a caller (account id or pseudo-caller)."""
    if caller in PSEUDO_CALLERS:
        return int(row.cells[caller])
    account = ACCOUNTS[caller]
    cell = row.cells[account.role.value]
    if "/" not in cell:
        return int(cell)
    own, other = cell.split("/")
    return int(own if target_org == account.organisation else other)


# --- The world each call is made in: two provider organisations' cases ----------------------


@dataclass(frozen=True)
class World:
    """A prepared database (copied for every test) and what is in it."""

    template: Path
    cases: dict[tuple[str, str], str]  # (organisation, kind) -> case id
    inquiries: dict[str, Json]  # organisation -> a PAS inquiry matching its PAS case
    markers: dict[str, set[str]]  # organisation -> strings only its cases hold


# A registry procedure and complication (as in tests/api/test_registry_api.py).
PROCEDURE: Json = {
    "date": "2026-09-01", "procedure": "vertebroplasty", "levels": "T12-L1",
    "approach": "bilateral", "image_guidance": "fluoroscopy", "cement_ml": {"T12": 3.5, "L1": 4},
    "biopsy": True, "age": 81, "sex": "female", "cement_product": "Demo PMMA",
    "cement_manufacturer": "Demo Medical", "cement_lot": "LOT-7",
}
LEAK: Json = {"kind": "cement-leak", "date": "2026-09-01", "symptomatic": True,
              "leak_site": "veins", "device_related": True, "further_intervention": False}
CSV = ("id,date,operator,procedure,levels,approach,image_guidance,cement_ml,biopsy\n"
       "IMP-1,2026-03-02,OP-I,vertebroplasty,T12-L1,bilateral,fluoroscopy,T12=3.5; L1=4,no\n")


def _inquiry(identifier: str) -> Json:
    bundle: Json = load(PAS_DIR / "conformant_pas_inquire_bundle_v110.json")
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = identifier
    return bundle


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> World:
    folder = tmp_path_factory.mktemp("access-world")
    path = folder / "world.db"
    shutil.copy(sqlite_template, path)
    cases: dict[tuple[str, str], str] = {}
    inquiries: dict[str, Json] = {}
    markers: dict[str, set[str]] = {}
    with service(f"sqlite:///{path}", FakeClock()) as api:
        for account, tag, family in ((HOSPITAL, "HOSP", "Hospitalpatientqz"),
                                     (CLINIC, "CLIN", "Clinicpatientxv")):
            org = ORGS[account]
            document = case_document("10-osteoporotic-undocumented-treatment.yaml")
            for kind in ("pended", "denied"):
                made = api.post("/cases", {"identifier": f"{tag}-{kind}", "document": document},
                                account)
                assert made.status_code == 201, made.text
                cases[(org, kind)] = made.json()["id"]
            denied = api.post(f"/cases/{cases[(org, 'denied')]}/decision",
                              {"decision": "deny", "reason": "not indicated"}, "demo-reviewer")
            assert denied.status_code == 200, denied.text
            claim_id = f"{tag}-PAS-CLAIM"
            pas = api.post("/fhir/Claim/$submit", va_pas_bundle(claim_id, family=family), account)
            assert pas.status_code == 200, pas.text
            cases[(org, "pas")] = pas.json()["entry"][0]["resource"]["id"]
            inquiries[org] = _inquiry(claim_id)
            procedure = {**PROCEDURE, "id": f"{tag}-P1", "operator": f"OP-{tag}-77"}
            recorded = api.post("/registry/procedures", procedure, account)
            assert recorded.status_code == 201, recorded.text
            leak = api.post(f"/registry/procedures/{tag}-P1/complications",
                            {**LEAK, "id": f"{tag}-C1"}, account)
            assert leak.status_code == 201, leak.text
            cases[(org, "procedure")] = f"{tag}-P1"
            cases[(org, "complication")] = f"{tag}-C1"
            markers[org] = {family, claim_id, f"{tag}-pended", f"{tag}-denied", f"OP-{tag}-77",
                            *(cid for (o, _), cid in cases.items() if o == org)}
    return World(path, cases, inquiries, markers)


@pytest.fixture
def fresh(world: World, tmp_path: Path) -> Iterator[Service]:
    """The API on a copy of the prepared world, an hour after the cases arrived."""
    path = tmp_path / "world.db"
    shutil.copy(world.template, path)
    clock = FakeClock()
    clock.advance(hours=1)
    with service(f"sqlite:///{path}", clock) as api:
        yield api


# --- Callers and requests ---------------------------------------------------------------------


def _token(claims: Json, secret: str = DEV_JWT_SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def caller_headers(caller: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"iss": "vertebro", "aud": "vertebro-api", "sub": HOSPITAL, "iat": now,
              "exp": now + 300}
    if caller == "anonymous":
        return {}
    if caller == "forged token":  # right claims, wrong key
        return {"Authorization": f"Bearer {_token(claims, 'not-the-server-secret-' * 2)}"}
    if caller == "expired token":  # the server's key, but expired five minutes ago
        old = {**claims, "iat": now - 600, "nbf": now - 600, "exp": now - 300}
        return {"Authorization": f"Bearer {_token(old)}"}
    return as_account(caller)


def _questionnaire_response() -> Json:
    return {"resourceType": "QuestionnaireResponse", "status": "completed",
            "questionnaire": "http://localhost:8000/fhir/Questionnaire/vertebro-carefirst-1",
            "item": [{"linkId": "pain.score", "answer": [{"valueDecimal": 7}]}]}


BODIES: dict[tuple[str, str], Callable[[World, str | None], Any]] = {
    ("POST", "/cds-services/{service_id}"): lambda w, o: va_hook_request(),
    ("POST", "/assessments"): lambda w, o: case_document(
        "01-osteoporotic-l1-failed-conservative.yaml"),
    ("POST", "/cases"): lambda w, o: {"identifier": "NEW-1", "document": case_document(
        "10-osteoporotic-undocumented-treatment.yaml")},
    ("POST", "/cases/{case_id}/answers"): lambda w, o: {"facts": {"pain.score": 7}},
    ("POST", "/cases/{case_id}/questionnaire-response"): lambda w, o: _questionnaire_response(),
    ("POST", "/cases/{case_id}/decision"): lambda w, o: {"decision": "approve",
                                                         "reason": "criteria met on review"},
    ("POST", "/cases/{case_id}/appeal"): lambda w, o: {"reason": "new imaging attached"},
    ("POST", "/fhir/Claim/$submit"): lambda w, o: va_pas_bundle("NEW-PAS"),
    ("POST", "/fhir/Claim/$inquire"): lambda w, o: w.inquiries[o or ""],
    ("POST", "/fhir/Questionnaire/$questionnaire-package"): lambda w, o: {
        "resourceType": "Parameters",
        "parameter": [{"name": "context", "valueString": w.cases[(o or "", "pended")]}]},
    ("POST", "/registry/procedures"): lambda w, o: {**PROCEDURE, "id": "NEW-P",
                                                    "operator": "OP-N"},
    ("POST", "/registry/procedures/{procedure_id}/complications"): lambda w, o: {
        **LEAK, "id": "NEW-C"},
    ("POST", "/registry/procedures/{procedure_id}/follow-ups"): lambda w, o: {
        "timepoint": "2-weeks", "date": "2026-09-15", "pain": 4, "analgesics": "weak-opioid",
        "mobility": "independent", "roland_morris": 10},
}


def send(api: Service, world: World, row: Row, caller: str, org: str | None,
         case_id: str | None = None) -> Any:
    """Make the row's call as the caller on the organisation's case (or on `case_id`)."""
    headers = caller_headers(caller)
    target = case_id or (world.cases[(org, row.case)] if row.case and org else None)
    path = row.path.replace("{service_id}", "vertebro-order-sign")
    if target is not None:
        path = re.sub(r"\{(case|procedure|complication)_id\}", target, path)
    if row.path == "/registry/imports":
        return api.client.post(path, content=CSV.encode(),
                               headers={**headers, "content-type": "text/csv"})
    if row.path == "/auth/token":
        form = {"grant_type": "client_credentials"}
        if caller in ACCOUNTS:
            form |= {"client_id": caller, "client_secret": DEMO_CLIENT_SECRET}
        return api.client.post(path, data=form, headers=headers)
    build = BODIES.get((row.method, row.path))
    body = build(world, org) if build else None
    if row.path == "/fhir/Questionnaire/$questionnaire-package" and case_id is not None:
        body = {"resourceType": "Parameters",
                "parameter": [{"name": "context", "valueString": case_id}]}
    return api.client.request(row.method, path, json=body, headers=headers)


def _cells() -> Iterator[Any]:
    for row in ROWS:
        for caller in CALLERS:
            for org in (ORGS.values() if row.case else [None]):
                whose = "" if org is None else f" on {org}"
                yield pytest.param(row, caller, org,
                                   id=f"{row.method} {row.path} as {caller}{whose}")


# --- The tests --------------------------------------------------------------------------------


def test_every_route_and_every_role_has_a_place_in_the_matrix(api: Service) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    routes = {(method.upper(), path) for path, operations in paths.items()
              for method in operations}
    listed = {(row.method, row.path) for row in ROWS}
    assert routes - listed == set(), "routes without a row in MATRIX"
    assert listed - routes == set(), "rows in MATRIX for routes that no longer exist"
    assert [*(r.value for r in Role), *PSEUDO_CALLERS] == COLUMNS
    assert {a.role for a in ACCOUNTS.values()} == set(Role)  # every role has a demo account


@pytest.mark.parametrize(("row", "caller", "org"), list(_cells()))
def test_access(fresh: Service, world: World, row: Row, caller: str, org: str | None) -> None:
    before = audit_rows(fresh.db)
    response = send(fresh, world, row, caller, org)
    want = expected(row, caller, org)
    assert response.status_code == want, response.text[:500]
    if response.status_code >= 400 and row.path != "/auth/token":
        body = response.json()
        assert body["resourceType"] == "OperationOutcome"
        code = body["issue"][0]["code"]
        assert code == {401: "login", 403: "forbidden", 404: "not-found"}[want]
    if want == 401 and row.path != "/auth/token":
        assert response.headers["www-authenticate"].startswith("Bearer")
    _no_leak(world, response, caller)
    if row.case and want in (403, 404) and caller in ACCOUNTS:
        _same_as_for_no_case(fresh, world, row, caller, org, response)
    assert fresh.unexpected_errors == 0
    assert_audit_only_grew(before, audit_rows(fresh.db))


def _no_leak(world: World, response: Any, caller: str) -> None:
    """A provider's account sees nothing of another provider's cases: no case id, claim or
    case identifier, or patient name (beyond what it sent itself, echoed in a 404)."""
    if caller not in ACCOUNTS or ACCOUNTS[caller].role is not Role.REQUESTER:
        return
    own = ACCOUNTS[caller].organisation
    request = response.request
    sent = f"{request.url} {request.content.decode('utf-8', 'replace')}"
    for other, markers in world.markers.items():
        if other == own:
            continue
        leaked = {m for m in markers if m in response.text and m not in sent}
        assert not leaked, f"{caller} saw {leaked} of {other}"


def _same_as_for_no_case(fresh: Service, world: World, row: Row, caller: str, org: str | None,
                         refused: Any) -> None:
    """A refusal says nothing about the case: the answer for a case id that does not exist is
    the same (status, code and words, the id aside)."""
    if row.path == "/fhir/Claim/$inquire":
        missing = _inquiry("NO-SUCH-CLAIM")
        answer = fresh.client.post(row.path, json=missing, headers=caller_headers(caller))
        assert answer.status_code == refused.status_code
        assert answer.json()["issue"][0]["code"] == refused.json()["issue"][0]["code"]
        return
    nobody = str(uuid.uuid4())
    answer = send(fresh, world, row, caller, org, case_id=nobody)
    assert answer.status_code == refused.status_code
    target = world.cases[(org or "", row.case or "")]
    assert answer.text.replace(nobody, "ID") == refused.text.replace(target, "ID")


def test_a_requester_lists_only_its_own_organisation_s_cases(
    fresh: Service, world: World
) -> None:
    kinds = ("pended", "denied", "pas")
    for account, org in ORGS.items():
        listed = {c["id"] for c in fresh.get("/cases", account).json()["cases"]}
        assert listed == {world.cases[(org, kind)] for kind in kinds}
    everyone = {c["id"] for c in fresh.get("/cases", "demo-reviewer").json()["cases"]}
    assert everyone == {world.cases[(org, kind)] for org in ORGS.values() for kind in kinds}


def test_the_same_identifier_in_two_organisations_makes_two_cases(
    fresh: Service, world: World
) -> None:
    """Identifiers are per organisation: reusing another organisation's Claim identifier
    neither replays its answer nor reveals that it exists."""
    bundle = va_pas_bundle("HOSP-PAS-CLAIM", family="Otherpatient")
    response = fresh.post("/fhir/Claim/$submit", bundle, CLINIC)
    assert response.status_code == 200
    new_case = response.json()["entry"][0]["resource"]["id"]
    assert new_case not in world.cases.values()
    _no_leak(world, response, CLINIC)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/audit-events", "/cases/{case_id}/audit",
                                  "/audit-events/1"])
def test_audit_entries_cannot_be_changed_through_the_api(
    fresh: Service, world: World, method: str, path: str
) -> None:
    before = audit_rows(fresh.db)
    assert before
    target = path.replace("{case_id}", world.cases[("org-demo-hospital", "pended")])
    for caller in ACCOUNTS:
        response = fresh.client.request(method, target, headers=as_account(caller),
                                        json={"resourceType": "AuditEvent", "id": "1"})
        assert response.status_code in (404, 405), (caller, response.status_code)
        assert response.json()["resourceType"] == "OperationOutcome"
    assert audit_rows(fresh.db) == before  # refused by routing: not even an entry added


# --- The document -----------------------------------------------------------------------------

DOC = REPO / "docs" / "access-matrix.md"


def render_doc() -> str:
    accounts = "\n".join(
        f"| `{a.id}` | {a.role.value} | {a.kind} | `{a.organisation}` |"
        for a in ACCOUNTS.values())
    return f"""# Access matrix

Generated from `MATRIX` in `tests/security/test_access_matrix.py`, which checks every cell
against the running API (do not edit by hand; regenerate with
`VERTEBRO_WRITE_ACCESS_DOC=1 .venv/bin/pytest tests/security/test_access_matrix.py -k doc`).

Each cell is the HTTP status of a call made by that role. **A/B**: A on a case of the caller's
own organisation, B on another organisation's case. Payer staff (reviewer, coder, auditor,
admin) belong to no provider organisation, so one status holds for every case. *case* names
the case the call is made on: `pended` (pended for information), `denied` (denied by a
reviewer), `pas` (submitted through Da Vinci PAS; the call is the matching `$inquire`),
`procedure` and `complication` (records in the outcomes registry).

- **404, not 403, for another organisation's case**: the answer is the same as for a case
  that does not exist, so a provider cannot even learn that another's case exists. No
  response to a provider holds another organisation's case ids, identifiers or patient names.
- **403** is about the role alone (checked before the case is looked up), so it too says
  nothing about the case.
- **401** for no credentials, a token signed with another key (forged), an expired token, a
  wrong audience or issuer, or `alg: none` (`tests/security/test_tokens.py`).
- Every call leaves the audit trail with entries added only; no method on an audit route but
  GET exists, and no route changes or deletes an AuditEvent.

{MATRIX.strip()}

Demo accounts (development only) the matrix is run with:

| account | role | kind | organisation |
|---|---|---|---|
{accounts}
"""


def test_the_access_matrix_document_is_current() -> None:
    text = render_doc()
    if os.environ.get("VERTEBRO_WRITE_ACCESS_DOC") == "1":
        DOC.write_text(text, encoding="utf-8")
    assert DOC.exists() and DOC.read_text(encoding="utf-8") == text, (
        "docs/access-matrix.md is out of date: regenerate it (see the module docstring)")
