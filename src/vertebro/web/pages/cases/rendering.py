"""Rendering the case page (with a form's errors and values), and the page for a case not found."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from vertebro import case_service
from vertebro.api.deps import state
from vertebro.api.security import Principal
from vertebro.web.pages.cases.case_views import case_context
from vertebro.web.pages.cases.forms import FormErrors
from vertebro.web.session import PageError
from vertebro.web.templating import render


def not_found() -> PageError:
    """The 404 page for a case that does not exist or that the user may not see."""
    # The same words whether the case does not exist or belongs to another organisation.
    return PageError(404, "There is no case at this address that you may see.")


async def show_case(
    request: Request,
    user: Principal,
    case_id: str,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: Mapping[str, Any] | None = None,
) -> Response:
    """The case page, with the errors and values of a form that was sent back, if any."""
    app = state(request)
    now = app.now()
    try:
        stored = await run_in_threadpool(
            case_service.get_case, app.db, user.actor(), case_id, now=now
        )
    except case_service.NotFound:
        raise not_found() from None
    context = case_context(stored, now, user)
    return render(
        request,
        "cases_case.html",
        user,
        status=status,
        errors=errors or {},
        values=values or {},
        **context,
    )
