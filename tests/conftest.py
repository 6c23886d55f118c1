"""Shared fixtures: the shipped policies (validated once per session), paths to shared material,
and fresh service databases on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from vertebro.adapters import policy_files
from vertebro.adapters.db import pgtest
from vertebro.adapters.db.migrate import upgrade
from vertebro.adapters.db.repository import make_database
from vertebro.core.policy import Policy

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def carefirst() -> Policy:
    return policy_files.versions_of("carefirst")[-1].policy


@pytest.fixture(scope="session")
def nice() -> Policy:
    return policy_files.versions_of("nice")[-1].policy


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside the repository")
    return SHARED


# --- Databases for the service's tests (SQLite from a migrated template; PostgreSQL shared) ----


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each test (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = make_database(f"sqlite:///{path}")
    upgrade(db.engine)
    db.dispose()
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A fresh, migrated SQLite database."""
    target = tmp_path / "vertebro.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[pgtest.TemporaryPostgres]:
    """One throw-away PostgreSQL server per test process (skipped without the binaries)."""
    reason = pgtest.available()
    if reason is not None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    server = pgtest.shared()
    yield server
    pgtest.stop_shared()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[str]:
    """A fresh database on SQLite, then on PostgreSQL (the test runs once for each)."""
    if request.param == "sqlite":
        yield sqlite_url
        return
    server: pgtest.TemporaryPostgres = request.getfixturevalue("postgres")
    url = server.database()
    yield url
    server.drop(url)
