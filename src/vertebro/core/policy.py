"""A policy: versioned, dated, sourced criterion trees and the rules that give outcomes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from vertebro.core.catalogue import Procedure
from vertebro.core.criteria import Citation, Criterion, walk


class Outcome(StrEnum):
    """What the policy says about a requested procedure.

    These are assessments, not decisions: no outcome here is an adverse determination. An
    adverse decision exists only when a named human reviewer records one (see the case workflow).
    """

    MEETS_CRITERIA = "meets-criteria"
    DOES_NOT_MEET_CRITERIA = "does-not-meet-criteria"
    INVESTIGATIONAL = "investigational"
    INSUFFICIENT_INFORMATION = "insufficient-information"


class Confidence(StrEnum):
    """How well a source's text has been verified (as tagged in the project's reference data)."""

    CONFIRMED = "confirmed"
    LIKELY = "likely"
    UNCONFIRMED = "unconfirmed"


class RequirementKind(StrEnum):
    """What kind of requirement sits beside the patient-level criteria."""

    SERVICE = "service"  # about the unit doing the procedure, e.g. access to spinal surgery
    ADMINISTRATIVE = "administrative"  # e.g. preauthorisation, checking the member's contract


@dataclass(frozen=True, slots=True)
class Source:
    """A document a policy encodes."""

    id: str
    title: str
    publisher: str
    published: str | None  # as precise as the document states it: '2003-09-24', '2013-04'
    url: str | None
    text_file: str | None  # path of a plain-text copy under the shared sources, for checking quotes
    confidence: Confidence
    note: str | None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One entry of the source document's own revision history."""

    date: str
    summary: str
    citation: Citation


@dataclass(frozen=True, slots=True)
class Rule:
    """When `when` is met, the procedure's outcome is `outcome`; `when=None` is the fallback."""

    outcome: Outcome
    when: str | None  # id of a top-level criterion


@dataclass(frozen=True, slots=True)
class Requirement:
    """A condition that does not decide the outcome but must be confirmed or acted on."""

    id: str
    kind: RequirementKind
    title: str
    citations: tuple[Citation, ...]
    procedures: tuple[Procedure, ...]
    applies_when: Criterion | None  # when present, the requirement applies only if this is met
    confirm: Criterion | None  # when present, evaluated: is the requirement satisfied?
    note: str | None


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """The identity of the exact policy text used for an answer."""

    id: str
    version: str
    hash: str


@dataclass(frozen=True, slots=True)
class Policy:
    """A computable policy. Build it with `vertebro.core.policy_format.policy_from_dict`."""

    id: str
    title: str
    version: str
    jurisdiction: str
    effective_from: dt.date
    effective_to: dt.date | None
    effective_note: str | None
    sources: Mapping[str, Source]
    history: tuple[HistoryEntry, ...]
    criteria: Mapping[str, Criterion]  # the top-level trees, by id
    rules: Mapping[Procedure, tuple[Rule, ...]]
    requirements: tuple[Requirement, ...]
    content_hash: str

    @property
    def ref(self) -> PolicyRef:
        """The id, version and content hash that identify this policy text."""
        return PolicyRef(self.id, self.version, self.content_hash)

    def in_effect_on(self, day: dt.date) -> bool:
        """Whether the policy's effective period contains the day."""
        if day < self.effective_from:
            return False
        return self.effective_to is None or day <= self.effective_to

    def nodes(self) -> Iterator[Criterion]:
        """Every criterion node of every tree, requirements' trees included."""
        for tree in self.criteria.values():
            yield from walk(tree)
        for requirement in self.requirements:
            for condition in (requirement.applies_when, requirement.confirm):
                if condition is not None:
                    yield from walk(condition)

    def trees_for(self, procedure: Procedure) -> tuple[Criterion, ...]:
        """The top-level trees the procedure's rules consult, in rule order."""
        return tuple(self.criteria[rule.when] for rule in self.rules[procedure] if rule.when)
