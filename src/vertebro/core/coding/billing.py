"""Payer billing rules as data, checked against a claim. Pure: rules and claims are passed in.

A rule says when it fires (a condition over the claim's codes, diagnoses, item wording and
preauthorisation), which lines it flags, what it means, and the words of the source it encodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vertebro.core.coding.tables import CodeSystem, Confidence

Severity = Literal["deny", "warn", "info"]


@dataclass(frozen=True, slots=True)
class ClaimItem:
    """One billed line: a procedure code with its units, modifiers and descriptive words."""

    sequence: int
    system: CodeSystem | None
    code: str
    units: int = 1
    modifiers: tuple[str, ...] = ()
    text: str = ""  # display, body site and sub-site words
    preauth_refs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ClaimDiagnosis:
    """One diagnosis on the claim."""

    sequence: int
    system: CodeSystem | None
    code: str


@dataclass(frozen=True, slots=True)
class Claim:
    """The parts of a claim the billing rules look at."""

    ref: str
    source: str
    use: str  # claim | preauthorization | predetermination
    items: tuple[ClaimItem, ...] = ()
    diagnoses: tuple[ClaimDiagnosis, ...] = ()
    preauth_refs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Condition:
    """When a rule fires: every stated test must hold.

    codes_any: some line has one of these codes; codes_all: each group has a line present;
    codes_none: no line has any of them; diagnoses_any / diagnoses_none: diagnosis codes;
    mentions_any: some line's words hold one of these (case-insensitive); preauth_missing: the
    claim is not itself a preauthorisation request and carries no preauthorisation reference;
    units_over: a line with one of `units_codes` has more units than this; any: one sub-condition.
    """

    codes_any: frozenset[str] = frozenset()
    codes_all: tuple[frozenset[str], ...] = ()
    codes_none: frozenset[str] = frozenset()
    diagnoses_any: frozenset[str] = frozenset()
    diagnoses_none: frozenset[str] = frozenset()
    mentions_any: tuple[str, ...] = ()
    preauth_missing: bool = False
    units_codes: frozenset[str] = frozenset()
    units_over: int | None = None
    any: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class Citation:
    """The source words a rule encodes."""

    source: str
    document: str
    section: str
    words: str
    url: str | None = None
    confidence: str | None = None  # how far the source document itself is verified


@dataclass(frozen=True, slots=True)
class BillingRule:
    """One payer rule."""

    id: str
    title: str
    severity: Severity
    when: Condition
    message: str
    cite: Citation
    confidence: Confidence
    flag: frozenset[str] = frozenset()  # the codes whose lines the finding points at
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The billing rules of one payer (or of the code set's own conventions)."""

    id: str
    title: str
    payer: str
    rules: tuple[BillingRule, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule that fired on a claim, the lines and diagnoses it is about, and why."""

    ruleset: RuleSet
    rule: BillingRule
    items: tuple[ClaimItem, ...]
    evidence: tuple[str, ...]


def check_claim(claim: Claim, rulesets: tuple[RuleSet, ...]) -> tuple[Finding, ...]:
    """Every finding of every rule set on the claim, in rule order."""
    findings = []
    for ruleset in rulesets:
        for rule in ruleset.rules:
            fired, evidence = holds(rule.when, claim)
            if fired:
                items = tuple(i for i in claim.items if i.code in rule.flag)
                findings.append(Finding(ruleset, rule, items, tuple(dict.fromkeys(evidence))))
    return tuple(findings)


def holds(c: Condition, claim: Claim) -> tuple[bool, list[str]]:
    """Whether a condition holds on a claim, with the claim elements that made it hold."""
    evidence: list[str] = []
    codes = {i.code for i in claim.items}
    diagnoses = {d.code for d in claim.diagnoses}
    if c.codes_any:
        hits = [i for i in claim.items if i.code in c.codes_any]
        if not hits:
            return False, []
        evidence.extend(_item(i) for i in hits)
    for group in c.codes_all:
        hits = [i for i in claim.items if i.code in group]
        if not hits:
            return False, []
        evidence.extend(_item(i) for i in hits)
    if c.codes_none and codes & c.codes_none:
        return False, []
    if c.codes_none:
        evidence.append(f"no line with {', '.join(sorted(c.codes_none))}")
    if c.diagnoses_any:
        hits_d = [d for d in claim.diagnoses if d.code in c.diagnoses_any]
        if not hits_d:
            return False, []
        evidence.extend(f"diagnosis {d.sequence}: {d.code}" for d in hits_d)
    if c.diagnoses_none and diagnoses & c.diagnoses_none:
        return False, []
    if c.diagnoses_none:
        evidence.append(f"no diagnosis {' or '.join(sorted(c.diagnoses_none))}")
    if c.mentions_any:
        hits = [i for i in claim.items if any(w.lower() in i.text.lower() for w in c.mentions_any)]
        if not hits:
            return False, []
        evidence.extend(f"{_item(i)} described as {i.text!r}" for i in hits)
    if c.preauth_missing:
        if claim.use == "preauthorization":
            return False, []
        if claim.preauth_refs or any(i.preauth_refs for i in claim.items):
            return False, []
        evidence.append("no preauthorisation reference on the claim or its lines")
    if c.units_over is not None:
        hits = [i for i in claim.items if i.code in c.units_codes and i.units > c.units_over]
        if not hits:
            return False, []
        evidence.extend(_item(i) for i in hits)
    if c.any:
        for sub in c.any:
            ok, more = holds(sub, claim)
            if ok:
                evidence.extend(more)
                break
        else:
            return False, []
    return True, evidence


def _item(i: ClaimItem) -> str:
    return f"line {i.sequence}: {i.code} x{i.units}"
