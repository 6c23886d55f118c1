"""FHIR reader throughput: bundles read per second on one core, over the project's fixtures.

Usage: .venv/bin/python benchmarks/fhir_throughput.py [--seconds S] [--with-text]

Each group of bundles is read repeatedly (parse JSON + read into a Case) for at least
S seconds (default 2) after one warm-up pass (which loads the ICD code lists). Report and
document text is not handed to the note reader unless --with-text is given; the note reader
has its own benchmark. The process is pinned to one CPU where the platform allows it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir import load_fhir_file, notes

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "fixtures"
GROUPS: dict[str, list[Path]] = {
    "own bundles (tests/fixtures/fhir)": sorted((ROOT / "tests" / "fixtures" / "fhir").glob("*.json")),
    "Da Vinci PAS fixtures": sorted((SHARED / "davinci-pas").glob("*.json")),
    "Synthea records (1.4-2.2 MB)": sorted((SHARED / "synthea").glob("*.json")),
}


@dataclass
class Result:
    group: str
    bundles: int
    megabytes: float
    rounds: int
    per_second: float
    median_ms: float
    worst_ms: float


def readable(paths: list[Path]) -> list[Path]:
    """The files the reader accepts (the broken fixtures are rejected and not timed)."""
    ok = []
    for path in paths:
        try:
            load_fhir_file(path)
        except InputError:
            continue
        ok.append(path)
    return ok


def measure(group: str, paths: list[Path], seconds: float) -> Result | None:
    paths = readable(paths)
    if not paths:
        return None
    timings: list[float] = []
    started = time.perf_counter()
    rounds = 0
    while time.perf_counter() - started < seconds or rounds == 0:
        for path in paths:
            t0 = time.perf_counter()
            load_fhir_file(path)
            timings.append(time.perf_counter() - t0)
        rounds += 1
    total = sum(timings)
    megabytes = sum(p.stat().st_size for p in paths) / 1e6
    return Result(group, len(paths), megabytes, rounds, len(timings) / total,
                  statistics.median(timings) * 1000, max(timings) * 1000)


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--with-text", action="store_true",
                        help="also run report/document text through the note reader")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if not args.with_text:
        notes._FOUND["read_note"] = None
    results = [r for g, paths in GROUPS.items() if (r := measure(g, paths, args.seconds))]
    print(f"FHIR reader throughput, one core; note reader {'on' if args.with_text else 'off'}")
    header = f"{'group':<36} {'bundles':>7} {'MB':>6} {'rounds':>6} {'bundles/s':>10} " \
             f"{'median ms':>10} {'worst ms':>9}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.group:<36} {r.bundles:>7} {r.megabytes:>6.2f} {r.rounds:>6} "
              f"{r.per_second:>10.1f} {r.median_ms:>10.2f} {r.worst_ms:>9.2f}")


if __name__ == "__main__":
    main()
