"""Shared by registry and audit: --db, --database-url, --organisation; the service database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from vertebro.cli.common import fail

# --- The audit and outcomes registry ------------------------------------------------------------
#
# The registry lives in the service database (VERTEBRO_DATABASE_URL, or the SQLite default), so
# that what the API and the web pages record is what the report reads; `--db FILE` (or
# VERTEBRO_REGISTRY_DB) keeps a registry in a SQLite file of its own instead.

REGISTRY_DB = click.option(
    "--db",
    "db_path",
    envvar="VERTEBRO_REGISTRY_DB",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A registry SQLite file of its own (or set VERTEBRO_REGISTRY_DB); without it, the "
    "service database.",
)
_F = TypeVar("_F", bound=Callable[..., Any])
DATABASE_URL = click.option(
    "--database-url",
    "database_url",
    metavar="URL",
    help="The service database (default: VERTEBRO_DATABASE_URL, else the SQLite default).",
)


def organisation_option(help_text: str) -> Callable[[_F], _F]:
    return click.option("--organisation", "organisation", metavar="ORG", help=help_text)


def registry_database(database_url: str | None) -> Any:
    """The service database, migrated (SQLite) or checked to be current (others)."""
    import os

    from vertebro.adapters.db.migrate import current_revision, head_revision, upgrade
    from vertebro.adapters.db.repository import make_database
    from vertebro.settings import Settings, SettingsError

    url = database_url
    if url is None:
        try:
            url = Settings.from_env(os.environ).database_url
        except SettingsError as exc:
            fail(str(exc))
    assert url is not None
    try:
        db = make_database(url)
        if db.engine.dialect.name == "sqlite":
            upgrade(db.engine)
        elif current_revision(db.engine) != head_revision():
            db.dispose()
            fail("the database schema is not current: run `vertebro db upgrade` first")
    except Exception as exc:  # a bad URL, an unreachable server, a file that is not SQLite
        fail(f"cannot open the service database: {type(exc).__name__}: "
              f"{str(exc).splitlines()[0] if str(exc) else ''}")
    return db


def cli_user(organisation: str | None) -> Any:
    """The person at the command line: an operator with the database's credentials."""
    import getpass

    from vertebro.registry_service import RegistryUser
    from vertebro.settings import Role

    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no account name in this environment (containers)
        login = "unknown"
    return RegistryUser(f"cli:{login}", f"{login} (command line)", Role.ADMIN,
                        organisation or "command-line")


def needs_organisation(organisation: str | None) -> str:
    if not organisation:
        fail("--organisation ORG is required to write to the service database (the unit the "
              "records belong to), or pass --db FILE")
    assert organisation is not None
    return organisation


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
