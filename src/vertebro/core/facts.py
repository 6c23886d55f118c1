"""Clinical facts: a named value (or unknown) with the evidence it came from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from vertebro.core.levels import Level, parse_levels

FactValue = bool | str | float | dt.date | tuple[Level, ...] | frozenset[str]

# "answer": a reviewer's answer; "attestation": the requesting clinician's answer to the
# payer's questions (DTR, or the requester answering a pended case).
EvidenceKind = Literal["case-file", "fhir", "note", "answer", "attestation", "derived"]


class FactType(StrEnum):
    """The kind of value a fact holds."""

    BOOLEAN = "boolean"
    CHOICE = "choice"  # one value from a closed list
    CHOICES = "choices"  # a set of values from a closed list
    NUMBER = "number"
    DATE = "date"
    LEVELS = "levels"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a fact came from: a document or resource, and the words or element that say it."""

    kind: EvidenceKind
    source: str  # a file path, a FHIR reference such as 'Condition/abc', or a reviewer's name
    quote: str | None = None  # the sentence or element text
    span: tuple[int, int] | None = None  # character offsets of the quote in the source text
    location: str | None = None  # a line, JSON path or section, when there is no span


@dataclass(frozen=True, slots=True)
class FactSpec:
    """The definition of one fact: its type, allowed values and the question that settles it."""

    name: str
    type: FactType
    title: str
    question: str
    choices: tuple[str, ...] = ()
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    # For CHOICES: a value that counts as others too (an interventional radiologist is a
    # radiologist).
    implies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def coerce(self, raw: object) -> FactValue | None:
        """Turn a raw value from a file or form into this fact's type; None means unknown.

        Raises:
            ValueError: the value does not fit the fact, with a message naming what was expected.
        """
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in {"unknown", ""}):
            return None
        kind = self.type
        if kind is FactType.BOOLEAN:
            return _coerce_bool(raw)
        if kind is FactType.CHOICE:
            return self._choice(raw)
        if kind is FactType.CHOICES:
            items = [raw] if isinstance(raw, str) else raw
            if not isinstance(items, list | tuple | set | frozenset):
                raise ValueError(f"expected a list of {', '.join(self.choices)}")
            return frozenset(self._choice(item) for item in items)
        if kind is FactType.NUMBER:
            return self._number(raw)
        if kind is FactType.DATE:
            return _coerce_date(raw)
        return _coerce_levels(raw)

    def _choice(self, raw: object) -> str:
        text = str(raw).strip().lower()
        if text not in self.choices:
            raise ValueError(f"{raw!r} is not one of: {', '.join(self.choices)}")
        return text

    def _number(self, raw: object) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError("expected a number")
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if number != number:  # NaN is never a measurement
            raise ValueError("expected a number, got NaN")
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"{number:g} is below the minimum {self.minimum:g}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"{number:g} is above the maximum {self.maximum:g}")
        return number

    def expand(self, values: frozenset[str]) -> frozenset[str]:
        """A CHOICES value with everything its members imply added."""
        expanded = set(values)
        for value in values:
            expanded.update(self.implies.get(value, ()))
        return frozenset(expanded)


def _coerce_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"true", "yes", "y"}:
        return True
    if text in {"false", "no", "n"}:
        return False
    raise ValueError(f"expected true, false or unknown, got {raw!r}")


def _coerce_date(raw: object) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    try:
        return dt.date.fromisoformat(str(raw).strip()[:10])
    except ValueError:
        raise ValueError(f"expected a date as YYYY-MM-DD, got {raw!r}") from None


def _coerce_levels(raw: object) -> tuple[Level, ...]:
    if isinstance(raw, str):
        return tuple(parse_levels(raw))
    if isinstance(raw, list | tuple):
        levels: set[Level] = set()
        for item in raw:
            levels.update(parse_levels(str(item)))
        if not levels:
            raise ValueError("expected at least one spinal level")
        return tuple(sorted(levels))
    raise ValueError(f"expected spinal levels such as 'T12-L2', got {raw!r}")


@dataclass(frozen=True, slots=True)
class Fact:
    """A fact's value (None when unknown) and the evidence behind it."""

    name: str
    value: FactValue | None
    evidence: tuple[Provenance, ...] = ()
    # Other readings of the same fact that lost to this one (see the merge rule in combine).
    conflicts: tuple[Fact, ...] = ()

    @property
    def known(self) -> bool:
        """True when the value is known."""
        return self.value is not None


class FactSet(Mapping[str, Fact]):
    """An immutable collection of facts by name. A name that is absent is unknown."""

    __slots__ = ("_facts",)

    def __init__(self, facts: Iterable[Fact] = ()) -> None:
        self._facts: dict[str, Fact] = {fact.name: fact for fact in facts}

    def __getitem__(self, name: str) -> Fact:
        return self._facts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._facts)

    def __len__(self) -> int:
        return len(self._facts)

    def value(self, name: str) -> FactValue | None:
        """The fact's value, or None when it is absent or unknown."""
        fact = self._facts.get(name)
        return None if fact is None else fact.value

    def with_facts(self, facts: Iterable[Fact]) -> FactSet:
        """A new set in which the given facts replace any of the same name."""
        merged = dict(self._facts)
        merged.update((fact.name, fact) for fact in facts)
        result = FactSet()
        result._facts = merged
        return result

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={fact.value!r}" for name, fact in self._facts.items())
        return f"FactSet({inner})"
