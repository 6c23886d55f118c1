"""Load the HTTP service on loopback: requests per second and p50 / p99 latency for assessment,
PAS `Claim/$submit` and CRD `order-sign`, against a `vertebro serve` the script starts (on a
temporary SQLite database, or with --postgres on a throw-away PostgreSQL) and stops itself.

    .venv/bin/python benchmarks/service_load.py                     # 400 requests each, 8 at once
    .venv/bin/python benchmarks/service_load.py --requests 2000 --concurrency 16 --postgres

The CRD target (Da Vinci CRD, "respond within the required time 90% of the time": 5 seconds for
order-sign) is reported against the measured p90 and maximum.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from vertebro.adapters.case_files import load_case_file
from vertebro.api.fhir.dtr import answer_values
from vertebro.core.catalogue import CATALOGUE

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "fixtures"
EXAMPLE = REPO / "examples" / "01-osteoporotic-l1-failed-conservative.yaml"
HEADERS = {"X-API-Key": "dev-requester-key"}
CRD_TARGET_S = 5.0
Json = dict[str, Any]


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def case_json() -> Json:
    """The example case 01 as JSON (meets CareFirst's criteria)."""
    data: Json = json.loads(json.dumps(yaml.safe_load(EXAMPLE.read_text()), default=str))
    return data


def answers() -> list[Json]:
    """QuestionnaireResponse items answering every fact of example case 01."""
    case = load_case_file(EXAMPLE)
    return [{"linkId": f.name, "answer": answer_values(CATALOGUE[f.name], f.value)}
            for f in case.facts.values()
            if f.value is not None and f.name not in ("patient.sex", "patient.age")]


def pas_bundle(identifier: str, items: list[Json]) -> Json:
    """The conformant PAS fixture as a vertebroplasty request with the answers attached."""
    bundle: Json = copy.deepcopy(json.loads(
        (SHARED / "davinci-pas" / "conformant_pas_bundle_v110.json").read_text()))
    claim = bundle["entry"][0]["resource"]
    claim["identifier"][0]["value"] = identifier
    cpt = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22511"}]}
    claim["item"][0]["productOrService"] = cpt
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "ServiceRequest":
            entry["resource"]["code"] = cpt
            entry["resource"]["bodySite"] = [{"text": "L1"}]
    url = f"urn:uuid:{uuid.uuid4()}"
    bundle["entry"].append({"fullUrl": url, "resource": {
        "resourceType": "QuestionnaireResponse", "status": "completed",
        "questionnaire": "http://localhost/fhir/Questionnaire/vertebro-carefirst-load",
        "item": items}})
    claim["supportingInfo"] = [{"sequence": 1, "category": {"coding": [{"code": "info"}]},
                                "valueReference": {"reference": url}}]
    return bundle


def order_sign() -> Json:
    """The CRD IG's order-sign example with one vertebroplasty order."""
    request: Json = json.loads((SHARED / "cds-hooks-crd" / "hl7-CRDServiceRequest.json")
                               .read_text())
    request["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                         "entry": [{"resource": {
        "resourceType": "ServiceRequest", "id": "va-1", "status": "draft",
        "intent": "original-order", "subject": {"reference": "Patient/123"},
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22511"}]},
        "bodySite": [{"text": "L1"}]}}]}
    return request


@dataclass
class Result:
    """Timings of one scenario."""

    name: str
    latencies: list[float]
    errors: int
    wall: float

    def row(self) -> str:
        """A Markdown table row."""
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

        return (f"| {self.name} | {len(ordered)} | {self.errors} | "
                f"{len(ordered) / self.wall:,.1f} | {statistics.median(ordered) * 1000:.1f} | "
                f"{pct(0.90):.1f} | {pct(0.99):.1f} | {ordered[-1] * 1000:.1f} |")


async def run(name: str, base: str, path: str, bodies: Callable[[int], Json], total: int,
              concurrency: int) -> Result:
    """Send `total` requests, `concurrency` at a time; time each one."""
    latencies: list[float] = []
    statuses: list[int] = []
    errors = 0
    counter = iter(range(total))
    async with httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=60) as client:
        async def worker() -> None:
            nonlocal errors
            for n in counter:
                body = bodies(n)
                start = time.perf_counter()
                response = await client.post(path, json=body)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    errors += 1
                    statuses.append(response.status_code)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    if statuses:
        print(f"{name}: error statuses {sorted(set(statuses))}", file=sys.stderr)
    return Result(name, latencies, errors, wall)


def start_server(port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    """`vertebro serve` on the port, once it answers."""
    process = subprocess.Popen([str(Path(sys.executable).with_name("vertebro")), "serve",
                                "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped: {process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/cds-services", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not start within 120 s")


def main() -> None:
    """Start the server, load it, print the table, stop the server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per scenario")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--postgres", action="store_true",
                        help="run on a throw-away PostgreSQL instead of SQLite")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="vertebro-load-"))
    env = {**os.environ, "VERTEBRO_HOME": str(home), "VERTEBRO_LOG_LEVEL": "WARNING"}
    env.pop("VERTEBRO_DATABASE_URL", None)
    server_pg = None
    if args.postgres:
        from vertebro.adapters.db import pgtest

        server_pg = pgtest.start()
        env["VERTEBRO_DATABASE_URL"] = server_pg.database()
    port = free_port()
    process = start_server(port, env)
    base = f"http://127.0.0.1:{port}"
    items = answers()
    run_id = uuid.uuid4().hex[:8]
    scenarios: list[tuple[str, str, Callable[[int], Json]]] = [
        ("POST /assessments (case JSON)", "/assessments", lambda _n: case_json()),
        ("POST /fhir/Claim/$submit (new case, approved)", "/fhir/Claim/$submit",
         lambda n: pas_bundle(f"LOAD-{run_id}-{n}-{uuid.uuid4().hex[:6]}", items)),
        ("POST /cds-services/vertebro-order-sign", "/cds-services/vertebro-order-sign",
         lambda _n: order_sign()),
    ]
    results: list[Result] = []
    try:
        for name, path, bodies in scenarios:
            asyncio.run(run(name, base, path, bodies, min(20, args.requests), 2))  # warm up
            results.append(asyncio.run(run(name, base, path, bodies, args.requests,
                                           args.concurrency)))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        if server_pg is not None:
            server_pg.stop()

    database = "PostgreSQL 15 (temporary)" if args.postgres else "SQLite (temporary file)"
    print(f"vertebro serve, 1 worker, {database}; loopback; {args.requests} requests per "
          f"scenario, {args.concurrency} in flight; {os.cpu_count()} CPUs shared with the "
          "load generator.\n")
    print("| scenario | requests | errors | requests/s | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|")
    for result in results:
        print(result.row())
    crd = results[-1]
    ordered = sorted(crd.latencies)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    print(f"\nCRD order-sign: p90 {p90 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms against "
          f"the {CRD_TARGET_S:.0f} s target (90% of calls): "
          f"{CRD_TARGET_S / max(p90, 1e-9):,.0f}x margin at p90.")


if __name__ == "__main__":
    main()
