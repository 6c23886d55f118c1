"""Assessments per second: one case, and 10,000 cases in one process.

Three layers are timed in the same run so the ratios are like for like:
  core    evaluator only (vertebro.core.evaluator.assess)
  report  evaluator + the report model + JSON serialisation (what `assess --format json` does)
  cli     the whole command on one case file, in a fresh process (start-up included)

Run: .venv/bin/python benchmarks/assess_throughput.py [--n 10000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vertebro.adapters import policy_files
from vertebro.core.case import Case
from vertebro.core.catalogue import CATALOGUE, Procedure
from vertebro.core.criteria import Predicate
from vertebro.core.evaluator import ProcedureRequest, assess
from vertebro.core.facts import Fact, FactSet, FactType, FactValue
from vertebro.core.levels import ALL_LEVELS
from vertebro.core.policy import Policy
from vertebro.report import build_report

AS_OF = dt.date(2026, 10, 1)


def random_case(policy: Policy, rng: random.Random, index: int) -> Case:
    """A case with each policy fact known with probability 0.7, and one to three requests."""
    names = sorted(
        {n.fact for n in policy.nodes() if isinstance(n, Predicate)} - {"request.procedure"}
    )
    facts = []
    for name in names:
        if rng.random() < 0.7:
            facts.append(Fact(name, _value(name, rng)))
    requests = tuple(
        ProcedureRequest(p, tuple(sorted(rng.sample(ALL_LEVELS, rng.randint(1, 3)))))
        for p in rng.sample(list(Procedure), rng.randint(1, 3))
    )
    return Case(f"bench-{index}", "benchmark", requests, FactSet(facts), AS_OF)


def _value(name: str, rng: random.Random) -> FactValue:
    spec = CATALOGUE[name]
    if spec.type is FactType.BOOLEAN:
        return rng.random() < 0.5
    if spec.type is FactType.CHOICE:
        return rng.choice(spec.choices)
    if spec.type is FactType.CHOICES:
        return frozenset(rng.sample(spec.choices, rng.randint(0, 3)))
    if spec.type is FactType.NUMBER:
        return float(rng.randint(0, 10))
    if spec.type is FactType.DATE:
        return AS_OF - dt.timedelta(days=rng.randint(0, 120))
    return tuple(sorted(rng.sample(ALL_LEVELS, 2)))


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(20261121)
    rows = []
    for version in policy_files.shipped():
        policy = version.policy
        cases = [random_case(policy, rng, i) for i in range(args.n)]
        one = cases[0]
        # One case, repeated, for latency.
        reps = 2000
        start = time.perf_counter()
        for _ in range(reps):
            assess(policy, one.facts, one.requests, as_of=AS_OF)
        core_one = (time.perf_counter() - start) / reps
        start = time.perf_counter()
        for case in cases:
            assess(policy, case.facts, case.requests, as_of=AS_OF)
        core_n = time.perf_counter() - start
        start = time.perf_counter()
        for case in cases:
            build_report(
                assess(policy, case.facts, case.requests, as_of=AS_OF), policy, case, case.source
            ).model_dump_json()
        report_n = time.perf_counter() - start
        rows.append((policy.id, core_one, core_n, report_n))
    with tempfile.TemporaryDirectory() as tmp:
        case_file = Path(tmp) / "case.yaml"
        case_file.write_text(
            "requests: [{procedure: vertebroplasty, levels: L1}]\nfacts: {pain.severe: true}\n"
        )
        vertebro = Path(sys.executable).with_name("vertebro")
        reps = 5
        start = time.perf_counter()
        for _ in range(reps):
            subprocess.run(
                [
                    str(vertebro),
                    "assess",
                    str(case_file),
                    "--policy",
                    "nice",
                    "--as-of",
                    "2026-10-01",
                    "--format",
                    "json",
                ],
                check=True,
                capture_output=True,
            )
        cli_one = (time.perf_counter() - start) / reps
    print(
        f"## Assessment throughput ({args.n:,} generated cases per policy, one process, one core)\n"
    )
    print(
        "| policy | one case, core (ms) | core: n cases | core + report + JSON: n cases | report cost ratio |"
    )
    print("|---|---|---|---|---|")
    for pid, core_one, core_n, report_n in rows:
        print(
            f"| {pid} | {core_one * 1000:.3f} | {_rate(args.n, core_n)} ({core_n:.2f} s) | {_rate(args.n, report_n)} ({report_n:.2f} s) | {report_n / core_n:.1f}× |"
        )
    print(
        f"\nCLI end to end, one case file in a fresh process (start-up included): {cli_one * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
