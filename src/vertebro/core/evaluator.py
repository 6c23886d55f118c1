"""Evaluate a policy against facts with Kleene logic, keeping a trace of every criterion."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from vertebro.core.catalogue import CATALOGUE, Procedure
from vertebro.core.criteria import AllOf, AnyOf, Criterion, Not, Predicate, apply_test, children
from vertebro.core.facts import Fact, FactSet, Provenance
from vertebro.core.levels import Level
from vertebro.core.policy import Outcome, Policy, PolicyRef, Requirement, Rule
from vertebro.core.tri import Tri, all_of, any_of


@dataclass(frozen=True, slots=True)
class ProcedureRequest:
    """One requested procedure and the levels it would treat (None when not stated)."""

    procedure: Procedure
    levels: tuple[Level, ...] | None = None
    evidence: tuple[Provenance, ...] = ()


@dataclass(frozen=True, slots=True)
class CriterionResult:
    """The status of one criterion node and the facts that decided it."""

    node: Criterion
    status: Tri
    evidence: tuple[Fact, ...]
    parent: str | None
    depth: int


@dataclass(frozen=True, slots=True)
class MissingFact:
    """An unknown fact whose answer could change the outcome, and the question that settles it."""

    fact: str
    question: str
    criteria: tuple[str, ...]  # the unknown criteria that test it


@dataclass(frozen=True, slots=True)
class RequirementResult:
    """A service or administrative requirement: whether it applies and whether it is satisfied.

    `applies` is TRUE when the requirement has no condition; `status` is None when there is
    nothing to evaluate (the requirement is an instruction to follow).
    """

    requirement: Requirement
    applies: Tri
    status: Tri | None
    evidence: tuple[Fact, ...]
    criteria: tuple[CriterionResult, ...]  # the trace of its condition and confirmation


@dataclass(frozen=True, slots=True)
class Determination:
    """The outcome for one requested procedure, with the full criterion trace."""

    procedure: Procedure
    outcome: Outcome
    decided_by: Rule | None  # the rule whose criterion was met, or the fallback; None if undecided
    criteria: tuple[CriterionResult, ...]
    missing: tuple[MissingFact, ...]
    requirements: tuple[RequirementResult, ...]
    request: ProcedureRequest


@dataclass(frozen=True, slots=True)
class Assessment:
    """Every determination for one case under one policy on one date."""

    policy: PolicyRef
    as_of: dt.date
    determinations: tuple[Determination, ...]


def assess(
    policy: Policy, facts: FactSet, requests: tuple[ProcedureRequest, ...], *, as_of: dt.date
) -> Assessment:
    """Assess each requested procedure. Pure: the date is an argument; no I/O happens here."""
    return Assessment(
        policy.ref,
        as_of,
        tuple(determine(policy, facts, request, as_of=as_of) for request in requests),
    )


# Facts every request supplies itself, so a test of them is never unknown.
ALWAYS_KNOWN = frozenset({"request.procedure"})


def request_facts(facts: FactSet, request: ProcedureRequest) -> FactSet:
    """The case's facts with the request's own procedure and levels laid over them."""
    overlay = [Fact("request.procedure", request.procedure.value, request.evidence)]
    if request.levels:
        overlay.append(Fact("request.levels", request.levels, request.evidence))
    return facts.with_facts(overlay)


def determine(
    policy: Policy, facts: FactSet, request: ProcedureRequest, *, as_of: dt.date
) -> Determination:
    """Evaluate the procedure's rules in order and resolve the outcome soundly under unknowns."""
    procedure = request.procedure
    facts = request_facts(facts, request)
    trace: list[CriterionResult] = []
    status_of: dict[str, Tri] = {}
    for tree in policy.trees_for(procedure):
        if tree.id not in status_of:
            _evaluate(tree, facts, as_of, trace, status_of, None, 0)

    outcome, decided_by, open_rules = _resolve(policy.rules[procedure], status_of)
    missing: tuple[MissingFact, ...] = ()
    if outcome is Outcome.INSUFFICIENT_INFORMATION:
        missing = _missing([policy.criteria[r.when] for r in open_rules if r.when], status_of)
    requirements = tuple(
        _requirement(req, facts, as_of)
        for req in policy.requirements
        if procedure in req.procedures
    )
    return Determination(
        procedure, outcome, decided_by, tuple(trace), missing, requirements, request
    )


@dataclass(frozen=True, slots=True)
class TreeResult:
    """One criterion tree evaluated on its own: status, evidence, trace and open questions."""

    status: Tri
    evidence: tuple[Fact, ...]
    trace: tuple[CriterionResult, ...]
    missing: tuple[MissingFact, ...]  # only when the status is unknown


def evaluate_tree(tree: Criterion, facts: FactSet, *, as_of: dt.date) -> TreeResult:
    """Evaluate one tree with the same Kleene walk as policies (the patient pathway uses it)."""
    trace: list[CriterionResult] = []
    status_of: dict[str, Tri] = {}
    status, evidence = _evaluate(tree, facts, as_of, trace, status_of, None, 0)
    missing = _missing([tree], status_of) if status is Tri.UNKNOWN else ()
    return TreeResult(status, evidence, tuple(trace), missing)


def _resolve(
    rules: tuple[Rule, ...], status_of: dict[str, Tri]
) -> tuple[Outcome, Rule | None, list[Rule]]:
    """First met rule wins. Unknown rules before it make every outcome they could give possible;
    the outcome is settled only when all possibilities agree."""
    possible: set[Outcome] = set()
    open_rules: list[Rule] = []
    decided: Rule | None = None
    for rule in rules:
        status = Tri.TRUE if rule.when is None else status_of[rule.when]
        if status is Tri.TRUE:
            possible.add(rule.outcome)
            decided = rule
            break
        if status is Tri.UNKNOWN:
            possible.add(rule.outcome)
            open_rules.append(rule)
    if len(possible) == 1:
        return possible.pop(), decided if not open_rules else None, open_rules
    return Outcome.INSUFFICIENT_INFORMATION, None, open_rules


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
        # The evidence of a composite is that of the children that agree with its verdict.
        target = status if not isinstance(node, Not) else statuses[0]
        evidence = _dedupe(f for s, ev in results if s is target for f in ev)
    trace.insert(slot, CriterionResult(node, status, evidence, parent, depth))
    status_of[node.id] = status
    return status, evidence


def _dedupe(facts: Iterable[Fact]) -> tuple[Fact, ...]:
    seen: dict[str, Fact] = {}
    for fact in facts:
        seen.setdefault(fact.name, fact)
    return tuple(seen.values())


def _missing(open_trees: list[Criterion], status_of: dict[str, Tri]) -> tuple[MissingFact, ...]:
    """Unknown facts reachable from the open rules through unknown nodes only: a node that is
    already met or not met cannot be changed by anything beneath it."""
    found: dict[str, list[str]] = {}

    def visit(node: Criterion) -> None:
        if status_of[node.id] is not Tri.UNKNOWN:
            return
        if isinstance(node, Predicate):
            found.setdefault(node.fact, []).append(node.id)
            return
        for child in children(node):
            visit(child)

    for tree in open_trees:
        visit(tree)
    return tuple(
        MissingFact(name, CATALOGUE[name].question, tuple(dict.fromkeys(ids)))
        for name, ids in found.items()
    )


def _requirement(req: Requirement, facts: FactSet, as_of: dt.date) -> RequirementResult:
    applies, status = Tri.TRUE, None
    evidence: tuple[Fact, ...] = ()
    trace: list[CriterionResult] = []
    if req.applies_when is not None:
        applies, evidence = _evaluate(req.applies_when, facts, as_of, trace, {}, None, 0)
    if req.confirm is not None:
        status, confirm_evidence = _evaluate(req.confirm, facts, as_of, trace, {}, None, 0)
        evidence = _dedupe((*evidence, *confirm_evidence))
    return RequirementResult(req, applies, status, evidence, tuple(trace))
