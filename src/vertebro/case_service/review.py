"""Human review and appeal, and the audited update that every change to a stored case goes
through."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace

from vertebro.adapters.db.repository import ConcurrentUpdate, Database, StoredCase
from vertebro.adapters.errors import InputError
from vertebro.case_service.audit import audit, refused
from vertebro.case_service.shared import Actor, Conflict, Forbidden, NotFound, visible
from vertebro.core import cases
from vertebro.core.cases import CaseError, HumanReviewer, Reason
from vertebro.settings import Role


def decide(
    db: Database,
    actor: Actor,
    case_id: str,
    verdict: cases.Verdict,
    reason: str,
    *,
    now: dt.datetime,
) -> StoredCase:
    """A reviewer approves or denies a case. The actor must be a named person with the
    reviewer role: that is what makes an adverse decision a human one.

    Raises:
        Forbidden: the actor is not a person with the reviewer role.
        NotFound, Conflict: as for `add_answers`.
    """
    if actor.role is not Role.REVIEWER or actor.kind != "person":
        refused(
            db,
            actor,
            now,
            "U",
            "update",
            f"decide-{verdict}",
            case_id,
            "only a named person with the reviewer role may decide",
        )
        raise Forbidden("only a named person with the reviewer role may record a decision")
    reviewer = HumanReviewer(actor.id, actor.name)
    written = _reason(reason)

    def change(stored: StoredCase) -> StoredCase:
        updated = cases.decide(stored.case, verdict, reviewer=reviewer, reason=written, at=now)
        return replace(stored, case=updated)

    return apply_change(db, actor, case_id, change, now=now, operation=f"decide-{verdict}")


def appeal(
    db: Database, actor: Actor, case_id: str, reason: str, *, now: dt.datetime
) -> StoredCase:
    """The requesting organisation appeals a denial.

    Raises:
        NotFound, Conflict: as for `add_answers`.
    """
    written = _reason(reason)

    def change(stored: StoredCase) -> StoredCase:
        updated = cases.appeal(
            stored.case, appellant=f"{actor.name} ({actor.id})", reason=written, at=now
        )
        return replace(stored, case=updated)

    return apply_change(db, actor, case_id, change, now=now, operation="appeal")


def _reason(text: str) -> Reason:
    try:
        return Reason(text)
    except CaseError as exc:
        raise InputError("reason", str(exc)) from None


def apply_change(
    db: Database,
    actor: Actor,
    case_id: str,
    change: Callable[[StoredCase], StoredCase],
    *,
    now: dt.datetime,
    operation: str,
) -> StoredCase:
    try:
        with db.transaction() as repo:
            stored = repo.get(case_id)
            if stored is not None and visible(actor, stored):
                try:
                    changed = change(stored)
                except CaseError as exc:
                    raise Conflict(str(exc)) from None
                saved = repo.update(changed, now=now)
                audit(
                    repo,
                    actor,
                    now,
                    "U",
                    "update",
                    operation,
                    case_id,
                    f"now {saved.case.state.kind}",
                )
                return saved
    except ConcurrentUpdate:
        raise Conflict("the case changed while this request was handled; read it again") from None
    except Conflict as exc:
        refused(db, actor, now, "U", "update", operation, case_id, str(exc))
        raise
    refused(db, actor, now, "U", "update", operation, case_id, "no such case for this caller")
    raise NotFound(case_id)
