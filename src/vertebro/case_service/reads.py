"""Reading stored cases: one case, a PAS inquiry, and the work queue."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vertebro.adapters.db.repository import Database, Repository, StoredCase
from vertebro.case_service.audit import audit, refused
from vertebro.case_service.shared import Actor, NotFound, visible
from vertebro.core import cases
from vertebro.core.cases import Priority
from vertebro.settings import Role


def get_case(
    db: Database, actor: Actor, case_id: str, *, now: dt.datetime, operation: str = "read"
) -> StoredCase:
    """One case the actor may see.

    Raises:
        NotFound: no such case, or one of another organisation (for a requester).
    """
    with db.transaction() as repo:
        stored = repo.get(case_id)
        if stored is not None and visible(actor, stored):
            audit(repo, actor, now, "R", "read", operation, case_id)
            return stored
    refused(db, actor, now, "R", "read", operation, case_id, "no such case for this caller")
    raise NotFound(case_id)


def find_for_inquiry(
    db: Database,
    actor: Actor,
    key: str,
    *,
    patient_key: str | None,
    provider_keys: tuple[str, ...],
    now: dt.datetime,
) -> StoredCase:
    """The organisation's case with this identifier, when patient and provider match too
    (PAS inquiry: member id plus a provider identifier).

    Raises:
        NotFound: no case matches all three.
    """
    with db.transaction() as repo:
        stored = repo.find_by_submission(actor.organisation, key)
        if stored is not None and _inquiry_matches(stored, patient_key, provider_keys):
            audit(repo, actor, now, "R", "operation", "inquire", stored.case.id)
            return stored
    refused(db, actor, now, "R", "operation", "inquire", None, "inquiry matched no case")
    raise NotFound(key)


def _inquiry_matches(
    stored: StoredCase, patient_key: str | None, provider_keys: tuple[str, ...]
) -> bool:
    if stored.patient_key is not None and patient_key != stored.patient_key:
        return False
    return not stored.provider_keys or bool(set(provider_keys) & set(stored.provider_keys))


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """Which cases to list."""

    states: frozenset[str] | None = None
    due_within: dt.timedelta | None = None  # due before now + this
    overdue_only: bool = False
    priority: Priority | None = None  # only expedited, or only standard, requests
    limit: int = 100
    offset: int = 0


def list_cases(
    db: Database, actor: Actor, flt: CaseFilter, *, now: dt.datetime
) -> list[StoredCase]:
    """Cases the actor may see, soonest due first; each listed case is an audited read."""
    due_before = None
    if flt.overdue_only:
        due_before = now
    elif flt.due_within is not None:
        due_before = now + flt.due_within
    organisation = actor.organisation if actor.role is Role.REQUESTER else None
    states = flt.states
    if flt.overdue_only:
        open_kinds = frozenset({"pended-for-information", "queued-for-review", "under-appeal"})
        states = open_kinds if states is None else states & open_kinds
    with db.transaction() as repo:
        if flt.priority is None:
            found = repo.list_cases(
                organisation=organisation,
                states=states,
                due_before=due_before,
                limit=flt.limit,
                offset=flt.offset,
            )
        else:
            found = _with_priority(
                repo,
                flt.priority,
                flt.limit,
                flt.offset,
                organisation=organisation,
                states=states,
                due_before=due_before,
            )
        if flt.overdue_only:
            found = [s for s in found if cases.clock(s.case, now).overdue]
        for stored in found:
            audit(repo, actor, now, "R", "search-type", "list", stored.case.id)
        return found


PRIORITY_SCAN_CHUNK = 500


def _with_priority(
    repo: Repository,
    priority: Priority,
    limit: int,
    offset: int,
    *,
    organisation: str | None,
    states: frozenset[str] | None,
    due_before: dt.datetime | None,
) -> list[StoredCase]:
    """A page of the cases of one priority, soonest due first. The store filters everything
    else; priority is checked here, a chunk at a time, so that `offset` and `limit` count
    matching cases only (and only the cases returned are audited by the caller)."""
    matched: list[StoredCase] = []
    skipped = 0
    start = 0
    while True:
        chunk = repo.list_cases(
            organisation=organisation,
            states=states,
            due_before=due_before,
            limit=PRIORITY_SCAN_CHUNK,
            offset=start,
        )
        for stored in chunk:
            if stored.case.priority is not priority:
                continue
            if skipped < offset:
                skipped += 1
                continue
            matched.append(stored)
            if len(matched) >= limit:
                return matched
        if len(chunk) < PRIORITY_SCAN_CHUNK:
            return matched
        start += PRIORITY_SCAN_CHUNK
