"""Run the pathway's safety and suitability checks: each passes, fails or is unknown."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from vertebro.core.evaluator import CriterionResult, MissingFact, evaluate_tree
from vertebro.core.facts import Fact, FactSet
from vertebro.core.pathway.model import Check, FailAction, Pathway
from vertebro.core.tri import Tri


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
    result = evaluate_tree(check.pass_when, facts, as_of=as_of)
    return CheckResult(check, result.status, result.trace, result.evidence, result.missing)


def readiness(results: Iterable[CheckResult]) -> Readiness:
    """The most serious consequence among the checks: a failure's action, else unknowns."""
    found = [Readiness.READY]
    for result in results:
        if result.status is Tri.FALSE:
            found.append(_READINESS_OF_FAILURE[result.check.fail_action])
        elif result.status is Tri.UNKNOWN:
            found.append(Readiness.TO_CONFIRM)
    return min(found, key=_SEVERITY.index)
