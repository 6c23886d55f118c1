"""`vertebro batch` end to end on DuckDB: agreement with the per-case engine, resuming after an
interruption, reusing facts for a changed policy, bad input, and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from vertebro.adapters import policy_files
from vertebro.batch import runner
from vertebro.batch.agreement import disagreements, expected_table, reader_cases
from vertebro.batch.compile import compile_policy
from vertebro.batch.dialect import DUCKDB
from vertebro.batch.engines import DuckDbEngine
from vertebro.batch.runner import BatchOptions, run_batch
from vertebro.batch.synthetic import AS_OF, coded_case, write_ndjson
from vertebro.cli import main

CASES = 300


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    write_ndjson(folder, CASES, seed=11)
    return folder


def _expected(policy_id: str) -> pa.Table:
    policy = policy_files.versions_of(policy_id)[-1].policy
    cases = reader_cases((coded_case(i, seed=11) for i in range(CASES)), AS_OF)
    return expected_table(policy, compile_policy(policy, DUCKDB), cases)


@pytest.mark.parametrize("policy_id", ["nice", "carefirst"])
def test_outcomes_and_statuses_match_the_per_case_engine(
    export: Path, tmp_path: Path, policy_id: str
) -> None:
    out = tmp_path / "results.parquet"
    result = run_batch(BatchOptions(export, policy_id, out, chunk_rows=100), today=AS_OF)
    actual = pq.read_table(out)
    assert disagreements(_expected(policy_id), actual) == []
    assert result.requests == actual.num_rows
    assert result.chunks == -(-actual.num_rows // 100)
    assert sum(sum(c.values()) for c in result.outcomes.values()) == actual.num_rows
    assert not out.with_name(out.name + ".work").exists()


def test_an_interrupted_run_resumes_without_evaluating_a_case_twice(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "results.parquet"
    options = BatchOptions(export, "nice", out, chunk_rows=60)
    written: list[str] = []
    original = DuckDbEngine.write_parquet

    def interrupted(self: DuckDbEngine, sql: str, path: Path, compress: bool = True) -> None:
        if path.name.startswith("part-"):
            if len(written) == 3:
                raise KeyboardInterrupt
            written.append(path.name)
        original(self, sql, path, compress)

    monkeypatch.setattr(DuckDbEngine, "write_parquet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_batch(options, today=AS_OF)
    work = out.with_name(out.name + ".work")
    assert not out.exists()
    assert (work / "facts.parquet").exists()
    done = sorted(p.name for p in (work / "chunks").glob("part-*.parquet"))
    assert done == sorted(w.removesuffix(".tmp") for w in written)
    assert not list((work / "chunks").glob("*.tmp"))  # no half-written chunk survives

    monkeypatch.setattr(DuckDbEngine, "write_parquet", original)
    evaluated: list[str] = []

    def counting(self: DuckDbEngine, sql: str, path: Path, compress: bool = True) -> None:
        evaluated.append(path.name)
        original(self, sql, path, compress)

    monkeypatch.setattr(DuckDbEngine, "write_parquet", counting)
    monkeypatch.setattr(runner, "read_bulk", _no_reading)
    result = run_batch(options, today=AS_OF)
    assert result.read is None  # the facts were not read again
    assert result.chunks_reused == 3
    assert len([e for e in evaluated if e.startswith("part-")]) == result.chunks - 3
    actual = pq.read_table(out)
    assert disagreements(_expected("nice"), actual) == []
    keys = list(zip(actual["case_id"].to_pylist(), actual["request_no"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys))


def _no_reading(*_: object, **__: object) -> None:
    raise AssertionError("the facts should have been reused")


def test_a_run_of_one_chunk_evaluates_from_memory_and_starts_again_if_interrupted(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "results.parquet"
    written: list[str] = []
    original = DuckDbEngine.write_parquet

    def interrupted(self: DuckDbEngine, sql: str, path: Path, compress: bool = True) -> None:
        written.append(path.name)
        if path.name.startswith("part-"):
            raise KeyboardInterrupt
        original(self, sql, path, compress)

    monkeypatch.setattr(DuckDbEngine, "write_parquet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_batch(BatchOptions(export, "nice", out), today=AS_OF)
    assert written == ["part-00000.parquet.tmp"]  # the facts were not written to disk
    assert not out.exists()

    monkeypatch.setattr(DuckDbEngine, "write_parquet", original)
    result = run_batch(BatchOptions(export, "nice", out), today=AS_OF)
    assert result.read is not None  # read again: there was nothing to resume from
    assert (result.chunks, result.chunks_reused) == (1, 0)
    assert disagreements(_expected("nice"), pq.read_table(out)) == []
    assert not out.with_name(out.name + ".work").exists()


def test_a_changed_policy_reuses_the_facts_and_evaluates_again(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "results.parquet"
    run_batch(BatchOptions(export, "nice", out, keep_work=True), today=AS_OF)
    monkeypatch.setattr(runner, "read_bulk", _no_reading)
    result = run_batch(BatchOptions(export, "carefirst", out, keep_work=True), today=AS_OF)
    assert result.chunks_reused == 0
    assert result.policy_id == "carefirst"
    assert disagreements(_expected("carefirst"), pq.read_table(out)) == []
    manifest = json.loads((out.with_name(out.name + ".work") / "manifest.json").read_text())
    assert manifest["results"]["policy"]["id"] == "carefirst"


def test_cli_summarises_and_refuses_bad_input_writing_nothing(export: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.parquet"
    cli = CliRunner()
    done = cli.invoke(
        main, ["batch", str(export), "--policy", "nice", "--out", str(out), "--as-of", "2026-10-01"]
    )
    assert done.exit_code == 0, done.output
    assert "sacroplasty" in done.output and "insufficient" in done.output
    assert f"wrote {out}" in done.output
    assert set(pq.read_table(out).column("as_of").to_pylist()) == {AS_OF}

    bad = tmp_path / "bad"
    bad.mkdir()
    lines = (export / "Patient.ndjson").read_text().splitlines()
    lines[4] = lines[4][:20]
    (bad / "Patient.ndjson").write_text("\n".join(lines) + "\n")
    (bad / "Claim.ndjson").write_text((export / "Claim.ndjson").read_text())
    bad_out = tmp_path / "bad.parquet"
    refused = cli.invoke(main, ["batch", str(bad), "--policy", "nice", "--out", str(bad_out)])
    assert refused.exit_code == 2
    assert f"{bad / 'Patient.ndjson'}:5: not valid JSON" in refused.output
    assert "nothing written" in refused.output
    assert not bad_out.exists() and not bad_out.with_name("bad.parquet.work").exists()
    skipped = cli.invoke(
        main, ["batch", str(bad), "--policy", "nice", "--out", str(bad_out), "--skip-bad"]
    )
    assert skipped.exit_code == 0, skipped.output
    assert "skipped 1 bad line" in skipped.output

    missing = cli.invoke(
        main,
        [
            "batch",
            str(tmp_path / "bad.parquet"),
            "--policy",
            "nice",
            "--out",
            str(tmp_path / "x.parquet"),
        ],
    )
    assert missing.exit_code == 2
