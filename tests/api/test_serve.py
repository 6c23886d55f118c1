"""`vertebro serve` end to end: a real uvicorn process on loopback with SQLite (no setup)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import PAS_DIR, load

VERTEBRO = Path(sys.executable).with_name("vertebro")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_serve_runs_the_api_on_sqlite_with_no_setup(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "VERTEBRO_HOME": str(tmp_path), "VERTEBRO_LOG_LEVEL": "INFO",
           "VERTEBRO_WARM_UP": "false"}
    env.pop("VERTEBRO_DATABASE_URL", None)
    process = subprocess.Popen([str(VERTEBRO), "serve", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/cds-services", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        headers = {"X-API-Key": "dev-requester-key"}
        answer = httpx.post(f"{base}/fhir/Claim/$submit", headers=headers, timeout=30,
                            json=load(PAS_DIR / "conformant_pas_bundle_v110.json"))
        assert answer.status_code == 200
        assert answer.json()["entry"][0]["resource"]["resourceType"] == "ClaimResponse"
        assert httpx.get(f"{base}/cases", timeout=10).status_code == 401
        assert httpx.get(f"{base}/docs", timeout=10).status_code == 200
        assert (tmp_path / "vertebro.db").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert "POST /fhir/Claim/$submit -> 200" in output
    assert "SMITH" not in output and "12345678901" not in output


def test_serve_refuses_in_one_line_when_postgresql_is_unreachable(tmp_path: Path) -> None:
    env = {**os.environ, "VERTEBRO_HOME": str(tmp_path),
           "VERTEBRO_DATABASE_URL": "postgresql+psycopg://u:secret-pw@127.0.0.1:1/none"}
    done = subprocess.run([str(VERTEBRO), "serve", "--port", str(free_port())], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "vertebro: cannot reach the database at start-up (OperationalError); check "
        "VERTEBRO_DATABASE_URL and that the server is running"]
    assert "secret-pw" not in done.stderr + done.stdout
