"""Agreement between the per-case evaluator and a batch engine, row by row and column by column.

`expected_table` runs `vertebro.core.evaluator.determine` on every case and writes its answers in
the batch result layout (`compile.RESULT_COLUMNS` plus one status column per criterion), so the
two can be compared as tables: same outcome, same deciding rule, same missing facts in the same
order, and the same status for every criterion (TRUE met, FALSE not met, NULL unknown, and
NULL where the procedure does not consult it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import duckdb
import pyarrow as pa

from vertebro.adapters.fhir import read_fhir
from vertebro.batch.compile import FALLBACK, RESULT_COLUMNS, CompiledPolicy, compile_policy
from vertebro.batch.dialect import DUCKDB
from vertebro.batch.facts_table import ARROW_TYPES, CaseFacts, facts_table, to_cell
from vertebro.batch.synthetic import Resource, bundle
from vertebro.core.evaluator import Determination, determine, request_facts
from vertebro.core.policy import Policy
from vertebro.core.tri import Tri

KEYS = ("case_id", "request_no")
_BOOLEAN = {Tri.TRUE: True, Tri.FALSE: False, Tri.UNKNOWN: None}


def duckdb_evaluate(policy: Policy, facts: pa.Table | Sequence[CaseFacts]) -> pa.Table:
    """The compiled policy run by an in-memory DuckDB over a facts table (or these cases)."""
    table = facts if isinstance(facts, pa.Table) else facts_table(facts)
    con = duckdb.connect()
    try:
        con.register("facts", table)
        return con.sql(compile_policy(policy, DUCKDB).sql("facts")).to_arrow_table()
    finally:
        con.close()


def reader_cases(cases: Iterable[list[Resource]], today: dt.date) -> list[CaseFacts]:
    """The per-case FHIR reader's reading of each case (its resources as one bundle), dated as
    `vertebro assess` would date it (the request's date, else `today`); cases without a
    request are left out, as the batch leaves them out."""
    out = []
    for resources in cases:
        case_id = str(resources[0]["id"])
        case = read_fhir(bundle(resources), case_id, default_id=case_id, as_of=today).case
        if case.requests:
            out.append(CaseFacts(case_id, case.facts, case.requests, case.request_date or today))
    return out


def result_schema(compiled: CompiledPolicy) -> pa.Schema:
    """The Arrow schema of a result table for a compiled policy."""
    fields = [pa.field(name, ARROW_TYPES[kind]) for name, kind in RESULT_COLUMNS]
    fields += [pa.field(node_id, pa.bool_()) for node_id in compiled.criteria]
    return pa.schema(fields)


def record(det: Determination) -> dict[str, object]:
    """The outcome part of a determination as batch result cells (no keys, no policy)."""
    decided = det.decided_by
    cells: dict[str, object] = {
        "outcome": det.outcome.value,
        "decided_by": None if decided is None else (decided.when or FALLBACK),
        "missing": [m.fact for m in det.missing],
    }
    cells.update({r.node.id: _BOOLEAN[r.status] for r in det.criteria})
    return cells


def expected_table(
    policy: Policy, compiled: CompiledPolicy, cases: Iterable[CaseFacts]
) -> pa.Table:
    """What the per-case evaluator says about every request, in the batch result layout."""
    schema = result_schema(compiled)
    columns: dict[str, list[object]] = {name: [] for name in schema.names}
    ref = policy.ref
    for case in cases:
        for number, request in enumerate(case.requests):
            det = determine(policy, case.facts, request, as_of=case.as_of)
            cells = record(det)
            levels = to_cell(request_facts(case.facts, request).value("request.levels"))
            row: dict[str, object] = {
                "case_id": case.case_id,
                "request_no": number,
                "procedure": request.procedure.value,
                "levels": levels,
                "as_of": case.as_of,
                "policy_id": ref.id,
                "policy_version": ref.version,
                "policy_hash": ref.hash,
                **cells,
            }
            for name in schema.names:
                columns[name].append(row.get(name))
    return pa.table([pa.array(columns[f.name], type=f.type) for f in schema], schema=schema)


def disagreements(expected: pa.Table, actual: pa.Table, limit: int = 10) -> list[str]:
    """Where two result tables differ, described (at most `limit` cells); [] when identical.

    Both are sorted by (case_id, request_no) first, so row order does not matter.
    """
    problems: list[str] = []
    if expected.num_rows != actual.num_rows:
        problems.append(f"rows: expected {expected.num_rows}, got {actual.num_rows}")
    missing_cols = [c for c in expected.column_names if c not in actual.column_names]
    if missing_cols:
        problems.append(f"columns missing from the batch result: {missing_cols}")
    if problems:
        return problems
    order = [(key, "ascending") for key in KEYS]
    left = expected.sort_by(order)
    right = actual.select(expected.column_names).sort_by(order)
    for name in expected.column_names:
        a = left.column(name).combine_chunks()
        b = right.column(name).combine_chunks().cast(a.type)
        if a.equals(b):
            continue
        values_a, values_b = a.to_pylist(), b.to_pylist()
        for index, (x, y) in enumerate(zip(values_a, values_b, strict=True)):
            if x != y:
                key = f"{left.column('case_id')[index]}#{left.column('request_no')[index]}"
                problems.append(f"{key} {name}: evaluator {x!r}, batch {y!r}")
                if len(problems) >= limit:
                    return problems
    return problems
