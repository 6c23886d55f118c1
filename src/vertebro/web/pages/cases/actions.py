"""What the case actions check and call: the case id, the permission, the verdict, the answers."""

from __future__ import annotations

import datetime as dt

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from vertebro import case_service
from vertebro.adapters.db.repository import Database, StoredCase
from vertebro.api.deps import plausible_case_id, state
from vertebro.api.security import Permission, Principal
from vertebro.core import cases
from vertebro.core.facts import FactSet
from vertebro.web.pages.cases.rendering import not_found
from vertebro.web.session import PageError


def checked_id(case_id: str) -> str:
    """The case id from the address, or the not-found page if no case could have it."""
    if not plausible_case_id(case_id):
        raise not_found()
    return case_id


async def check_allowed(
    request: Request, user: Principal, permission: Permission, case_id: str
) -> None:
    """Refuse (403 page) an action the role may not take, recorded in the audit trail as
    the API records it (`vertebro.api.deps.require`)."""
    if user.may(permission):
        return
    app = state(request)
    await run_in_threadpool(
        case_service.record_access,
        app.db,
        user.actor(),
        now=app.now(),
        operation=f"refused: {permission.value}",
        case_ids=[case_id],
        action="E",
        outcome="4",
    )
    raise PageError(
        403,
        f"Your role ({user.role.value}) may not {permission.value.replace('-', ' ')} on a case.",
    )


def as_verdict(text: str) -> cases.Verdict:
    """The decision form's choice as the use case's verdict."""
    return "approve" if text == "approve" else "deny"


def add_page_answers(
    db: Database, user: Principal, case_id: str, answers: FactSet, now: dt.datetime
) -> StoredCase:
    """Add the answers given on the case page to the case, which is assessed again."""
    return case_service.add_answers(
        db, user.actor(), case_id, answers, now=now, what="answers on the web page"
    )
