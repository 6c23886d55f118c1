"""Signing in and out, and the start page with the tasks the account's role may do."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vertebro.api.deps import state
from vertebro.api.security import AuthError, Principal
from vertebro.settings import DEMO_CLIENT_SECRET, Environment
from vertebro.web.session import COOKIE, current_user, form_data, page_user, safe_next, sign_in
from vertebro.web.templating import render

router = APIRouter()


def _demo_accounts(request: Request) -> list[dict[str, str]]:
    settings = state(request).settings
    if settings.environment is not Environment.DEVELOPMENT or settings.principals:
        return []
    return [{"client_id": a.client_id or "", "name": a.name, "role": a.role.value,
             "organisation": a.organisation} for a in settings.accounts]


@router.get("/app/login", response_class=HTMLResponse)
async def login_page(
    request: Request, next_url: Annotated[str, Query(alias="next")] = "/app",
    expired: str | None = None,
) -> Response:
    """The sign-in form."""
    if current_user(request) is not None:
        return RedirectResponse(safe_next(next_url), status_code=303)
    return render(request, "login.html", None, next=safe_next(next_url),
                  error="Your session has ended; sign in again." if expired else None,
                  account="", demo=_demo_accounts(request), demo_secret=DEMO_CLIENT_SECRET)


@router.post("/app/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Check the account and password; on success set the session cookie."""
    form = await request.form()
    account = str(form.get("account") or "")
    password = str(form.get("password") or "")
    next_url = safe_next(form.get("next"))
    app = state(request)
    try:
        token, ttl = sign_in(app, account, password)
    except AuthError:
        return render(request, "login.html", None, status=401, next=next_url,
                      error="The account or the password is not right.", account=account,
                      demo=_demo_accounts(request), demo_secret=DEMO_CLIENT_SECRET)
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(COOKIE, token, max_age=ttl, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.post("/app/logout")
async def logout(request: Request) -> RedirectResponse:
    """End the session (the cookie is removed; the token dies with it)."""
    await form_data(request)  # a cross-site page cannot sign the person out
    response = RedirectResponse("/app/login?done=signed-out", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/app", response_class=HTMLResponse)
async def home(request: Request, user: Annotated[Principal, Depends(page_user)]) -> Response:
    """What this account can do, one card per task."""
    return render(request, "home.html", user)
