"""The audit and outcomes registry: procedures, complications and follow-ups, each kept under
its organisation with who recorded it and when.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _recorded() -> list[sa.Column[Any]]:
    return [
        sa.Column("recorded_by_id", sa.String(200), nullable=False),
        sa.Column("recorded_by_name", sa.String(200), nullable=False),
        sa.Column("recorded_by_organisation", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    """Create the three registry tables."""
    op.create_table(
        "registry_procedures",
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("operator", sa.String(200), nullable=False),
        sa.Column("procedure", sa.String(20), nullable=False),
        sa.Column("levels", sa.JSON(), nullable=False),
        sa.Column("approach", sa.String(20), nullable=False),
        sa.Column("image_guidance", sa.String(20), nullable=False),
        sa.Column("cement_ml", sa.JSON(), nullable=False),
        sa.Column("biopsy", sa.Boolean(), nullable=False),
        sa.Column("patient", sa.String(64), nullable=True),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("sex", sa.String(20), nullable=True),
        sa.Column("cement_product", sa.String(200), nullable=True),
        sa.Column("cement_manufacturer", sa.String(200), nullable=True),
        sa.Column("cement_lot", sa.String(200), nullable=True),
        sa.Column("cement_expiry", sa.Date(), nullable=True),
        sa.Column("assessment_id", sa.String(64), nullable=True),
        sa.Column("decision_id", sa.String(64), nullable=True),
        sa.Column("policy", sa.String(64), nullable=True),
        sa.Column("pathway", sa.String(64), nullable=True),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("pa_cases.id"), nullable=True),
        *_recorded(),
        sa.PrimaryKeyConstraint("organisation", "id"),
    )
    op.create_index("ix_registry_procedures_date", "registry_procedures", ["date"])
    op.create_index("ix_registry_procedures_case_id", "registry_procedures", ["case_id"])
    op.create_index("ix_registry_procedures_organisation_date", "registry_procedures",
                    ["organisation", "date"])

    op.create_table(
        "registry_complications",
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("procedure_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("symptomatic", sa.Boolean(), nullable=True),
        sa.Column("leak_site", sa.String(20), nullable=True),
        sa.Column("fracture_site", sa.String(20), nullable=True),
        sa.Column("level", sa.String(10), nullable=True),
        sa.Column("cause", sa.String(20), nullable=True),
        sa.Column("further_intervention", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("device_related", sa.Boolean(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        *_recorded(),
        sa.PrimaryKeyConstraint("organisation", "id"),
        sa.ForeignKeyConstraint(["organisation", "procedure_id"],
                                ["registry_procedures.organisation", "registry_procedures.id"],
                                name="fk_registry_complications_procedure"),
    )
    op.create_index("ix_registry_complications_procedure", "registry_complications",
                    ["organisation", "procedure_id"])

    op.create_table(
        "registry_follow_ups",
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("procedure_id", sa.String(64), nullable=False),
        sa.Column("timepoint", sa.String(20), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("pain", sa.Integer(), nullable=True),
        sa.Column("analgesics", sa.String(20), nullable=True),
        sa.Column("mobility", sa.String(20), nullable=True),
        sa.Column("roland_morris", sa.Integer(), nullable=True),
        *_recorded(),
        sa.PrimaryKeyConstraint("organisation", "procedure_id", "timepoint"),
        sa.ForeignKeyConstraint(["organisation", "procedure_id"],
                                ["registry_procedures.organisation", "registry_procedures.id"],
                                name="fk_registry_follow_ups_procedure"),
    )


def downgrade() -> None:
    """Drop the registry tables (children first)."""
    op.drop_table("registry_follow_ups")
    op.drop_table("registry_complications")
    op.drop_table("registry_procedures")
