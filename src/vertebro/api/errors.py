"""Errors as FHIR OperationOutcomes, the request-size limit, and request logging.

Every error response carries an OperationOutcome (`application/fhir+json`): bad input 400,
authentication 401, role 403, unknown case or route 404, wrong method 405, a reused identifier
or a transition the lifecycle does not allow 409, a body over the limit 413, an unsupported
media type 415, the CDS Hooks precondition failure 412, the missing note reader 501.
Anything unexpected becomes a 500 OperationOutcome as a last resort; it is logged by exception
type and request id only - never with the request's content or the exception's message, which
may hold patient data.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vertebro.adapters.db.codec import CodecError
from vertebro.adapters.errors import InputError
from vertebro.api.fhir.outcome import FHIR_JSON, IssueType, operation_outcome
from vertebro.api.security import AuthError
from vertebro.case_service import Conflict, Forbidden, NoteReaderUnavailable, NotFound

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


def install(app: FastAPI) -> None:
    """Register the exception handlers."""

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


def _too_large_response(limit: int) -> JSONResponse:
    return outcome_response(413, f"the request body is larger than the limit of {limit:,} "
                                 "bytes (VERTEBRO_MAX_BODY_BYTES)", "too-costly")


class BodyLimit:
    """Refuse request bodies over the limit: by Content-Length before reading, else while
    reading (chunked uploads)."""

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
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "(no route)")
            log.info("%s %s -> %s in %.1f ms (request %s)", scope.get("method"), template,
                     status["code"], (time.perf_counter() - start) * 1000, rid)
