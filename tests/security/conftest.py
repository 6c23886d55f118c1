"""The service under attack: a fresh database per test (SQLite; PostgreSQL where a test asks),
a controllable clock, the demo accounts, realistic requests built from the shared fixtures, and
a snapshot of the audit table (to show that nothing the API does changes or removes an entry)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from vertebro.adapters.db.repository import Database, make_database
from vertebro.adapters.db.tables import AuditRow
from vertebro.api.main import create_app
from vertebro.settings import DEMO_KEYS, PrincipalConfig, Settings, demo_principals

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "fixtures"
PAS_DIR = SHARED / "davinci-pas"
CRD_DIR = SHARED / "cds-hooks-crd"
DTR_DIR = SHARED / "davinci-dtr"
NOTES_DIR = SHARED / "notes"
SYNTHEA_DIR = SHARED / "synthea"
OWN_FHIR = REPO / "tests" / "fixtures" / "fhir"
EXAMPLES = REPO / "examples"
START = dt.datetime(2026, 10, 6, 9, 0, tzinfo=dt.UTC)
Json = dict[str, Any]

# Every demo account by id (demo-requester, ...), with its API key.
ACCOUNTS: dict[str, PrincipalConfig] = {p.id: p for p in demo_principals()}
KEYS: dict[str, str] = {f"demo-{name}": key for name, key in DEMO_KEYS.items()}
HOSPITAL = "demo-requester"  # org-demo-hospital
CLINIC = "demo-requester-other-org"  # org-other-clinic


def load(path: Path) -> Any:
    """A JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def as_account(account_id: str) -> dict[str, str]:
    """Headers that authenticate as a demo account."""
    return {"X-API-Key": KEYS[account_id]}


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: dt.datetime = START) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class Service:
    """A test client with the app, its clock and its database."""

    client: TestClient
    app: FastAPI
    clock: FakeClock
    db: Database

    def post(self, path: str, body: Any, account: str = HOSPITAL, **kw: Any) -> Any:
        return self.client.post(path, json=body, headers=as_account(account), **kw)

    def get(self, path: str, account: str = HOSPITAL, **kw: Any) -> Any:
        return self.client.get(path, headers=as_account(account), **kw)

    @property
    def unexpected_errors(self) -> int:
        return int(self.app.state.unexpected_errors)


@contextmanager
def service(url: str, clock: FakeClock | None = None, **settings: Any) -> Iterator[Service]:
    """The API on a database URL (already migrated)."""
    config = Settings(database_url=url, warm_up=False, **settings)
    db = make_database(url)
    app = create_app(config, database=db, clock=clock or FakeClock(), migrate=False)
    client = TestClient(app, raise_server_exceptions=False)
    try:
        yield Service(client, app, clock or FakeClock(), db)
    finally:
        client.close()
        db.dispose()




@pytest.fixture
def api(sqlite_url: str) -> Iterator[Service]:
    """The API on a fresh SQLite database."""
    with service(sqlite_url) as running:
        yield running




@pytest.fixture
def api_any(database_url: str) -> Iterator[Service]:
    """The API on SQLite and on PostgreSQL."""
    with service(database_url) as running:
        yield running


# --- The audit table --------------------------------------------------------------------------


def audit_rows(db: Database) -> list[tuple[Any, ...]]:
    """Every stored audit entry, oldest first, as plain values."""
    columns = list(AuditRow.__table__.columns)
    with db.engine.connect() as conn:
        rows = conn.execute(select(*columns).order_by(AuditRow.__table__.c.id)).all()
    return [tuple(json.dumps(v, sort_keys=True, default=str) for v in row) for row in rows]


def assert_audit_only_grew(before: list[tuple[Any, ...]], after: list[tuple[Any, ...]]) -> None:
    """Entries may be added, never changed or removed."""
    assert len(after) >= len(before)
    assert after[: len(before)] == before


# --- Requests built from the shared fixtures --------------------------------------------------


def case_document(name: str) -> Json:
    """An example case file (YAML) as JSON."""
    data = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    document: Json = json.loads(json.dumps(data, default=str))
    return document


def va_pas_bundle(identifier: str = "VA-0001", *, family: str | None = None,
                  member_id: str | None = None) -> Json:
    """The conformant Da Vinci PAS fixture as a request for vertebroplasty at L1 (CPT 22511,
    osteoporotic vertebral fracture), optionally for another patient name and member id."""
    bundle: Json = copy.deepcopy(load(PAS_DIR / "conformant_pas_bundle_v110.json"))
    bundle["identifier"]["value"] = f"T-{identifier}"
    claim = bundle["entry"][0]["resource"]
    claim["identifier"][0]["value"] = identifier
    cpt = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22511"}]}
    claim["item"][0]["productOrService"] = cpt
    claim["diagnosis"][0]["diagnosisCodeableConcept"] = {"coding": [
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M80.08XA"}]}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "ServiceRequest":
            resource["code"] = copy.deepcopy(cpt)
            resource["bodySite"] = [{"text": "L1"}]
        if resource["resourceType"] == "Patient":
            if family is not None:
                for name in resource.get("name", []):
                    name["family"] = family
            if member_id is not None:
                for ident in resource.get("identifier", []):
                    ident["value"] = member_id
    return bundle


def va_hook_request(hook: str = "order-sign") -> Json:
    """The CRD IG's order-sign example with one vertebroplasty order (CPT 22511, L1)."""
    request: Json = copy.deepcopy(load(CRD_DIR / "hl7-CRDServiceRequest.json"))
    request["hook"] = hook
    order = {
        "resourceType": "ServiceRequest", "id": "va-1", "status": "draft",
        "intent": "original-order",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22511"}]},
        "bodySite": [{"text": "L1"}],
        "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
                                    "code": "M80.08XA"}]}],
        "subject": {"reference": "Patient/123"}, "authoredOn": "2026-10-05",
    }
    request["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                         "entry": [{"resource": order}]}
    if hook == "order-select":
        request["context"]["selections"] = ["ServiceRequest/va-1"]
    return request


def outcome_text(response: Any) -> str:
    """The diagnostics of an OperationOutcome response (asserting that it is one)."""
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    assert response.headers["content-type"].startswith("application/fhir+json")
    text: str = body["issue"][0]["diagnostics"]
    return text
