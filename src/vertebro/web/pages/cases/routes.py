"""The case routes: the queue, a case's page, the reviewer's decision, appeals and answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from vertebro import case_service
from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir.bundle import json_shape_problem
from vertebro.api.deps import state
from vertebro.api.security import Permission, Principal
from vertebro.settings import Role
from vertebro.web.pages.cases import queue_views
from vertebro.web.pages.cases.actions import add_page_answers, as_verdict, check_allowed, checked_id
from vertebro.web.pages.cases.forms import UNSTORABLE, form_text, read_answers, sentence
from vertebro.web.pages.cases.queue_views import (
    QueueRow,
    case_filter,
    clean_params,
    queue_query,
    queue_row,
)
from vertebro.web.pages.cases.rendering import not_found, show_case
from vertebro.web.pages.cases.words import (
    APPROVED_WITHOUT_NOTE,
    DUE_CHOICES,
    PRIORITY_CHOICES,
    STATE_CHOICES,
)
from vertebro.web.session import PageError, form_data, page_require
from vertebro.web.templating import FLASH_MESSAGES, render

router = APIRouter()

FLASH_MESSAGES.update(
    {
        "case-approved": "The case is approved. Your decision is recorded with your name.",
        "case-denied": "The case is denied. The requester sees your reason and may appeal.",
        "case-appealed": "Your appeal is recorded. A different reviewer will decide it.",
        "case-answered": "Your answers are recorded and the case has been assessed again.",
    }
)


@router.get("/app/cases", response_class=HTMLResponse)
async def queue(
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_CASES))],
) -> Response:
    """Cases soonest due first with their clocks; a GET form filters them."""
    query, errors = queue_query(clean_params(request), user)
    rows: list[QueueRow] = []
    if not errors:
        app = state(request)
        now = app.now()
        found = await run_in_threadpool(
            case_service.list_cases, app.db, user.actor(), case_filter(query), now=now
        )
        rows = [queue_row(stored, now) for stored in found]
    first = (query.page - 1) * queue_views.PAGE_SIZE + 1
    return render(
        request,
        "cases_queue.html",
        user,
        status=400 if errors else 200,
        query=query,
        rows=rows,
        errors=errors,
        first=first,
        last=first + len(rows) - 1,
        previous=query.link(page=query.page - 1) if query.page > 1 else None,
        next=query.link(page=query.page + 1) if len(rows) == queue_views.PAGE_SIZE else None,
        state_choices=STATE_CHOICES,
        due_choices=DUE_CHOICES,
        priority_choices=PRIORITY_CHOICES,
        requester=user.role is Role.REQUESTER,
    )


@router.get("/app/cases/{case_id}", response_class=HTMLResponse)
async def case_page(
    case_id: str,
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_CASES))],
) -> Response:
    """One case: summary, clock, determinations with evidence, questions, actions, timeline."""
    return await show_case(request, user, checked_id(case_id))


@router.post("/app/cases/{case_id}/decision", response_class=HTMLResponse)
async def decide(
    case_id: str,
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_CASES))],
) -> Response:
    """A reviewer approves (optional note) or denies (reason required)."""
    case_id = checked_id(case_id)
    form = await form_data(request)
    await check_allowed(request, user, Permission.DECIDE, case_id)
    verdict = form_text(form, "decision")
    if verdict not in ("approve", "deny"):
        raise PageError(400, "Choose Approve or Deny on the case page.")
    field = "approve-note" if verdict == "approve" else "deny-reason"
    reason = form_text(form, "reason")
    values = {field: reason}
    if json_shape_problem(reason):
        return await show_case(
            request, user, case_id, status=400, errors={field: UNSTORABLE}, values=values
        )
    if verdict == "deny" and not reason.strip():
        return await show_case(
            request,
            user,
            case_id,
            status=400,
            values=values,
            errors={
                field: "Write the reason for the denial: the requester is told it and may appeal "
                "against it."
            },
        )
    written = reason if reason.strip() else APPROVED_WITHOUT_NOTE
    app = state(request)
    try:
        await run_in_threadpool(
            case_service.decide,
            app.db,
            user.actor(),
            case_id,
            as_verdict(verdict),
            written,
            now=app.now(),
        )
    except case_service.NotFound:
        raise not_found() from None
    except case_service.Forbidden as exc:
        raise PageError(403, f"{str(exc).capitalize()}.") from None
    except InputError as exc:
        return await show_case(
            request, user, case_id, status=400, values=values, errors={field: sentence(exc.message)}
        )
    except case_service.Conflict as exc:
        return await show_case(
            request,
            user,
            case_id,
            status=409,
            values=values,
            errors={"decision": sentence(str(exc))},
        )
    done = "case-approved" if verdict == "approve" else "case-denied"
    return RedirectResponse(f"/app/cases/{case_id}?done={done}", status_code=303)


@router.post("/app/cases/{case_id}/appeal", response_class=HTMLResponse)
async def appeal(
    case_id: str,
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_CASES))],
) -> Response:
    """The requesting organisation appeals a reviewer's denial (reason required)."""
    case_id = checked_id(case_id)
    form = await form_data(request)
    await check_allowed(request, user, Permission.APPEAL, case_id)
    reason = form_text(form, "reason")
    values = {"appeal-reason": reason}
    problem = (
        UNSTORABLE
        if json_shape_problem(reason)
        else (
            None
            if reason.strip()
            else "Write the reason for the appeal: the reviewer who decides it reads it."
        )
    )
    if problem:
        return await show_case(
            request, user, case_id, status=400, values=values, errors={"appeal-reason": problem}
        )
    app = state(request)
    try:
        await run_in_threadpool(
            case_service.appeal, app.db, user.actor(), case_id, reason, now=app.now()
        )
    except case_service.NotFound:
        raise not_found() from None
    except InputError as exc:
        return await show_case(
            request,
            user,
            case_id,
            status=400,
            values=values,
            errors={"appeal-reason": sentence(exc.message)},
        )
    except case_service.Conflict as exc:
        return await show_case(
            request, user, case_id, status=409, values=values, errors={"appeal": sentence(str(exc))}
        )
    return RedirectResponse(f"/app/cases/{case_id}?done=case-appealed", status_code=303)


@router.post("/app/cases/{case_id}/answers", response_class=HTMLResponse)
async def answer(
    case_id: str,
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_CASES))],
) -> Response:
    """Answer outstanding questions; the case is reassessed (as POST /cases/{id}/answers)."""
    case_id = checked_id(case_id)
    form = await form_data(request)
    await check_allowed(request, user, Permission.ANSWER, case_id)
    answers, errors, values = read_answers(form, user)
    if errors:
        return await show_case(request, user, case_id, status=400, errors=errors, values=values)
    app = state(request)
    try:
        await run_in_threadpool(add_page_answers, app.db, user, case_id, answers, app.now())
    except case_service.NotFound:
        raise not_found() from None
    except InputError as exc:
        return await show_case(
            request,
            user,
            case_id,
            status=400,
            values=values,
            errors={"answers": sentence(exc.message)},
        )
    except case_service.Conflict as exc:
        return await show_case(
            request,
            user,
            case_id,
            status=409,
            values=values,
            errors={"answers": sentence(str(exc))},
        )
    return RedirectResponse(f"/app/cases/{case_id}?done=case-answered", status_code=303)
