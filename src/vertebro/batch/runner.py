"""A batch run: bulk FHIR in, one row per case and request out, resumable, with progress.

The run keeps its work in a folder beside the output (`<out>.work/`):

* `facts.parquet`: the facts table, written once the whole input has been read and checked
  (nothing is written before: a bad line stops the run with nothing on disk), when the run has
  several chunks or the work is kept. A run of one chunk evaluates the facts as they are made:
  there is nothing to resume but that one chunk, and an interrupted run starts again;
* `chunks/part-NNNNN.parquet`: the results of the cases whose id falls in bucket N, each
  written under a temporary name and renamed when complete (a rename is atomic), so an
  interrupted run never leaves half a chunk;
* `manifest.json`: what the work was made from. A later run on the same input (same files,
  sizes and times) reuses the facts; with the same policy text and engine it also keeps the
  finished chunks and evaluates only the rest. The buckets are disjoint and every row of the
  facts table falls in one, so no case is evaluated twice or lost; the merge checks that the
  chunks hold exactly as many rows as the facts table.

The output (the one chunk, copied, or the chunks merged) is written under a temporary name
and renamed; the work folder is then removed (unless kept).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from vertebro.adapters import policy_files
from vertebro.adapters.errors import InputError
from vertebro.batch.bulk import ReadReport, discover, read_bulk
from vertebro.batch.compile import compile_policy
from vertebro.batch.dialect import EngineName, string_literal
from vertebro.batch.engines import DuckDbEngine, Engine, InputFile, SparkEngine
from vertebro.batch.extract import RunDates
from vertebro.core.policy import Policy

MANIFEST_VERSION = 1
# Requests per chunk. A chunk is a few seconds of evaluation (the compiled policy runs at
# about half a million requests a second per core), so an interruption loses little; one
# chunk is the output itself, and several are merged (decoded and encoded again) at the end.
DEFAULT_CHUNK_ROWS = 2_000_000


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """What to run: input, policy, output and how."""

    input: Path
    policy: str
    out: Path
    engine: EngineName = "duckdb"
    as_of: dt.date | None = None
    skip_bad: bool = False
    keep_work: bool = False
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)


@dataclass
class BatchResult:
    """What a run did."""

    out: Path
    policy_id: str
    policy_version: str
    requests: int
    cases: int
    read: ReadReport | None  # None when the facts were reused from an earlier run
    chunks: int
    chunks_reused: int
    outcomes: dict[str, dict[str, int]]  # procedure -> outcome -> requests
    seconds: float


class Display:
    """Where a run reports progress (the command line shows bars; tests ignore it)."""

    def reading(self, done: int, total: int, label: str) -> None:
        """A step of reading the input."""

    def documents(self, done: int, total: int) -> None:
        """Documents read by the note reader."""

    def evaluating(self, done: int, total: int) -> None:
        """Requests evaluated so far."""

    def note(self, message: str) -> None:
        """A line worth telling the user."""


def run_batch(
    options: BatchOptions, display: Display | None = None, today: dt.date | None = None
) -> BatchResult:
    """Run a batch: read (or reuse) the facts, evaluate the chunks not yet done, merge.

    Raises:
        FileNotFoundError: the input holds nothing to read.
        bulk.BadInputError: bad lines and not `skip_bad` (nothing written).
        InputError: the policy is unknown, or not in effect on the cases' dates.
    """
    show = display or Display()
    started = time.perf_counter()
    files = discover(options.input)
    work = options.out.with_name(options.out.name + ".work")
    fingerprint = _fingerprint(files)
    manifest = _read_manifest(work)
    day = today or dt.date.today()
    facts_key = {
        "version": MANIFEST_VERSION,
        "input": fingerprint,
        "as_of": options.as_of.isoformat() if options.as_of else None,
        "skip_bad": options.skip_bad,
    }
    reuse = manifest is not None and manifest.get("facts") == facts_key
    if manifest is not None and not reuse:
        show.note(f"{work}: made from other input or options; starting again")
        shutil.rmtree(work, ignore_errors=True)
        manifest = None
    if reuse and manifest is not None:
        day = dt.date.fromisoformat(manifest["today"])  # the run is as of the day it began
    dates = RunDates(options.as_of, day)
    facts_path = work / "facts.parquet"

    with _engine(options.engine, options.workers) as engine:
        read: ReadReport | None = None
        if not reuse or not facts_path.exists():
            read = read_bulk(
                engine,
                files,
                dates=dates,
                skip_bad=options.skip_bad,
                workers=options.workers,
                progress=show.reading,
                document_progress=show.documents,
            )
            requests, days = read.requests, read.as_of_dates
            chunks = max(1, math.ceil(requests / max(1, options.chunk_rows)))
            # The chunk of each row is fixed with the facts: a resumed run splits the same.
            bucket = engine.dialect.bucket("case_id", chunks)
            engine.view("facts_all", f"SELECT *, {bucket} AS chunk FROM facts")
            if chunks > 1 or options.keep_work:
                # Worth resuming from (or kept to evaluate again): made once, written, and
                # the chunks read from the file. A single chunk is evaluated straight from
                # the view; interrupted, the input is read again.
                (work / "chunks").mkdir(parents=True, exist_ok=True)
                _commit(facts_path, _writer(engine, "SELECT * FROM facts_all"))
                engine.read_parquet("facts_all", facts_path)
            manifest = {
                "facts": facts_key,
                "today": day.isoformat(),
                "chunks": chunks,
                "results": None,
            }
            _write_manifest(work, manifest)
        else:
            show.note(f"reusing the facts read earlier ({facts_path})")
            engine.read_parquet("facts_all", facts_path)
            requests = pq.ParquetFile(facts_path).metadata.num_rows
            days = {d for (d,) in engine.rows("SELECT DISTINCT as_of FROM facts_all")}
        assert manifest is not None
        chunks = int(manifest["chunks"])
        policy = _policy(options.policy, days, day)
        results_key = {"policy": asdict(policy.ref), "engine": options.engine}
        chunk_dir = work / "chunks"
        if manifest.get("results") != results_key:
            shutil.rmtree(chunk_dir, ignore_errors=True)
            manifest["results"] = results_key
            _write_manifest(work, manifest)
        chunk_dir.mkdir(parents=True, exist_ok=True)
        compiled = compile_policy(policy, engine.dialect)
        done_rows, reused = 0, 0
        parts = [chunk_dir / f"part-{k:05d}.parquet" for k in range(chunks)]
        for part in parts:
            if part.exists():
                reused += 1
                done_rows += pq.ParquetFile(part).metadata.num_rows
        show.evaluating(done_rows, requests)
        for number, part in enumerate(parts):
            if part.exists():
                continue
            rows = "facts_all" if chunks == 1 else f"facts_all WHERE chunk = {number}"
            query = compiled.sql(f"(SELECT * FROM {rows}) AS src")
            _commit(part, _writer(engine, query))
            done_rows += pq.ParquetFile(part).metadata.num_rows
            show.evaluating(done_rows, requests)
    outcomes, cases = _merge(parts, options.out, requests)
    if not options.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return BatchResult(
        options.out,
        policy.id,
        policy.version,
        requests,
        cases,
        read,
        chunks,
        reused,
        outcomes,
        time.perf_counter() - started,
    )


@contextmanager
def _engine(name: EngineName, workers: int) -> Iterator[Engine]:
    if name == "spark":
        spark = SparkEngine()
        try:
            yield spark
        finally:
            spark.close()
        return
    with tempfile.TemporaryDirectory(prefix="vertebro-duckdb-") as temp:
        duck = DuckDbEngine(Path(temp), threads=workers)
        try:
            yield duck
        finally:
            duck.close()


def _policy(name: str, days: set[dt.date], today: dt.date) -> Policy:
    """The one policy version in effect on every case's as-of date.

    Raises:
        InputError: the policy is unknown, no version is in effect on some date, or the cases'
            dates fall under different versions (run them with --as-of, or split the input).
    """
    days = {d for d in days if isinstance(d, dt.date)} or {today}
    found: dict[str, Policy] = {}
    for day in sorted(days):
        policy = policy_files.resolve(name, day)
        found.setdefault(policy.ref.hash, policy)
    if len(found) > 1:
        versions = ", ".join(sorted(p.version for p in found.values()))
        raise InputError(
            "--policy",
            f"the cases' dates fall under different versions of {name} ({versions}); "
            "give --as-of, or split the input by date",
        )
    return next(iter(found.values()))


def _fingerprint(files: list[InputFile]) -> list[dict[str, Any]]:
    out = []
    for item in files:
        stat = os.stat(item.path)
        out.append({"path": item.path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    return out


def _read_manifest(work: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((work / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_manifest(work: Path, manifest: dict[str, Any]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    _commit(
        work / "manifest.json",
        lambda tmp: tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8"),
    )


def _writer(engine: Engine, query: str, compress: bool = True) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        engine.write_parquet(query, path, compress=compress)

    return write


def _commit(path: Path, write: Callable[[Path], object]) -> None:
    """Write a file under a temporary name beside it, then rename it into place."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    write(tmp)
    os.replace(tmp, path)


def _merge(parts: list[Path], out: Path, expected: int) -> tuple[dict[str, dict[str, int]], int]:
    """Concatenate the chunks into the output (with DuckDB, whichever engine evaluated);
    the outcome counts per procedure, and the number of cases.

    Raises:
        RuntimeError: the chunks do not hold exactly one row per request of the facts table.
    """
    import duckdb

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    files = "[" + ", ".join(string_literal(str(p)) for p in parts) + "]"
    con = duckdb.connect()
    try:
        con.execute(f"CREATE VIEW results AS SELECT * FROM read_parquet({files})")
        found = con.execute("SELECT count(*), count(DISTINCT case_id) FROM results").fetchone()
        total, cases = found if found else (0, 0)
        if total != expected:
            raise RuntimeError(f"the chunks hold {total} rows, the facts table {expected}")
        rows = con.execute(
            "SELECT procedure, outcome, count(*) FROM results GROUP BY procedure, outcome"
        ).fetchall()
        if len(parts) == 1:  # the chunk is the output: copy it rather than encode it again
            shutil.copyfile(parts[0], tmp)
        else:
            con.execute(
                f"COPY (SELECT * FROM results) TO {string_literal(str(tmp))} "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
    finally:
        con.close()
    os.replace(tmp, out)
    counts: dict[str, dict[str, int]] = {}
    for procedure, outcome, count in rows:
        counts.setdefault(str(procedure), {})[str(outcome)] = int(count)
    return counts, int(cases)
