"""Errors as FHIR OperationOutcomes, the request-size limit, and request logging.

Every error response carries an OperationOutcome (`application/fhir+json`): bad input 400,
authentication 401, role 403, unknown case or route 404, wrong method 405, a reused identifier
or a transition the lifecycle does not allow 409, a body over the limit 413, an unsupported
media type 415, the CDS Hooks precondition failure 412, the missing note reader 501, the
database unavailable 503 (with Retry-After).
Anything unexpected becomes a 500 OperationOutcome as a last resort; it is logged by exception
type and request id only - never with the request's content or the exception's message, which
may hold patient data.
"""

from __future__ import annotations

import inspect
import logging
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vertebro.adapters.db.codec import CodecError
from vertebro.adapters.db.repository import DatabaseUnavailable
from vertebro.adapters.errors import InputError
from vertebro.api.fhir.outcome import FHIR_JSON, IssueType, operation_outcome
from vertebro.api.security import AuthError
from vertebro.case_service import Conflict, Forbidden, NoteReaderUnavailable, NotFound
from vertebro.core.cases import CaseError

log = logging.getLogger("vertebro.api")


class ApiError(Exception):
    """An error with its HTTP status and OperationOutcome issue type."""

    def __init__(self, status: int, message: str, code: IssueType = "invalid",
                 expression: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.expression = expression
        self.headers = headers or {}


class BodyTooLarge(Exception):
    """The request body passed the configured limit while it was being read."""


def outcome_response(status: int, message: str, code: IssueType, *,
                     expression: str | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    """An OperationOutcome response."""
    return JSONResponse(operation_outcome(message, code, expression=expression),
                        status_code=status, media_type=FHIR_JSON, headers=headers)


# The OpenAPI description of every error response, so that clients and schema-driven tests
# (tests/security/test_api_fuzz.py) know an error is an OperationOutcome, not FastAPI's 422.
OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["severity", "code"],
            "properties": {"severity": {"type": "string"}, "code": {"type": "string"},
                           "diagnostics": {"type": "string"},
                           "expression": {"type": "array", "items": {"type": "string"}}}}},
    },
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": f"OperationOutcome: {what}",
             "content": {FHIR_JSON: {"schema": OUTCOME_SCHEMA}}}
    for status, what in (("4XX", "the request was refused (see errors above)"),
                         ("5XX", "an unexpected failure; the request was not completed"))
}


def install(app: FastAPI) -> None:
    """Register the exception handlers, and document the error responses on every route
    included after this call (FastAPI then also leaves out its unused 422)."""
    app.router.responses = {**ERROR_RESPONSES, **app.router.responses}

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return outcome_response(exc.status, exc.message, exc.code, expression=exc.expression,
                                headers=exc.headers)

    @app.exception_handler(InputError)
    async def _input(_: Request, exc: InputError) -> JSONResponse:
        if isinstance(exc, NoteReaderUnavailable):
            return outcome_response(501, exc.message, "not-supported")
        where = exc.source.lstrip("-") if exc.source and not exc.source.startswith("<") else None
        return outcome_response(400, exc.message, "invalid", expression=where)

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        return outcome_response(401, exc.message, "login",
                                headers={"WWW-Authenticate": f'Bearer error="{exc.error}"'})

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return outcome_response(404, f"no case {exc} visible to this account", "not-found")

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return outcome_response(403, str(exc), "forbidden")

    @app.exception_handler(CaseError)
    async def _case_error(_: Request, exc: CaseError) -> JSONResponse:
        # A lifecycle rule broken by the request itself (e.g. a Claim identifier longer than a
        # case may hold) - transitions refused by the lifecycle arrive as Conflict (409).
        return outcome_response(400, str(exc), "invalid")

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value (too long for its column, a character it cannot store):
        # bad input, and the unit of work was rolled back. The driver's text quotes the
        # statement's parameters (patient data), so neither the reply nor the log repeats it.
        log.warning("database refused a value (%s) in %s %s (request %s)",
                    type(exc.orig).__name__, request.method,
                    getattr(request.scope.get("route"), "path", "?"),
                    getattr(request.state, "request_id", "-"))
        return outcome_response(400, "a value in the request is too long or holds characters "
                                     "that cannot be stored", "invalid")

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return outcome_response(409, str(exc), "conflict")

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, _: BodyTooLarge) -> JSONResponse:
        return _too_large_response(request.app.state.settings.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return outcome_response(400, f"{where}: {first.get('msg')}", "invalid",
                                expression=where or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code: IssueType = "not-found" if exc.status_code == 404 else (
            "not-supported" if exc.status_code in (405, 415) else "processing")
        return outcome_response(exc.status_code, str(exc.detail), code,
                                headers=dict(exc.headers or {}))

    @app.exception_handler(DatabaseUnavailable)
    async def _database_down(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        # Transient: the unit of work rolled back (or, if the connection died during COMMIT,
        # perhaps not), so the answer is "send it again": repeats with the same identifier
        # replay the stored answer, so a retry never makes a second case.
        log.warning("database unavailable in %s %s (request %s): %s", request.method,
                    getattr(request.scope.get("route"), "path", "?"),
                    getattr(request.state, "request_id", "-"), exc)
        return outcome_response(503, "the database is unavailable; send the same request "
                                     "again shortly (a repeated submission is stored once)",
                                "transient",
                                headers={"Retry-After": "5"})

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, _: ClientDisconnect) -> Response:
        # The client hung up before its body arrived (e.g. its own timeout): nothing was done,
        # nobody is listening. Not a server fault, so no 500 and no traceback; 499 as nginx
        # logs it.
        log.info("client disconnected during %s %s (request %s)", request.method,
                 getattr(request.scope.get("route"), "path", "?"),
                 getattr(request.state, "request_id", "-"))
        return Response(status_code=499)

    @app.exception_handler(CodecError)
    async def _codec(request: Request, exc: CodecError) -> JSONResponse:
        return _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _any(request: Request, exc: Exception) -> JSONResponse:
        return _unexpected(request, exc)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    state = request.app.state
    state.unexpected_errors = getattr(state, "unexpected_errors", 0) + 1
    rid = getattr(request.state, "request_id", "-")
    route = request.scope.get("route")
    template = getattr(route, "path", "?")
    # Only the type and where: messages and tracebacks may quote patient data.
    log.error("unexpected %s in %s %s (request %s)", type(exc).__name__, request.method,
              template, rid)
    return outcome_response(500, f"internal error (request {rid}); the request was not "
                                 "completed", "exception")


async def _last_resort(scope: Scope, exc: Exception) -> Response:
    """The answer of the app's handler for any exception (the web pages install their own,
    which renders a page and defers to `_unexpected` elsewhere), else `_unexpected`'s."""
    request = Request(scope)
    handler = getattr(scope.get("app"), "exception_handlers", {}).get(Exception)
    if handler is None:
        return _unexpected(request, exc)
    result = handler(request, exc)
    response: Response = await result if inspect.isawaitable(result) else result
    return response


def _too_large_response(limit: int) -> JSONResponse:
    return outcome_response(413, f"the request body is larger than the limit of {limit:,} "
                                 "bytes (VERTEBRO_MAX_BODY_BYTES)", "too-costly")


class BodyLimit:
    """Refuse compressed request bodies (415) and bodies over the limit (413): by
    Content-Length before reading, else while reading (chunked uploads)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.limit
            except ValueError:
                too_big = False
            if too_big:
                await _too_large_response(self.limit)(scope, receive, send)
                return
        coding = headers.get(b"content-encoding", b"identity").decode("latin-1").strip().lower()
        if coding not in ("", "identity"):
            # Nothing here decompresses request bodies, so a compressed body can never expand
            # past the limit (no gzip bomb); say so instead of calling it malformed JSON.
            await outcome_response(415, f"Content-Encoding {coding[:40]!r} is not accepted; "
                                        "send the request body uncompressed",
                                   "not-supported")(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge()
            return message

        await self.app(scope, counted, send)


class RequestLog:
    """One log line per request: method, route template, status, time and a request id.
    No path parameters, query strings, headers or bodies are logged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid
        start = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            # Answered here rather than by the app-wide handler: Starlette's outer error
            # middleware re-raises after answering, and the server then logs the traceback,
            # whose message may quote patient data (tests/security/test_log_privacy.py).
            if status.get("started"):
                log.error("unexpected %s after the response started (request %s)",
                          type(exc).__name__, rid)
                raise RuntimeError("the response failed after it started") from None
            await (await _last_resort(scope, exc))(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "(no route)")
            log.info("%s %s -> %s in %.1f ms (request %s)", scope.get("method"), template,
                     status["code"], (time.perf_counter() - start) * 1000, rid)
