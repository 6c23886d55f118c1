"""The API under test: a fresh database per test (SQLite, and PostgreSQL for `api_any`), a
controllable clock, the demo accounts, and builders for requests about vertebral augmentation."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from vertebro.adapters.case_files import load_case_file
from vertebro.adapters.db.repository import Database, make_database
from vertebro.api.fhir.dtr import answer_values
from vertebro.api.main import create_app
from vertebro.core.catalogue import CATALOGUE
from vertebro.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "fixtures"
PAS_DIR = SHARED / "davinci-pas"
CRD_DIR = SHARED / "cds-hooks-crd"
DTR_DIR = SHARED / "davinci-dtr"
EXAMPLES = REPO / "examples"
START = dt.datetime(2026, 10, 6, 9, 0, tzinfo=dt.UTC)

KEYS = {
    "requester": "dev-requester-key",
    "other-org": "dev-requester-other-org-key",
    "reviewer": "dev-reviewer-key",
    "reviewer-2": "dev-reviewer-2-key",
    "coder": "dev-coder-key",
    "auditor": "dev-auditor-key",
    "admin": "dev-admin-key",
}
Json = dict[str, Any]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requirement(*ids): Da Vinci / CDS Hooks requirement ids the test shows "
        "(collected into docs/requirements-coverage.md)")


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class Api:
    """A test client with the clock, the app and the database behind it."""

    client: TestClient
    app: FastAPI
    clock: FakeClock
    db: Database
    backend: str

    def as_(self, role: str) -> dict[str, str]:
        """Headers that authenticate as a demo account."""
        return {"X-API-Key": KEYS[role]}

    def post(self, path: str, body: Any, role: str = "requester", **kw: Any) -> Any:
        return self.client.post(path, json=body, headers=self.as_(role), **kw)

    def get(self, path: str, role: str = "requester", **kw: Any) -> Any:
        return self.client.get(path, headers=self.as_(role), **kw)

    @property
    def unexpected_errors(self) -> int:
        return int(self.app.state.unexpected_errors)






@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def _api(url: str, clock: FakeClock, **settings: Any) -> Iterator[Api]:
    config = Settings(database_url=url, **settings)
    db = make_database(url)
    app = create_app(config, database=db, clock=clock, migrate=False)
    client = TestClient(app, raise_server_exceptions=False)
    yield Api(client, app, clock, db, url.split(":", 1)[0])
    client.close()
    db.dispose()


@pytest.fixture
def api(sqlite_url: str, clock: FakeClock) -> Iterator[Api]:
    """The API on SQLite."""
    yield from _api(sqlite_url, clock)


@pytest.fixture
def api_any(database_url: str, clock: FakeClock) -> Iterator[Api]:
    """The API on SQLite and on PostgreSQL (the test runs once for each)."""
    yield from _api(database_url, clock)


# --- Inputs -----------------------------------------------------------------------------------


def load(path: Path) -> Any:
    """A JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def example_facts(name: str, drop: tuple[str, ...] = ("patient.sex", "patient.age")) -> Json:
    """The facts of an example case as plain values (fact name -> JSON value)."""
    case = load_case_file(EXAMPLES / name)
    out: Json = {}
    for fact in case.facts.values():
        if fact.name in drop or fact.value is None:
            continue
        values = answer_values(CATALOGUE[fact.name], fact.value)
        out[fact.name] = values
    return out


def case_document(name: str) -> Json:
    """An example case file (YAML) as the same document in JSON."""
    data = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    document: Json = json.loads(json.dumps(data, default=str))
    return document


QUESTIONNAIRE = "http://localhost:8000/fhir/Questionnaire/vertebro-carefirst-test"


def questionnaire_response(answers: Json, *, origin: str = "manual") -> Json:
    """A QuestionnaireResponse answering our questionnaire (answers: fact -> answer values)."""
    items = []
    for fact, values in answers.items():
        origin_ext: Json = {"url": "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/"
                                   "information-origin",
                            "extension": [{"url": "source", "valueCode": origin}]}
        if origin in ("manual", "override"):
            origin_ext["extension"].append(
                {"url": "author", "valueReference": {"reference": "Practitioner/ReferralPractitionerExample",
                                                     "display": "Dr Jones"}})
        items.append({"linkId": fact, "answer": [{**v, "extension": [origin_ext]}
                                                 for v in values]})
    return {"resourceType": "QuestionnaireResponse", "id": "qr-1",
            "questionnaire": QUESTIONNAIRE, "status": "completed",
            "author": {"reference": "Practitioner/ReferralPractitionerExample"}, "item": items}


def va_pas_bundle(identifier: str = "VA-0001", *, answers: Json | None = None,
                  code: str = "22511", level: str = "L1") -> Json:
    """The conformant PAS fixture turned into a request for vertebral augmentation (CPT code on
    the item and its ServiceRequest, osteoporotic vertebral fracture as the diagnosis), with an
    optional QuestionnaireResponse as supportingInfo."""
    bundle: Json = copy.deepcopy(load(PAS_DIR / "conformant_pas_bundle_v110.json"))
    bundle["identifier"]["value"] = f"T-{identifier}"
    claim = bundle["entry"][0]["resource"]
    claim["identifier"][0]["value"] = identifier
    cpt = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}]}
    claim["item"][0]["productOrService"] = cpt
    claim["diagnosis"][0]["diagnosisCodeableConcept"] = {"coding": [
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M80.08XA"}]}
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "ServiceRequest":
            entry["resource"]["code"] = copy.deepcopy(cpt)
            entry["resource"]["bodySite"] = [{"text": level}]
    if answers is not None:
        url = f"urn:uuid:{uuid.uuid4()}"
        bundle["entry"].append({"fullUrl": url, "resource": questionnaire_response(answers)})
        claim["supportingInfo"] = [{
            "sequence": 1,
            "category": {"coding": [{
                "system": "http://hl7.org/us/davinci-pas/CodeSystem/PASSupportingInfoType",
                "code": "additionalInformation"}]},
            "valueReference": {"reference": url}}]
    return bundle


@pytest.fixture
def approvable_answers() -> Json:
    """Answers that make CareFirst's vertebroplasty criteria met (example case 01)."""
    return example_facts("01-osteoporotic-l1-failed-conservative.yaml")


@pytest.fixture
def review_status() -> Callable[[Json], list[str]]:
    """The review action codes of every item of a PAS response bundle."""

    def codes(bundle: Json) -> list[str]:
        response = bundle["entry"][0]["resource"]
        found = []
        for item in response["item"]:
            for adjudication in item["adjudication"]:
                for ext in adjudication.get("extension", []):
                    for part in ext.get("extension", []):
                        if part["url"].endswith("extension-reviewActionCode"):
                            found.append(part["valueCodeableConcept"]["coding"][0]["code"])
        return found

    return codes
