"""Signing in to the web pages, and the checks every page makes.

A person signs in with their account's client id and secret. The session is the same kind of
signed token the API issues, with its own audience (`vertebro-web`), kept in an HttpOnly,
SameSite=Strict cookie: the API never accepts it and a page never accepts an API token. The
account is looked up again on every request, so removing an account ends its sessions.

Forms are protected against cross-site requests twice: the SameSite cookie, and a token in
every POST form derived from the session (an HMAC with the signing key), checked by `form_data`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import Request
from starlette.datastructures import FormData

from vertebro.api.deps import AppState, state
from vertebro.api.security import AuthError, Permission, Principal

COOKIE = "vertebro_session"
AUDIENCE = "vertebro-web"
CSRF_FIELD = "csrf_token"


class LoginRequired(Exception):
    """The page needs a signed-in account; carries where to return after signing in."""

    def __init__(self, next_url: str, reason: str | None = None) -> None:
        super().__init__(reason or "sign in to continue")
        self.next_url = next_url
        self.reason = reason


class PageError(Exception):
    """A page cannot be shown: the status and a sentence for the person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def sign_in(app: AppState, account: str, password: str) -> tuple[str, int]:
    """A session token for an account and its lifetime.

    Raises:
        AuthError: unknown account or wrong password (not told apart).
    """
    return app.auth.issue_token(account.strip(), password, audience=AUDIENCE,
                                ttl=app.settings.web_session_seconds)


def session_token(request: Request) -> str | None:
    """The session cookie, if any."""
    return request.cookies.get(COOKIE) or None


def current_user(request: Request) -> Principal | None:
    """The signed-in account, or None (no, expired or forged session)."""
    token = session_token(request)
    if token is None:
        return None
    try:
        return state(request).auth.bearer(token, audience=AUDIENCE)
    except AuthError:
        return None


def _here(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{request.url.path}{query}"


def page_user(request: Request) -> Principal:
    """A dependency: the signed-in account (else a redirect to the sign-in page).

    Raises:
        LoginRequired: nobody is signed in, or the session has expired.
    """
    user = current_user(request)
    if user is None:
        reason = "Your session has ended; sign in again." if session_token(request) else None
        raise LoginRequired(_here(request), reason)
    return user


def page_require(permission: Permission) -> Callable[[Request], Principal]:
    """A dependency: the signed-in account, which must hold `permission` (else a 403 page)."""

    def dependency(request: Request) -> Principal:
        user = page_user(request)
        if not user.may(permission):
            raise PageError(403, f"Your role ({user.role.value}) may not "
                                 f"{permission.value.replace('-', ' ')}.")
        return user

    dependency.__name__ = f"page_require_{permission.value.replace('-', '_')}"
    return dependency


def csrf_token(request: Request) -> str:
    """The form token for this session ("" when signed out)."""
    token = session_token(request)
    if token is None:
        return ""
    key = state(request).settings.jwt_secret.encode("utf-8")
    return hmac.new(key, b"csrf:" + token.encode("utf-8"), hashlib.sha256).hexdigest()


async def form_data(request: Request) -> FormData:
    """The posted form, after checking its CSRF token.

    Raises:
        PageError: the token is missing or does not belong to this session (403).
    """
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = csrf_token(request)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise PageError(403, "This form has expired or did not come from vertebro. Go back, "
                             "reload the page and submit it again.")
    return form


def login_url(next_url: str) -> str:
    """The sign-in page, returning to `next_url` afterwards."""
    return f"/app/login?next={quote(next_url, safe='')}"


def safe_next(value: Any) -> str:
    """Where to go after signing in: only a path inside the web app (no open redirects)."""
    if isinstance(value, str) and value.startswith("/app") and not value.startswith("//") and (
        "\\" not in value
    ):
        return value
    return "/app"

