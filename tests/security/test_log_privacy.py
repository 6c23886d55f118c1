"""No patient data in the logs: a full run against a real server (uvicorn on loopback, every
logger - vertebro, uvicorn, SQLAlchemy, FastAPI, Starlette, httpx, the note reader's - at
DEBUG) - assessments of FHIR bundles and a note, cases, Da Vinci PAS `$submit` and `$inquire`,
answers and a decision, CRD `order-sign`, DTR `$questionnaire-package`, and errors (malformed
JSON, a dangling reference, a refused token, an oversized body, an unexpected failure) - and
then every patient name, identifier, birth date, telephone, address and note sentence in those
inputs is looked for in the captured log text: none may appear."""

from __future__ import annotations

import copy
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from vertebro import case_service
from vertebro.api.main import create_app
from vertebro.settings import Settings

from .conftest import (
    CLINIC,
    HOSPITAL,
    KEYS,
    NOTES_DIR,
    OWN_FHIR,
    PAS_DIR,
    SYNTHEA_DIR,
    FakeClock,
    Json,
    case_document,
    load,
    va_hook_request,
    va_pas_bundle,
)

ALWAYS_LOGGED = ("vertebro", "uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi",
                 "sqlalchemy", "sqlalchemy.engine", "sqlalchemy.engine.Engine",
                 "sqlalchemy.pool", "sqlalchemy.orm", "alembic", "fastapi", "starlette",
                 "httpx", "httpcore", "asyncio", "medspacy", "spacy", "PyRuSH", "multipart")


class Capture(logging.Handler):
    """Every record, formatted with its exception, as the operator's log file would hold it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.names.add(record.name)
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs_at_debug() -> Iterator[Capture]:
    capture = Capture()
    root = logging.getLogger()
    names = set(ALWAYS_LOGGED) | set(logging.root.manager.loggerDict)
    saved = {name: logging.getLogger(name).level for name in names}
    saved_root = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(saved_root)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@dataclass
class Server:
    base: str
    server: uvicorn.Server
    thread: threading.Thread
    app: Any


@pytest.fixture
def server(sqlite_url: str, all_logs_at_debug: Capture) -> Iterator[Server]:
    del all_logs_at_debug  # listening before the server starts: its start-up is logged too
    app = create_app(Settings(database_url=sqlite_url, warm_up=False, max_body_bytes=200_000),
                     clock=FakeClock(), migrate=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # log_config=None: uvicorn's loggers propagate to the root, where the test listens.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                            log_level="debug", access_log=True, lifespan="off")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Server(f"http://127.0.0.1:{port}", running, thread, app)
    running.should_exit = True
    thread.join(timeout=20)


# --- Patient data in the inputs ---------------------------------------------------------------


@dataclass
class Secrets:
    """Strings that identify the patients of the run."""

    words: set[str] = field(default_factory=set)  # names: matched as whole words
    strings: set[str] = field(default_factory=set)  # identifiers, dates, phones, sentences

    def add_resource(self, resource: Json) -> None:
        rtype = resource.get("resourceType")
        if rtype in ("Patient", "RelatedPerson"):
            for name in resource.get("name", []):
                for part in [name.get("family"), *name.get("given", []), name.get("text")]:
                    if isinstance(part, str) and len(part.strip(". ")) >= 3:
                        self.words.add(part.strip())
            for ident in resource.get("identifier", []):
                self._string(ident.get("value"), 4)
            self._string(resource.get("birthDate"), 8)
            for telecom in resource.get("telecom", []):
                self._string(telecom.get("value"), 6)
            for address in resource.get("address", []):
                for line in address.get("line", []):
                    self._string(line, 6)
        if rtype == "Coverage":
            self._string(resource.get("subscriberId"), 4)
            for ident in resource.get("identifier", []):
                self._string(ident.get("value"), 4)

    def add_json(self, node: Any) -> None:
        if isinstance(node, dict):
            if "resourceType" in node:
                self.add_resource(node)
            for value in node.values():
                self.add_json(value)
        elif isinstance(node, list):
            for item in node:
                self.add_json(item)

    def add_note(self, text: str) -> None:
        for sentence in re.split(r"(?<=[.!?])\s+|\n", text):
            if len(sentence.strip()) >= 25:
                self.strings.add(sentence.strip())

    def _string(self, value: Any, shortest: int) -> None:
        if isinstance(value, str) and len(value.strip()) >= shortest:
            self.strings.add(value.strip())

    def found_in(self, text: str) -> set[str]:
        lowered = text.lower()
        hits = {s for s in self.strings if s.lower() in lowered}
        hits |= {w for w in self.words
                 if re.search(rf"(?<![A-Za-z]){re.escape(w.lower())}(?![A-Za-z])", lowered)}
        return hits


# --- The run ----------------------------------------------------------------------------------


def _as(account: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[account]}


def test_no_patient_data_in_any_log(server: Server, all_logs_at_debug: Capture,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = Secrets()
    fhir_inputs = [load(p) for p in sorted(OWN_FHIR.glob("*.json"))]
    synthea = load(sorted(SYNTHEA_DIR.glob("*.json"))[-1])
    pas = load(PAS_DIR / "conformant_pas_bundle_v110.json")
    va = va_pas_bundle("LOG-1", family="Quillfeather")
    hook = va_hook_request()
    note = (NOTES_DIR / "vertebroplasty.txt").read_text(encoding="utf-8")
    for document in [*fhir_inputs, synthea, pas, va, hook]:
        secrets.add_json(document)
    secrets.add_note(note)
    assert {"Quillfeather", "Okafor", "SMITH"} <= secrets.words and len(secrets.strings) > 20

    statuses: list[int] = []
    with httpx.Client(base_url=server.base, timeout=120) as client:

        def call(method: str, path: str, account: str | None = HOSPITAL, **kw: Any) -> Any:
            headers = {**(_as(account) if account else {}), **kw.pop("headers", {})}
            response = client.request(method, path, headers=headers, **kw)
            statuses.append(response.status_code)
            return response

        for document in fhir_inputs:
            call("POST", "/assessments", json=document)
        call("POST", "/assessments", content=note.encode(),
             headers={"content-type": "text/plain"})
        call("POST", "/assessments", json=synthea)
        made = call("POST", "/cases", json={"identifier": "LOG-C", "document": case_document(
            "10-osteoporotic-undocumented-treatment.yaml")}).json()
        submitted = call("POST", "/fhir/Claim/$submit", json=pas)
        assert submitted.status_code == 200, submitted.text[:300]
        case_id = submitted.json()["entry"][0]["resource"]["id"]
        call("POST", "/fhir/Claim/$submit", json=va)
        call("POST", "/fhir/Claim/$submit", json=pas)  # a repeat: the original answer
        call("POST", "/fhir/Claim/$inquire",
             json=load(PAS_DIR / "conformant_pas_inquire_bundle_v110.json"))
        call("GET", f"/cases/{case_id}")
        call("GET", f"/cases/{case_id}", CLINIC)  # refused: another organisation's
        call("POST", f"/cases/{made['id']}/answers", json={"facts": {"pain.score": 8}})
        call("POST", f"/cases/{case_id}/decision", "demo-reviewer",
             json={"decision": "deny", "reason": "not indicated for SMITH"})
        call("POST", "/cds-services/vertebro-order-sign", json=hook)
        call("POST", "/fhir/Questionnaire/$questionnaire-package", json={
            "resourceType": "Parameters", "parameter": [{"name": "context",
                                                         "valueString": case_id}]})
        call("GET", "/audit-events", "demo-auditor")
        # Errors, each quoting patient data back at the server.
        call("POST", "/fhir/Claim/$submit", content=b'{"resourceType": "Bundle", '
             b'"name": "Quillfeather", "birthDate": "1948-03-14", [',
             headers={"content-type": "application/fhir+json"})
        call("POST", "/fhir/Claim/$submit",
             json=load(PAS_DIR / "missing_referenced_resource_request_bundle.json"))
        broken = copy.deepcopy(va)
        broken["entry"][0]["resource"]["use"] = "Quillfeather-claim"
        call("POST", "/fhir/Claim/$submit", json=broken)
        call("GET", "/cases", None, headers={"Authorization": "Bearer Quillfeather.1948-03-14"})
        call("POST", "/assessments", content=b"x" * 300_000,
             headers={"content-type": "text/plain"})

        def explode(*_: Any, **__: Any) -> Any:
            raise RuntimeError(f"failed for {pas['entry'][1]['resource']} Quillfeather")

        monkeypatch.setattr(case_service, "submit", explode)
        crashed = call("POST", "/fhir/Claim/$submit", json=va_pas_bundle("LOG-2",
                                                                         family="Quillfeather"))
        assert crashed.status_code == 500

    # Stop the server first: it logs some things (an exception's traceback, say) after it
    # has answered, and those lines must be looked at too.
    server.server.should_exit = True
    server.thread.join(timeout=30)
    assert not server.thread.is_alive()
    assert 200 in statuses and 400 in statuses and 404 in statuses and 401 in statuses
    assert 413 in statuses or 400 in statuses
    logs = all_logs_at_debug
    assert any(name.startswith("uvicorn") for name in logs.names), logs.names
    assert any("POST /fhir/Claim/$submit -> 200" in line for line in logs.lines)
    text = "\n".join(logs.lines)
    leaked = secrets.found_in(text)
    if leaked:
        lines = [line[:300] for line in logs.lines if secrets.found_in(line)]
        pytest.fail(f"patient data in the logs: {sorted(leaked)[:10]}; first lines: "
                    f"{lines[:5]}")
