"""Properties of three-valued evaluation over the shipped policies.

1. Learning a fact never turns a met or not-met criterion into unknown, nor flips it.
2. An outcome reached with unknowns left is one the unknowns cannot change: every completion
   of the unknown facts gives the same outcome.
3. insufficient-information always comes with questions, and only unknown facts are asked.
4. With every fact known, the outcome is never insufficient-information.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vertebro.adapters import policy_files
from vertebro.core.catalogue import CATALOGUE, Procedure
from vertebro.core.criteria import Predicate
from vertebro.core.evaluator import Determination, ProcedureRequest, determine
from vertebro.core.facts import Fact, FactSet, FactType, FactValue
from vertebro.core.levels import ALL_LEVELS, Level
from vertebro.core.policy import Outcome, Policy
from vertebro.core.tri import Tri

AS_OF = dt.date(2026, 10, 1)
POLICIES: list[Policy] = [v.policy for v in policy_files.shipped()]


def _policy_facts(policy: Policy) -> list[str]:
    names = {node.fact for node in policy.nodes() if isinstance(node, Predicate)}
    return sorted(names - {"request.procedure"})


def value_for(name: str) -> st.SearchStrategy[FactValue]:
    spec = CATALOGUE[name]
    if spec.type is FactType.BOOLEAN:
        return st.booleans()
    if spec.type is FactType.CHOICE:
        return st.sampled_from(spec.choices)
    if spec.type is FactType.CHOICES:
        return st.frozensets(st.sampled_from(spec.choices))
    if spec.type is FactType.NUMBER:
        low, high = spec.minimum or 0.0, min(spec.maximum or 100.0, 100.0)
        # Include the thresholds the policies use, where off-by-one mistakes would hide.
        return st.one_of(st.sampled_from([5.0, 6.0, 7.0]), st.floats(low, high, allow_nan=False))
    if spec.type is FactType.DATE:
        return st.integers(-400, 5).map(lambda days: AS_OF + dt.timedelta(days=days))
    levels = [*ALL_LEVELS, Level.parse("sacrum")]
    return st.lists(st.sampled_from(levels), min_size=1, max_size=4).map(
        lambda xs: tuple(sorted(set(xs)))
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Policy, ProcedureRequest, dict[str, FactValue], list[str]]:
    """A policy, a request, a complete assignment of its facts, and which of them are hidden."""
    policy = draw(st.sampled_from(POLICIES))
    names = _policy_facts(policy)
    complete = {name: draw(value_for(name)) for name in names}
    hidden = draw(st.lists(st.sampled_from(names), unique=True))
    procedure = draw(st.sampled_from(list(Procedure)))
    return policy, ProcedureRequest(procedure), complete, hidden


def _facts(values: dict[str, FactValue], hidden: set[str]) -> FactSet:
    return FactSet(Fact(name, value) for name, value in values.items() if name not in hidden)


def _run(policy: Policy, request: ProcedureRequest, facts: FactSet) -> Determination:
    return determine(policy, facts, request, as_of=AS_OF)


def _statuses(det: Determination) -> dict[str, Tri]:
    return {r.node.id: r.status for r in det.criteria}


SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenarios(), st.data())
def test_learning_a_fact_never_unsettles_a_criterion(scenario, data) -> None:  # type: ignore[no-untyped-def]
    policy, request, complete, hidden = scenario
    if not hidden:
        return
    revealed = data.draw(st.sampled_from(hidden))
    before = _run(policy, request, _facts(complete, set(hidden)))
    after = _run(policy, request, _facts(complete, set(hidden) - {revealed}))
    after_status = _statuses(after)
    for node_id, status in _statuses(before).items():
        if status is not Tri.UNKNOWN:
            assert after_status[node_id] is status, node_id
    if before.outcome is not Outcome.INSUFFICIENT_INFORMATION:
        assert after.outcome is before.outcome


@SETTINGS
@given(scenarios(), st.data())
def test_settled_outcome_holds_for_every_completion(scenario, data) -> None:  # type: ignore[no-untyped-def]
    policy, request, complete, hidden = scenario
    partial = _run(policy, request, _facts(complete, set(hidden)))
    if partial.outcome is Outcome.INSUFFICIENT_INFORMATION:
        return
    # Fill the hidden facts with other values and check the outcome does not move.
    for _ in range(3):
        filled = dict(complete)
        for name in hidden:
            filled[name] = data.draw(value_for(name))
        assert _run(policy, request, _facts(filled, set())).outcome is partial.outcome


@SETTINGS
@given(scenarios())
def test_insufficient_information_asks_only_about_unknown_facts(scenario) -> None:  # type: ignore[no-untyped-def]
    policy, request, complete, hidden = scenario
    det = _run(policy, request, _facts(complete, set(hidden)))
    if det.outcome is Outcome.INSUFFICIENT_INFORMATION:
        assert det.missing
        assert {m.fact for m in det.missing} <= set(hidden)
        assert all(m.question for m in det.missing)
    else:
        assert det.missing == ()


@SETTINGS
@given(scenarios())
def test_complete_facts_always_decide(scenario) -> None:  # type: ignore[no-untyped-def]
    policy, request, complete, _ = scenario
    det = _run(policy, request, _facts(complete, set()))
    assert det.outcome is not Outcome.INSUFFICIENT_INFORMATION
    assert all(r.status is not Tri.UNKNOWN for r in det.criteria)


@SETTINGS
@given(scenarios())
def test_answering_every_question_can_settle_the_outcome(scenario) -> None:  # type: ignore[no-untyped-def]
    """The questions are enough: with them answered (other unknowns left), the outcome can settle
    for at least the complete answers drawn here."""
    policy, request, complete, hidden = scenario
    det = _run(policy, request, _facts(complete, set(hidden)))
    if det.outcome is not Outcome.INSUFFICIENT_INFORMATION:
        return
    asked = {m.fact for m in det.missing}
    answered = _run(policy, request, _facts(complete, set(hidden) - asked))
    # Answering can open new questions deeper in the tree, but never repeats an answered one.
    assert not ({m.fact for m in answered.missing} & asked)
