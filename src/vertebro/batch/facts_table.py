"""The facts table as Arrow: its schema, and rows built from cases already read into facts.

One row per case and requested procedure; one column per catalogued fact (`compile.fact_column`),
NULL when unknown; `request.procedure` and `request.levels` carry the request laid over the
case's facts exactly as the evaluator does (`evaluator.request_facts`). Values are stored as:
booleans, strings (a choice), sorted lists of strings (a set of choices), doubles, dates, and
lists of level names ('T12', 'sacrum') in spinal order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyarrow as pa

from vertebro.batch.compile import KEY_COLUMNS, fact_columns
from vertebro.batch.dialect import SqlType
from vertebro.core.evaluator import ProcedureRequest, request_facts
from vertebro.core.facts import FactSet, FactValue
from vertebro.core.levels import Level

ARROW_TYPES: Mapping[SqlType, pa.DataType] = {
    SqlType.BOOLEAN: pa.bool_(),
    SqlType.DOUBLE: pa.float64(),
    SqlType.DATE: pa.date32(),
    SqlType.STRING: pa.string(),
    SqlType.STRING_LIST: pa.list_(pa.string()),
    SqlType.BIGINT: pa.int64(),
    SqlType.BIGINT_LIST: pa.list_(pa.int64()),
}


def facts_schema() -> pa.Schema:
    """The Arrow schema of a facts table: the key columns, then every fact column."""
    fields = [pa.field(name, ARROW_TYPES[kind]) for name, kind in KEY_COLUMNS]
    fields += [pa.field(column, ARROW_TYPES[kind]) for _, column, kind in fact_columns()]
    return pa.schema(fields)


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """One case as the batch sees it: an id, its facts, its requests and its as-of date."""

    case_id: str
    facts: FactSet
    requests: tuple[ProcedureRequest, ...]
    as_of: dt.date


def to_cell(value: FactValue | None) -> object:
    """A fact value as the facts table stores it (None stays None)."""
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return [str(level) for level in sorted(value) if isinstance(level, Level)]
    return value


def facts_table(cases: Iterable[CaseFacts]) -> pa.Table:
    """The facts table of these cases: one row per request, numbered from 0 within its case."""
    schema = facts_schema()
    columns: dict[str, list[object]] = {name: [] for name in schema.names}
    facts_by_column = [(name, column) for name, column, _ in fact_columns()]
    for case in cases:
        for number, request in enumerate(case.requests):
            facts = request_facts(case.facts, request)
            columns["case_id"].append(case.case_id)
            columns["request_no"].append(number)
            columns["as_of"].append(case.as_of)
            for name, column in facts_by_column:
                columns[column].append(to_cell(facts.value(name)))
    return pa.table([pa.array(columns[f.name], type=f.type) for f in schema], schema=schema)
