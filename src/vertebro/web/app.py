"""Mount the web pages on the service's FastAPI application."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vertebro.api.errors import BodyTooLarge
from vertebro.web.pages import PAGES
from vertebro.web.session import LoginRequired, PageError, current_user, login_url
from vertebro.web.templating import render

log = logging.getLogger("vertebro.web")
STATIC = Path(__file__).parent / "static"
# htmx comes from npm (package-lock.json); the pages work without it.
HTMX = Path(__file__).resolve().parents[3] / "node_modules" / "htmx.org" / "dist" / "htmx.min.js"

SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
     b"script-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; "
     b"base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def is_page(path: str) -> bool:
    """Whether a path belongs to the web pages (errors there are pages, not OperationOutcomes)."""
    return path == "/" or path == "/app" or path.startswith("/app/")


def _too_large_message(limit: int) -> str:
    return (f"What you sent is larger than this service accepts ({limit:,} bytes). Send a "
            "smaller file, or only the part of the record that matters.")


class PageHeaders:
    """Security headers on every web page (not on the API, whose clients are not browsers),
    and a page rather than an OperationOutcome for a body declared over the size limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_page(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            page = render(Request(scope), "error.html", None, status=413, status_code=413,
                          message=_too_large_message(self.limit))
            page.headers.update({k.decode(): v.decode() for k, v in SECURITY_HEADERS})
            await page(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).extend(SECURITY_HEADERS)
            await send(message)

        await self.app(scope, receive, sending)


async def _call(handler: Any, request: Request, exc: Exception) -> Response:
    """Run the API's own handler for an error outside the pages."""
    result = handler(request, exc)
    response: Response = await result if inspect.isawaitable(result) else result
    return response


def install(app: FastAPI) -> None:
    """Add the pages, their static files and their error pages to the application."""
    for router in PAGES:
        app.include_router(router, include_in_schema=False)

    @app.get("/static/htmx.min.js", include_in_schema=False)
    async def htmx() -> Response:
        if HTMX.is_file():
            return FileResponse(HTMX, media_type="text/javascript")
        # Without htmx every page still works: forms post and the server redirects.
        return Response("/* htmx is not installed (npm ci); pages work without it */",
                        media_type="text/javascript")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/app", status_code=303)

    @app.exception_handler(LoginRequired)
    async def _login(_: Request, exc: LoginRequired) -> RedirectResponse:
        target = login_url(exc.next_url)
        if exc.reason:
            target += "&expired=1"
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        return render(request, "error.html", current_user(request), status=exc.status,
                      status_code=exc.status, message=exc.message)

    api_fallback = app.exception_handlers.get(Exception)

    async def _unexpected(request: Request, exc: Exception) -> Response:
        if not is_page(request.url.path):
            if api_fallback is None:
                raise exc
            return await _call(api_fallback, request, exc)
        rid = getattr(request.state, "request_id", "-")
        # Only the type and where: messages may quote patient data.
        log.error("unexpected %s on a web page %s (request %s)", type(exc).__name__,
                  getattr(request.scope.get("route"), "path", "?"), rid)
        return render(request, "error.html", None, status=500, status_code=500,
                      message=f"Something went wrong (request {rid}) and the request was not "
                              "completed. Try again, or give the service team the request "
                              "number.")

    api_http = app.exception_handlers.get(StarletteHTTPException)

    async def _http(request: Request, exc: Exception) -> Response:
        if not is_page(request.url.path) or not isinstance(exc, StarletteHTTPException):
            if api_http is None:
                raise exc
            return await _call(api_http, request, exc)
        message = ("There is no such page." if exc.status_code == 404
                   else f"This request cannot be handled ({exc.status_code}).")
        return render(request, "error.html", current_user(request), status=exc.status_code,
                      status_code=exc.status_code, message=message)

    api_too_large = app.exception_handlers.get(BodyTooLarge)

    async def _too_large(request: Request, exc: Exception) -> Response:
        if not is_page(request.url.path) and api_too_large is not None:
            return await _call(api_too_large, request, exc)
        limit = request.app.state.settings.max_body_bytes
        return render(request, "error.html", current_user(request), status=413,
                      status_code=413, message=_too_large_message(limit))

    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(BodyTooLarge, _too_large)
    app.add_middleware(PageHeaders, limit=app.state.settings.max_body_bytes)
