"""The audit and outcomes registry's tables in the service database (SQLAlchemy 2; created by
migration 0002).

Records belong to an organisation (the unit that did the procedure), as cases do: a record's
key is (organisation, id), so two hospitals may both number a procedure "P1". Every row keeps
who recorded it (account id, name and organisation) and when.

* `registry_procedures` - one row per procedure; `case_id` links a prior-authorisation case.
* `registry_complications` - one row per complication, under its procedure.
* `registry_follow_ups` - the outcome measures at one timepoint; one per procedure and timepoint.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from vertebro.adapters.db.tables import Base

ID = 64  # the longest record id the row models accept
NAME = 200


class _Recorded:
    """Who recorded a row, and when."""

    recorded_by_id: Mapped[str] = mapped_column(String(NAME))
    recorded_by_name: Mapped[str] = mapped_column(String(NAME))
    recorded_by_organisation: Mapped[str] = mapped_column(String(NAME))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class RegistryProcedureRow(_Recorded, Base):
    """One cement augmentation procedure."""

    __tablename__ = "registry_procedures"
    __table_args__ = (Index("ix_registry_procedures_organisation_date", "organisation", "date"),)

    organisation: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    operator: Mapped[str] = mapped_column(String(NAME))
    procedure: Mapped[str] = mapped_column(String(20))
    levels: Mapped[list[Any]] = mapped_column(JSON)  # ["T12", "L1"]
    approach: Mapped[str] = mapped_column(String(20))
    image_guidance: Mapped[str] = mapped_column(String(20))
    cement_ml: Mapped[list[Any]] = mapped_column(JSON)  # [["T12", 3.5], ["L1", 4.0]]
    biopsy: Mapped[bool] = mapped_column(Boolean)
    patient: Mapped[str | None] = mapped_column(String(ID))
    age: Mapped[int | None] = mapped_column(Integer)
    sex: Mapped[str | None] = mapped_column(String(20))
    cement_product: Mapped[str | None] = mapped_column(String(NAME))
    cement_manufacturer: Mapped[str | None] = mapped_column(String(NAME))
    cement_lot: Mapped[str | None] = mapped_column(String(NAME))
    cement_expiry: Mapped[dt.date | None] = mapped_column(Date)
    assessment_id: Mapped[str | None] = mapped_column(String(ID))
    decision_id: Mapped[str | None] = mapped_column(String(ID))
    policy: Mapped[str | None] = mapped_column(String(ID))
    pathway: Mapped[str | None] = mapped_column(String(ID))
    case_id: Mapped[str | None] = mapped_column(ForeignKey("pa_cases.id"), index=True)


class RegistryComplicationRow(_Recorded, Base):
    """One complication of a procedure."""

    __tablename__ = "registry_complications"
    __table_args__ = (
        ForeignKeyConstraint(["organisation", "procedure_id"],
                             ["registry_procedures.organisation", "registry_procedures.id"],
                             name="fk_registry_complications_procedure"),
        Index("ix_registry_complications_procedure", "organisation", "procedure_id"),
    )

    organisation: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    procedure_id: Mapped[str] = mapped_column(String(ID))
    kind: Mapped[str] = mapped_column(String(40))
    date: Mapped[dt.date] = mapped_column(Date)
    symptomatic: Mapped[bool | None] = mapped_column(Boolean)
    leak_site: Mapped[str | None] = mapped_column(String(20))
    fracture_site: Mapped[str | None] = mapped_column(String(20))
    level: Mapped[str | None] = mapped_column(String(10))
    cause: Mapped[str | None] = mapped_column(String(20))
    further_intervention: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(30))
    device_related: Mapped[bool | None] = mapped_column(Boolean)
    description: Mapped[str | None] = mapped_column(Text)


class RegistryFollowUpRow(_Recorded, Base):
    """The outcome measures at one timepoint of a procedure."""

    __tablename__ = "registry_follow_ups"
    __table_args__ = (
        ForeignKeyConstraint(["organisation", "procedure_id"],
                             ["registry_procedures.organisation", "registry_procedures.id"],
                             name="fk_registry_follow_ups_procedure"),
    )

    organisation: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    procedure_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    timepoint: Mapped[str] = mapped_column(String(20), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date)
    pain: Mapped[int | None] = mapped_column(Integer)
    analgesics: Mapped[str | None] = mapped_column(String(20))
    mobility: Mapped[str | None] = mapped_column(String(20))
    roland_morris: Mapped[int | None] = mapped_column(Integer)


REGISTRY_TABLES = ("registry_follow_ups", "registry_complications", "registry_procedures")
