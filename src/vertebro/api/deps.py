"""Request dependencies: the application state, the clock, the caller and request bodies."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from vertebro.adapters.db.repository import Database
from vertebro.api.errors import ApiError
from vertebro.api.security import Authenticator, Permission, Principal
from vertebro.case_service import record_access
from vertebro.settings import Settings

JSON_TYPES = ("application/json", "application/fhir+json")
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True, slots=True)
class AppState:
    """What every route needs: settings, the database, the authenticator and the clock."""

    settings: Settings
    db: Database
    auth: Authenticator
    clock: Clock

    def now(self) -> dt.datetime:
        """The current time (timezone-aware, UTC), from the injectable clock."""
        value = self.clock()
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def state(request: Request) -> AppState:
    """The application state."""
    app_state: AppState = request.app.state.vertebro
    return app_state


def authenticate(request: Request) -> Principal:
    """The caller, from `Authorization: Bearer` or `X-API-Key`.

    Raises:
        AuthError: no or bad credentials (401).
    """
    return state(request).auth.from_headers(
        request.headers.get("authorization"), request.headers.get("x-api-key"))


def require(permission: Permission) -> Callable[[Request], Principal]:
    """A dependency: the caller, who must hold `permission` (else 403, recorded in the audit
    trail when the route concerns a case)."""

    def dependency(request: Request) -> Principal:
        principal = authenticate(request)
        if not principal.may(permission):
            case_id = request.path_params.get("case_id")
            app = state(request)
            if case_id is not None:
                record_access(app.db, principal.actor(), now=app.now(),
                              operation=f"refused: {permission.value}", case_ids=[case_id],
                              action="E", outcome="4")
            raise ApiError(403, f"the {principal.role.value} role may not {permission.value}",
                           "forbidden")
        return principal

    dependency.__name__ = f"require_{permission.value.replace('-', '_')}"
    return dependency


async def json_body(request: Request) -> Any:
    """The request body parsed as JSON (application/json or application/fhir+json).

    Raises:
        ApiError: wrong media type (415), empty, not UTF-8 or not JSON (400).
    """
    media = (request.headers.get("content-type") or "application/json").split(";")[0].strip()
    if media.lower() not in JSON_TYPES:
        raise ApiError(415, f"send JSON (application/json or application/fhir+json), not "
                            f"{media}", "not-supported")
    return parse_json(await request.body())


def parse_json(raw: bytes) -> Any:
    """Bytes to JSON, with errors as 400 OperationOutcomes naming the line and column."""
    if not raw.strip():
        raise ApiError(400, "the request body is empty", "required")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8 text", "structure") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                       "structure") from None
    except RecursionError:
        raise ApiError(400, "JSON nested too deeply", "structure") from None


def json_object(data: Any, what: str) -> dict[str, Any]:
    """The body if it is a JSON object, else a 400 naming what was expected."""
    if not isinstance(data, dict):
        raise ApiError(400, f"expected {what} (a JSON object); got a JSON "
                            f"{type(data).__name__}", "structure")
    return data

