"""The policy pathway of a procedure linked to a prior-authorisation case, from that case's
assessment and decision (pure: the service hands in what it read from the case store).

A procedure that names its case gets the pathway the case's assessment decided by (the
criterion id of the approving rule, or "otherwise" for a policy's fallback rule) instead of
whatever was typed into the record; a procedure without a case keeps its hand-entered pathway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from vertebro.core.catalogue import Procedure
from vertebro.core.registry.model import ProcedureRecord, Registry

APPROVED_STATES = frozenset({"approved-automatically", "approved-by-reviewer"})
MEETS_CRITERIA = "meets-criteria"
# Pathway labels when no criterion approved the procedure (kept apart in the report).
REVIEWER = "approved-by-reviewer"  # a reviewer approved what the criteria did not settle
NOT_ASSESSED = "not-assessed"  # the case did not ask for this procedure


@dataclass(frozen=True, slots=True)
class CaseDetermination:
    """One procedure's determination in a case's latest assessment."""

    procedure: str
    outcome: str
    decided_by: str | None


@dataclass(frozen=True, slots=True)
class LinkedCase:
    """What the registry needs of a prior-authorisation case."""

    id: str
    organisation: str
    state: str  # the lifecycle state kind, e.g. "approved-automatically"
    policy: str | None  # the policy id it was assessed under
    determinations: tuple[CaseDetermination, ...]


@dataclass(frozen=True, slots=True)
class Approval:
    """The policy and pathway a case gives one procedure."""

    policy: str | None
    pathway: str


def approval(case: LinkedCase, procedure: Procedure) -> Approval:
    """The pathway a case gives a procedure of this type.

    Approved and the criteria met: the approving rule (`decided_by`). Approved by a reviewer
    without the criteria met: `approved-by-reviewer`. Not approved (pended, queued, denied,
    under appeal): the state itself, so that procedures done without approval stand apart.
    The case did not ask for this procedure: `not-assessed`.
    """
    found = next((d for d in case.determinations if d.procedure == procedure.value), None)
    if case.state not in APPROVED_STATES:
        return Approval(case.policy, case.state)
    if found is None:
        return Approval(case.policy, NOT_ASSESSED)
    if found.outcome == MEETS_CRITERIA and found.decided_by:
        return Approval(case.policy, found.decided_by)
    return Approval(case.policy, REVIEWER)


def link_pathways(registry: Registry, cases: Mapping[str, LinkedCase]) -> Registry:
    """The registry with each procedure's policy and pathway taken from its linked case.

    `cases` maps case ids to what was read of them; a procedure whose case is not there (or
    that names none) keeps the policy and pathway typed into its record.
    """
    linked: list[ProcedureRecord] = []
    for p in registry.procedures:
        case = cases.get(p.case_id) if p.case_id else None
        if case is None:
            linked.append(p)
            continue
        given = approval(case, p.procedure)
        linked.append(replace(p, policy=given.policy, pathway=given.pathway))
    return replace(registry, procedures=tuple(linked))


def case_determinations(report: object) -> tuple[CaseDetermination, ...]:
    """The determinations of an assessment report's JSON (the shape `vertebro assess --json`
    writes); anything not in that shape gives none."""
    if not isinstance(report, Mapping):
        return ()
    items = report.get("determinations")
    if not isinstance(items, Sequence) or isinstance(items, str):
        return ()
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        procedure, outcome = item.get("procedure"), item.get("outcome")
        decided_by = item.get("decided_by")
        if isinstance(procedure, str) and isinstance(outcome, str):
            out.append(CaseDetermination(
                procedure, outcome, decided_by if isinstance(decided_by, str) else None))
    return tuple(out)


def policy_of(report: object) -> str | None:
    """The policy id of an assessment report's JSON."""
    if isinstance(report, Mapping):
        policy = report.get("policy")
        if isinstance(policy, Mapping) and isinstance(policy.get("id"), str):
            return str(policy["id"])
    return None
