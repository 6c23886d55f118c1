"""Spark (local mode) gives what DuckDB and the per-case engine give.

One test, one Spark session (about a minute on two cores): the dialect's functions on NULLs
and empty arrays, the compiled policies over generated fact populations, and `vertebro batch`
with --engine spark on NDJSON and bundles together (the bundles of test_fidelity: urn:uuid
references, contained resources, PAS requestedService, narrative and Binaries).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from vertebro.adapters import policy_files
from vertebro.adapters.fhir import read_fhir
from vertebro.batch import bulk
from vertebro.batch.agreement import disagreements, expected_table, reader_cases
from vertebro.batch.compile import compile_policy
from vertebro.batch.dialect import DUCKDB, SPARK, Dialect, SqlType
from vertebro.batch.engines import local_session
from vertebro.batch.facts_table import CaseFacts, facts_table
from vertebro.batch.runner import BatchOptions, run_batch
from vertebro.batch.synthetic import AS_OF, coded_case, fact_cases, write_ndjson

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java")

SAMPLE = """
SELECT * FROM (VALUES
  (1, CAST(NULL AS {list}), CAST(NULL AS DATE), CAST(NULL AS BOOLEAN)),
  (2, {empty}, DATE '2026-08-20', TRUE),
  (3, {three}, DATE '2026-10-01', FALSE)
) AS t(k, l, d, b)
"""


def _probe(dialect: Dialect) -> list[str]:
    """Expressions of the dialect over the sample rows."""
    return [
        dialect.count_where("l", "upper(substr(x, 1, 1)) IN ('T', 'L')"),
        f"CASE WHEN l IS NULL THEN NULL ELSE {dialect.count_where('l', 'TRUE')} = 0 END",
        dialect.compact(dialect.string_array(["CASE WHEN b THEN 'x' END", "'y'"])),
        dialect.days_between("d", dialect.date_literal("2026-10-01")),
        "array_contains(l, 'L1')",
        f"{dialect.add_days('d', '3')}",
        "coalesce(b, TRUE) AND NOT coalesce(b, FALSE)",
        # The names whose condition holds, unknown counting as not: [], ['x', 'y'], ['y'].
        dialect.names_where([("b", "x"), ("k > 1", "y"), ("b AND k = 1", "z")]),
        dialect.field(
            dialect.parse_json_or_null(
                "CASE k WHEN 1 THEN 'not json' WHEN 2 THEN '{\"v\": 7}' END", {"v": SqlType.BIGINT}
            ),
            "v",
        ),
        dialect.field(
            dialect.struct({"n": "k", "t": dialect.transform("l", "e", "lower(e)")}), "t"
        ),
    ]


def _rows(run: Any, dialect: Dialect) -> list[tuple[object, ...]]:
    sample = SAMPLE.format(
        list=dialect.type(SqlType.STRING_LIST),
        empty=dialect.string_array([]),
        three=dialect.string_array(["'T12'", "'L1'", "'sacrum'"]),
    )
    columns = ", ".join(f"{e} AS c{i}" for i, e in enumerate(_probe(dialect)))
    return [tuple(r) for r in run(f"SELECT k, {columns} FROM ({sample}) AS s ORDER BY k")]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    yield local_session(cores=2)


def test_spark_agrees_with_duckdb_and_the_per_case_engine(
    spark: Any,
    tmp_path: Path,
    fidelity_bundles: dict[str, dict[str, Any]],
    fake_note_reader: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    duck = duckdb.connect()
    on_duckdb = _rows(lambda q: duck.execute(q).fetchall(), DUCKDB)
    assert _rows(lambda q: spark.sql(q).collect(), SPARK) == on_duckdb
    # names_where, JSON parsed or NULL, a struct of a transformed array: as meant, not only alike.
    assert [row[-3:] for row in on_duckdb] == [
        ([], None, None),
        (["x", "y"], 7, []),
        (["y"], None, ["t12", "l1", "sacrum"]),
    ]

    for version in policy_files.shipped():
        policy = version.policy
        cases = fact_cases(policy, 300, seed=5)
        path = tmp_path / f"{policy.id}-facts.parquet"
        pq.write_table(facts_table(cases), path)
        spark.read.parquet(str(path)).createOrReplaceTempView("facts")
        compiled = compile_policy(policy, SPARK)
        spark.sql(compiled.sql("facts")).coalesce(1).write.parquet(str(tmp_path / policy.id))
        actual = pq.read_table(tmp_path / policy.id)
        expected = expected_table(policy, compile_policy(policy, DUCKDB), cases)
        assert disagreements(expected, actual) == [], policy.id

    export = tmp_path / "export"
    write_ndjson(export, 120, seed=17)
    bundles = {k: fidelity_bundles[k] for k in ("pas-uuid-no-ids", "document-sacroplasty")}
    for stem, data in bundles.items():
        (export / f"{stem}.json").write_text(json.dumps(data), encoding="utf-8")
    real = bulk.read_bulk
    monkeypatch.setattr(
        "vertebro.batch.runner.read_bulk",
        lambda *a, **k: real(*a, **{**k, "note_reader": fake_note_reader}),
    )
    out = tmp_path / "spark.parquet"
    result = run_batch(BatchOptions(export, "nice", out, engine="spark", workers=1), today=AS_OF)
    policy = policy_files.versions_of("nice")[-1].policy
    cases = reader_cases((coded_case(i, seed=17) for i in range(120)), AS_OF)
    for stem, data in bundles.items():
        read = read_fhir(data, stem, default_id=stem, as_of=AS_OF, note_reader=fake_note_reader)
        case = read.case
        cases.append(CaseFacts(case.id, case.facts, case.requests, case.request_date or AS_OF))
    expected = expected_table(policy, compile_policy(policy, DUCKDB), cases)
    assert disagreements(expected, pq.read_table(out)) == []
    assert result.requests == expected.num_rows
