"""Run the pathway's safety and suitability checks: each passes, fails or is unknown."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from vertebro.core.catalogue import CATALOGUE
from vertebro.core.criteria import AllOf, AnyOf, Criterion, Not, Predicate, apply_test, children
from vertebro.core.evaluator import CriterionResult, MissingFact
from vertebro.core.facts import Fact, FactSet
from vertebro.core.pathway.model import Check, FailAction, Pathway
from vertebro.core.tri import Tri, all_of, any_of


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A check's status (TRUE passes, FALSE fails), its trace, evidence and open questions."""

    check: Check
    status: Tri
    trace: tuple[CriterionResult, ...]
    evidence: tuple[Fact, ...]
    missing: tuple[MissingFact, ...]  # unknown facts that could settle an unknown check


class Readiness(StrEnum):
    """Where the checks leave the patient, most serious first."""

    URGENT_SPINAL_REVIEW = "urgent-spinal-review"
    NOT_SUITABLE = "not-suitable"
    RESOLVE_FIRST = "resolve-first"
    TO_CONFIRM = "to-confirm"
    READY = "ready"


_READINESS_OF_FAILURE = {
    FailAction.URGENT_SPINAL_REVIEW: Readiness.URGENT_SPINAL_REVIEW,
    FailAction.NOT_SUITABLE: Readiness.NOT_SUITABLE,
    FailAction.RESOLVE_FIRST: Readiness.RESOLVE_FIRST,
    FailAction.PLAN_ACCOMMODATIONS: Readiness.READY,  # go ahead, with arrangements made
}
_SEVERITY = list(Readiness)


def run_checks(pathway: Pathway, facts: FactSet, *, as_of: dt.date) -> tuple[CheckResult, ...]:
    """Evaluate every check. Pure: `as_of` (the procedure date) dates any test on weeks."""
    return tuple(run_check(check, facts, as_of=as_of) for check in pathway.checks)


def run_check(check: Check, facts: FactSet, *, as_of: dt.date) -> CheckResult:
    """Evaluate one check's tree with Kleene logic; an undocumented fact leaves it unknown."""
    trace: list[CriterionResult] = []
    status_of: dict[str, Tri] = {}
    status, evidence = _evaluate(check.pass_when, facts, as_of, trace, status_of, None, 0)
    missing = _missing(check.pass_when, status_of) if status is Tri.UNKNOWN else ()
    return CheckResult(check, status, tuple(trace), evidence, missing)


def readiness(results: Iterable[CheckResult]) -> Readiness:
    """The most serious consequence among the checks: a failure's action, else unknowns."""
    found = [Readiness.READY]
    for result in results:
        if result.status is Tri.FALSE:
            found.append(_READINESS_OF_FAILURE[result.check.fail_action])
        elif result.status is Tri.UNKNOWN:
            found.append(Readiness.TO_CONFIRM)
    return min(found, key=_SEVERITY.index)


def _evaluate(
    node: Criterion,
    facts: FactSet,
    as_of: dt.date,
    trace: list[CriterionResult],
    status_of: dict[str, Tri],
    parent: str | None,
    depth: int,
) -> tuple[Tri, tuple[Fact, ...]]:
    slot = len(trace)  # the node goes before its children in the trace
    if isinstance(node, Predicate):
        fact = facts.get(node.fact)
        if fact is None or fact.value is None:
            status = Tri.UNKNOWN
        else:
            status = Tri.of(apply_test(node.fact, node.test, fact.value, as_of))
        evidence: tuple[Fact, ...] = () if fact is None else (fact,)
    else:
        results = [
            _evaluate(child, facts, as_of, trace, status_of, node.id, depth + 1)
            for child in children(node)
        ]
        statuses = [s for s, _ in results]
        if isinstance(node, AllOf):
            status = all_of(statuses)
        elif isinstance(node, AnyOf):
            status = any_of(statuses)
        else:
            assert isinstance(node, Not)
            status = ~statuses[0]
        # A composite's evidence is that of the children that agree with its verdict.
        target = statuses[0] if isinstance(node, Not) else status
        evidence = _dedupe(f for s, ev in results if s is target for f in ev)
    trace.insert(slot, CriterionResult(node, status, evidence, parent, depth))
    status_of[node.id] = status
    return status, evidence


def _dedupe(facts: Iterable[Fact]) -> tuple[Fact, ...]:
    seen: dict[str, Fact] = {}
    for fact in facts:
        seen.setdefault(fact.name, fact)
    return tuple(seen.values())


def _missing(tree: Criterion, status_of: dict[str, Tri]) -> tuple[MissingFact, ...]:
    """Unknown facts reachable through unknown nodes: a settled node cannot change."""
    found: dict[str, list[str]] = {}

    def visit(node: Criterion) -> None:
        if status_of[node.id] is not Tri.UNKNOWN:
            return
        if isinstance(node, Predicate):
            found.setdefault(node.fact, []).append(node.id)
            return
        for child in children(node):
            visit(child)

    visit(tree)
    return tuple(
        MissingFact(name, CATALOGUE[name].question, tuple(dict.fromkeys(ids)))
        for name, ids in found.items()
    )
