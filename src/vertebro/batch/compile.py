"""Compile a policy's criterion trees and rules into one set-based SQL query.

The query reads a *facts table*: one row per case and requested procedure, one typed column per
fact (`fact_column`), NULL where the fact is unknown, and the date the case is assessed on
(`as_of`). It returns one row per input row with the outcome, the rule that decided it, the
facts whose answers could change an open outcome, and the status of every criterion as a
boolean column named by the criterion's id: TRUE met, FALSE not met, NULL unknown (or not
consulted: a procedure consults the trees its rules name, `Policy.trees_for`).

Why SQL NULL gives Kleene's logic exactly:

* A predicate is a comparison on its fact's column (`= TRUE`, `IN (...)`, `>=`, `<`, the day
  count to `as_of` divided by 7, or a count over a list of levels), and a comparison with NULL is
  NULL. Where an expression would not be NULL on its own (a count over a list, `array_contains`)
  it is wrapped in `CASE WHEN column IS NULL THEN NULL ELSE ... END`. So a predicate is NULL
  exactly when its fact is unknown, as in the evaluator.
* SQL's AND / OR / NOT over TRUE / FALSE / NULL are Kleene's strong conjunction, disjunction and
  negation: FALSE AND NULL is FALSE, TRUE OR NULL is TRUE, NOT NULL is NULL. An `all` node is the
  AND of its children's columns, an `any` node their OR, a `not` node the NOT of its child.
* Outcome resolution (`evaluator._resolve`) needs two-valued questions about three-valued
  columns, asked with COALESCE so that no NULL leaks in: a rule is *reached* when no earlier rule
  is met (`NOT coalesce(s, FALSE)` for each), it makes its outcome *possible* when reached and
  not failed (`coalesce(s, TRUE)`), and it is *open* when reached and unknown (`s IS NULL`). The
  outcome is settled when exactly one outcome is possible, else `insufficient-information`.
* Missing facts (`evaluator._missing`) are the unknown predicates reachable from an open rule's
  tree through unknown nodes only: for each predicate, the AND of `IS NULL` over its path from
  the root. They are listed in the evaluator's order (rule order, then depth first), each once.

The nodes are computed in layers by height, one `SELECT *, ...` per layer, so that every node is
computed once from its children's columns.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from vertebro.batch.dialect import Dialect, SqlType, string_literal
from vertebro.core.catalogue import CATALOGUE, Procedure
from vertebro.core.criteria import (
    AllOf,
    AnyOf,
    Criterion,
    Not,
    Predicate,
    Test,
    children,
    test_operator,
    walk,
)
from vertebro.core.facts import FactType
from vertebro.core.levels import ALL_LEVELS, Region
from vertebro.core.policy import Outcome, Policy, PolicyRef, Rule

FACT_SQL_TYPES: Mapping[FactType, SqlType] = {
    FactType.BOOLEAN: SqlType.BOOLEAN,
    FactType.CHOICE: SqlType.STRING,
    FactType.CHOICES: SqlType.STRING_LIST,
    FactType.NUMBER: SqlType.DOUBLE,
    FactType.DATE: SqlType.DATE,
    FactType.LEVELS: SqlType.STRING_LIST,
}

# The key columns every facts table has besides the fact columns.
KEY_COLUMNS: tuple[tuple[str, SqlType], ...] = (
    ("case_id", SqlType.STRING),
    ("request_no", SqlType.BIGINT),
    ("as_of", SqlType.DATE),
)

# Output columns before the criterion statuses, with their types.
RESULT_COLUMNS: tuple[tuple[str, SqlType], ...] = (
    ("case_id", SqlType.STRING),
    ("request_no", SqlType.BIGINT),
    ("procedure", SqlType.STRING),
    ("levels", SqlType.STRING_LIST),
    ("as_of", SqlType.DATE),
    ("policy_id", SqlType.STRING),
    ("policy_version", SqlType.STRING),
    ("policy_hash", SqlType.STRING),
    ("outcome", SqlType.STRING),
    ("decided_by", SqlType.STRING),
    ("missing", SqlType.STRING_LIST),
)

FALLBACK = "otherwise"  # `decided_by` when the fallback rule decided
PROCEDURE_FACT = "request.procedure"
LEVELS_FACT = "request.levels"

_REGION_LETTER: Mapping[Region, str] = {level.region: level.letter for level in ALL_LEVELS}


def fact_column(name: str) -> str:
    """The facts-table column of a fact: dots become double underscores."""
    return name.replace(".", "__")


def fact_columns() -> tuple[tuple[str, str, SqlType], ...]:
    """(fact name, column, type) for every catalogued fact, in catalogue order."""
    return tuple(
        (name, fact_column(name), FACT_SQL_TYPES[spec.type]) for name, spec in CATALOGUE.items()
    )


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A policy as one SQL query over a facts table, in one engine's dialect."""

    policy: PolicyRef
    dialect: Dialect
    criteria: tuple[str, ...]  # criterion ids, in the order of their status columns
    facts: tuple[str, ...]  # the facts the query reads
    template: str  # the query, with {facts} where the facts relation goes

    def sql(self, relation: str) -> str:
        """The query over `relation` (a table or view name, or `(SELECT ...) AS alias`)."""
        return self.template.replace("{facts}", relation)

    @property
    def columns(self) -> tuple[str, ...]:
        """The names of the result columns, in order."""
        return (*(name for name, _ in RESULT_COLUMNS), *self.criteria)


def compile_policy(policy: Policy, dialect: Dialect) -> CompiledPolicy:
    """Compile every criterion the policy's rules consult, and the rules, into one query."""
    return _Compiler(policy, dialect).compile()


class _Compiler:
    def __init__(self, policy: Policy, dialect: Dialect) -> None:
        self.policy = policy
        self.d = dialect
        self.proc = fact_column(PROCEDURE_FACT)
        # Trees each procedure consults, and every consulted node once, parents first.
        self.trees: dict[Procedure, tuple[Criterion, ...]] = {
            p: policy.trees_for(p) for p in Procedure
        }
        nodes: dict[str, Criterion] = {}
        for trees in self.trees.values():
            for tree in trees:
                for node in walk(tree):
                    nodes.setdefault(node.id, node)
        self.nodes = nodes
        self.users: dict[str, set[Procedure]] = {node_id: set() for node_id in nodes}
        for procedure, trees in self.trees.items():
            for tree in trees:
                for node in walk(tree):
                    self.users[node.id].add(procedure)

    def compile(self) -> CompiledPolicy:
        """The whole query: layers of criteria, the resolution, the output columns."""
        layers = self._layers()
        ctes = [f"l0 AS (\n  SELECT *,\n{_indent(layers[0])}\n  FROM {{facts}}\n)"]
        for height in range(1, len(layers)):
            ctes.append(
                f"l{height} AS (\n  SELECT *,\n{_indent(layers[height])}\n  FROM l{height - 1}\n)"
            )
        last = f"l{len(layers) - 1}"
        ctes.append(f"rs AS (\n  SELECT *,\n{_indent(self._resolution())}\n  FROM {last}\n)")
        ctes.append(f"fin AS (\n  SELECT *,\n{_indent([self._outcome()])}\n  FROM rs\n)")
        select = self._select()
        template = "WITH\n" + ",\n".join(ctes) + "\nSELECT\n" + _indent(select) + "\nFROM fin"
        facts = sorted(
            {n.fact for n in self.nodes.values() if isinstance(n, Predicate)} | {PROCEDURE_FACT}
        )
        return CompiledPolicy(self.policy.ref, self.d, tuple(self.nodes), tuple(facts), template)

    # --- criteria ---------------------------------------------------------------------------

    def _layers(self) -> list[list[str]]:
        heights: dict[str, int] = {}

        def height(node: Criterion) -> int:
            if node.id not in heights:
                kids = children(node)
                heights[node.id] = 1 + max(map(height, kids)) if kids else 0
            return heights[node.id]

        for node in self.nodes.values():
            height(node)
        top = max(heights.values(), default=0)
        layers: list[list[str]] = [[] for _ in range(top + 1)]
        for node_id, node in self.nodes.items():
            layers[heights[node_id]].append(f"{self._expr(node)} AS {_n(node_id)}")
        if not layers[0]:
            layers[0].append(f"{self.d.null(SqlType.BOOLEAN)} AS _no_criteria")
        return layers

    def _expr(self, node: Criterion) -> str:
        if isinstance(node, Predicate):
            return self._predicate(node.fact, node.test)
        if isinstance(node, AllOf):
            return (
                "(" + " AND ".join(_n(c.id) for c in node.children) + ")"
                if node.children
                else "TRUE"
            )
        if isinstance(node, AnyOf):
            return (
                "(" + " OR ".join(_n(c.id) for c in node.children) + ")"
                if node.children
                else "FALSE"
            )
        assert isinstance(node, Not)
        return f"(NOT {_n(node.child.id)})"

    def _predicate(self, fact: str, test: Test) -> str:
        col = fact_column(fact)
        op = test_operator(test)
        if test.is_ is not None:
            return f"({col} = {'TRUE' if test.is_ else 'FALSE'})"
        if test.in_ is not None:
            return f"({col} IN ({', '.join(map(string_literal, test.in_))}))"
        if test.includes is not None:
            spec = CATALOGUE[fact]
            terms = []
            for item in test.includes:
                # An item is present when it, or a value implying it, is in the set
                # (FactSpec.expand: one step of implication).
                sources = [item, *(v for v in spec.choices if item in spec.implies.get(v, ()))]
                alternatives = [f"array_contains({col}, {string_literal(s)})" for s in sources]
                terms.append("(" + " OR ".join(alternatives) + ")")
            return f"CASE WHEN {col} IS NULL THEN NULL ELSE ({' AND '.join(terms)}) END"
        if test.at_least is not None:
            return f"({col} >= {_number(test.at_least)})"
        if test.less_than is not None:
            return f"({col} < {_number(test.less_than)})"
        if test.weeks_at_least is not None or test.weeks_less_than is not None:
            days = self.d.days_between(col, "as_of")
            weeks = f"CAST({days} AS DOUBLE) / CAST(7 AS DOUBLE)"
            if test.weeks_at_least is not None:
                return f"({weeks} >= {_number(test.weeks_at_least)})"
            assert test.weeks_less_than is not None
            return f"({weeks} < {_number(test.weeks_less_than)})"
        regions = test.regions_all if test.regions_all is not None else test.regions_any
        assert regions is not None, op
        letters = ", ".join(string_literal(_REGION_LETTER[r]) for r in regions)
        in_regions = f"upper(substr(x, 1, 1)) IN ({letters})"
        if test.regions_all is not None:
            count = self.d.count_where(col, f"NOT ({in_regions})")
            return f"CASE WHEN {col} IS NULL THEN NULL ELSE {count} = 0 END"
        count = self.d.count_where(col, in_regions)
        return f"CASE WHEN {col} IS NULL THEN NULL ELSE {count} > 0 END"

    # --- rules ------------------------------------------------------------------------------

    def _rules(self, procedure: Procedure) -> Iterator[tuple[Rule, str, str | None]]:
        """Each reachable rule of a procedure with its `reached` condition and status column
        (None for the fallback); rules after the fallback can never be reached."""
        prior: list[str] = []
        for rule in self.policy.rules[procedure]:
            reached = " AND ".join(prior) if prior else "TRUE"
            if rule.when is None:
                yield rule, reached, None
                return
            status = _n(rule.when)
            yield rule, reached, status
            prior.append(f"NOT coalesce({status}, FALSE)")

    def _by_procedure(self, exprs: Mapping[Procedure, str], otherwise: str) -> str:
        if not exprs:
            return otherwise
        whens = " ".join(f"WHEN {string_literal(p.value)} THEN {e}" for p, e in exprs.items())
        return f"CASE {self.proc} {whens} ELSE {otherwise} END"

    def _resolution(self) -> list[str]:
        columns = []
        for outcome in Outcome:
            per_procedure: dict[Procedure, str] = {}
            for procedure in Procedure:
                possible = [
                    reached if status is None else f"({reached} AND coalesce({status}, TRUE))"
                    for rule, reached, status in self._rules(procedure)
                    if rule.outcome is outcome
                ]
                if possible:
                    per_procedure[procedure] = "(" + " OR ".join(possible) + ")"
            columns.append(f"{self._by_procedure(per_procedure, 'FALSE')} AS {_o(outcome)}")
        for tree_id in self._tree_ids():
            per_procedure = {}
            for procedure in Procedure:
                for rule, reached, status in self._rules(procedure):
                    if rule.when == tree_id:
                        per_procedure[procedure] = f"({reached} AND {status} IS NULL)"
                        break
            columns.append(f"{self._by_procedure(per_procedure, 'FALSE')} AS {_t(tree_id)}")
        for tree_id in self._tree_ids():
            for path in _predicate_paths(self.policy.criteria[tree_id]):
                nulls = " AND ".join(f"{_n(node.id)} IS NULL" for node in path)
                columns.append(f"({nulls}) AS {_u(path[-1].id)}")
        decided: dict[Procedure, str] = {}
        for procedure in Procedure:
            steps = []
            for rule, _, status in self._rules(procedure):
                if status is None or rule.when is None:
                    steps.append(f"WHEN TRUE THEN {string_literal(FALLBACK)}")
                else:
                    steps.append(f"WHEN {status} THEN {string_literal(rule.when)}")
                    steps.append(f"WHEN {status} IS NULL THEN {self.d.null(SqlType.STRING)}")
            if steps:
                decided[procedure] = "CASE " + " ".join(steps) + " ELSE NULL END"
        columns.append(f"{self._by_procedure(decided, self.d.null(SqlType.STRING))} AS _decided_by")
        return columns

    def _tree_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for procedure in Procedure:
            for rule, _, status in self._rules(procedure):
                if status is not None and rule.when is not None:
                    seen.setdefault(rule.when)
        return list(seen)

    def _outcome(self) -> str:
        count = " + ".join(f"CASE WHEN {_o(o)} THEN 1 ELSE 0 END" for o in Outcome)
        pick = " ".join(f"WHEN {_o(o)} THEN {string_literal(o.value)}" for o in Outcome)
        insufficient = string_literal(Outcome.INSUFFICIENT_INFORMATION.value)
        return f"CASE WHEN {count} = 1 THEN CASE {pick} END ELSE {insufficient} END AS _outcome"

    def _missing_items(self) -> dict[Procedure, list[tuple[str, str]]]:
        """Per procedure, the facts that may be missing in the evaluator's order, each with
        the condition (a column expression) under which it is listed, each fact once."""
        out: dict[Procedure, list[tuple[str, str]]] = {}
        for procedure in Procedure:
            entries: list[tuple[str, str]] = []
            seen_trees: set[str] = set()
            for rule, _, status in self._rules(procedure):
                if status is None or rule.when is None or rule.when in seen_trees:
                    continue
                seen_trees.add(rule.when)
                for path in _predicate_paths(self.policy.criteria[rule.when]):
                    predicate = path[-1]
                    assert isinstance(predicate, Predicate)
                    entries.append((predicate.fact, f"({_t(rule.when)} AND {_u(predicate.id)})"))
            items = []
            for index, (fact, condition) in enumerate(entries):
                earlier = [c for f, c in entries[:index] if f == fact]
                first = (
                    condition if not earlier else f"{condition} AND NOT ({' OR '.join(earlier)})"
                )
                items.append((first, fact))
            if items:
                out[procedure] = items
        return out

    def _missing(self) -> str:
        per_procedure = {
            procedure: self.d.names_where(entries)
            for procedure, entries in self._missing_items().items()
        }
        empty = self.d.string_array([])
        insufficient = string_literal(Outcome.INSUFFICIENT_INFORMATION.value)
        return (
            f"CASE WHEN _outcome = {insufficient} THEN {self._by_procedure(per_procedure, empty)}"
            f" ELSE {empty} END"
        )

    # --- output -----------------------------------------------------------------------------

    def _select(self) -> list[str]:
        ref = self.policy.ref
        q = self.d.quote
        out = [
            f"case_id AS {q('case_id')}",
            f"request_no AS {q('request_no')}",
            f"{self.proc} AS {q('procedure')}",
            f"{fact_column(LEVELS_FACT)} AS {q('levels')}",
            f"as_of AS {q('as_of')}",
            f"{string_literal(ref.id)} AS {q('policy_id')}",
            f"{string_literal(ref.version)} AS {q('policy_version')}",
            f"{string_literal(ref.hash)} AS {q('policy_hash')}",
            f"_outcome AS {q('outcome')}",
            f"_decided_by AS {q('decided_by')}",
            f"{self._missing()} AS {q('missing')}",
        ]
        everyone = set(Procedure)
        for node_id in self.nodes:
            status = _n(node_id)
            users = self.users[node_id]
            if users != everyone:
                procs = ", ".join(string_literal(p.value) for p in Procedure if p in users)
                status = f"CASE WHEN {self.proc} IN ({procs}) THEN {status} END"
            out.append(f"{status} AS {q(node_id)}")
        return out


def _predicate_paths(tree: Criterion) -> Iterator[tuple[Criterion, ...]]:
    """The path from the root to each predicate, depth first (the evaluator's visiting order)."""

    def visit(node: Criterion, path: tuple[Criterion, ...]) -> Iterator[tuple[Criterion, ...]]:
        path = (*path, node)
        if isinstance(node, Predicate):
            yield path
        for child in children(node):
            yield from visit(child, path)

    return visit(tree, ())


def _number(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"cannot compile the threshold {value!r}")
    return f"CAST({float(value)!r} AS DOUBLE)"


def _n(node_id: str) -> str:
    return "_n_" + node_id.replace("-", "_")


def _t(tree_id: str) -> str:
    return "_t_" + tree_id.replace("-", "_")


def _u(node_id: str) -> str:
    return "_u_" + node_id.replace("-", "_")


def _o(outcome: Outcome) -> str:
    return "_o_" + outcome.value.replace("-", "_")


def _indent(lines: list[str]) -> str:
    return ",\n".join("    " + line for line in lines)
