"""The few places where DuckDB SQL and Spark SQL spell the same thing differently.

Everything else the compiler emits is common SQL whose meaning is the same on both engines:
AND / OR / NOT / IN / comparisons / CASE / COALESCE with the standard three-valued NULL logic,
`array_contains`, `substr`, `upper`, `concat_ws`. What differs is only spelling: array
literals, lambdas, the day count between two dates, identifier quoting, type names and the
lateral join that unnests an array. `tests/batch/test_spark.py` runs them on both engines and
checks they agree, NULLs and empty arrays included.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal, Union

EngineName = Literal["duckdb", "spark"]

# The shape of JSON to parse: a SqlType for a scalar, a mapping for an object, a one-element
# list for an array of that shape.
JsonShape = Union["SqlType", Mapping[str, "JsonShape"], list["JsonShape"]]


class SqlType(Enum):
    """The column types the batch tables use."""

    BOOLEAN = "boolean"
    DOUBLE = "double"
    DATE = "date"
    STRING = "string"
    STRING_LIST = "string[]"
    BIGINT = "bigint"
    BIGINT_LIST = "bigint[]"


_DUCKDB_TYPES = {
    SqlType.BOOLEAN: "BOOLEAN",
    SqlType.DOUBLE: "DOUBLE",
    SqlType.DATE: "DATE",
    SqlType.STRING: "VARCHAR",
    SqlType.STRING_LIST: "VARCHAR[]",
    SqlType.BIGINT: "BIGINT",
    SqlType.BIGINT_LIST: "BIGINT[]",
}
_SPARK_TYPES = {
    SqlType.BOOLEAN: "BOOLEAN",
    SqlType.DOUBLE: "DOUBLE",
    SqlType.DATE: "DATE",
    SqlType.STRING: "STRING",
    SqlType.STRING_LIST: "ARRAY<STRING>",
    SqlType.BIGINT: "BIGINT",
    SqlType.BIGINT_LIST: "ARRAY<BIGINT>",
}


def string_literal(text: str) -> str:
    """A SQL string literal; single quotes doubled, which both engines accept.

    Raises:
        ValueError: the text holds a backslash or a control character, which the two engines
            read differently inside literals (policy values and fact names never do).
    """
    if "\\" in text or any(ord(ch) < 32 for ch in text):
        raise ValueError(f"cannot write {text!r} as a portable SQL literal")
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one engine spells the non-portable pieces. Use `DUCKDB` or `SPARK`."""

    name: EngineName

    def type(self, sql_type: SqlType) -> str:
        """The engine's name for a column type."""
        return (_DUCKDB_TYPES if self.name == "duckdb" else _SPARK_TYPES)[sql_type]

    def null(self, sql_type: SqlType) -> str:
        """A typed NULL."""
        return f"CAST(NULL AS {self.type(sql_type)})"

    def quote(self, identifier: str) -> str:
        """A quoted identifier (for output columns named by criterion ids, which hold '-')."""
        if self.name == "duckdb":
            return '"' + identifier.replace('"', '""') + '"'
        return "`" + identifier.replace("`", "``") + "`"

    def string_array(self, items: Sequence[str]) -> str:
        """An array of strings from SQL expressions (may be empty)."""
        if not items:
            empty = "[]" if self.name == "duckdb" else "array()"
            return f"CAST({empty} AS {self.type(SqlType.STRING_LIST)})"
        joined = ", ".join(items)
        return f"list_value({joined})" if self.name == "duckdb" else f"array({joined})"

    def compact(self, array: str) -> str:
        """The array without its NULL elements, order kept."""
        if self.name == "duckdb":
            return f"list_filter({array}, lambda x: x IS NOT NULL)"
        return f"filter({array}, x -> x IS NOT NULL)"

    def names_where(self, entries: Sequence[tuple[str, str]]) -> str:
        """The names whose condition holds, in order: `entries` are (condition, a boolean SQL
        expression; name, a plain string); [] when none. DuckDB masks the names' array with
        the conditions (`list_where`), far cheaper per row than compacting an array with a
        lambda."""
        if self.name == "duckdb" and entries:
            names = self.string_array([string_literal(name) for _, name in entries])
            mask = ", ".join(f"coalesce({condition}, FALSE)" for condition, _ in entries)
            return f"list_where({names}, list_value({mask}))"
        chosen = [f"CASE WHEN {condition} THEN {string_literal(n)} END" for condition, n in entries]
        return self.compact(self.string_array(chosen))

    def transform(self, array: str, var: str, expr: str) -> str:
        """Each element of an array (as `var`) mapped by `expr`."""
        if self.name == "duckdb":
            return f"list_transform({array}, lambda {var}: {expr})"
        return f"transform({array}, {var} -> {expr})"

    def struct(self, fields: Mapping[str, str]) -> str:
        """A struct of named expressions."""
        if self.name == "duckdb":
            return f"struct_pack({', '.join(f'{self.quote(k)} := {v}' for k, v in fields.items())})"
        pairs = ", ".join(f"{string_literal(k)}, {v}" for k, v in fields.items())
        return f"named_struct({pairs})"

    def count_where(self, array: str, predicate: str) -> str:
        """How many elements of a non-NULL array satisfy `predicate`, written over the variable
        `x`. Used instead of exists/forall, whose empty-array results differ between engines."""
        if self.name == "duckdb":
            return f"len(list_filter({array}, lambda x: {predicate}))"
        return f"size(filter({array}, x -> {predicate}))"

    def first_where(self, array: str, predicate: str) -> str:
        """The first element of an array satisfying `predicate` (over the variable `x`; it may
        name columns of the row); NULL when none does."""
        if self.name == "duckdb":
            return f"list_filter({array}, lambda x: {predicate})[1]"
        return f"try_element_at(filter({array}, x -> {predicate}), 1)"

    def days_between(self, start: str, end: str) -> str:
        """Whole days from date `start` to date `end` (negative when end is earlier)."""
        if self.name == "duckdb":
            return f"date_diff('day', {start}, {end})"
        return f"datediff({end}, {start})"

    def date_literal(self, iso: str) -> str:
        """A DATE literal from 'YYYY-MM-DD'."""
        return f"DATE {string_literal(iso)}"

    def exploded(
        self,
        source: str,
        keep: str,
        array: str,
        column: str,
        position: str | None = None,
    ) -> str:
        """A derived table (in parentheses) of `source` (a table with its alias): the select
        list `keep`, and one row per element of `array` as `column`, with its `position` (in
        the array's order) when asked. Rows whose array is NULL or empty give no row.

        The elements are produced in the select list (DuckDB's `unnest`, Spark's `explode`):
        a lateral join over a DuckDB table is dozens of times slower.
        """
        if self.name == "duckdb":
            items = f"unnest({array}) AS {column}"
            if position:
                items += f", generate_subscripts({array}, 1) AS {position}"
        elif position:
            items = f"posexplode({array}) AS ({position}, {column})"
        else:
            items = f"explode({array}) AS {column}"
        return f"(SELECT {keep}, {items} FROM {source})"

    def regex_match(self, text: str, pattern: str) -> str:
        """TRUE when the regular expression `pattern` (a SQL string) matches part of `text`."""
        if self.name == "duckdb":
            return f"regexp_matches({text}, {pattern})"
        return f"({text} RLIKE {pattern})"

    def bucket(self, text: str, buckets: int) -> str:
        """A stable bucket number 0..buckets-1 for a string (for chunking work)."""
        if self.name == "duckdb":
            return f"CAST(hash({text}) % {buckets} AS BIGINT)"
        return f"CAST(pmod(xxhash64({text}), {buckets}) AS BIGINT)"

    def add_days(self, day: str, days: str) -> str:
        """The date `days` (an integer expression) after `day`."""
        if self.name == "duckdb":
            return f"CAST({day} + CAST({days} AS INTEGER) AS DATE)"
        return f"date_add({day}, CAST({days} AS INT))"

    def any_value(self, value: str) -> str:
        """An aggregate: some non-NULL value of the group (NULL when there is none)."""
        return f"any_value({value})" if self.name == "duckdb" else f"first({value}, true)"

    def sorted_set(self, value: str) -> str:
        """An aggregate: the distinct non-NULL values of the group, sorted; NULL when none."""
        if self.name == "duckdb":
            return f"list_sort(list(DISTINCT {value}) FILTER (WHERE {value} IS NOT NULL))"
        return f"CASE WHEN count({value}) = 0 THEN NULL ELSE array_sort(collect_set({value})) END"

    def bit_set(self, positions: str) -> str:
        """An aggregate: the set of the group's non-NULL positions (0-62) as the bits of a
        BIGINT; NULL when there is none. Far cheaper than collecting a sorted list."""
        if self.name == "duckdb":
            return f"bit_or(CAST(1 AS BIGINT) << {positions})"
        return f"bit_or(shiftleft(CAST(1 AS BIGINT), CAST({positions} AS INT)))"

    def pick_bits(self, names: Sequence[str], bits: str) -> str:
        """The names whose 1-based position is a bit set in `bits` (a BIGINT from `bit_set`), in
        order; [] for 0, NULL for NULL."""
        table = self.string_array([string_literal(n) for n in names])
        count = len(names)
        if self.name == "duckdb":
            chosen = f"list_filter(range(1, {count + 1}), lambda p: ({bits} >> p) & 1 = 1)"
            return f"list_transform({chosen}, lambda p: {table}[p])"
        chosen = f"filter(sequence(1, {count}), p -> (shiftright({bits}, p) & 1) = 1)"
        return f"transform({chosen}, p -> element_at({table}, p))"

    def json_valid(self, text: str) -> str:
        """TRUE when the text is one JSON value (in the engine's parser's judgement)."""
        if self.name == "duckdb":
            return f"json_valid({text})"
        return f"(try_parse_json({text}) IS NOT NULL)"

    def json_string(self, text: str, key: str) -> str:
        """The value of a top-level key of a JSON object as text (call only on valid JSON)."""
        path = string_literal(f"$.{key}")
        if self.name == "duckdb":
            return f"json_extract_string({text}, {path})"
        return f"get_json_object({text}, {path})"

    def parse_json(self, text: str, shape: Mapping[str, JsonShape]) -> str:
        """The text parsed into a struct of this shape; elements of another shape read as NULL
        (Spark) or are converted where they can be (DuckDB turns numbers into strings)."""
        if self.name == "duckdb":
            return f"json_transform({text}, {string_literal(json.dumps(_duck_shape(shape)))})"
        return f"from_json({text}, {string_literal(_spark_fields(shape))})"

    def parse_json_or_null(self, text: str, shape: Mapping[str, JsonShape]) -> str:
        """`parse_json`, NULL when the text is not valid JSON. DuckDB parses once (`TRY` turns
        its error into NULL) rather than checking with `json_valid` and parsing again."""
        if self.name == "duckdb":
            return f"TRY({self.parse_json(text, shape)})"
        return f"CASE WHEN {self.json_valid(text)} THEN {self.parse_json(text, shape)} END"

    def hash_key(self, value: str) -> str:
        """A 63-bit hash of a value (a struct), as BIGINT; NULL stays NULL. The lookups are
        keyed by it: a few hundred distinct concepts make a collision vanishingly unlikely."""
        if self.name == "duckdb":
            return (
                f"CASE WHEN {value} IS NULL THEN NULL ELSE CAST(hash({value}) >> 1 AS BIGINT) END"
            )
        return f"CASE WHEN {value} IS NULL THEN NULL ELSE xxhash64({value}) END"

    def field(self, base: str, *names: str) -> str:
        """`base.name1.name2`, each name quoted (FHIR has elements called class, end, use)."""
        return base + "".join("." + self.quote(name) for name in names)


def _duck_shape(shape: JsonShape) -> object:
    if isinstance(shape, SqlType):
        return _DUCKDB_TYPES[shape]
    if isinstance(shape, list):
        return [_duck_shape(shape[0])]
    return {key: _duck_shape(value) for key, value in shape.items()}


def duckdb_type(shape: JsonShape) -> str:
    """The DuckDB type of a JSON shape, as written in a CREATE TABLE or read_json columns."""
    if isinstance(shape, SqlType):
        return _DUCKDB_TYPES[shape]
    if isinstance(shape, list):
        return duckdb_type(shape[0]) + "[]"
    fields = ", ".join(f'"{key}" {duckdb_type(value)}' for key, value in shape.items())
    return f"STRUCT({fields})"


def _spark_type(shape: JsonShape) -> str:
    if isinstance(shape, SqlType):
        return _SPARK_TYPES[shape]
    if isinstance(shape, list):
        return f"ARRAY<{_spark_type(shape[0])}>"
    return f"STRUCT<{_spark_fields(shape, ': ')}>"


def _spark_fields(shape: Mapping[str, JsonShape], separator: str = " ") -> str:
    return ", ".join(f"`{key}`{separator}{_spark_type(value)}" for key, value in shape.items())


DUCKDB = Dialect("duckdb")
SPARK = Dialect("spark")


def dialect(name: EngineName) -> Dialect:
    """The dialect of an engine by name."""
    return DUCKDB if name == "duckdb" else SPARK
