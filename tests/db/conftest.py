"""The case store under test: a fresh, migrated database per test, on SQLite and on a real
PostgreSQL 15 server that the session starts itself (skipped, with the reason, only when the
server binaries are absent)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vertebro.adapters.db import pgtest
from vertebro.adapters.db.migrate import upgrade
from vertebro.adapters.db.repository import Database, make_database


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requirement(*ids): Da Vinci / CDS Hooks requirement ids the test shows "
        "(collected into docs/requirements-coverage.md)")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pgtest.TemporaryPostgres]:
    reason = pgtest.available()
    if reason is not None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    server = pgtest.shared()
    yield server
    pgtest.stop_shared()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        database = make_database(url)
        upgrade(database.engine)
        database.dispose()
        yield url
        return
    server: pgtest.TemporaryPostgres = request.getfixturevalue("pg_server")
    url = server.database()
    yield url
    server.drop(url)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = make_database(db_url)
    yield database
    database.dispose()
