"""The database tables (SQLAlchemy 2). The schema itself is created by the Alembic migrations.

* `pa_cases` - one row per prior-authorisation case; the lifecycle state is JSON, with the
  columns needed to query it (state kind, due time, organisation) beside it.
* `pa_case_events` - the case history; append-only (database triggers refuse UPDATE/DELETE).
* `audit_events` - a FHIR AuditEvent for every read and write of a case; append-only too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    """The declarative base of vertebro's tables."""


class CaseRow(Base):
    """A prior-authorisation case."""

    __tablename__ = "pa_cases"
    __table_args__ = (
        UniqueConstraint("organisation", "submission_key", name="uq_pa_cases_submission"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(200), index=True)
    submission_key: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    state_kind: Mapped[str] = mapped_column(String(40), index=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    policy_id: Mapped[str | None] = mapped_column(String(100))
    policy_version: Mapped[str | None] = mapped_column(String(100))
    policy_hash: Mapped[str | None] = mapped_column(String(100))
    items: Mapped[list[Any]] = mapped_column(JSON)
    requests: Mapped[list[Any]] = mapped_column(JSON)
    facts: Mapped[list[Any]] = mapped_column(JSON)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    submission: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    patient_key: Mapped[str | None] = mapped_column(String(500), index=True)
    provider_keys: Mapped[list[Any]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class CaseEventRow(Base):
    """One event of a case's history."""

    __tablename__ = "pa_case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_pa_case_events_seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("pa_cases.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(500))
    detail: Mapped[str] = mapped_column(Text)


class AuditRow(Base):
    """A FHIR AuditEvent, with the columns used to find it."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    action: Mapped[str] = mapped_column(String(1))
    outcome: Mapped[str] = mapped_column(String(2))
    operation: Mapped[str] = mapped_column(String(100))
    agent_id: Mapped[str] = mapped_column(String(200), index=True)
    agent_role: Mapped[str] = mapped_column(String(40))
    organisation: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[str | None] = mapped_column(String(64), index=True)
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)


APPEND_ONLY_TABLES = ("pa_case_events", "audit_events")
