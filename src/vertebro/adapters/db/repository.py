"""The case store: cases, their append-only history and the append-only audit trail.

Use `Database.transaction()`: everything written inside one `with` block is committed together
or not at all. The repository offers no way to update or delete an event or an audit record.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Engine, event, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from vertebro.adapters.db import codec
from vertebro.adapters.db.tables import AuditRow, CaseEventRow, CaseRow
from vertebro.core.cases import (
    Event,
    EventKind,
    PriorAuthCase,
    Priority,
    RequestedItem,
    due_at,
)
from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import FactSet
from vertebro.core.policy import PolicyRef

Json = dict[str, Any]


class DuplicateSubmission(Exception):
    """Another case already holds this organisation's submission identifier."""


class ConcurrentUpdate(Exception):
    """The case changed since it was read; re-read and try again."""


class DatabaseUnavailable(Exception):
    """The database did not answer (down, restarting, unreachable or locked for too long);
    nothing was written by the failed unit of work, so the same request can be sent again."""


@contextmanager
def _reachable() -> Iterator[None]:
    """Turn the driver's "cannot talk to the database" errors into `DatabaseUnavailable`.
    Only the driver's error class is kept in the message: SQLAlchemy's text quotes the
    statement and its parameters, which may hold patient data."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise DatabaseUnavailable(f"the database is unavailable ({type(exc.orig).__name__})"
                                  ) from exc
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        raise DatabaseUnavailable(f"the database connection was lost ({type(exc.orig).__name__})"
                                  ) from exc


@dataclass(frozen=True, slots=True)
class StoredCase:
    """A case as stored: the lifecycle plus what was submitted and what was assessed."""

    case: PriorAuthCase
    version: int
    channel: str  # 'pas' or 'api'
    request_hash: str  # SHA-256 of the canonical submitted document
    items: tuple[RequestedItem, ...]
    requests: tuple[ProcedureRequest, ...]
    facts: FactSet
    policy: PolicyRef | None
    report: Json | None  # the latest assessment report (the CLI's JSON)
    submission: Json  # the submitted document
    first_response: Json | None  # the answer to the first submission, replayed on a repeat
    patient_key: str | None = None  # 'system|value' of the member id (PAS inquiry matching)
    provider_keys: tuple[str, ...] = ()  # 'system|value' of provider identifiers


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored FHIR AuditEvent."""

    id: int | None
    recorded_at: dt.datetime
    action: str
    outcome: str
    operation: str
    agent_id: str
    agent_role: str
    organisation: str
    case_id: str | None
    resource: Json


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes; everything is stored in UTC.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Repository:
    """Reads and writes within one transaction (one SQLAlchemy session)."""

    def __init__(self, session: Session) -> None:
        self._s = session

    @property
    def session(self) -> Session:
        """The unit of work's session, for stores that share its transaction (the registry)."""
        return self._s

    # --- cases ---------------------------------------------------------------------------

    def add(self, stored: StoredCase, *, now: dt.datetime) -> None:
        """Insert a new case and its history.

        Raises:
            DuplicateSubmission: the organisation already used this submission identifier.
        """
        case = stored.case
        row = CaseRow(id=case.id, organisation=case.organisation,
                      submission_key=case.submission_key, version=1,
                      updated_at=now, **self._columns(stored))
        try:
            with self._s.begin_nested():
                self._s.add(row)
                self._s.flush()
        except IntegrityError:
            raise DuplicateSubmission(case.submission_key) from None
        self._add_events(case.id, case.events)

    def update(self, stored: StoredCase, *, now: dt.datetime) -> StoredCase:
        """Write a changed case: new events are appended, the row replaced if unchanged since read.

        Raises:
            ConcurrentUpdate: someone else changed the case first.
        """
        case = stored.case
        result = self._s.execute(
            update(CaseRow)
            .where(CaseRow.id == case.id, CaseRow.version == stored.version)
            .values(version=stored.version + 1, updated_at=now, **self._columns(stored))
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdate(case.id)
        last = self._s.scalar(
            select(func.max(CaseEventRow.seq)).where(CaseEventRow.case_id == case.id)
        ) or 0
        self._add_events(case.id, tuple(e for e in case.events if e.seq > last))
        return replace(stored, version=stored.version + 1)

    def _columns(self, stored: StoredCase) -> Json:
        case = stored.case
        return {
            "request_hash": stored.request_hash,
            "channel": stored.channel,
            "priority": case.priority.value,
            "received_at": case.received_at,
            "due_at": due_at(case.priority, case.received_at),
            "state_kind": case.state.kind,
            "state": codec.state_to_json(case.state),
            "policy_id": stored.policy.id if stored.policy else None,
            "policy_version": stored.policy.version if stored.policy else None,
            "policy_hash": stored.policy.hash if stored.policy else None,
            "items": codec.items_to_json(stored.items),
            "requests": codec.requests_to_json(stored.requests),
            "facts": codec.facts_to_json(stored.facts),
            "report": stored.report,
            "submission": stored.submission,
            "first_response": stored.first_response,
            "patient_key": stored.patient_key,
            "provider_keys": list(stored.provider_keys),
        }

    def _add_events(self, case_id: str, events: tuple[Event, ...]) -> None:
        for e in events:
            self._s.add(CaseEventRow(case_id=case_id, seq=e.seq, at=e.at, kind=e.kind.value,
                                     actor=e.actor, detail=e.detail))
        self._s.flush()

    def get(self, case_id: str) -> StoredCase | None:
        """A case by id."""
        row = self._s.get(CaseRow, case_id)
        return None if row is None else self._load(row)

    def find_by_submission(self, organisation: str, submission_key: str) -> StoredCase | None:
        """The organisation's case with this submission identifier."""
        row = self._s.scalar(select(CaseRow).where(
            CaseRow.organisation == organisation, CaseRow.submission_key == submission_key))
        return None if row is None else self._load(row)

    def list_cases(
        self,
        *,
        organisation: str | None = None,
        states: frozenset[str] | None = None,
        due_before: dt.datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[StoredCase]:
        """Cases, soonest due first; filtered by organisation, state kinds and due time."""
        query = select(CaseRow)
        if organisation is not None:
            query = query.where(CaseRow.organisation == organisation)
        if states:
            query = query.where(CaseRow.state_kind.in_(sorted(states)))
        if due_before is not None:
            query = query.where(CaseRow.due_at < due_before)
        query = query.order_by(CaseRow.due_at, CaseRow.id).limit(limit).offset(offset)
        return [self._load(row) for row in self._s.scalars(query)]

    def _load(self, row: CaseRow) -> StoredCase:
        events = tuple(
            Event(e.seq, _utc(e.at), EventKind(e.kind), e.actor, e.detail)
            for e in self._s.scalars(
                select(CaseEventRow).where(CaseEventRow.case_id == row.id)
                .order_by(CaseEventRow.seq))
        )
        case = PriorAuthCase(row.id, row.organisation, row.submission_key,
                             Priority(row.priority), _utc(row.received_at),
                             codec.state_from_json(row.state), events)
        policy = (PolicyRef(row.policy_id, row.policy_version or "", row.policy_hash or "")
                  if row.policy_id else None)
        return StoredCase(
            case=case, version=row.version, channel=row.channel,
            request_hash=row.request_hash, items=codec.items_from_json(row.items),
            requests=codec.requests_from_json(row.requests),
            facts=codec.facts_from_json(row.facts), policy=policy, report=row.report,
            submission=row.submission, first_response=row.first_response,
            patient_key=row.patient_key, provider_keys=tuple(row.provider_keys),
        )

    # --- audit ---------------------------------------------------------------------------

    def append_audit(self, record: AuditRecord) -> None:
        """Append one audit record (there is no way to change or remove one)."""
        self._s.add(AuditRow(
            recorded_at=record.recorded_at, action=record.action, outcome=record.outcome,
            operation=record.operation, agent_id=record.agent_id,
            agent_role=record.agent_role, organisation=record.organisation,
            case_id=record.case_id, resource=record.resource))
        self._s.flush()

    def audit_trail(
        self, *, case_id: str | None = None, agent_id: str | None = None, limit: int = 100,
        offset: int = 0,
    ) -> list[AuditRecord]:
        """Audit records, oldest first."""
        query = select(AuditRow)
        if case_id is not None:
            query = query.where(AuditRow.case_id == case_id)
        if agent_id is not None:
            query = query.where(AuditRow.agent_id == agent_id)
        query = query.order_by(AuditRow.id).limit(limit).offset(offset)
        return [
            AuditRecord(r.id, _utc(r.recorded_at), r.action, r.outcome, r.operation, r.agent_id,
                        r.agent_role, r.organisation, r.case_id, r.resource)
            for r in self._s.scalars(query)
        ]

    def count_cases(self) -> int:
        """How many cases are stored."""
        return int(self._s.scalar(select(func.count()).select_from(CaseRow)) or 0)


class Database:
    """An engine and its sessions. One `transaction()` is one unit of work.

    SQLite allows one writer at a time; within a process, units of work on SQLite queue on a
    lock instead of polling the database's busy timeout (which sleeps in steps and makes the
    slowest requests much slower). Across processes the busy timeout still applies.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._lock = threading.RLock() if engine.dialect.name == "sqlite" else None

    @contextmanager
    def transaction(self) -> Iterator[Repository]:
        """A repository whose writes commit together when the block ends, or roll back.

        Raises:
            DatabaseUnavailable: the database could not be reached, or the connection was lost
                (the unit of work was rolled back, or never began).
        """
        with _reachable(), self._serialised(), self._sessions() as session, session.begin():
            yield Repository(session)

    def ping(self) -> str | None:
        """The schema revision the database is at (None if never migrated): proves that it
        answers, on a connection of its own (no lock, no transaction).

        Raises:
            DatabaseUnavailable: the database could not be reached.
        """
        from vertebro.adapters.db.migrate import current_revision

        with _reachable():
            return current_revision(self.engine)

    @contextmanager
    def _serialised(self) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        with self._lock:
            yield

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, begin transactions, so that savepoints and
    # rollbacks work as documented (SQLAlchemy's pysqlite "serializable isolation" recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the writer
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Every unit of work writes (at least its audit record): take the write lock up front
    # instead of upgrading a read lock later, which can deadlock two writers.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _no_rows(record: logging.LogRecord) -> bool:
    """Drop SQLAlchemy's DEBUG echo of fetched rows: they hold patient data."""
    return record.msg != "Row %r"


def make_database(url: str) -> Database:
    """A database for a SQLAlchemy URL (SQLite files get foreign keys, a busy timeout, WAL
    and transactions that really roll back)."""
    from sqlalchemy import create_engine

    # Patient data must never reach a log, even at DEBUG: statements are logged without their
    # parameters (hide_parameters also keeps them out of error messages) and rows not at all.
    logging.getLogger("sqlalchemy.engine.Engine").addFilter(_no_rows)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False},
                               hide_parameters=True)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        # pre-ping: a connection that died with a restarted server is replaced on checkout, so
        # the service recovers by itself; connect_timeout: a dead host fails fast (503), it
        # does not hang the request (libpq waits forever by default).
        connect_args = ({"connect_timeout": 10} if url.startswith("postgresql")
                        and "connect_timeout=" not in url else {})
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args,
                               hide_parameters=True)
    return Database(engine)
