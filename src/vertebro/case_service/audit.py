"""The audit trail: recording each access to a case as an AuditEvent, and reading the trail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from vertebro.adapters.db.audit import Action, Interaction, audit_record
from vertebro.adapters.db.audit import Outcome as AuditOutcome
from vertebro.adapters.db.repository import AuditRecord, Database, Repository
from vertebro.case_service.shared import Actor, Forbidden
from vertebro.settings import Role


def audit(
    repo: Repository,
    actor: Actor,
    now: dt.datetime,
    action: Action,
    interaction: Interaction,
    operation: str,
    case_id: str | None,
    detail: str | None = None,
    *,
    outcome: AuditOutcome = "0",
) -> None:
    repo.append_audit(
        audit_record(
            at=now,
            action=action,
            interaction=interaction,
            operation=operation,
            outcome=outcome,
            agent_id=actor.id,
            agent_name=actor.name,
            agent_role=actor.role.value,
            organisation=actor.organisation,
            case_id=case_id,
            detail=detail,
        )
    )


def refused(
    db: Database,
    actor: Actor,
    now: dt.datetime,
    action: Action,
    interaction: Interaction,
    operation: str,
    case_id: str | None,
    detail: str,
) -> None:
    with db.transaction() as repo:
        audit(repo, actor, now, action, interaction, operation, case_id, detail, outcome="4")


def record_access(
    db: Database,
    actor: Actor,
    *,
    now: dt.datetime,
    operation: str,
    case_ids: Iterable[str],
    action: Action = "R",
    interaction: Interaction = "operation",
    outcome: AuditOutcome = "0",
) -> None:
    """Record an access made or refused outside the functions above (e.g. a route refused to
    the caller's role: outcome '4')."""
    with db.transaction() as repo:
        for case_id in case_ids:
            audit(repo, actor, now, action, interaction, operation, case_id, outcome=outcome)


def audit_trail(
    db: Database,
    actor: Actor,
    *,
    case_id: str | None = None,
    agent_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditRecord]:
    """The audit trail, oldest first (auditors and admins).

    Raises:
        Forbidden: the actor is neither an auditor nor an admin.
    """
    if actor.role not in (Role.AUDITOR, Role.ADMIN):
        raise Forbidden("only auditors and admins read the audit trail")
    with db.transaction() as repo:
        return repo.audit_trail(case_id=case_id, agent_id=agent_id, limit=limit, offset=offset)
