"""Batch evaluation at payer scale: the per-case engine, DuckDB and Spark on the same exports.

For each size (cases) a bulk FHIR export is generated on disk (`synthetic.write_ndjson`: coded
Patient, Claim / ServiceRequest, Condition, Observation, Encounter, MedicationRequest and
Procedure resources, one type per file, split in parts), then timed in the same run:

  per-case   Python end to end: parse every NDJSON line, group the resources by patient, read
             each patient's bundle with the FHIR reader, evaluate every request, write Parquet
             (also timed: the evaluation alone, from the facts the reader gave)
  duckdb     `vertebro batch DIR --policy P --out F` in a fresh process (start-up included)
  spark      the same with `--engine spark` (Spark local mode, both cores)

Memory is the peak resident set of the process and its children (the JVM for Spark), sampled
every 0.2 s. CPU is the processor time the run used (user + system, children included) and
load the 1-minute load average as each run began: on a shared machine, wall-clock seconds
well above CPU seconds / cores mean the run waited for processors other work was using. Agreement: outcomes, deciding rules, missing facts and every criterion's status
are compared cell by cell between the engines that ran on a size, and on a population of
facts covering every combination of unknown facts (`synthetic.fact_cases`).

Run: .venv/bin/python benchmarks/batch.py [--sizes 10000,100000,1000000] [--policy nice]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from vertebro.adapters import policy_files
from vertebro.adapters.fhir import read_fhir
from vertebro.batch.agreement import disagreements, duckdb_evaluate, expected_table
from vertebro.batch.compile import compile_policy
from vertebro.batch.dialect import DUCKDB, SPARK, duckdb_type, string_literal
from vertebro.batch.extract import PARSED_SCHEMAS
from vertebro.batch.facts_table import CaseFacts, facts_table
from vertebro.batch.synthetic import AS_OF, bundle, fact_cases, unknown_masks, write_ndjson
from vertebro.core.policy import Policy

SEED = 2026
PARTS = 8
TIMEOUT = 1800


@dataclass
class Run:
    """One engine on one size."""

    seconds: float | None = None
    peak_mb: float | None = None
    cpu: float | None = None  # processor seconds, user + system
    load: float | None = None  # 1-minute load average as the run began
    requests: int = 0
    note: str = ""
    table: pa.Table | None = None


@dataclass
class Size:
    """Every run on one size."""

    cases: int
    input_mb: float
    runs: dict[str, Run] = field(default_factory=dict)
    evaluation_only: float | None = None
    duckdb_evaluation: float | None = None
    parse_floor: tuple[float, float] | None = None  # wall, CPU seconds
    agreement: str = ""


def _generate_part(args: tuple[str, int, int, int]) -> None:
    folder, count, start, part = args
    write_ndjson(Path(folder), count, SEED, start, part)


def export(root: Path, cases: int) -> Path:
    """The generated export of `cases` cases (made once, reused by later runs)."""
    folder = root / f"n{cases}"
    marker = folder / ".complete"
    if marker.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    per = -(-cases // PARTS)
    jobs = [(str(folder), min(per, cases - k * per), k * per, k) for k in range(PARTS)]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(_generate_part, [j for j in jobs if j[1] > 0]))
    marker.write_text(json.dumps({"cases": cases, "seed": SEED}))
    print(f"generated {cases:,} cases in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return folder


def _megabytes(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.glob("*.ndjson")) / 1e6


class PeakMemory:
    """The peak resident set of a process and all its descendants, sampled; and the processor
    time the descendants used (the latest reading of each, so a process that ends between
    samples loses at most 0.2 s)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.cpu_ticks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            rss, ticks = _tree_usage(self.pid)
            self.peak = max(self.peak, rss)
            for pid, used in ticks.items():
                self.cpu_ticks[pid] = max(self.cpu_ticks.get(pid, 0), used)

    def stop(self) -> float:
        """Stop sampling; the peak in MB."""
        self._stop.set()
        self._thread.join()
        return self.peak / 1e6

    def cpu(self) -> float:
        """Processor seconds of the sampled processes."""
        return sum(self.cpu_ticks.values()) / os.sysconf("SC_CLK_TCK")


def _tree_usage(root: int) -> tuple[int, dict[int, int]]:
    """The resident bytes of a process tree, and each process's CPU clock ticks so far."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parents[int(entry)] = int(fields.get("PPid", "0").strip() or 0)
        rss[int(entry)] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
        after_name = stat.rsplit(")", 1)[-1].split()
        ticks[int(entry)] = int(after_name[11]) + int(after_name[12])  # utime + stime
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += [child for child, parent in parents.items() if parent == pid]
    return sum(rss.get(pid, 0) for pid in tree), {p: ticks[p] for p in tree if p in ticks}


def command_run(folder: Path, policy: str, engine: str, out: Path, keep_work: bool = False) -> Run:
    """`vertebro batch` in a fresh process, timed, with its memory peak (`keep_work`: the
    facts are written and kept, for `evaluation_only`)."""
    vertebro = str(Path(sys.executable).with_name("vertebro"))
    command = [vertebro, "batch", str(folder), "--policy", policy, "--out", str(out)]
    if keep_work:
        command.append("--keep-work")
    if engine == "spark":
        command += ["--engine", "spark"]
    load = os.getloadavg()[0]
    before = _children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = PeakMemory(process.pid)
    try:
        _, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        memory.stop()
        return Run(note=f"stopped after {TIMEOUT} s")
    seconds = time.perf_counter() - started
    peak = memory.stop()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr[-2000:]}")
    table = pq.read_table(out)
    # Children the run waited for are counted exactly; others (Spark's JVM) as sampled.
    cpu = max(_children_cpu() - before, memory.cpu())
    return Run(seconds, peak, cpu, load, table.num_rows, table=table)


def _children_cpu() -> float:
    """Processor seconds used by the finished child processes so far (theirs included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def evaluation_only(policy: Policy, out: Path) -> float:
    """Seconds DuckDB takes to evaluate the facts table the batch kept, into Parquet."""
    import duckdb

    work = out.with_name(out.name + ".work")
    facts = work / "facts.parquet"
    con = duckdb.connect()
    try:
        con.execute(f"CREATE VIEW facts AS SELECT * FROM read_parquet('{facts}')")
        started = time.perf_counter()
        sql = compile_policy(policy, DUCKDB).sql("facts")
        con.execute(f"COPY ({sql}) TO '{work / 'evaluated.parquet'}' (FORMAT parquet)")
        return time.perf_counter() - started
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)


def parse_floor(folder: Path) -> tuple[float, float]:
    """Seconds (wall, CPU) DuckDB takes only to parse the export's JSON into typed columns
    (the batch's shapes) and hold it in memory: what any reader of this export with this
    parser pays before it reads a fact."""
    import duckdb

    con = duckdb.connect(config={"threads": os.cpu_count() or 1})
    try:
        types = sorted({p.name.split(".")[0] for p in folder.glob("*.ndjson")})
        started, cpu = time.perf_counter(), time.process_time()
        for rtype in types:
            files = [str(p) for p in sorted(folder.glob(f"{rtype}.*.ndjson"))]
            shape = {"resourceType": "VARCHAR", **_duckdb_columns(rtype)}
            spec = (
                "{"
                + ", ".join(f"{string_literal(k)}: {string_literal(v)}" for k, v in shape.items())
                + "}"
            )
            con.execute(
                f"CREATE TEMP TABLE t_{rtype} AS SELECT * FROM read_json({files}, "
                f"format='newline_delimited', columns={spec})"
            )
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        con.close()


def _duckdb_columns(rtype: str) -> dict[str, str]:
    return {name: duckdb_type(shape) for name, shape in PARSED_SCHEMAS[rtype].items()}


def _patients(folder: Path) -> Iterator[list[dict[str, object]]]:
    """Each patient's resources from the NDJSON files (every line parsed in Python)."""
    cases: dict[str, list[dict[str, object]]] = {}
    for path in sorted(folder.glob("*.ndjson")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                resource = json.loads(line)
                if resource["resourceType"] == "Patient":
                    pid = resource["id"]
                else:
                    ref = resource.get("subject") or resource.get("patient") or {}
                    pid = str(ref.get("reference", "")).rsplit("/", 1)[-1]
                cases.setdefault(pid, []).append(resource)
    yield from cases.values()


def per_case_run(folder: Path, policy: Policy, out: Path) -> tuple[Run, float]:
    """The per-case engine end to end, and the time of its evaluation alone (after a warm-up
    on a few cases, so that code lists and imports are not counted against it)."""
    for resources in _first(_patients(folder), 50):
        pid = str(resources[0]["id"])
        read_fhir(bundle(resources), pid, default_id=pid, as_of=AS_OF)
    load = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    memory = PeakMemory(os.getpid())
    read: list[CaseFacts] = []
    for resources in _patients(folder):
        patient = next((r for r in resources if r["resourceType"] == "Patient"), resources[0])
        pid = str(patient["id"])
        case = read_fhir(bundle(resources), pid, default_id=pid, as_of=AS_OF).case
        if case.requests:
            read.append(CaseFacts(pid, case.facts, case.requests, case.request_date or AS_OF))
    evaluating = time.perf_counter()
    compiled = compile_policy(policy, DUCKDB)  # names the output columns; not run here
    table = expected_table(policy, compiled, read)
    evaluation = time.perf_counter() - evaluating
    pq.write_table(table, out, compression="zstd")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return Run(seconds, memory.stop(), cpu, load, table.num_rows, table=table), evaluation


def _first(items: Iterator[list[dict[str, object]]], count: int) -> list[list[dict[str, object]]]:
    out = []
    for item in items:
        out.append(item)
        if len(out) == count:
            break
    return out


def fact_population_agreement(policy: Policy, count: int, spark: bool) -> str:
    """Evaluator, DuckDB (and Spark) on `count` cases given as facts, every combination of
    unknown facts of trees with up to 20 facts included."""
    cases = fact_cases(policy, count, seed=SEED, fact_limit=20)
    compiled = compile_policy(policy, DUCKDB)
    expected = expected_table(policy, compiled, cases)
    problems = disagreements(expected, duckdb_evaluate(policy, cases))
    engines = "evaluator = DuckDB"
    if spark:
        from vertebro.batch.engines import local_session

        session = local_session()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "facts.parquet"
            pq.write_table(facts_table(cases), path)
            session.read.parquet(str(path)).createOrReplaceTempView("facts")
            sql = compile_policy(policy, SPARK).sql("facts")
            session.sql(sql).write.parquet(str(Path(tmp) / "out"))
            problems += disagreements(expected, pq.read_table(Path(tmp) / "out"))
        engines += " = Spark"
    combinations = len(unknown_masks(policy, 20))
    covered = (
        f"the first {combinations:,} hide every combination of unknown facts per tree"
        if count >= combinations
        else f"the first {count:,} hide {count:,} of the {combinations:,} combinations"
    )
    verdict = "identical" if not problems else f"DIFFER: {problems[:3]}"
    return (
        f"{policy.id}: {count:,} fact cases ({expected.num_rows:,} requests; {covered}): "
        f"{engines}: {verdict}"
    )


def main() -> None:
    """Run the benchmark and print the results as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--policy", default="nice")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "vertebro-bench")
    parser.add_argument("--per-case-max", type=int, default=100_000)
    parser.add_argument("--spark-minutes", type=float, default=10.0)
    parser.add_argument("--fact-cases", type=int, default=100_000)
    args = parser.parse_args()
    policy = policy_files.versions_of(args.policy)[-1].policy
    sizes = [int(s) for s in args.sizes.split(",")]
    results: list[Size] = []
    spark_times: list[tuple[int, float]] = []
    for cases in sizes:
        folder = export(args.data, cases)
        size = Size(cases, _megabytes(folder))
        results.append(size)
        out = args.data / f"out-{cases}"
        out.mkdir(exist_ok=True)
        print(f"\n{cases:,} cases ({size.input_mb:,.0f} MB)", file=sys.stderr)
        if cases <= args.per_case_max:
            run, evaluation = per_case_run(folder, policy, out / "per-case.parquet")
            size.runs["per-case"], size.evaluation_only = run, evaluation
            print(f"  per-case {run.seconds:.1f} s", file=sys.stderr)
        else:
            rate = _last_rate(results, "per-case")
            minutes = f"about {cases / rate / 60:.0f} min, " if rate else ""
            size.runs["per-case"] = Run(
                note=f"not run ({minutes}and it holds the whole export in memory)"
            )
        size.runs["duckdb"] = command_run(folder, args.policy, "duckdb", out / "duckdb.parquet")
        size.parse_floor = parse_floor(folder)
        # Again, untimed, keeping the facts (a timed run of one chunk does not write them).
        command_run(folder, args.policy, "duckdb", out / "facts-run.parquet", keep_work=True)
        size.duckdb_evaluation = evaluation_only(policy, out / "facts-run.parquet")
        (out / "facts-run.parquet").unlink(missing_ok=True)
        print(f"  duckdb {size.runs['duckdb'].seconds:.1f} s", file=sys.stderr)
        predicted = _predict(spark_times, cases)
        if predicted is not None and predicted > args.spark_minutes * 60:
            size.runs["spark"] = Run(
                note=f"skipped: about {predicted / 60:.0f} min expected from the smaller sizes"
            )
        else:
            size.runs["spark"] = command_run(folder, args.policy, "spark", out / "spark.parquet")
            shutil.rmtree(out / "spark.parquet.work", ignore_errors=True)
            seconds = size.runs["spark"].seconds
            if seconds is not None:
                spark_times.append((cases, seconds))
            print(f"  spark {seconds:.1f} s", file=sys.stderr)
        ran = {k: r for k, r in size.runs.items() if r.table is not None}
        reference_name, reference = next(iter(ran.items()))
        problems = []
        for name, run in ran.items():
            if name != reference_name:
                assert reference.table is not None and run.table is not None
                problems += [f"{name}: {p}" for p in disagreements(reference.table, run.table)]
        names = " = ".join(ran)
        size.agreement = (
            f"{names}: identical on all {reference.requests:,} requests"
            if not problems
            else f"{names}: DIFFER: {problems[:5]}"
        )
        for run in size.runs.values():
            run.table = None
    facts_lines = [
        fact_population_agreement(p, args.fact_cases, spark=True)
        for p in (v.policy for v in policy_files.shipped())
    ]
    print(_markdown(results, policy, facts_lines))


def _predict(times: list[tuple[int, float]], cases: int) -> float | None:
    """Seconds expected at `cases` from the two largest sizes run (fixed cost + cost per case);
    None when fewer than two have run."""
    if len(times) < 2:
        return None
    (n1, t1), (n2, t2) = times[-2], times[-1]
    per_case = max((t2 - t1) / (n2 - n1), 0.0)
    return t2 + per_case * (cases - n2)


def _last_rate(results: list[Size], engine: str) -> float | None:
    for size in reversed(results):
        run = size.runs.get(engine)
        if run is not None and run.seconds:
            return size.cases / run.seconds
    return None


def _rate(count: int, seconds: float | None) -> str:
    return "—" if not seconds else f"{count / seconds:,.0f}/s"


def _markdown(results: list[Size], policy: Policy, facts_lines: list[str]) -> str:
    lines = [
        f"Policy {policy.id} {policy.version}; cases per second (requests per case ≈ 1.25); "
        "wall-clock seconds end to end from NDJSON on disk; memory = peak RSS of the process "
        "tree.\n",
        "| cases | NDJSON | per-case engine | DuckDB | Spark local | DuckDB ÷ per-case | "
        "evaluation only: per-case / DuckDB (ratio) | memory per-case / DuckDB / Spark | "
        "CPU s per-case / DuckDB / Spark (load as each began) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for number, size in enumerate(results):
        pc, duck, spark = (size.runs.get(k, Run()) for k in ("per-case", "duckdb", "spark"))

        def cell(run: Run, cases: int = size.cases) -> str:
            if run.seconds is None:
                return run.note or "—"
            return f"{_rate(cases, run.seconds)} ({run.seconds:,.1f} s)"

        ratio = "—"
        if pc.seconds and duck.seconds:
            ratio = f"{pc.seconds / duck.seconds:,.1f}×"
        elif duck.seconds:
            base = _last_rate(results[:number], "per-case")
            if base:
                rate = size.cases / duck.seconds
                ratio = f"{rate / base:,.1f}× (against the per-case rate of the size before)"
        memory = " / ".join(f"{r.peak_mb:,.0f} MB" if r.peak_mb else "—" for r in (pc, duck, spark))
        cpu = " / ".join(
            f"{r.cpu:,.1f} ({r.load:.1f})" if r.cpu is not None and r.load is not None else "—"
            for r in (pc, duck, spark)
        )
        evaluation = f"{_rate(size.cases, size.evaluation_only)} / "
        evaluation += f"{_rate(size.cases, size.duckdb_evaluation)}"
        if size.evaluation_only and size.duckdb_evaluation:
            evaluation += f" ({size.evaluation_only / size.duckdb_evaluation:,.1f}×)"
        lines.append(
            f"| {size.cases:,} | {size.input_mb:,.0f} MB | {cell(pc)} | {cell(duck)} | "
            f"{cell(spark)} | {ratio} | {evaluation} | {memory} | {cpu} |"
        )
    lines.append(
        "\nParsing the JSON alone (DuckDB, the batch's typed columns, held in memory, nothing "
        "else; in-process, so no start-up) — the floor under any DuckDB reading of the export:\n"
    )
    for size in results:
        if size.parse_floor is not None:
            floor_wall, floor_cpu = size.parse_floor
            lines.append(f"- {size.cases:,}: {floor_wall:,.1f} s ({floor_cpu:,.1f} s CPU)")
    lines.append("\nGrowth of cost with size (seconds, ratio to the size before):\n")
    for engine in ("per-case", "duckdb", "spark"):
        steps = []
        previous: float | None = None
        for size in results:
            seconds = size.runs.get(engine, Run()).seconds
            if seconds is None:
                continue
            growth = f" (×{seconds / previous:.1f})" if previous else ""
            steps.append(f"{size.cases:,}: {seconds:,.1f}{growth}")
            previous = seconds
        lines.append(f"- {engine}: " + ", ".join(steps))
    lines.append("\nAgreement (outcome, deciding rule, missing facts, every criterion):\n")
    lines += [f"- {size.cases:,} coded cases: {size.agreement}" for size in results]
    lines += [f"- {line}" for line in facts_lines]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
