"""The FastAPI application: `create_app(settings)`, and `app_from_env()` for uvicorn."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from vertebro import __version__
from vertebro.adapters.db.migrate import current_revision, head_revision, upgrade
from vertebro.adapters.db.repository import Database, make_database
from vertebro.api import errors
from vertebro.api.deps import AppState, Clock
from vertebro.api.routes import assess, auth, cases, cds, dtr, health, pas, registry
from vertebro.api.security import PERMISSIONS, Authenticator
from vertebro.case_service import warm_up
from vertebro.settings import DEMO_CLIENT_SECRET, DEMO_KEYS, Environment, Settings


class DatabaseNotReady(RuntimeError):
    """The database schema is older than this version of vertebro."""


def _role_table() -> str:
    rows = "\n".join(
        f"| {role.value} | {', '.join(sorted(p.value for p in perms))} |"
        for role, perms in PERMISSIONS.items()
    )
    return "| role | may |\n|---|---|\n" + rows


def _description(settings: Settings) -> str:
    demo = ""
    if settings.environment is Environment.DEVELOPMENT and not settings.principals:
        keys = ", ".join(f"`{k}` ({name})" for name, k in DEMO_KEYS.items())
        demo = (f"\n\n**Development accounts** (refused outside development): API keys {keys}; "
                f"client ids `demo-<name>` with secret `{DEMO_CLIENT_SECRET}`.")
    return f"""Computable, cited policies for vertebroplasty, kyphoplasty and sacroplasty as a
prior-authorisation service: assessment, cases with CMS-0057-F clocks, Da Vinci PAS, CRD (CDS
Hooks) and DTR.

**No automated denial.** Software approves (every criterion met) or pends (information missing,
or a clinician must review). Only a named person with the reviewer role records a denial.

**Authentication.** Every endpoint except `GET /cds-services` needs `Authorization: Bearer
<token>` (OAuth2 client credentials: `POST /auth/token` with `grant_type=client_credentials`,
`client_id`, `client_secret`; tokens last {settings.token_ttl_seconds} s) or `X-API-Key: <key>`.
Requesters see only their own organisation's cases.

{_role_table()}

**Errors** are FHIR OperationOutcomes: 400 bad input, 401, 403, 404, 409 (identifier reused,
or a transition the lifecycle does not allow), 412 (CRD without a Coverage), 413 (body over
{settings.max_body_bytes:,} bytes, `VERTEBRO_MAX_BODY_BYTES`), 415, 501 (no note reader).

**Audit.** Every read and write of a case is recorded as a FHIR AuditEvent
(`GET /audit-events`, auditors and admins); there is no way to change or delete one.{demo}"""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_app(
    settings: Settings, *, database: Database | None = None, clock: Clock | None = None,
    migrate: bool | None = None,
) -> FastAPI:
    """Build the application.

    `migrate`: bring the schema up to date first; by default only for SQLite (no setup).
    Otherwise an out-of-date schema refuses to start (run `vertebro db upgrade`).

    Raises:
        DatabaseNotReady: the schema is behind and was not migrated.
    """
    db = database or make_database(settings.database_url)
    if migrate if migrate is not None else db.engine.dialect.name == "sqlite":
        upgrade(db.engine)
    elif current_revision(db.engine) != head_revision():
        raise DatabaseNotReady(
            f"the database is at revision {current_revision(db.engine)}, this version needs "
            f"{head_revision()}: run `vertebro db upgrade`")
    app = FastAPI(
        title="vertebro", version=__version__, description=_description(settings),
        docs_url="/docs", redoc_url=None,
    )
    app.state.vertebro = AppState(settings, db, Authenticator(settings), clock or _utcnow)
    app.state.settings = settings
    app.state.unexpected_errors = 0
    errors.install(app)
    for module in (health, auth, assess, cases, pas, cds, dtr, registry):
        app.include_router(module.router)
    app.add_middleware(errors.BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(errors.RequestLog)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "clientCredentials": {"type": "oauth2", "flows": {
                "clientCredentials": {"tokenUrl": "/auth/token", "scopes": {}}}},
        }
        open_paths = {"/cds-services", "/auth/token", "/healthz", "/readyz"}
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                if path not in open_paths:
                    operation["security"] = [{"bearer": []}, {"apiKey": []},
                                             {"clientCredentials": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """The application configured from the environment (uvicorn's `--factory` entry point),
    with the slow lookup tables loaded before the first request."""
    settings = Settings.from_env(os.environ)
    app = create_app(settings)
    if settings.warm_up:
        warm_up()
    return app
