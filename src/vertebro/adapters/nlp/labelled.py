"""A hand-labelled set of notes and how well the reader does on it (tests and benchmarks use it).

The labels file lists, per note, the value of every fact the note settles. It is exhaustive: a
fact the reader gives a value that the labels do not list counts as a false reading, because the
note does not settle it. `unknown` names facts that must stay unknown although a careless reader
might fill them in; it documents the trap and is checked the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vertebro.adapters import yaml_lines
from vertebro.adapters.errors import InputError
from vertebro.core.catalogue import CATALOGUE
from vertebro.core.facts import FactSet, FactType, FactValue

# Readings that would wrongly clear a safety contraindication if they said "absent".
SAFETY_FACTS = ("infection.osteomyelitis_at_site", "fracture.unstable", "cord_compression.present")
_WEEKS_TOLERANCE = 0.5


class NoteLabel(BaseModel):
    """The expected reading of one note."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str  # relative to the repository root
    facts: dict[str, Any] = Field(default_factory=dict)
    unknown: list[str] = Field(default_factory=list)
    why: str | None = None
    held_out: bool = False  # written after the rules were tuned; scored separately

    def expected(self) -> dict[str, FactValue]:
        """The labelled values, coerced to each fact's type."""
        values: dict[str, FactValue] = {}
        for name, raw in self.facts.items():
            value = CATALOGUE[name].coerce(raw)
            assert value is not None
            values[name] = value
        return values


class _LabelFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    notes: list[NoteLabel]


def load_labels(path: Path) -> list[NoteLabel]:
    """Read and check a labels file.

    Raises:
        InputError: the file is not valid, names an unknown fact, a value a fact cannot take, or
            a fact both labelled and listed as unknown.
    """
    name = str(path)
    try:
        data = yaml_lines.load(path.read_text(encoding="utf-8"))
    except yaml_lines.YamlError as exc:
        raise InputError(name, exc.message, exc.line) from None
    try:
        labels = _LabelFile.model_validate(data).notes
    except ValidationError as exc:
        first = exc.errors()[0]
        line = yaml_lines.line_of(data, tuple(first["loc"]))
        raise InputError(
            name, f"{'.'.join(map(str, first['loc']))}: {first['msg']}", line
        ) from None
    for label in labels:
        for fact in [*label.facts, *label.unknown]:
            if fact not in CATALOGUE:
                raise InputError(name, f"{label.path}: unknown fact {fact!r}")
        both = set(label.facts) & set(label.unknown)
        if both:
            raise InputError(name, f"{label.path}: labelled and unknown: {sorted(both)}")
        try:
            label.expected()
        except ValueError as exc:
            raise InputError(name, f"{label.path}: {exc}") from None
    return labels


def same_value(fact: str, expected: FactValue, got: FactValue) -> bool:
    """Whether a reading matches the label (durations within half a week)."""
    spec = CATALOGUE[fact]
    if spec.type is FactType.NUMBER and isinstance(expected, float) and isinstance(got, float):
        tolerance = _WEEKS_TOLERANCE if spec.unit == "weeks" else 0.0
        return abs(expected - got) <= tolerance
    if isinstance(expected, dt.date) and isinstance(got, dt.date):
        return expected == got
    return expected == got


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One fact of one note where the reading and the label differ."""

    note: str
    fact: str
    expected: FactValue | None  # None: the label says unknown
    got: FactValue | None  # None: the reader left it unknown


@dataclass
class FactScore:
    """Counts for one fact over the labelled set."""

    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0

    @property
    def precision(self) -> float:
        """Readings that match the label, of all readings given."""
        given = self.true_positive + self.false_positive
        return self.true_positive / given if given else 1.0

    @property
    def recall(self) -> float:
        """Labelled values the reader found."""
        wanted = self.true_positive + self.false_negative
        return self.true_positive / wanted if wanted else 1.0

    @property
    def f1(self) -> float:
        """The harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Scores:
    """Per-fact scores, every mismatch, and the safety readings of absence the labels do not
    support."""

    facts: dict[str, FactScore] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)
    false_safety_absent: list[Mismatch] = field(default_factory=list)
    notes: int = 0

    def total(self) -> FactScore:
        """Counts summed over every fact (micro average)."""
        total = FactScore()
        for score in self.facts.values():
            total.true_positive += score.true_positive
            total.false_positive += score.false_positive
            total.false_negative += score.false_negative
        return total


def compare(label: NoteLabel, facts: FactSet) -> list[Mismatch]:
    """The mismatches between one note's reading and its label."""
    expected = label.expected()
    found: list[Mismatch] = []
    for name in sorted(set(expected) | {n for n in facts if facts.value(n) is not None}):
        want = expected.get(name)
        got = facts.value(name)
        if want is None and got is None:
            continue
        if want is not None and got is not None and same_value(name, want, got):
            continue
        found.append(Mismatch(label.path, name, want, got))
    return found


def score(labels: Iterable[NoteLabel], read: Callable[[NoteLabel], FactSet]) -> Scores:
    """Read every labelled note and count, per fact, readings that match, extra and missing."""
    scores = Scores()
    for label in labels:
        facts = read(label)
        scores.notes += 1
        expected = label.expected()
        for name in set(expected) | {n for n in facts if facts.value(n) is not None}:
            fact_score = scores.facts.setdefault(name, FactScore())
            want, got = expected.get(name), facts.value(name)
            if want is not None and got is not None and same_value(name, want, got):
                fact_score.true_positive += 1
                continue
            if got is not None:
                fact_score.false_positive += 1
            if want is not None:
                fact_score.false_negative += 1
            mismatch = Mismatch(label.path, name, want, got)
            scores.mismatches.append(mismatch)
            if name in SAFETY_FACTS and got is False and want is not False:
                scores.false_safety_absent.append(mismatch)
    return scores


def describe(value: FactValue | None) -> str:
    """A short display of a value for tables and messages."""
    if value is None:
        return "unknown"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, frozenset):
        return ", ".join(sorted(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
