"""Criterion trees: all / any / not over predicates on facts, each node cited to its source."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from vertebro.core.catalogue import CATALOGUE
from vertebro.core.facts import FactType, FactValue
from vertebro.core.levels import Level, Region


@dataclass(frozen=True, slots=True)
class Citation:
    """Where a criterion comes from: a source document, its section, and the words encoded."""

    source: str  # a source id declared by the policy
    section: str
    words: str


@dataclass(frozen=True, slots=True)
class Test:
    """A comparison applied to one fact's value. Exactly one operator is set.

    Operators and the fact types they apply to:
      is_          BOOLEAN       the value equals true or false
      in_          CHOICE        the value is one of these
      includes     CHOICES       the set holds all of these (after implications)
      at_least     NUMBER        value >= n
      less_than    NUMBER        value < n
      weeks_at_least, weeks_less_than   DATE   whole weeks from the date to the as-of date
      regions_all  LEVELS        every level lies in one of these regions
      regions_any  LEVELS        some level lies in one of these regions
    """

    is_: bool | None = None
    in_: tuple[str, ...] | None = None
    includes: tuple[str, ...] | None = None
    at_least: float | None = None
    less_than: float | None = None
    weeks_at_least: float | None = None
    weeks_less_than: float | None = None
    regions_all: tuple[Region, ...] | None = None
    regions_any: tuple[Region, ...] | None = None


OPERATOR_TYPES: dict[str, FactType] = {
    "is_": FactType.BOOLEAN,
    "in_": FactType.CHOICE,
    "includes": FactType.CHOICES,
    "at_least": FactType.NUMBER,
    "less_than": FactType.NUMBER,
    "weeks_at_least": FactType.DATE,
    "weeks_less_than": FactType.DATE,
    "regions_all": FactType.LEVELS,
    "regions_any": FactType.LEVELS,
}


@dataclass(frozen=True, slots=True)
class Node:
    """Common fields of every criterion node."""

    id: str
    title: str
    citations: tuple[Citation, ...]
    note: str | None


@dataclass(frozen=True, slots=True)
class AllOf(Node):
    """Met when every child is met (Kleene conjunction)."""

    children: tuple[Criterion, ...]


@dataclass(frozen=True, slots=True)
class AnyOf(Node):
    """Met when some child is met (Kleene disjunction)."""

    children: tuple[Criterion, ...]


@dataclass(frozen=True, slots=True)
class Not(Node):
    """Met when the child is not met; unknown stays unknown."""

    child: Criterion


@dataclass(frozen=True, slots=True)
class Predicate(Node):
    """A test on one fact. An unknown fact makes the predicate unknown, never false."""

    fact: str
    test: Test


Criterion = AllOf | AnyOf | Not | Predicate


def children(node: Criterion) -> tuple[Criterion, ...]:
    """The direct children of a node."""
    if isinstance(node, AllOf | AnyOf):
        return node.children
    if isinstance(node, Not):
        return (node.child,)
    return ()


def walk(node: Criterion) -> Iterator[Criterion]:
    """The node and all its descendants, depth first, parents before children."""
    yield node
    for child in children(node):
        yield from walk(child)


def test_operator(test: Test) -> str:
    """The name of the one operator a test sets."""
    set_ops = [name for name in OPERATOR_TYPES if getattr(test, name) is not None]
    if len(set_ops) != 1:
        raise ValueError(f"a test sets exactly one operator, not {set_ops or 'none'}")
    return set_ops[0]


def apply_test(fact: str, test: Test, value: FactValue, as_of: dt.date) -> bool:
    """Apply a test to a known value. The policy loader has already checked the types match."""
    if test.is_ is not None:
        return value is test.is_
    if test.in_ is not None:
        return value in test.in_
    if test.includes is not None:
        assert isinstance(value, frozenset)
        present = CATALOGUE[fact].expand(value)
        return all(item in present for item in test.includes)
    if test.at_least is not None:
        assert isinstance(value, float)
        return value >= test.at_least
    if test.less_than is not None:
        assert isinstance(value, float)
        return value < test.less_than
    if test.weeks_at_least is not None or test.weeks_less_than is not None:
        assert isinstance(value, dt.date)
        weeks = (as_of - value).days / 7
        if test.weeks_at_least is not None:
            return weeks >= test.weeks_at_least
        assert test.weeks_less_than is not None
        return weeks < test.weeks_less_than
    levels = value
    assert isinstance(levels, tuple)
    if test.regions_all is not None:
        return all(_region(level) in test.regions_all for level in levels)
    assert test.regions_any is not None
    return any(_region(level) in test.regions_any for level in levels)


def _region(level: object) -> Region:
    assert isinstance(level, Level)
    return level.region
