"""Faults in the middle of a stream of submissions (POST /cases and PAS Claim/$submit, each with
a client-chosen identifier, retried unchanged until acknowledged):

(a) the server process is SIGKILLed and started again (SQLite);
(b) PostgreSQL is stopped the hard way (`pg_ctl stop -m immediate`) and started again, while the
    same server process keeps running: it answers 503 OperationOutcomes while the database is
    down (never a 500, never a hang) and recovers by itself.

Afterwards every acknowledged submission is stored exactly once, whole (history, assessment,
the stored answer, its creation audit record), as it was acknowledged, and a repeat returns the
original answer.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from vertebro.adapters.db import pgtest

from .conftest import (
    HEADERS,
    Server,
    Stream,
    check_store,
    crash_postgres,
    durable_database,
    replay_all,
    start_postgres,
    submission_plan,
)

pytestmark = pytest.mark.slow


def hang_up_mid_body(port: int) -> None:
    """Announce a 1,000-byte body, send 10 bytes, hang up; then see the server still answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /cases HTTP/1.1\r\nHost: localhost\r\nX-API-Key: "
                     + HEADERS["X-API-Key"].encode() + b"\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 1000\r\n\r\n{\"identifi")
        time.sleep(0.3)  # the server is waiting for the rest of the body
    time.sleep(0.3)
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200


def test_sigkill_mid_stream_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    server = Server(tmp_path, {})
    server.start()
    planned = submission_plan("KILL", 24)
    stream = Stream(server.base, planned, clients=4, lose_answer=5)
    try:
        stream.start()
        stream.wait_for_acks(8)
        server.kill()  # requests are in flight: some committed, not acknowledged
        acknowledged_before = len(stream.acks)
        time.sleep(0.5)  # clients meet a refused connection and keep retrying
        server.start()
        stream.finish()
        assert not stream.failures, stream.failures[:3]
        assert acknowledged_before < len(planned), "the kill came after the last submission"
        assert stream.statuses()[0] >= 1, "no client met the dead server"
        replays = replay_all(server.base, stream)
        hang_up_mid_body(server.port)
    finally:
        stream.halt.set()
        server.stop()
    counts = check_store(f"sqlite:///{tmp_path / 'vertebro.db'}", stream)
    log = server.log.read_text(errors="replace")
    # A client that hangs up mid-request is not a server fault: one line, no 500, no traceback.
    assert "client disconnected during POST /cases" in log
    assert "-> 500" not in log and "Traceback" not in log and "unexpected" not in log, log[-2000:]
    assert counts["cases"] == len(planned)
    # Every repeat is in the audit trail: the final replays, and the retries of the requests
    # whose answer was lost, answered from the store rather than stored again.
    assert stream.lost >= 1
    assert counts["repeats"] >= replays + stream.lost
    assert server.starts == 2


@pytest.fixture
def postgres_to_crash() -> Iterator[pgtest.TemporaryPostgres]:
    """A server of this test's own (it is crashed), stopped afterwards."""
    reason = pgtest.available()
    if reason is not None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    server = pgtest.start()
    yield server
    server.stop()


def test_postgres_stop_mid_stream_gives_503_then_recovers(
    tmp_path: Path, postgres_to_crash: pgtest.TemporaryPostgres
) -> None:
    pg = postgres_to_crash
    url = durable_database(pg)
    server = Server(tmp_path, {"VERTEBRO_DATABASE_URL": url})
    planned = submission_plan("PGSTOP", 24)
    stream = Stream(server.base, planned, clients=4, timeout=20, lose_answer=5)
    try:
        server.start()
        pid = server.process.pid if server.process else None
        stream.start()
        stream.wait_for_acks(8)
        crash_postgres(pg)
        down_at = time.monotonic()
        with httpx.Client(base_url=server.base, headers=HEADERS, timeout=20) as client:
            # While the database is down: reads and writes get a 503 OperationOutcome, quickly;
            # what needs no database still works; liveness holds, readiness does not.
            for path in ("/cases", "/readyz"):
                started = time.monotonic()
                response = client.get(path)
                assert response.status_code == 503, (path, response.text)
                assert time.monotonic() - started < 15
                outcome = response.json()
                assert outcome["resourceType"] == "OperationOutcome"
                assert outcome["issue"][0]["code"] == "transient"
                assert "Retry-After" in response.headers
            assert client.get("/healthz").status_code == 200
            assessed = client.post("/assessments", json=planned[0].body["document"])
            assert assessed.status_code == 200, assessed.text
            # Let the clients meet the outage for a moment.
            while time.monotonic() - down_at < 2:
                time.sleep(0.1)
        refused = stream.statuses()[503]
        start_postgres(pg)
        stream.finish()
        assert not stream.failures, [(a.status, a.body) for a in stream.failures[:3]]
        assert refused >= 1, "no client met the outage"
        assert all(a.seconds < 15 for a in stream.attempts), "a request hung"
        assert server.alive and server.process is not None and server.process.pid == pid, (
            "the server was restarted")
        assert httpx.get(f"{server.base}/readyz", timeout=10).status_code == 200
        replays = replay_all(server.base, stream)
        server.stop()
        counts = check_store(url, stream)
    finally:
        stream.halt.set()
        server.stop()
        pg.stop()
    assert counts["cases"] == len(planned)
    assert counts["repeats"] >= replays + stream.lost
    log = server.log.read_text(errors="replace")
    assert " 500 " not in log and "-> 500" not in log, log[-2000:]
    assert "unexpected" not in log and "Traceback" not in log, log[-2000:]
