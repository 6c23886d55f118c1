"""Request dependencies: the application state, the clock, the caller and request bodies."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from vertebro.adapters import policy_files
from vertebro.adapters.db.repository import Database
from vertebro.adapters.fhir.bundle import NonFiniteNumber, json_shape_problem, strict_json_loads
from vertebro.api.errors import ApiError
from vertebro.api.security import Authenticator, Permission, Principal
from vertebro.case_service import NotFound, record_access
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
        check_url(request)
        case_id = request.path_params.get("case_id")
        if case_id is not None and not plausible_case_id(case_id):
            case_id = None  # never a stored case: not recorded, and below simply not found
            if principal.may(permission):
                raise NotFound(request.path_params["case_id"][:MAX_CASE_ID_CHARS] + "...")
        if not principal.may(permission):
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


MAX_CASE_ID_CHARS = 64  # case ids are UUIDs; the store's case_id columns hold 64 characters


def plausible_case_id(case_id: str) -> bool:
    """Whether a path's case id could name a stored case (bounded, printable). Anything else
    is answered as an unknown case, without writing it to the audit trail's case_id column."""
    return 0 < len(case_id) <= MAX_CASE_ID_CHARS and case_id.isprintable()


_MAX_SQL_INTEGER = 2**63 - 1


def check_url(request: Request) -> None:
    """Refuse path or query values no database can take, which would otherwise fail deep in a
    route as a 500: NUL characters or unpaired surrogates (PostgreSQL refuses NUL in text), and
    whole numbers beyond 64 bits (SQLite raises OverflowError for an `offset` of 2**64).

    Raises:
        ApiError: 400, naming the fault.
    """
    values = [*request.path_params.values(), *request.query_params.keys(),
              *request.query_params.values()]
    if any(json_shape_problem(value) for value in values if isinstance(value, str)):
        raise ApiError(400, "the URL holds a NUL character or an unpaired surrogate "
                            "(percent-encoded)", "structure")
    for name, value in request.query_params.multi_items():
        digits = value.strip().lstrip("+-").lstrip("0")
        if digits.isdigit() and (len(digits) > 19 or int(digits) > _MAX_SQL_INTEGER):
            raise ApiError(400, f"query parameter {name[:40]!r} is out of range", "value",
                           expression=name[:40])


def policy_id(asked: str | None, default: str) -> str:
    """A shipped policy's id, as the API takes it (`?policy=`, a case's `policy`).

    Only ids of shipped policies: the policy reader also takes a file path (for the CLI),
    which over HTTP would let a caller make the server read any file (or /dev/zero).

    Raises:
        ApiError: not a shipped policy id (400, listing the known ones).
    """
    if asked is None:
        return default
    known = policy_files.known_ids()
    if asked not in known:
        shown = asked if len(asked) <= 100 else asked[:100] + "..."  # no 1 MB echo
        raise ApiError(400, f"unknown policy {shown!r}; known policies: {', '.join(known)}",
                       "code-invalid", expression="policy")
    return asked


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
        data = strict_json_loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                       "structure") from None
    except NonFiniteNumber as exc:
        raise ApiError(400, f"malformed JSON: {exc}", "structure") from None
    except RecursionError:
        raise ApiError(400, "JSON nested too deeply", "structure") from None
    # Depth, NUL and lone surrogates are refused here, once, so that no reader, encoder or
    # database driver further on meets them (tests/security/test_resource_limits.py).
    problem = json_shape_problem(data, escapes="\\u" in text)
    if problem:
        raise ApiError(400, problem, "structure")
    return data


def json_object(data: Any, what: str) -> dict[str, Any]:
    """The body if it is a JSON object, else a 400 naming what was expected."""
    if not isinstance(data, dict):
        raise ApiError(400, f"expected {what} (a JSON object); got a JSON "
                            f"{type(data).__name__}", "structure")
    return data

