"""Fault tests against real processes on loopback: `vertebro serve` in a subprocess that the test
can SIGKILL and restart, a PostgreSQL 15 server it can stop and start, a stream of client
submissions that retries every unacknowledged request with the same identifier, and the checks
run on the store afterwards."""

from __future__ import annotations

import copy
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import create_engine, text

from vertebro.adapters.case_files import load_case_file
from vertebro.adapters.db import pgtest
from vertebro.api.fhir.dtr import answer_values
from vertebro.core.catalogue import CATALOGUE

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "fixtures"
EXAMPLES = REPO / "examples"
VERTEBRO = Path(sys.executable).with_name("vertebro")
HEADERS = {"X-API-Key": "dev-requester-key"}
ORGANISATION = "org-demo-hospital"  # the demo requester's organisation
Json = dict[str, Any]


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- The server process ------------------------------------------------------------------------


@dataclass
class Server:
    """`vertebro serve` on a fixed loopback port; every start appends to one log file."""

    home: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    def start(self, timeout: float = 90) -> None:
        """Start the server and wait until it answers."""
        env = {**os.environ, "VERTEBRO_HOME": str(self.home), "VERTEBRO_LOG_LEVEL": "INFO",
               "VERTEBRO_WARM_UP": "false", **self.env}
        if "VERTEBRO_DATABASE_URL" not in self.env:
            env.pop("VERTEBRO_DATABASE_URL", None)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([str(VERTEBRO), "serve", "--port", str(self.port)],
                                            env=env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server stopped:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.kill()
        raise AssertionError(f"the server did not start within {timeout} s")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing, requests in flight are cut off."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """A normal stop (SIGTERM), killing it if it does not go."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


# --- PostgreSQL that can be crashed and brought back -------------------------------------------


def durable_database(server: pgtest.TemporaryPostgres) -> str:
    """A fresh migrated database whose commits are durable across a server crash.

    The throw-away server runs with synchronous_commit=off for speed, which lets an immediate
    stop lose the last commits a client was told about; a production server commits
    synchronously, so the fault test does too (a per-database setting overrides the server's).
    """
    url = server.database()
    name = url.rsplit("/", 1)[1]
    engine = create_engine(server.base_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = on'))
    engine.dispose()
    return url


def pg_ctl(server: pgtest.TemporaryPostgres, *args: str) -> None:
    """Run pg_ctl on the server's data directory, as the account that owns it."""
    command = [pgtest._need("pg_ctl"), "-D", str(server.root / "data"), *args]
    done = subprocess.run(pgtest._as_owner(command), capture_output=True, text=True,
                          check=False, timeout=90)
    assert done.returncode == 0, f"pg_ctl {' '.join(args)}: {done.stdout} {done.stderr}"


def crash_postgres(server: pgtest.TemporaryPostgres) -> None:
    """Stop PostgreSQL the hard way: every backend quits at once, no checkpoint."""
    pg_ctl(server, "-m", "immediate", "stop")


def start_postgres(server: pgtest.TemporaryPostgres) -> None:
    """Start it again with the options it ran with (postmaster.opts); crash recovery runs."""
    pg_ctl(server, "-l", str(server.root / "log"), "-w", "-t", "60", "restart")


# --- What the clients submit ---------------------------------------------------------------------


def _example_answers(name: str) -> list[Json]:
    case = load_case_file(EXAMPLES / name)
    return [{"linkId": f.name, "answer": answer_values(CATALOGUE[f.name], f.value)}
            for f in case.facts.values()
            if f.value is not None and f.name not in ("patient.sex", "patient.age")]


def pas_bundle(identifier: str, answers: list[Json] | None) -> Json:
    """The conformant PAS fixture as a vertebroplasty request at L1 with this Claim identifier,
    with the answers of an example case as a QuestionnaireResponse when given."""
    bundle: Json = json.loads((SHARED / "davinci-pas" / "conformant_pas_bundle_v110.json")
                              .read_text(encoding="utf-8"))
    bundle["identifier"]["value"] = f"T-{identifier}"
    claim = bundle["entry"][0]["resource"]
    claim["identifier"][0]["value"] = identifier
    cpt = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22511"}]}
    claim["item"][0]["productOrService"] = cpt
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "ServiceRequest":
            entry["resource"]["code"] = copy.deepcopy(cpt)
            entry["resource"]["bodySite"] = [{"text": "L1"}]
    if answers is not None:
        url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, identifier)}"
        bundle["entry"].append({"fullUrl": url, "resource": {
            "resourceType": "QuestionnaireResponse", "status": "completed",
            "questionnaire": "http://localhost:8000/fhir/Questionnaire/vertebro-carefirst",
            "item": answers}})
        claim["supportingInfo"] = [{"sequence": 1, "category": {"coding": [
            {"code": "additionalInformation"}]}, "valueReference": {"reference": url}}]
    return bundle


def case_request(identifier: str, example: str) -> Json:
    """A POST /cases body: an example case file as JSON under this identifier."""
    document = json.loads(json.dumps(yaml.safe_load((EXAMPLES / example).read_text()),
                                     default=str))
    return {"identifier": identifier, "priority": "standard", "document": document}


@dataclass(frozen=True)
class Planned:
    """One submission a client must get acknowledged: where it goes and what it sends."""

    identifier: str
    path: str
    body: Json

    @property
    def key(self) -> str:
        """The submission key the service stores (PAS: 'system|value' of Claim.identifier)."""
        if self.path == "/cases":
            return self.identifier
        first = self.body["entry"][0]["resource"]["identifier"][0]
        return f"{first['system']}|{first['value']}"


def submission_plan(prefix: str, count: int) -> list[Planned]:
    """`count` submissions, alternating POST /cases and PAS Claim/$submit, approvable and not."""
    approvable = _example_answers("01-osteoporotic-l1-failed-conservative.yaml")
    examples = ["01-osteoporotic-l1-failed-conservative.yaml",
                "10-osteoporotic-undocumented-treatment.yaml",
                "04-breast-metastasis-t9.yaml"]
    out = []
    for n in range(count):
        identifier = f"{prefix}-{n:03d}-{uuid.uuid4().hex[:6]}"
        if n % 2 == 0:
            out.append(Planned(identifier, "/cases",
                               case_request(identifier, examples[(n // 2) % len(examples)])))
        else:
            out.append(Planned(identifier, "/fhir/Claim/$submit",
                               pas_bundle(identifier, approvable if n % 4 == 1 else None)))
    return out


def case_id_of(planned: Planned, answer: Json) -> str:
    """The case id in an acknowledgement (CaseOut.id, or the ClaimResponse's id)."""
    if planned.path == "/cases":
        return str(answer["id"])
    return str(answer["entry"][0]["resource"]["id"])


def state_of(planned: Planned, answer: Json) -> str:
    """The outcome in an acknowledgement: the case state, or the PAS review action codes."""
    if planned.path == "/cases":
        return str(answer["state"])
    codes = []
    for item in answer["entry"][0]["resource"]["item"]:
        for part in item["adjudication"][0]["extension"][0]["extension"]:
            if part["url"].endswith("extension-reviewActionCode"):
                codes.append(part["valueCodeableConcept"]["coding"][0]["code"])
    return ",".join(codes)


# --- Clients that retry ------------------------------------------------------------------------


HUNG_UP = -1  # the client sent the request and hung up without reading the answer


@dataclass
class Attempt:
    """One HTTP attempt: what came back (status 0 for a transport error, HUNG_UP for a
    deliberately lost answer) and how long it took."""

    identifier: str
    status: int
    seconds: float
    body: Json | None


class Stream:
    """Client threads working through the plan; whatever is not acknowledged (a cut connection,
    a refused connection, a 503) goes back on the queue and is sent again, unchanged, with the
    same identifier. Anything else (4xx, 500) is a failure the test reports.

    Every `lose_answer`-th submission's first answer is lost: the request is sent whole, the
    client reads the status line (by then the server has committed), then the connection
    breaks before the answer is read. The retry must get the stored answer back.
    """

    def __init__(self, base: str, planned: list[Planned], *, clients: int = 4,
                 timeout: float = 20.0, lose_answer: int = 0) -> None:
        self.base = base
        self.planned = {p.identifier: p for p in planned}
        self.todo: queue.Queue[Planned] = queue.Queue()
        for p in planned:
            self.todo.put(p)
        self.acks: dict[str, tuple[int, Json]] = {}  # identifier -> first acknowledgement
        self.attempts: list[Attempt] = []
        self.failures: list[Attempt] = []
        self.lock = threading.Lock()
        self.acked = threading.Condition(self.lock)
        self.timeout = timeout
        self.halt = threading.Event()
        self.to_lose = {p.identifier for n, p in enumerate(planned)
                        if lose_answer and n % lose_answer == 0}
        self.lost = 0  # answers the server gave and the client never read
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(clients)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        with httpx.Client(base_url=self.base, headers=HEADERS, timeout=self.timeout) as client:
            while not self.halt.is_set():
                try:
                    planned = self.todo.get(timeout=0.2)
                except queue.Empty:
                    if len(self.acks) == len(self.planned):
                        return
                    continue
                started = time.monotonic()
                with self.lock:
                    lose = planned.identifier in self.to_lose
                    self.to_lose.discard(planned.identifier)
                try:
                    if lose:
                        self._send_and_hang_up(planned)
                        status, body = HUNG_UP, None
                    else:
                        response = client.post(planned.path, json=planned.body)
                        status = response.status_code
                        body = response.json() if response.content else None
                except (httpx.TransportError, OSError):
                    status, body = 0, None
                attempt = Attempt(planned.identifier, status, time.monotonic() - started, body)
                with self.lock:
                    self.attempts.append(attempt)
                    if status in (200, 201):
                        self.acks.setdefault(planned.identifier, (status, body or {}))
                        self.acked.notify_all()
                        continue
                    if status not in (0, HUNG_UP, 503):
                        self.failures.append(attempt)
                        self.acked.notify_all()
                        continue
                self.todo.put(planned)
                time.sleep(0.1)

    def _send_and_hang_up(self, planned: Planned) -> None:
        """Send the request, read only the status of the answer, and hang up."""
        host, port = self.base.removeprefix("http://").split(":")
        body = json.dumps(planned.body).encode()
        head = (f"POST {planned.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"X-API-Key: {HEADERS['X-API-Key']}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        with socket.create_connection((host, int(port)), timeout=self.timeout) as sock:
            sock.sendall(head + body)
            status_line = b""
            while len(status_line) < 12 and (chunk := sock.recv(12 - len(status_line))):
                status_line += chunk
        if status_line[9:12] in (b"200", b"201"):  # committed; "HTTP/1.1 201"
            with self.lock:
                self.lost += 1

    def wait_for_acks(self, count: int, timeout: float = 60) -> None:
        """Block until `count` submissions are acknowledged (or a failure happens)."""
        deadline = time.monotonic() + timeout
        with self.acked:
            while len(self.acks) < count and not self.failures:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"only {len(self.acks)} of {count} acknowledged in time"
                self.acked.wait(remaining)

    def finish(self, timeout: float = 90) -> None:
        """Wait until every submission is acknowledged, then stop the clients."""
        try:
            self.wait_for_acks(len(self.planned), timeout)
        finally:
            self.halt.set()
            for thread in self.threads:
                thread.join(timeout=self.timeout + 5)

    def statuses(self) -> Counter[int]:
        with self.lock:
            return Counter(a.status for a in self.attempts)


# --- What must hold afterwards -------------------------------------------------------------------


def check_store(url: str, stream: Stream) -> dict[str, int]:
    """Every acknowledged submission stored exactly once, whole, with its audit trail, and
    stored as acknowledged; returns a few counts for the test's message."""
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            cases = db.execute(text(
                "SELECT id, organisation, submission_key, state_kind, report, first_response, "
                "policy_id FROM pa_cases")).mappings().all()
            events = db.execute(text("SELECT case_id, seq, kind FROM pa_case_events "
                                     "ORDER BY case_id, seq")).all()
            audits = db.execute(text("SELECT case_id, operation, action, outcome "
                                     "FROM audit_events ORDER BY id")).all()
    finally:
        engine.dispose()

    keys = Counter((c["organisation"], c["submission_key"]) for c in cases)
    assert all(n == 1 for n in keys.values()), "a submission is stored twice"
    by_key = {c["submission_key"]: c for c in cases}
    wanted = {p.key: p for p in stream.planned.values()}
    assert set(by_key) == set(wanted), (
        f"missing {sorted(set(wanted) - set(by_key))}, unexpected {sorted(set(by_key) - set(wanted))}")
    assert {c["organisation"] for c in cases} == {ORGANISATION}

    seqs: dict[str, list[int]] = {}
    for case_id, seq, _kind in events:
        seqs.setdefault(case_id, []).append(seq)
    creates = Counter(a[0] for a in audits if a[1] == "submit" and a[2] == "C" and a[3] == "0")
    repeats = Counter(a[0] for a in audits if a[1] == "submit-repeat")
    case_ids = {c["id"] for c in cases}
    assert {a[0] for a in audits if a[0] is not None} <= case_ids, "audit of a case not stored"
    assert set(seqs) <= case_ids, "events of a case not stored"

    for key, planned in wanted.items():
        row = by_key[key]
        _status, answer = stream.acks[planned.identifier]
        # Whole: history, assessment, the answer to replay, the audit record of its creation.
        assert seqs.get(row["id"], [])[:1] == [1], f"{key}: case without its history"
        assert seqs[row["id"]] == list(range(1, len(seqs[row["id"]]) + 1))
        assert row["report"] is not None and row["policy_id"] is not None, f"{key}: no assessment"
        assert row["first_response"] is not None, f"{key}: no stored answer"
        assert creates[row["id"]] == 1, f"{key}: {creates[row['id']]} creation audit records"
        # Stored as acknowledged.
        assert case_id_of(planned, answer) == row["id"], f"{key}: acknowledged another case"
        stored = row["first_response"]
        stored = json.loads(stored) if isinstance(stored, str) else stored
        assert stored == answer, f"{key}: the acknowledgement is not the stored answer"
        if planned.path == "/cases":
            assert answer["state"] == row["state_kind"]
    return {"cases": len(cases), "events": len(events), "audit": len(audits),
            "repeats": sum(repeats.values())}


def replay_all(base: str, stream: Stream) -> int:
    """Send every submission once more: the original answer must come back, no new case."""
    replays = 0
    with httpx.Client(base_url=base, headers=HEADERS, timeout=30) as client:
        for identifier, planned in stream.planned.items():
            response = client.post(planned.path, json=planned.body)
            _status, first = stream.acks[identifier]
            assert response.status_code == 200, (identifier, response.status_code, response.text)
            assert response.json() == first, f"{identifier}: a repeat got a different answer"
            assert case_id_of(planned, response.json()) == case_id_of(planned, first)
            assert state_of(planned, response.json()) == state_of(planned, first)
            replays += 1
    return replays
