"""Cases as facts: populations covering every combination of unknown facts (`fact_cases`)."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Sequence

from vertebro.batch.facts_table import CaseFacts
from vertebro.batch.synthetic.base import AS_OF
from vertebro.core.catalogue import CATALOGUE, Procedure
from vertebro.core.criteria import (
    AllOf,
    Criterion,
    Not,
    Predicate,
    Test,
    apply_test,
    children,
    walk,
)
from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import Fact, FactSet, FactType, FactValue
from vertebro.core.levels import ALL_LEVELS, Level
from vertebro.core.policy import Policy

# --- Cases as facts ---------------------------------------------------------------------------


def policy_facts(policy: Policy) -> list[str]:
    """The facts a policy's criteria test, the request's procedure excepted (it is always known)."""
    names = {n.fact for n in policy.nodes() if isinstance(n, Predicate)}
    return sorted(names - {"request.procedure"})


def unknown_masks(policy: Policy, fact_limit: int = 0) -> list[frozenset[str]]:
    """Sets of facts to leave unknown, deduplicated, that together cover:

    * at every criterion of every rule's tree, every combination of its sub-criteria being
      unknown (the facts under the chosen sub-criteria hidden, the others known);
    * for trees testing at most `fact_limit` facts, every combination of those facts.
    """
    seen: dict[frozenset[str], None] = {frozenset(): None}
    for rules in policy.rules.values():
        for rule in rules:
            if rule.when is None:
                continue
            tree = policy.criteria[rule.when]
            for node in walk(tree):
                parts = [_facts_under(child) for child in children(node)]
                for size in range(1, len(parts) + 1):
                    for chosen in itertools.combinations(parts, size):
                        seen.setdefault(frozenset().union(*chosen))
            names = sorted(_facts_under(tree))
            if len(names) <= fact_limit:
                for size in range(1, len(names) + 1):
                    for subset in itertools.combinations(names, size):
                        seen.setdefault(frozenset(subset))
    return list(seen)


def _facts_under(node: Criterion) -> frozenset[str]:
    """The facts a criterion tests, the request's procedure excepted (it is always known)."""
    return frozenset(
        n.fact for n in walk(node) if isinstance(n, Predicate) and n.fact != "request.procedure"
    )


def thresholds(policy: Policy) -> dict[str, list[float]]:
    """The numbers each number or date fact is compared with in the policy."""
    found: dict[str, list[float]] = {}
    for node in policy.nodes():
        if isinstance(node, Predicate):
            test = node.test
            for value in (test.at_least, test.less_than, test.weeks_at_least, test.weeks_less_than):
                if value is not None:
                    found.setdefault(node.fact, []).append(value)
    return found


def random_value(name: str, rng: random.Random, limits: Sequence[float] = ()) -> FactValue:
    """A value for a fact, biased to the policy's thresholds (on, just below, just above)."""
    spec = CATALOGUE[name]
    kind = spec.type
    if kind is FactType.BOOLEAN:
        return rng.random() < 0.5
    if kind is FactType.CHOICE:
        return rng.choice(spec.choices)
    if kind is FactType.CHOICES:
        return frozenset(rng.sample(spec.choices, rng.randint(0, min(4, len(spec.choices)))))
    if kind is FactType.NUMBER:
        if limits and rng.random() < 0.6:
            return max(0.0, rng.choice(limits) + rng.choice((-0.5, -0.1, 0.0, 0.0, 0.1, 1.0)))
        low = spec.minimum or 0.0
        high = min(spec.maximum if spec.maximum is not None else 100.0, 100.0)
        return round(rng.uniform(low, high), rng.choice((0, 1, 3)))
    if kind is FactType.DATE:
        if limits and rng.random() < 0.6:
            days = round(rng.choice(limits) * 7) + rng.choice((-1, 0, 0, 1))
        else:
            days = rng.randint(-10, 400)
        return AS_OF - dt.timedelta(days=days)
    pool = [*ALL_LEVELS, Level.parse("sacrum")]
    return tuple(sorted(set(rng.sample(pool, rng.randint(1, 4)))))


def witness(
    policy: Policy, node: Criterion, want: bool, rng: random.Random
) -> dict[str, FactValue] | None:
    """Values for the facts under `node` that make it met (`want`) or not met, found by
    choosing which children must hold and sampling values that pass every test put on each
    fact; None when the sampling finds none. `request.procedure` may be among the facts."""
    tests: dict[str, list[tuple[Test, bool]]] = {}
    _require(node, want, rng, tests)
    limits = thresholds(policy)
    found: dict[str, FactValue] = {}
    for name, wanted in tests.items():
        value = _sample(name, wanted, rng, limits.get(name, ()))
        if value is None:
            return None
        found[name] = value
    return found


def _require(
    node: Criterion, want: bool, rng: random.Random, tests: dict[str, list[tuple[Test, bool]]]
) -> None:
    if isinstance(node, Predicate):
        tests.setdefault(node.fact, []).append((node.test, want))
    elif isinstance(node, Not):
        _require(node.child, not want, rng, tests)
    elif isinstance(node, AllOf) == want:  # every child must give `want`
        for child in children(node):
            _require(child, want, rng, tests)
    else:  # one child is enough
        _require(rng.choice(children(node)), want, rng, tests)


def _sample(
    name: str, wanted: list[tuple[Test, bool]], rng: random.Random, limits: Sequence[float]
) -> FactValue | None:
    spec = CATALOGUE[name]
    included = {item for test, want in wanted if want for item in test.includes or ()}
    for _ in range(300):
        if name == "request.procedure":
            value: FactValue = rng.choice(list(Procedure)).value
        elif spec.type is FactType.CHOICES and included and rng.random() < 0.5:
            value = frozenset(included | set(rng.sample(spec.choices, rng.randint(0, 2))))
        else:
            value = random_value(name, rng, limits)
        if all(apply_test(name, test, value, AS_OF) is want for test, want in wanted):
            return value
    return None


def _request_levels(rng: random.Random) -> tuple[Level, ...]:
    pool = [*ALL_LEVELS, Level.parse("sacrum")]
    return tuple(sorted(set(rng.sample(pool, rng.randint(1, 3)))))


def fact_cases(policy: Policy, count: int, seed: int, fact_limit: int = 0) -> list[CaseFacts]:
    """`count` cases whose unknown facts run through `unknown_masks(policy, fact_limit)` in
    turn (then at random), each with one to three requested procedures, sometimes with the
    request's own levels. Half the cases start from a `witness` that makes some criterion met
    or not met, so that every criterion and outcome is reached, then hide their facts."""
    rng = random.Random(seed)
    names = policy_facts(policy)
    masks = unknown_masks(policy, fact_limit)
    limits = thresholds(policy)
    trees = [policy.criteria[r.when] for rules in policy.rules.values() for r in rules if r.when]
    # Roots are chosen as often as all their parts together, so that whole trees are met.
    nodes = [n for tree in trees for n in walk(tree)] + trees * 20
    cases = []
    for index in range(count):
        if index < len(masks):
            hidden = masks[index]
        else:
            hidden = frozenset(n for n in names if rng.random() < rng.choice((0.1, 0.3, 0.6)))
        values = {name: random_value(name, rng, limits.get(name, ())) for name in names}
        chosen = None
        if rng.random() < 0.5:
            chosen = witness(policy, rng.choice(nodes), rng.random() < 0.7, rng)
        procedure = None
        if chosen is not None:
            procedure = chosen.pop("request.procedure", None)
            values.update(chosen)
            if index >= len(masks) and rng.random() < 0.5:
                hidden = hidden - set(chosen)
        facts = FactSet(Fact(name, values[name]) for name in names if name not in hidden)
        procedures = rng.sample(list(Procedure), rng.choice((1, 1, 2, 3)))
        if isinstance(procedure, str) and Procedure(procedure) not in procedures:
            procedures[0] = Procedure(procedure)
        own_levels = chosen is None or "request.levels" not in chosen
        requests = tuple(
            ProcedureRequest(p, _request_levels(rng) if own_levels and rng.random() < 0.3 else None)
            for p in procedures
        )
        cases.append(CaseFacts(f"f{seed}-{index:06d}", facts, requests, AS_OF))
    return cases
