"""`vertebro db backup` / `db restore` on SQLite and PostgreSQL: data made through the API, a
backup, the database wiped, a restore - the same rows, verified, and the service works on it
(reads, repeats answered as before, new submissions). Also: a database holding data is not
overwritten without --force, a damaged backup or a missing manifest is refused, and a missing
pg_dump is one clear line. The SQLite backup is consistent while the service writes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

from vertebro.adapters.db import pgtest
from vertebro.adapters.db.backup import manifest_path
from vertebro.adapters.db.migrate import upgrade
from vertebro.adapters.db.repository import make_database
from vertebro.api.main import create_app
from vertebro.cli import main
from vertebro.settings import Settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
PAS = REPO.parent / "shared" / "fixtures" / "davinci-pas" / "conformant_pas_bundle_v110.json"
REQUESTER = {"X-API-Key": "dev-requester-key"}
REVIEWER = {"X-API-Key": "dev-reviewer-key"}
AUDITOR = {"X-API-Key": "dev-auditor-key"}
Json = dict[str, Any]


@dataclass
class Store:
    """A database to back up, and how to wipe it."""

    url: str
    kind: str
    server: pgtest.TemporaryPostgres | None = None

    def wipe(self) -> None:
        """Gone entirely: the SQLite file deleted, the PostgreSQL database dropped and created
        empty (no schema)."""
        if self.server is None:
            path = Path(self.url.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        name = self.url.rsplit("/", 1)[1]
        engine = create_engine(self.server.base_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'vertebro.db'}"
        database = make_database(url)
        upgrade(database.engine)
        database.dispose()
        yield Store(url, "sqlite")
        return
    server: pgtest.TemporaryPostgres = request.getfixturevalue("pg_server")
    url = server.database()
    yield Store(url, "postgresql", server)
    server.drop(url)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("VERTEBRO_HOME", raising=False)
    return CliRunner()


def run(cli: CliRunner, store: Store, *args: str, path: str | None = None) -> Result:
    env = {"VERTEBRO_DATABASE_URL": store.url}
    if path is not None:
        env["PATH"] = path
    return cli.invoke(main, ["db", *args], env=env)


@pytest.fixture
def service_on() -> Iterator[Any]:
    opened: list[tuple[TestClient, Any]] = []

    def start(url: str) -> TestClient:
        db = make_database(url)
        client = TestClient(create_app(Settings(database_url=url, warm_up=False), database=db,
                                       migrate=False), raise_server_exceptions=False)
        opened.append((client, db))
        return client

    yield start
    for client, db in opened:
        client.close()
        db.dispose()


def case_request(identifier: str, example: str) -> Json:
    document = json.loads(json.dumps(yaml.safe_load((EXAMPLES / example).read_text()),
                                     default=str))
    return {"identifier": identifier, "document": document}


def pas_request(identifier: str) -> Json:
    bundle: Json = json.loads(PAS.read_text())
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = identifier
    return bundle


def make_data(client: TestClient) -> dict[str, Json]:
    """Cases in several states, reads, a human denial: a realistic audit trail."""
    answers: dict[str, Json] = {}
    for n, example in enumerate(["01-osteoporotic-l1-failed-conservative.yaml",
                                 "10-osteoporotic-undocumented-treatment.yaml",
                                 "11-osteoporotic-pain-settling.yaml"]):
        body = case_request(f"BK-{n}", example)
        response = client.post("/cases", json=body, headers=REQUESTER)
        assert response.status_code == 201, response.text
        answers[f"BK-{n}"] = response.json()
    pas = client.post("/fhir/Claim/$submit", json=pas_request("BK-PAS"), headers=REQUESTER)
    assert pas.status_code == 200, pas.text
    answers["BK-PAS"] = pas.json()
    queued = next(a for a in answers.values() if a.get("state") == "queued-for-review")
    denied = client.post(f"/cases/{queued['id']}/decision", headers=REVIEWER,
                         json={"decision": "deny", "reason": "Imaging does not show an acute "
                                                         "fracture at the requested level."})
    assert denied.status_code == 200, denied.text
    for answer in answers.values():
        case_id = answer.get("id") or answer["entry"][0]["resource"]["id"]
        assert client.get(f"/cases/{case_id}", headers=REQUESTER).status_code == 200
    return answers


def contents(url: str) -> dict[str, list[str]]:
    """Every row of every table, as sorted canonical JSON lines."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            out = {}
            for name in sorted(inspect(conn).get_table_names()):
                rows = conn.execute(text(f'SELECT * FROM "{name}"')).mappings()
                out[name] = sorted(json.dumps(dict(r), sort_keys=True, default=str)
                                   for r in rows)
            return out
    finally:
        engine.dispose()


def test_round_trip(store: Store, cli: CliRunner, service_on: Any, tmp_path: Path) -> None:
    client = service_on(store.url)
    answers = make_data(client)
    client.close()
    before = contents(store.url)
    assert len(before["pa_cases"]) == 4 and len(before["audit_events"]) == 9  # 4 + 1 + 4

    out = tmp_path / "backups" / f"vertebro-{store.kind}.backup"
    out.parent.mkdir()
    made = run(cli, store, "backup", str(out))
    assert made.exit_code == 0, made.output
    assert "backup written" in made.output and "audit_events" in made.output
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["dialect"] == store.kind
    assert manifest["tables"]["pa_cases"] == 4
    assert manifest["tables"]["audit_events"] == len(before["audit_events"])
    assert set(manifest["digests"]) == {"audit_events", "pa_case_events"}
    assert not list(out.parent.glob("*.partial"))

    store.wipe()
    restored = run(cli, store, "restore", str(out))
    assert restored.exit_code == 0, restored.output
    assert "verified: audit_events identical" in restored.output
    assert "append-only trigger in place" in restored.output
    assert contents(store.url) == before  # the same rows, every column

    # The service works on the restored database: reads, repeats answered as the first time
    # (no second case), new submissions, and the audit trail still refuses to be changed.
    client = service_on(store.url)
    first = answers["BK-0"]
    read = client.get(f"/cases/{first['id']}", headers=REQUESTER)
    assert read.status_code == 200 and read.json()["state"] == first["state"]
    repeat = client.post("/cases", json=case_request("BK-0", "01-osteoporotic-l1-failed-"
                                                            "conservative.yaml"),
                         headers=REQUESTER)
    assert repeat.status_code == 200 and repeat.json() == first
    repeat_pas = client.post("/fhir/Claim/$submit", json=pas_request("BK-PAS"),
                             headers=REQUESTER)
    assert repeat_pas.status_code == 200 and repeat_pas.json() == answers["BK-PAS"]
    new = client.post("/cases", json=case_request("BK-NEW", "06-myeloma-l3.yaml"),
                      headers=REQUESTER)
    assert new.status_code == 201, new.text
    trail = client.get(f"/cases/{first['id']}/audit", headers=AUDITOR).json()
    operations = [e["resource"]["entity"][0]["description"] for e in trail["entry"]]
    assert operations[0] == "submit" and "submit-repeat" in operations
    engine = create_engine(store.url)
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))
    engine.dispose()
    client.close()

    # Not over data without --force; with it, back to the backup exactly.
    refused = run(cli, store, "restore", str(out))
    assert refused.exit_code == 2
    assert refused.output.count("\n") == 1 and "not empty" in refused.output
    assert "--force" in refused.output
    assert len(contents(store.url)["pa_cases"]) == 5  # untouched
    forced = run(cli, store, "restore", "--force", str(out))
    assert forced.exit_code == 0, forced.output
    assert "replaced" in forced.output
    assert contents(store.url) == before


def test_damaged_or_incomplete_backups_are_refused(
    store: Store, cli: CliRunner, service_on: Any, tmp_path: Path
) -> None:
    client = service_on(store.url)
    make_data(client)
    client.close()
    out = tmp_path / "vertebro.backup"
    assert run(cli, store, "backup", str(out)).exit_code == 0
    store.wipe()

    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.backup"
    damaged.write_bytes(bytes(data))
    manifest_path(damaged).write_text(manifest_path(out).read_text())
    answer = run(cli, store, "restore", str(damaged))
    assert answer.exit_code == 2 and "does not match its manifest" in answer.output

    lonely = tmp_path / "lonely.backup"
    lonely.write_bytes(out.read_bytes())
    answer = run(cli, store, "restore", str(lonely))
    assert answer.exit_code == 2 and "manifest is missing" in answer.output
    assert answer.output.count("\n") == 1

    answer = run(cli, store, "restore", str(tmp_path / "nothing.backup"))
    assert answer.exit_code == 2 and "no such backup file" in answer.output

    other = "postgresql" if store.kind == "sqlite" else "sqlite"
    text_manifest = json.loads(manifest_path(out).read_text())
    text_manifest["dialect"] = other
    foreign = tmp_path / "foreign.backup"
    foreign.write_bytes(out.read_bytes())
    manifest_path(foreign).write_text(json.dumps(text_manifest))
    answer = run(cli, store, "restore", str(foreign))
    assert answer.exit_code == 2 and f"is a {other} backup" in answer.output

    assert run(cli, store, "restore", str(out)).exit_code == 0  # the good one still restores


def test_postgresql_tools_missing_is_one_line(
    pg_server: pgtest.TemporaryPostgres, cli: CliRunner, tmp_path: Path
) -> None:
    store = Store(pg_server.database(), "postgresql", pg_server)
    try:
        answer = run(cli, store, "backup", str(tmp_path / "x.backup"), path=str(tmp_path))
    finally:
        pg_server.drop(store.url)
    assert answer.exit_code == 2
    assert answer.output == ("vertebro: pg_dump not found on PATH: install the PostgreSQL "
                             "client tools (Debian: postgresql-client-15), matching the "
                             "server's major version\n")
    assert not (tmp_path / "x.backup").exists()


def test_sqlite_backup_is_consistent_while_the_service_writes(
    cli: CliRunner, service_on: Any, tmp_path: Path
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'live.db'}", "sqlite")
    database = make_database(store.url)
    upgrade(database.engine)
    database.dispose()
    client = service_on(store.url)
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        n = 0
        while not stop.is_set():
            body = case_request(f"LIVE-{n}", "01-osteoporotic-l1-failed-conservative.yaml")
            written.append(client.post("/cases", json=body, headers=REQUESTER).status_code)
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 5:
            threading.Event().wait(0.05)
        outputs = [run(cli, store, "backup", str(tmp_path / f"live-{i}.backup"))
                   for i in range(3)]
    finally:
        stop.set()
        thread.join(timeout=60)
    assert set(written) == {201}
    for i, made in enumerate(outputs):
        assert made.exit_code == 0, made.output
        copy = f"sqlite:///{tmp_path / f'live-{i}.backup'}"
        snapshot = contents(copy)
        manifest = json.loads(manifest_path(tmp_path / f"live-{i}.backup").read_text())
        assert manifest["tables"]["pa_cases"] == len(snapshot["pa_cases"]) > 0
        # A snapshot, not a smear: every case in it has its history and its creation record.
        cases = {json.loads(r)["id"] for r in snapshot["pa_cases"]}
        created = {json.loads(r)["case_id"] for r in snapshot["audit_events"]
                   if json.loads(r)["operation"] == "submit"}
        histories = {json.loads(r)["case_id"] for r in snapshot["pa_case_events"]}
        assert cases == created == histories
    first = json.loads(manifest_path(tmp_path / "live-0.backup").read_text())
    assert len(contents(store.url)["pa_cases"]) > first["tables"]["pa_cases"]  # writes went on
