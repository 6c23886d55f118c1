"""The compiled policy on DuckDB agrees with the per-case evaluator, cell for cell.

Populations come from `synthetic.fact_cases` (every combination of unknown facts of each rule's
tree, then random ones, with values on and around the thresholds) and from hypothesis.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import replace

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vertebro.adapters import policy_files
from vertebro.batch.agreement import disagreements, duckdb_evaluate, expected_table
from vertebro.batch.compile import compile_policy
from vertebro.batch.dialect import DUCKDB
from vertebro.batch.facts_table import CaseFacts, facts_table
from vertebro.batch.synthetic import AS_OF, fact_cases, policy_facts, unknown_masks
from vertebro.core.catalogue import CATALOGUE, Procedure
from vertebro.core.criteria import AllOf, AnyOf, Not, Predicate, walk
from vertebro.core.criteria import Test as CriterionTest
from vertebro.core.evaluator import ProcedureRequest, determine
from vertebro.core.facts import Fact, FactSet, FactType, FactValue
from vertebro.core.levels import ALL_LEVELS, Level, Region
from vertebro.core.policy import Outcome, Policy, Rule
from vertebro.core.tri import Tri, all_of, any_of

POLICIES: list[Policy] = [v.policy for v in policy_files.shipped()]


def _agree(policy: Policy, cases: list[CaseFacts]) -> pa.Table:
    compiled = compile_policy(policy, DUCKDB)
    expected = expected_table(policy, compiled, cases)
    actual = duckdb_evaluate(policy, cases)
    assert disagreements(expected, actual) == []
    return actual


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.id)
def test_population_agrees_and_covers_every_unknown_combination(policy: Policy) -> None:
    masks = unknown_masks(policy)
    count = len(masks) + 1500
    cases = fact_cases(policy, count, seed=7)
    result = _agree(policy, cases)
    # The first cases leave each combination of each tree's facts unknown.
    hidden = [
        frozenset(n for n in policy_facts(policy) if case.facts.value(n) is None)
        for case in cases[: len(masks)]
    ]
    assert hidden == masks
    # Every criterion is met, not met and unknown (if it can be) somewhere; every outcome
    # occurs.
    seen: dict[str, set[Tri]] = {}
    for case in cases:
        for request in case.requests:
            det = determine(policy, case.facts, request, as_of=case.as_of)
            for r in det.criteria:
                seen.setdefault(r.node.id, set()).add(r.status)
    nodes = {node.id: node for node in policy.nodes()}
    for node_id in compile_policy(policy, DUCKDB).criteria:
        facts = {n.fact for n in walk(nodes[node_id]) if isinstance(n, Predicate)}
        can_be_unknown = bool(facts - {"request.procedure"})
        assert seen[node_id] == {t for t in Tri if can_be_unknown or t is not Tri.UNKNOWN}, node_id
    assert set(result.column("outcome").to_pylist()) == {o.value for o in Outcome}


def _value(name: str) -> st.SearchStrategy[FactValue]:
    spec = CATALOGUE[name]
    if spec.type is FactType.BOOLEAN:
        return st.booleans()
    if spec.type is FactType.CHOICE:
        return st.sampled_from(spec.choices)
    if spec.type is FactType.CHOICES:
        return st.frozensets(st.sampled_from(spec.choices))
    if spec.type is FactType.NUMBER:
        return st.one_of(
            st.sampled_from([0.0, 5.9, 6.0, 6.000001, 7.0]), st.floats(0, 100, allow_nan=False)
        )
    if spec.type is FactType.DATE:
        return st.integers(-30, 400).map(lambda days: AS_OF - dt.timedelta(days=days))
    levels = [*ALL_LEVELS, Level.parse("sacrum")]
    return st.lists(st.sampled_from(levels), max_size=4).map(lambda xs: tuple(sorted(set(xs))))


@st.composite
def _cases(draw: st.DrawFn, policy: Policy) -> list[CaseFacts]:
    cases = []
    for index in range(draw(st.integers(1, 20))):
        facts = FactSet(
            Fact(name, draw(_value(name))) for name in policy_facts(policy) if draw(st.booleans())
        )
        procedures = draw(st.lists(st.sampled_from(list(Procedure)), min_size=1, max_size=3))
        requests = tuple(ProcedureRequest(p, draw(st.none() | _levels())) for p in procedures)
        as_of = AS_OF + dt.timedelta(days=draw(st.integers(-3, 3)))
        cases.append(CaseFacts(f"h{index}", facts, requests, as_of))
    return cases


def _levels() -> st.SearchStrategy[tuple[Level, ...]]:
    pool = [*ALL_LEVELS, Level.parse("sacrum")]
    return st.lists(st.sampled_from(pool), min_size=1, max_size=3).map(
        lambda xs: tuple(sorted(set(xs)))
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(POLICIES).flatmap(lambda p: st.tuples(st.just(p), _cases(p))))
def test_hypothesis_populations_agree(drawn: tuple[Policy, list[CaseFacts]]) -> None:
    policy, cases = drawn
    _agree(policy, cases)


# --- The Kleene tables and each operator, one node at a time --------------------------------

_TRI = {Tri.TRUE: True, Tri.FALSE: False, Tri.UNKNOWN: None}


def test_sql_and_or_not_are_kleene() -> None:
    con = duckdb.connect()
    for a, b in itertools.product(Tri, repeat=2):
        x, y = _TRI[a], _TRI[b]
        row = con.execute(
            "SELECT CAST(? AS BOOLEAN) AND CAST(? AS BOOLEAN), "
            "CAST(? AS BOOLEAN) OR CAST(? AS BOOLEAN), NOT CAST(? AS BOOLEAN)",
            [x, y, x, y, x],
        ).fetchone()
        assert row == (_TRI[all_of((a, b))], _TRI[any_of((a, b))], _TRI[~a])


def _single(node: Predicate | AllOf | AnyOf | Not, values: dict[str, FactValue | None]) -> str:
    """The status the compiled SQL gives a one-tree policy's root, checked against the
    evaluator on the same facts."""
    policy = POLICIES[0]
    tree = AllOf("t-root", "root", (), None, (node,))
    rules = {
        p: (Rule(Outcome.MEETS_CRITERIA, "t-root"), Rule(Outcome.DOES_NOT_MEET_CRITERIA, None))
        for p in Procedure
    }
    single = replace(policy, criteria={"t-root": tree}, rules=rules, requirements=())
    facts = FactSet(Fact(n, v) for n, v in values.items() if v is not None)
    case = CaseFacts("one", facts, (ProcedureRequest(Procedure.VERTEBROPLASTY),), AS_OF)
    result = _agree(single, [case])
    return {True: "met", False: "not-met", None: "unknown"}[result.column(node.id)[0].as_py()]


def _predicate(fact: str, **test: object) -> Predicate:
    return Predicate("t-p", "p", (), None, fact, CriterionTest(**test))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("members", "status"),
    [
        (None, "unknown"),
        (frozenset(), "not-met"),
        (frozenset({"spinal-surgeon"}), "not-met"),
        (frozenset({"interventional-radiologist", "spinal-surgeon"}), "met"),  # implies radiologist
        (frozenset({"neuroradiologist", "spinal-surgeon", "other"}), "met"),
        (frozenset({"radiologist", "spinal-surgeon"}), "met"),
    ],
)
def test_includes_follows_implications(members: frozenset[str] | None, status: str) -> None:
    node = _predicate("mdt.members", includes=("radiologist", "spinal-surgeon"))
    assert _single(node, {"mdt.members": members}) == status


@pytest.mark.parametrize(
    ("levels", "regions_all", "regions_any"),
    [
        (None, "unknown", "unknown"),
        ((), "met", "not-met"),  # Python's all() and any() of nothing
        ((Level.parse("T12"), Level.parse("L1")), "met", "not-met"),
        ((Level.parse("L5"), Level.parse("sacrum")), "not-met", "met"),
        ((Level.parse("S1"),), "not-met", "met"),
    ],
)
def test_regions_over_a_list_of_levels(
    levels: tuple[Level, ...] | None, regions_all: str, regions_any: str
) -> None:
    every = _predicate("request.levels", regions_all=(Region.THORACIC, Region.LUMBAR))
    some = _predicate("request.levels", regions_any=(Region.SACRAL,))
    assert _single(every, {"request.levels": levels}) == regions_all
    assert _single(some, {"request.levels": levels}) == regions_any


@pytest.mark.parametrize("days", [None, 0, 41, 42, 43, -7])
def test_weeks_are_whole_days_over_seven_against_as_of(days: int | None) -> None:
    onset = None if days is None else AS_OF - dt.timedelta(days=days)
    at_least = _predicate("fracture.onset_date", weeks_at_least=6.0)
    under = _predicate("fracture.onset_date", weeks_less_than=6.0)
    if days is None:
        expected = ("unknown", "unknown")
    else:
        expected = ("met", "not-met") if days / 7 >= 6 else ("not-met", "met")
    statuses = tuple(_single(n, {"fracture.onset_date": onset}) for n in (at_least, under))
    assert statuses == expected


@pytest.mark.parametrize("value", [None, 5.999999, 6.0, 6.0000001])
def test_number_thresholds(value: float | None) -> None:
    node = _predicate("conservative_treatment.duration_weeks", at_least=6.0)
    expected = "unknown" if value is None else ("met" if value >= 6 else "not-met")
    assert _single(node, {"conservative_treatment.duration_weeks": value}) == expected


def test_not_keeps_unknown_and_in_is_not_fooled_by_null() -> None:
    inner = _predicate("fracture.aetiology", in_=("osteoporotic", "myeloma"))
    node = Not("t-not", "not", (), None, inner)
    assert _single(node, {"fracture.aetiology": None}) == "unknown"
    assert _single(node, {"fracture.aetiology": "myeloma"}) == "not-met"
    assert _single(node, {"fracture.aetiology": "traumatic"}) == "met"


def test_facts_table_has_a_typed_column_per_fact() -> None:
    table = facts_table([])
    assert table.num_rows == 0
    assert table.schema.field("mdt__members").type == pa.list_(pa.string())
    assert table.schema.field("fracture__onset_date").type == pa.date32()
    assert table.schema.field("pain__score").type == pa.float64()
