"""Initial schema: cases, their events and the audit trail (append-only by trigger).

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
APPEND_ONLY = ("pa_case_events", "audit_events")


def upgrade() -> None:
    """Create the tables, then forbid UPDATE and DELETE on the append-only ones."""
    op.create_table(
        "pa_cases",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("submission_key", sa.String(500), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("priority", sa.String(20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_kind", sa.String(40), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.String(100), nullable=True),
        sa.Column("policy_version", sa.String(100), nullable=True),
        sa.Column("policy_hash", sa.String(100), nullable=True),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("requests", sa.JSON(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("submission", sa.JSON(), nullable=False),
        sa.Column("first_response", sa.JSON(), nullable=True),
        sa.Column("patient_key", sa.String(500), nullable=True),
        sa.Column("provider_keys", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("organisation", "submission_key", name="uq_pa_cases_submission"),
    )
    op.create_index("ix_pa_cases_organisation", "pa_cases", ["organisation"])
    op.create_index("ix_pa_cases_due_at", "pa_cases", ["due_at"])
    op.create_index("ix_pa_cases_state_kind", "pa_cases", ["state_kind"])
    op.create_index("ix_pa_cases_patient_key", "pa_cases", ["patient_key"])

    op.create_table(
        "pa_case_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("pa_cases.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(500), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.UniqueConstraint("case_id", "seq", name="uq_pa_case_events_seq"),
    )
    op.create_index("ix_pa_case_events_case_id", "pa_case_events", ["case_id"])

    op.create_table(
        "audit_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(1), nullable=False),
        sa.Column("outcome", sa.String(2), nullable=False),
        sa.Column("operation", sa.String(100), nullable=False),
        sa.Column("agent_id", sa.String(200), nullable=False),
        sa.Column("agent_role", sa.String(40), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("resource", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_events_recorded_at", "audit_events", ["recorded_at"])
    op.create_index("ix_audit_events_agent_id", "audit_events", ["agent_id"])
    op.create_index("ix_audit_events_case_id", "audit_events", ["case_id"])

    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        if dialect == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        elif dialect == "postgresql":
            op.execute(
                f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN RAISE EXCEPTION '{table} is append-only'; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"
            )


def downgrade() -> None:
    """Drop everything (the triggers go with their tables)."""
    dialect = op.get_bind().dialect.name
    op.drop_table("audit_events")
    op.drop_table("pa_case_events")
    op.drop_table("pa_cases")
    if dialect == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
