"""The whole service as one ASGI application: the API (`vertebro.api`) and the web pages
(`vertebro.web`) on the same accounts, database and clock. `vertebro serve` runs this."""

from __future__ import annotations

import os

from fastapi import FastAPI

from vertebro.adapters.db.repository import Database
from vertebro.api.deps import Clock
from vertebro.api.main import create_app
from vertebro.case_service import warm_up
from vertebro.settings import Settings
from vertebro.web.app import install


def create_server(
    settings: Settings, *, database: Database | None = None, clock: Clock | None = None,
    migrate: bool | None = None,
) -> FastAPI:
    """The API with the web pages mounted (see `vertebro.api.main.create_app` for the
    arguments)."""
    app = create_app(settings, database=database, clock=clock, migrate=migrate)
    install(app)
    return app


def app_from_env() -> FastAPI:
    """The service configured from the environment (uvicorn's `--factory` entry point)."""
    settings = Settings.from_env(os.environ)
    app = create_server(settings)
    if settings.warm_up:
        warm_up()
    return app
