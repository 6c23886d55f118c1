"""The registry on the service database: `SqlRegistryRepository` implements the registry's
storage port (`core.registry.ports`) on SQLAlchemy, for one organisation at a time.

Use it inside `registry_transaction(db)`: everything written in one `with` block - the records
and their audit events - is committed together or not at all. `add` writes a batch whole or
raises without writing any of it (a savepoint), so a refused batch can still be audited.

A repository scoped to no organisation (auditors, admins) reads every unit's records; `load`
then qualifies procedure ids and operators with their organisation, because two units may
both have a "P1" and an "OP-A" who are different procedures and people.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, and_, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vertebro.adapters.db.audit import Action, Interaction, audit_record
from vertebro.adapters.db.audit import Outcome as AuditOutcome
from vertebro.adapters.db.registry_tables import (
    RegistryComplicationRow,
    RegistryFollowUpRow,
    RegistryProcedureRow,
)
from vertebro.adapters.db.repository import AuditRecord, Database
from vertebro.adapters.db.tables import AuditRow, CaseRow
from vertebro.core.catalogue import Procedure
from vertebro.core.levels import Level
from vertebro.core.registry.linking import LinkedCase, case_determinations, policy_of
from vertebro.core.registry.model import (
    AnalgesicUse,
    Approach,
    CementProduct,
    Complication,
    ComplicationKind,
    EventOutcome,
    FollowUp,
    FractureSite,
    ImageGuidance,
    InjuryCause,
    LeakSite,
    Mobility,
    ProcedureRecord,
    Registry,
    Sex,
    Timepoint,
)
from vertebro.core.registry.ports import (
    AbstractRegistryRepository,
    DuplicateRecordError,
    UnknownProcedureError,
)

_CHUNK = 500  # keys per IN (...) query
REGISTRY_SYSTEM = "urn:vertebro:registry:"  # + procedure / complication / follow-up


@dataclass(frozen=True, slots=True)
class RecordedBy:
    """Who recorded a record (the signed-in account) and when."""

    id: str
    name: str
    organisation: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class StoredProcedure:
    """A procedure as stored: its unit and who recorded it."""

    organisation: str
    record: ProcedureRecord
    recorded: RecordedBy


@dataclass(frozen=True, slots=True)
class StoredComplication:
    """A complication as stored."""

    organisation: str
    record: Complication
    recorded: RecordedBy


@dataclass(frozen=True, slots=True)
class StoredFollowUp:
    """A follow-up as stored."""

    organisation: str
    record: FollowUp
    recorded: RecordedBy


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes; everything is stored in UTC.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _recorded_columns(by: RecordedBy) -> dict[str, Any]:
    return {"recorded_by_id": by.id, "recorded_by_name": by.name,
            "recorded_by_organisation": by.organisation, "recorded_at": by.at}


def _recorded(row: Any) -> RecordedBy:
    return RecordedBy(row.recorded_by_id, row.recorded_by_name, row.recorded_by_organisation,
                      _utc(row.recorded_at))


def _procedure_columns(p: ProcedureRecord) -> dict[str, Any]:
    return {
        "id": p.id, "date": p.date, "operator": p.operator, "procedure": p.procedure.value,
        "levels": [str(lv) for lv in p.levels], "approach": p.approach.value,
        "image_guidance": p.image_guidance.value,
        "cement_ml": [[str(lv), ml] for lv, ml in p.cement_ml], "biopsy": p.biopsy,
        "patient": p.patient, "age": p.age, "sex": p.sex.value if p.sex else None,
        "cement_product": p.cement.product, "cement_manufacturer": p.cement.manufacturer,
        "cement_lot": p.cement.lot, "cement_expiry": p.cement.expiry,
        "assessment_id": p.assessment_id, "decision_id": p.decision_id, "policy": p.policy,
        "pathway": p.pathway, "case_id": p.case_id,
    }


def _procedure(row: Any) -> ProcedureRecord:  # an ORM row or a Core row: same names
    return ProcedureRecord(
        id=row.id,
        date=row.date,
        operator=row.operator,
        procedure=Procedure(row.procedure),
        levels=tuple(Level.parse(lv) for lv in row.levels),
        approach=Approach(row.approach),
        image_guidance=ImageGuidance(row.image_guidance),
        cement_ml=tuple((Level.parse(lv), float(ml)) for lv, ml in row.cement_ml),
        biopsy=row.biopsy,
        patient=row.patient,
        age=row.age,
        sex=Sex(row.sex) if row.sex else None,
        cement=CementProduct(row.cement_product, row.cement_manufacturer, row.cement_lot,
                             row.cement_expiry),
        assessment_id=row.assessment_id,
        decision_id=row.decision_id,
        policy=row.policy,
        pathway=row.pathway,
        case_id=row.case_id,
    )


def _complication_columns(c: Complication) -> dict[str, Any]:
    return {
        "id": c.id, "procedure_id": c.procedure_id, "kind": c.kind.value, "date": c.date,
        "symptomatic": c.symptomatic, "leak_site": c.leak_site.value if c.leak_site else None,
        "fracture_site": c.fracture_site.value if c.fracture_site else None,
        "level": str(c.level) if c.level else None, "cause": c.cause.value if c.cause else None,
        "further_intervention": c.further_intervention, "outcome": c.outcome.value,
        "device_related": c.device_related, "description": c.description,
    }


def _complication(row: Any) -> Complication:
    return Complication(
        id=row.id,
        procedure_id=row.procedure_id,
        kind=ComplicationKind(row.kind),
        date=row.date,
        symptomatic=row.symptomatic,
        leak_site=LeakSite(row.leak_site) if row.leak_site else None,
        fracture_site=FractureSite(row.fracture_site) if row.fracture_site else None,
        level=Level.parse(row.level) if row.level else None,
        cause=InjuryCause(row.cause) if row.cause else None,
        further_intervention=row.further_intervention,
        outcome=EventOutcome(row.outcome),
        device_related=row.device_related,
        description=row.description,
    )


def _follow_up_columns(f: FollowUp) -> dict[str, Any]:
    return {
        "procedure_id": f.procedure_id, "timepoint": f.timepoint.value, "date": f.date,
        "pain": f.pain, "analgesics": f.analgesics.value if f.analgesics else None,
        "mobility": f.mobility.value if f.mobility else None,
        "roland_morris": f.roland_morris,
    }


def _follow_up(row: Any) -> FollowUp:
    return FollowUp(
        procedure_id=row.procedure_id,
        timepoint=Timepoint(row.timepoint),
        date=row.date,
        pain=row.pain,
        analgesics=AnalgesicUse(row.analgesics) if row.analgesics else None,
        mobility=Mobility(row.mobility) if row.mobility else None,
        roland_morris=row.roland_morris,
    )


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class SqlRegistryRepository(AbstractRegistryRepository):
    """The registry in the service database, seen by one organisation (or, with
    `organisation=None`, by an auditor: every unit, read only).

    Writing needs the organisation the records belong to and `recorder`: who records them
    and when.
    """

    def __init__(self, session: Session, *, organisation: str | None,
                 recorder: RecordedBy | None = None) -> None:
        self._s = session
        self.organisation = organisation
        self.recorder = recorder

    def _org(self) -> str:
        if self.organisation is None:
            raise ValueError("this registry operation needs an organisation")
        return self.organisation

    def _scoped(self, query: Select[Any], table: Any) -> Select[Any]:
        if self.organisation is None:
            return query
        return query.where(table.organisation == self.organisation)

    # --- the port ---------------------------------------------------------------------------

    def add(self, batch: Registry) -> None:
        """Store every record of the batch, or none (see the port)."""
        organisation = self._org()
        if self.recorder is None:
            raise ValueError("writing to the registry needs who records it (recorder)")
        stamp = {"organisation": organisation, **_recorded_columns(self.recorder)}
        wanted = {c.procedure_id for c in batch.complications}
        wanted |= {f.procedure_id for f in batch.follow_ups}
        wanted -= {p.id for p in batch.procedures}
        missing = wanted - set(self.procedures(wanted))
        if missing:
            raise UnknownProcedureError(
                f"not stored: no procedure {', '.join(sorted(missing)[:5])} in the registry")
        try:
            with self._s.begin_nested():
                for table, rows in (
                    (RegistryProcedureRow, [_procedure_columns(p) for p in batch.procedures]),
                    (RegistryComplicationRow,
                     [_complication_columns(c) for c in batch.complications]),
                    (RegistryFollowUpRow, [_follow_up_columns(f) for f in batch.follow_ups]),
                ):
                    if rows:
                        self._s.execute(insert(table), [{**stamp, **row} for row in rows])
        except IntegrityError as exc:
            raise DuplicateRecordError(f"not stored: {_integrity_message(exc)}") from None

    def procedures(self, ids: Iterable[str]) -> dict[str, ProcedureRecord]:
        """This organisation's stored procedures among these ids."""
        organisation = self._org()
        found: dict[str, ProcedureRecord] = {}
        for chunk in _chunks(sorted(set(ids))):
            query = select(RegistryProcedureRow).where(
                RegistryProcedureRow.organisation == organisation,
                RegistryProcedureRow.id.in_(chunk))
            for row in self._s.scalars(query):
                found[row.id] = _procedure(row)
        return found

    def existing_complications(self, ids: Iterable[str]) -> set[str]:
        """Which of these complication ids this organisation already stores."""
        organisation = self._org()
        found: set[str] = set()
        for chunk in _chunks(sorted(set(ids))):
            query = select(RegistryComplicationRow.id).where(
                RegistryComplicationRow.organisation == organisation,
                RegistryComplicationRow.id.in_(chunk))
            found.update(self._s.scalars(query))
        return found

    def existing_follow_ups(
        self, keys: Iterable[tuple[str, Timepoint]]
    ) -> set[tuple[str, Timepoint]]:
        """Which of these (procedure id, timepoint) follow-ups this organisation stores."""
        organisation = self._org()
        wanted = set(keys)
        found: set[tuple[str, Timepoint]] = set()
        for chunk in _chunks(sorted({pid for pid, _ in wanted})):
            query = select(RegistryFollowUpRow.procedure_id, RegistryFollowUpRow.timepoint).where(
                RegistryFollowUpRow.organisation == organisation,
                RegistryFollowUpRow.procedure_id.in_(chunk))
            for procedure_id, timepoint in self._s.execute(query):
                key = (procedure_id, Timepoint(timepoint))
                if key in wanted:
                    found.add(key)
        return found

    def complication(self, id: str) -> Complication | None:
        """One of this organisation's complications by id."""
        row = self._s.get(RegistryComplicationRow, (self._org(), id))
        return None if row is None else _complication(row)

    def load(self, start: dt.date | None = None, end: dt.date | None = None) -> Registry:
        """The procedures done between start and end (inclusive), with their complications
        and follow-ups; ids and operators qualified by organisation when unscoped."""
        low, high = start or dt.date.min, end or dt.date.max
        # Core rows, not ORM objects: a report reads tens of thousands of them.
        p = RegistryProcedureRow.__table__.c
        in_period = and_(p.date >= low, p.date <= high)
        scope = [] if self.organisation is None else [p.organisation == self.organisation]
        procedures = [
            (row.organisation, _procedure(row))
            for row in self._s.execute(
                select(RegistryProcedureRow.__table__).where(in_period, *scope)
                .order_by(p.date, p.id))
        ]

        def children(table: Any) -> Select[Any]:
            c = table.c
            return select(table).join(
                RegistryProcedureRow.__table__,
                and_(p.organisation == c.organisation, p.id == c.procedure_id),
            ).where(in_period, *scope)

        complications = [(row.organisation, _complication(row))
                         for row in self._s.execute(children(RegistryComplicationRow.__table__))]
        follow_ups = [(row.organisation, _follow_up(row))
                      for row in self._s.execute(children(RegistryFollowUpRow.__table__))]
        if self.organisation is not None:
            return Registry(tuple(r for _, r in procedures), tuple(r for _, r in complications),
                            tuple(r for _, r in follow_ups))
        return Registry(
            tuple(replace(r, id=f"{o}/{r.id}", operator=f"{r.operator} ({o})")
                  for o, r in procedures),
            tuple(replace(r, id=f"{o}/{r.id}", procedure_id=f"{o}/{r.procedure_id}")
                  for o, r in complications),
            tuple(replace(r, procedure_id=f"{o}/{r.procedure_id}") for o, r in follow_ups),
        )

    def counts(self) -> dict[str, int]:
        """How many procedures, complications and follow-ups are stored (in scope)."""
        out = {}
        for name, table in (("procedures", RegistryProcedureRow),
                            ("complications", RegistryComplicationRow),
                            ("follow_ups", RegistryFollowUpRow)):
            query = self._scoped(select(func.count()).select_from(table), table)
            out[name] = int(self._s.scalar(query) or 0)
        return out

    # --- beyond the port: listing, reading with who recorded, linked cases -------------------

    def list_procedures(
        self, *, start: dt.date | None = None, end: dt.date | None = None, limit: int = 100,
        offset: int = 0,
    ) -> list[StoredProcedure]:
        """Procedures in scope, newest first."""
        p = RegistryProcedureRow
        query = self._scoped(select(p), p)
        if start is not None:
            query = query.where(p.date >= start)
        if end is not None:
            query = query.where(p.date <= end)
        query = query.order_by(p.date.desc(), p.organisation, p.id).limit(limit).offset(offset)
        return [StoredProcedure(row.organisation, _procedure(row), _recorded(row))
                for row in self._s.scalars(query)]

    def get_procedure(self, id: str) -> StoredProcedure | None:
        """One of this organisation's procedures, with who recorded it."""
        row = self._s.get(RegistryProcedureRow, (self._org(), id))
        return None if row is None else StoredProcedure(row.organisation, _procedure(row),
                                                        _recorded(row))

    def complications_of(self, procedure_id: str) -> list[StoredComplication]:
        """A procedure's complications, in date order."""
        t = RegistryComplicationRow
        query = select(t).where(t.organisation == self._org(), t.procedure_id == procedure_id)
        return [StoredComplication(row.organisation, _complication(row), _recorded(row))
                for row in self._s.scalars(query.order_by(t.date, t.id))]

    def follow_ups_of(self, procedure_id: str) -> list[StoredFollowUp]:
        """A procedure's follow-ups, in date order."""
        t = RegistryFollowUpRow
        query = select(t).where(t.organisation == self._org(), t.procedure_id == procedure_id)
        return [StoredFollowUp(row.organisation, _follow_up(row), _recorded(row))
                for row in self._s.scalars(query.order_by(t.date))]

    def stored_complication(self, id: str) -> StoredComplication | None:
        """One of this organisation's complications, with who recorded it."""
        row = self._s.get(RegistryComplicationRow, (self._org(), id))
        return None if row is None else StoredComplication(row.organisation, _complication(row),
                                                           _recorded(row))

    def organisations_holding(self, kind: str, id: str) -> list[str]:
        """The organisations (in scope) that hold a procedure or complication with this id."""
        table: Any = RegistryProcedureRow if kind == "procedure" else RegistryComplicationRow
        query = self._scoped(select(table.organisation).where(table.id == id), table)
        return sorted(self._s.scalars(query))

    def linked_cases(self, case_ids: Iterable[str]) -> dict[str, LinkedCase]:
        """What the registry needs of these prior-authorisation cases (whatever their
        organisation: the caller decides who may link which)."""
        found: dict[str, LinkedCase] = {}
        for chunk in _chunks(sorted(set(case_ids))):
            query = select(CaseRow.id, CaseRow.organisation, CaseRow.state_kind,
                           CaseRow.policy_id, CaseRow.report).where(CaseRow.id.in_(chunk))
            for case_id, organisation, state, policy, report in self._s.execute(query):
                found[case_id] = LinkedCase(
                    case_id, organisation, state, policy or policy_of(report),
                    case_determinations(report))
        return found


def _integrity_message(exc: IntegrityError) -> str:
    # Only the constraint's words, never the values (they may identify a patient).
    text = str(exc.orig).splitlines()[0] if exc.orig is not None else "a constraint failed"
    if "UNIQUE" in text.upper() or "duplicate key" in text:
        return "a record with the same id (or procedure and timepoint) is already stored"
    if "FOREIGN KEY" in text.upper() or "foreign key" in text:
        return "a record refers to something that is not stored"
    return "the database refused the batch"


# --- units of work and their audit events ------------------------------------------------------


@contextmanager
def registry_transaction(db: Database) -> Iterator[Session]:
    """A session whose writes commit together when the block ends, or roll back.

    It is the case store's own unit of work (`Database.transaction`), so registry records, case
    reads and audit events share one transaction, the SQLite writer lock and the
    `DatabaseUnavailable` translation.

    Raises:
        DatabaseUnavailable: the database could not be reached.
    """
    with db.transaction() as repository:
        yield repository.session


@dataclass(frozen=True, slots=True)
class Entity:
    """A registry record an audit event is about."""

    kind: str  # procedure, complication, follow-up, report, import
    organisation: str | None
    id: str


def registry_audit(
    *, at: dt.datetime, action: Action, interaction: Interaction, operation: str,
    outcome: AuditOutcome, agent_id: str, agent_name: str, agent_role: str,
    agent_organisation: str, entity: Entity | Sequence[Entity] | None,
    detail: str | None = None,
) -> AuditRecord:
    """A FHIR AuditEvent about one registry record, or several written together (an import:
    one `entity` per record); records are named by organisation and id only."""
    record = audit_record(at=at, action=action, interaction=interaction, operation=operation,
                          outcome=outcome, agent_id=agent_id, agent_name=agent_name,
                          agent_role=agent_role, organisation=agent_organisation, case_id=None,
                          detail=detail)
    entities = [entity] if isinstance(entity, Entity) else list(entity or ())
    if not entities:
        return record
    kind = {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2",
            "display": "System Object"}
    resource = dict(record.resource)
    resource["entity"] = [{
        "what": {"identifier": {
            "system": REGISTRY_SYSTEM + e.kind,
            "value": f"{e.organisation}/{e.id}" if e.organisation else e.id}},
        "type": kind,
        "description": operation,
    } for e in entities]
    return replace(record, resource=resource)


def append_audits(session: Session, records: Sequence[AuditRecord]) -> None:
    """Append audit records in one statement (an import may write thousands)."""
    if not records:
        return
    session.execute(insert(AuditRow), [
        {"recorded_at": r.recorded_at, "action": r.action, "outcome": r.outcome,
         "operation": r.operation, "agent_id": r.agent_id, "agent_role": r.agent_role,
         "organisation": r.organisation, "case_id": r.case_id, "resource": r.resource}
        for r in records
    ])

