"""Load the prior-authorisation service with locust at increasing concurrency, on SQLite and on
PostgreSQL, and find the knee: assess, PAS `Claim/$submit` and CRD `order-sign`, one at a time.

    .venv/bin/python benchmarks/load_test.py             # 1..64 users, both databases (~8 min)
    .venv/bin/python benchmarks/load_test.py --quick     # 1, 4, 16 users, shorter windows (~3 min)
    .venv/bin/python benchmarks/load_test.py --smoke     # SQLite, 2 users, 2 s: any error fails

For each database the script starts `vertebro serve` (one worker) on a free loopback port: on a
temporary SQLite file, or on a throw-away PostgreSQL 15 (adapters/db/pgtest; synchronous commit
on, as in production; fsync off, as on a throw-away server). Every request body is first sent
once and must be answered 200 (this also loads the code lists and the note reader). Then, per
scenario, locust users (closed loop: users = requests in flight) step through the levels: a
ramp-up, then two measuring windows back to back (statistics reset before each). Each step
reports the throughput, p50 / p99 latency of the better window (work of others on the machine
only ever lowers throughput) and the errors of both (any answer but 200, or none within 60 s).

The knee is the number of users N* = X_max / X(1) (the best throughput over the throughput of
one user alone): the classic knee of a closed system without think time, N* = (D + Z) / D_max
with Z = 0, D = 1 / X(1) and D_max = 1 / X_max (Jain, The Art of Computer Systems Performance
Analysis, 1991, ch. 33). Below it users are served side by side; beyond it they only queue:
throughput stays at X_max and latency grows as N / X_max. The knee level is the measured level
nearest N* (on the doubling scale). It rests on the best throughput and the one-user rate, not
on the shape of a noisy curve. The run fails (exit 1) if any step at or below the knee level
had an error. Locust runs in this process, on the same two cores as the server.
`--from-json FILE` prints the report of a saved run again.
"""

# ruff: noqa: I001
# locust comes first: importing it patches the standard library for gevent.
from locust.env import Environment

import argparse
import importlib.util
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import cast

import httpx
from locust import FastHttpUser
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]


def _locustfile() -> ModuleType:
    # Loaded by path: a site-packages package named `benchmarks` shadows this folder.
    path = REPO / "benchmarks" / "load" / "locustfile.py"
    spec = importlib.util.spec_from_file_location("vertebro_locustfile", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_USERS = _locustfile()
SCENARIOS = cast(dict[str, type[FastHttpUser]], _USERS.SCENARIOS)
API_KEY = cast(str, _USERS.API_KEY)
ASSESS, SUBMIT, ORDER_SIGN = cast(tuple[str, str, str],
                                  (_USERS.ASSESS, _USERS.SUBMIT, _USERS.ORDER_SIGN))


def assessment_bodies() -> tuple[bytes, ...]:
    return cast(tuple[bytes, ...], _USERS.assessment_bodies())


def order_sign_bodies() -> tuple[bytes, ...]:
    return cast(tuple[bytes, ...], _USERS.order_sign_bodies())


def pas_submission() -> dict[str, object]:
    return cast(dict[str, object], _USERS.pas_submission())


LEVELS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)


@dataclass
class Step:
    """One level of one scenario on one database."""

    users: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_kinds: dict[str, int] = field(default_factory=dict)


@dataclass
class Series:
    """One scenario on one database, level by level."""

    database: str
    scenario: str
    steps: list[Step]

    @property
    def knee_users(self) -> float:
        """N* = X_max / X(1), or the lowest level's users when 1 user was not measured."""
        one = self.steps[0]
        if one.users != 1:
            return float(one.users)
        return self.peak.rps / max(one.rps, 1e-9)

    @property
    def knee(self) -> int:
        """The measured level nearest N* on the doubling scale."""
        target = math.log2(max(self.knee_users, 1.0))
        return min(self.steps, key=lambda s: abs(math.log2(s.users) - target)).users

    @property
    def errors_to_knee(self) -> int:
        return sum(s.errors for s in self.steps if s.users <= self.knee)

    @property
    def peak(self) -> Step:
        return max(self.steps, key=lambda s: s.rps)

    def at(self, users: int) -> Step:
        return next(s for s in self.steps if s.users == users)


# --- Servers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(database: str) -> Iterator[str]:
    """`vertebro serve` on a fresh database of the kind; yields its base URL."""
    home = Path(tempfile.mkdtemp(prefix="vertebro-load-"))
    env = {**os.environ, "VERTEBRO_HOME": str(home), "VERTEBRO_LOG_LEVEL": "WARNING",
           "VERTEBRO_WARM_UP": "false"}
    env.pop("VERTEBRO_DATABASE_URL", None)
    pg = None
    if database == "postgresql":
        from vertebro.adapters.db import pgtest

        pg = pgtest.start()
        url = pg.database()
        engine = create_engine(pg.base_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:  # production commits synchronously; so do we
            conn.execute(text(f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" '
                              "SET synchronous_commit = on"))
        engine.dispose()
        env["VERTEBRO_DATABASE_URL"] = url
    port = free_port()
    log = (home / "server.log").open("wb")
    process = subprocess.Popen([str(Path(sys.executable).with_name("vertebro")), "serve",
                                "--port", str(port)], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server stopped: "
                                 f"{(home / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start within 120 s")
            time.sleep(0.3)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        if pg is not None:
            pg.stop()


def warm_up(base: str) -> int:
    """Send every body once; all must be answered 200. Returns how many were sent."""
    headers = {"X-API-Key": API_KEY, "Content-Type": "application/fhir+json"}
    sent: list[tuple[str, bytes]] = [(ASSESS, b) for b in assessment_bodies()]
    sent += [(SUBMIT, json.dumps(pas_submission()).encode()) for _ in range(5)]
    sent += [(ORDER_SIGN, b) for b in set(order_sign_bodies())]
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        for path, body in sent:
            response = client.post(path, content=body)
            if response.status_code != 200:
                raise SystemExit(f"warm-up: {path} answered {response.status_code}: "
                                 f"{response.text[:300]}")
    return len(sent)


# --- Load --------------------------------------------------------------------------------------


def step_load(base: str, user: type[FastHttpUser], levels: tuple[int, ...], ramp: float,
              window: float, repeats: int) -> list[Step]:
    """Run `user` at each level in turn: ramp up, then `repeats` measuring windows back to
    back, each after a statistics reset. The step reports the window with the best throughput
    (other work on the machine only ever lowers it) and the errors of all windows."""
    env = Environment(user_classes=[user], host=base)
    runner = env.create_local_runner()
    steps = []
    try:
        for users in levels:
            runner.start(users, spawn_rate=100)
            time.sleep(ramp)  # gevent's sleep: locust patched the time module
            windows = []
            errors = 0
            kinds: dict[str, int] = {}
            for _ in range(repeats):
                env.stats.reset_all()
                started = time.monotonic()
                time.sleep(window)
                total = env.stats.total
                seconds = time.monotonic() - started
                errors += total.num_failures
                for e in env.stats.errors.values():
                    kinds[str(e.error)] = kinds.get(str(e.error), 0) + e.occurrences
                windows.append(Step(
                    users=users, requests=total.num_requests, seconds=round(seconds, 2),
                    rps=total.num_requests / seconds, errors=0,
                    p50_ms=float(total.get_response_time_percentile(0.5) or 0),
                    p99_ms=float(total.get_response_time_percentile(0.99) or 0)))
            best = max(windows, key=lambda w: w.rps)
            best.errors, best.error_kinds = errors, kinds
            steps.append(best)
            print(f"  {user.__name__:<14} {users:>3} users: {best.rps:7.1f} req/s (windows: "
                  f"{', '.join(f'{w.rps:.1f}' for w in windows)}), p50 {best.p50_ms:6.0f} ms, "
                  f"p99 {best.p99_ms:6.0f} ms, {errors} errors", file=sys.stderr, flush=True)
    finally:
        runner.quit()
    return steps


# --- Report ------------------------------------------------------------------------------------


def tables(series: list[Series], databases: list[str]) -> str:
    """One Markdown table per scenario, the databases side by side."""
    out = []
    for scenario in SCENARIOS:
        rows = {s.database: s for s in series if s.scenario == scenario}
        head = "| users | " + " | ".join(
            f"{d} req/s | p50 / p99 ms | errors" for d in databases) + " |"
        out += [f"**{scenario}**", "", head,
                "|---|" + "---|---|---|" * len(databases)]
        for index, step in enumerate(rows[databases[0]].steps):
            cells = []
            for database in databases:
                s = rows[database].steps[index]
                knee = " (knee)" if s.users == rows[database].knee else ""
                cells.append(f"{s.rps:,.1f}{knee} | {s.p50_ms:,.0f} / {s.p99_ms:,.0f} | "
                             f"{s.errors}")
            out.append(f"| {step.users} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def ratios(series: list[Series], databases: list[str]) -> str:
    """Ratios measured in this run: peak throughput, scaling and p99 past the knee."""
    out = ["| scenario | database | 1 user req/s | best req/s (users) | knee N* = best ÷ 1 user "
           "| p50 at top level: measured / N ÷ best | p99 at top level ÷ p99 at knee |",
           "|---|---|---|---|---|---|---|"]
    for s in series:
        knee, top, peak = s.at(s.knee), s.steps[-1], s.peak
        out.append(f"| {s.scenario} | {s.database} | {s.steps[0].rps:,.1f} | "
                   f"{peak.rps:,.1f} ({peak.users}) | {s.knee_users:.1f} → {s.knee} users | "
                   f"{top.p50_ms:,.0f} / {1000 * top.users / peak.rps:,.0f} ms | "
                   f"{top.p99_ms / max(knee.p99_ms, 1e-9):.1f}× |")
    if len(databases) == 2:
        out += ["", "| scenario | PostgreSQL ÷ SQLite, peak req/s |", "|---|---|"]
        for scenario in SCENARIOS:
            by = {s.database: s for s in series if s.scenario == scenario}
            out.append(f"| {scenario} | {by['postgresql'].peak.rps / by['sqlite'].peak.rps:.2f}× "
                       f"({by['postgresql'].peak.rps:,.1f} vs {by['sqlite'].peak.rps:,.1f}) |")
    return "\n".join(out)


def report(series: list[Series], meta: dict[str, float]) -> bool:
    """Print the tables and ratios; True when no step at or below its knee had an error."""
    databases = list(dict.fromkeys(s.database for s in series))
    print(f"vertebro serve (1 worker) on loopback; locust closed loop; per step a "
          f"{meta.get('ramp', 0):.0f} s ramp, then the best of {meta.get('repeats', 1):.0f} "
          f"windows of {meta.get('window', 0):.0f} s; {meta.get('cpus', 0):.0f} CPUs shared by "
          "server, load generator and other work; load average (1 min) "
          f"{meta.get('load_start', 0):.1f} at the start, {meta.get('load', 0):.1f} at the end; "
          f"run took {meta.get('seconds', 0):.0f} s.\n")
    print(tables(series, databases))
    print(ratios(series, databases))
    for s in series:
        for st in s.steps:
            if st.users > s.knee and st.errors:
                print(f"\nnote: {s.scenario} on {s.database} at {st.users} users (past the "
                      f"knee): {st.errors} errors {st.error_kinds}")
    failed = [s for s in series if s.errors_to_knee]
    for s in failed:
        kinds = {k: v for st in s.steps if st.users <= s.knee for k, v in st.error_kinds.items()}
        print(f"\nFAILED: {s.scenario} on {s.database}: {s.errors_to_knee} errors at or below "
              f"the knee ({s.knee} users): {kinds}")
    if not failed:
        print("\nno errors at or below the knee.")
    return not failed


def saved(path: Path) -> tuple[list[Series], dict[str, float]]:
    """A run written by --json."""
    data = json.loads(path.read_text())
    series = [Series(s["database"], s["scenario"], [Step(**st) for st in s["steps"]])
              for s in data["series"]]
    meta = data.get("meta") or {"seconds": data.get("seconds", 0)}
    return series, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="1, 4, 16 users; 1 s + 3 s steps")
    mode.add_argument("--smoke", action="store_true",
                      help="SQLite only, 2 users for 2 s per scenario; any error fails")
    mode.add_argument("--from-json", type=Path, metavar="FILE",
                      help="print the report of a run saved with --json, run nothing")
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = parser.parse_args()
    if args.from_json:
        sys.exit(0 if report(*saved(args.from_json)) else 1)

    levels, ramp, window, repeats = LEVELS, 2.0, 4.0, 2
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if args.quick:
        levels, ramp, window, repeats = (1, 4, 16), 1.0, 2.0, 2
    if args.smoke:
        levels, ramp, window, repeats, databases = (2,), 0.5, 2.0, 1, ["sqlite"]
    unknown = set(databases) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown database {', '.join(sorted(unknown))}")

    started = time.monotonic()
    load_start = os.getloadavg()[0]
    series: list[Series] = []
    for database in databases:
        with serving(database) as base:
            print(f"{database}: server at {base}; warm-up sent {warm_up(base)} requests",
                  file=sys.stderr, flush=True)
            for scenario, user in SCENARIOS.items():
                series.append(Series(database, scenario,
                                     step_load(base, user, levels, ramp, window, repeats)))
    meta = {"seconds": time.monotonic() - started, "ramp": ramp, "window": window,
            "repeats": float(repeats), "cpus": float(os.cpu_count() or 0),
            "load_start": load_start, "load": os.getloadavg()[0]}
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "series": [
            {"database": s.database, "scenario": s.scenario, "knee": s.knee,
             "steps": [asdict(st) for st in s.steps]} for s in series]}, indent=2))
    if not report(series, meta):
        sys.exit(1)


if __name__ == "__main__":
    main()
