"""Use cases of the audit and outcomes registry: record procedures, complications and
follow-ups, import files, simulate a registry, build and render the audit report (JSON, HTML,
PDF with charts) and export a device incident report - on the service database (records under
their organisation, every read and write audited, pathways joined from linked cases) or on a
registry file of its own (the CLI's `--db`).

The statistics are computed in `core.registry.audit`; this module only reads and writes, draws
the charts (matplotlib, PNG embedded in the HTML) and fills the templates in
`vertebro/registry/templates`.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import jinja2
from pydantic import ValidationError
from sqlalchemy.orm import Session

from vertebro.adapters import registry_import
from vertebro.adapters.db.audit import Action, Interaction
from vertebro.adapters.db.audit import Outcome as AuditOutcome
from vertebro.adapters.db.registry_repository import (
    Entity,
    RecordedBy,
    SqlRegistryRepository,
    StoredComplication,
    StoredFollowUp,
    StoredProcedure,
    append_audits,
    registry_audit,
    registry_transaction,
)
from vertebro.adapters.db.repository import AuditRecord, Database
from vertebro.adapters.errors import InputError
from vertebro.adapters.registry_import import RawRow, Reading, RowKind
from vertebro.adapters.registry_store import SqliteRegistryRepository
from vertebro.core.registry import validation
from vertebro.core.registry.audit import AuditReport, FunnelOut, RateOut, build_audit
from vertebro.core.registry.incident import (
    IncidentNotDeviceRelated,
    IncidentReport,
    Reporter,
    build_incident,
)
from vertebro.core.registry.linking import Approval, LinkedCase, approval, link_pathways
from vertebro.core.registry.model import (
    Complication,
    FollowUp,
    ProcedureRecord,
    Registry,
    Timepoint,
)
from vertebro.core.registry.ports import AbstractRegistryRepository, DuplicateRecordError
from vertebro.core.registry.rows import (
    ComplicationIn,
    FieldProblem,
    FollowUpIn,
    ProcedureIn,
    problems_of,
)
from vertebro.core.registry.simulate import simulate
from vertebro.settings import Role

DEFAULT_DB = "vertebro-registry.sqlite3"


def open_repository(path: Path | str) -> SqliteRegistryRepository:
    """The registry stored in a SQLite file (created on first use).

    Raises:
        InputError: the file is not a registry database vertebro can use.
    """
    try:
        return SqliteRegistryRepository(path)
    except (ValueError, OSError) as exc:
        raise InputError(str(path), f"cannot open the registry: {exc}") from None
    except Exception as exc:  # sqlite3.DatabaseError: not a database
        raise InputError(str(path), f"cannot open the registry: {exc}") from None


# --- Import -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One problem of one bad row: where it is, the field and what is wrong."""

    line: int | None
    label: str  # "line 12", "Procedure/p-1" or "body"
    field: str
    message: str
    text: str  # the one-line message, as the CLI prints it
    duplicate: bool = False  # the record is already stored (or repeated in the file)


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What one file brought: the records loaded and one line per bad row."""

    source: str
    loaded: dict[str, int]
    bad_rows: int
    problems: list[str]
    notes: list[str] = field(default_factory=list)
    details: list[RowProblem] = field(default_factory=list)  # the problems, structured

    @property
    def ok(self) -> bool:
        """True when no row was bad."""
        return self.bad_rows == 0


@dataclass(frozen=True, slots=True)
class _Duplicate(FieldProblem):
    """A problem that says the record is already there."""


# Looks up prior-authorisation cases by id (the service database); None: no case store.
CaseLookup = Callable[[set[str]], Mapping[str, LinkedCase]]


class _Checker:
    """Validates the rows of one file against each other and against the store (and, with a
    case store, each procedure's linked case against the organisation recording it)."""

    def __init__(self, reading: Reading, repo: AbstractRegistryRepository, today: dt.date,
                 *, cases: CaseLookup | None = None, organisation: str | None = None):
        self.reading = reading
        self.repo = repo
        self.today = today
        self.cases = cases
        self.organisation = organisation
        self._problems: list[tuple[int, int, RowProblem]] = []
        self.bad_rows = 0

    def report(self, row: RawRow, problems: Sequence[FieldProblem]) -> None:
        """Record a bad row and each of its problems."""
        self.bad_rows += 1
        label = "" if row.label.startswith("line ") else f"{row.label}: "
        for problem in problems:
            error = InputError(self.reading.source, f"{label}{problem}", row.line)
            detail = RowProblem(row.line, row.label, problem.field, problem.message, str(error),
                                isinstance(problem, _Duplicate))
            self._problems.append((row.line or 0, len(self._problems), detail))

    @property
    def details(self) -> list[RowProblem]:
        """Every problem, in the order of the file."""
        return [detail for _, _, detail in sorted(self._problems, key=lambda t: t[:2])]

    @property
    def problems(self) -> list[str]:
        """One line per problem, in the order of the file."""
        return [detail.text for detail in self.details]

    def _linked_cases(self, rows: list[RawRow]) -> Mapping[str, LinkedCase] | None:
        if self.cases is None:
            return None
        wanted = {str(r.data["case_id"]).strip() for r in rows if r.data.get("case_id")}
        return self.cases(wanted) if wanted else {}

    def _case_problem(
        self, record: ProcedureRecord, cases: Mapping[str, LinkedCase] | None
    ) -> FieldProblem | None:
        if cases is None or record.case_id is None:
            return None
        case = cases.get(record.case_id)
        # Another organisation's case is "not found" too: its existence is not ours to tell.
        if case is None or case.organisation != self.organisation:
            return FieldProblem("case_id", f"no prior-authorisation case {record.case_id!r} "
                                           "of this organisation")
        return None

    def check(self) -> Registry:
        """The good records of the file, every bad row reported."""
        rows = self.reading.rows
        procedure_rows = [r for r in rows if r.kind == "procedure"]
        complication_rows = [r for r in rows if r.kind == "complication"]
        follow_up_rows = [r for r in rows if r.kind == "follow-up"]
        procedures = self._procedures(procedure_rows)
        children = (*complication_rows, *follow_up_rows)
        referenced = {str(r.data.get("procedure_id")) for r in children}
        known = self.repo.procedures(referenced - set(procedures))
        known.update(procedures)
        bad_procedures = {
            rid: r.line for r in procedure_rows if (rid := str(r.data.get("id"))) not in procedures
        }
        complications = self._complications(complication_rows, known, bad_procedures)
        follow_ups = self._follow_ups(follow_up_rows, known, bad_procedures)
        return Registry(tuple(procedures.values()), tuple(complications), tuple(follow_ups))

    def _parse(self, row: RawRow, model: type[Any]) -> Any | None:
        problems = [FieldProblem(name, message) for name, message in row.problems]
        parsed = None
        try:
            parsed = model.model_validate(row.data)
        except ValidationError as exc:
            problems += problems_of(exc)
        if problems:
            self.report(row, problems)
            return None
        return parsed

    def _procedures(self, rows: list[RawRow]) -> dict[str, ProcedureRecord]:
        seen: dict[str, int | None] = {}
        stored = self.repo.procedures(str(r.data.get("id")) for r in rows)
        cases = self._linked_cases(rows)
        good: dict[str, ProcedureRecord] = {}
        for row in rows:
            parsed = self._parse(row, ProcedureIn)
            if parsed is None:
                continue
            record: ProcedureRecord = parsed.to_record()
            problems = validation.check_procedure(record, today=self.today)
            case_problem = self._case_problem(record, cases)
            if case_problem is not None:
                problems.append(case_problem)
            if record.id in seen:
                problems.append(_repeated(record.id, seen[record.id]))
            elif record.id in stored:
                problems.append(_Duplicate("id", f"{record.id!r} is already in the registry"))
            seen.setdefault(record.id, row.line)
            if problems:
                self.report(row, problems)
            else:
                good[record.id] = record
        return good

    def _parent(
        self,
        procedure_id: str,
        known: dict[str, ProcedureRecord],
        bad: dict[str, int | None],
    ) -> tuple[ProcedureRecord | None, FieldProblem | None]:
        if procedure_id in known:
            return known[procedure_id], None
        if procedure_id in bad:
            return None, FieldProblem(
                "procedure_id", f"{procedure_id!r} is a bad row ({_at(bad[procedure_id])})"
            )
        return None, FieldProblem(
            "procedure_id", f"no procedure {procedure_id!r} in this file or the registry"
        )

    def _complications(
        self, rows: list[RawRow], known: dict[str, ProcedureRecord], bad: dict[str, int | None]
    ) -> list[Complication]:
        stored = self.repo.existing_complications(str(r.data.get("id")) for r in rows)
        seen: dict[str, int | None] = {}
        good = []
        for row in rows:
            parsed = self._parse(row, ComplicationIn)
            if parsed is None:
                continue
            record: Complication = parsed.to_record()
            parent, problem = self._parent(record.procedure_id, known, bad)
            problems = [problem] if problem else []
            if parent is not None:
                problems += validation.check_complication(record, parent, today=self.today)
            if record.id in seen:
                problems.append(_repeated(record.id, seen[record.id]))
            elif record.id in stored:
                problems.append(_Duplicate("id", f"{record.id!r} is already in the registry"))
            seen.setdefault(record.id, row.line)
            if problems:
                self.report(row, problems)
            else:
                good.append(record)
        return good

    def _follow_ups(
        self, rows: list[RawRow], known: dict[str, ProcedureRecord], bad: dict[str, int | None]
    ) -> list[FollowUp]:
        parsed_rows = [(row, self._parse(row, FollowUpIn)) for row in rows]
        keys = {(p.procedure_id, p.timepoint) for _, p in parsed_rows if p is not None}
        stored = self.repo.existing_follow_ups(keys)
        seen: dict[tuple[str, Timepoint], int | None] = {}
        good = []
        for row, parsed in parsed_rows:
            if parsed is None:
                continue
            record: FollowUp = parsed.to_record()
            parent, problem = self._parent(record.procedure_id, known, bad)
            problems = [problem] if problem else []
            if parent is not None:
                problems += validation.check_follow_up(record, parent, today=self.today)
            key = (record.procedure_id, record.timepoint)
            if key in seen:
                problems.append(FieldProblem(
                    "timepoint", f"{record.timepoint.value} of {record.procedure_id!r} is also on "
                    f"{_at(seen[key])}"))
            elif key in stored:
                problems.append(_Duplicate(
                    "timepoint", f"{record.timepoint.value} of {record.procedure_id!r} is already "
                    "in the registry"))
            seen.setdefault(key, row.line)
            if problems:
                self.report(row, problems)
            else:
                good.append(record)
        return good


def _repeated(record_id: str, line: int | None) -> FieldProblem:
    return _Duplicate("id", f"{record_id!r} is also on {_at(line)}")


def _at(line: int | None) -> str:
    return f"line {line}" if line is not None else "another entry"


def import_file(
    path: Path, repo: AbstractRegistryRepository, *, today: dt.date, skip_bad: bool = False
) -> ImportResult:
    """Validate a registry file and store it: all of it, or (skip_bad) its good rows only.

    A file with a bad row stores nothing unless skip_bad is set.

    Raises:
        InputError: the file itself cannot be read (not CSV/JSON, unknown header ...).
    """
    reading = registry_import.read_registry_file(path)
    checker = _Checker(reading, repo, today)
    batch = checker.check()
    loaded = {"procedures": 0, "complications": 0, "follow_ups": 0}
    if checker.bad_rows == 0 or skip_bad:
        try:
            repo.add(batch)
        except DuplicateRecordError as exc:
            raise InputError(reading.source, str(exc)) from None
        loaded = {
            "procedures": len(batch.procedures),
            "complications": len(batch.complications),
            "follow_ups": len(batch.follow_ups),
        }
    return ImportResult(reading.source, loaded, checker.bad_rows, checker.problems, reading.notes,
                        checker.details)


# --- The registry on the service database -------------------------------------------------------
#
# The API, the web pages and (by default) the CLI record and read the registry in the service
# database, beside the prior-authorisation cases. Records belong to an organisation; every read
# and write is a FHIR AuditEvent in the same transaction (a refusal in one of its own).


@dataclass(frozen=True, slots=True)
class RegistryUser:
    """Who is calling: the signed-in account (or the command line, as an admin)."""

    id: str
    name: str
    role: Role
    organisation: str


class RegistryNotFound(Exception):
    """No such record visible to the caller (another unit's records are not told apart)."""


class RegistryForbidden(Exception):
    """The caller may not see or write this unit's registry."""


class RegistryAmbiguous(Exception):
    """An auditor named a record that several units hold: the organisation must be given."""


class BadRecords(Exception):
    """Records refused: every problem with its field; `duplicate` when the only fault is that
    the record is already stored."""

    def __init__(self, details: list[RowProblem]) -> None:
        super().__init__("; ".join(d.text for d in details[:3]))
        self.details = details

    @property
    def duplicate(self) -> bool:
        """True when every problem is an already-stored record."""
        return bool(self.details) and all(d.duplicate for d in self.details)


@dataclass(frozen=True, slots=True)
class ProcedureDetail:
    """A procedure with its complications, follow-ups, and the pathway its case gives it."""

    stored: StoredProcedure
    complications: list[StoredComplication]
    follow_ups: list[StoredFollowUp]
    case: LinkedCase | None
    approval: Approval | None


def read_scope(user: RegistryUser, organisation: str | None) -> str | None:
    """The organisation whose records the user reads (None: every unit, for payer staff).

    Raises:
        RegistryForbidden: a requester asked for another organisation.
    """
    if user.role is Role.REQUESTER:
        if organisation not in (None, user.organisation):
            raise RegistryForbidden("a requester reads only its own organisation's registry")
        return user.organisation
    return organisation


def _write_scope(user: RegistryUser, organisation: str | None) -> str:
    if user.role is Role.REQUESTER:
        if organisation not in (None, user.organisation):
            raise RegistryForbidden("a requester records only its own organisation's procedures")
        return user.organisation
    if organisation is None:
        raise RegistryForbidden("name the organisation the records belong to")
    return organisation


def _recorder(user: RegistryUser, now: dt.datetime) -> RecordedBy:
    return RecordedBy(user.id, user.name, user.organisation, now)


def _event(
    user: RegistryUser, now: dt.datetime, action: Action, interaction: Interaction,
    operation: str, entity: Entity | Sequence[Entity] | None, detail: str | None = None,
    outcome: AuditOutcome = "0",
) -> AuditRecord:
    return registry_audit(at=now, action=action, interaction=interaction, operation=operation,
                          outcome=outcome, agent_id=user.id, agent_name=user.name,
                          agent_role=user.role.value, agent_organisation=user.organisation,
                          entity=entity, detail=detail)


def _refused(db: Database, user: RegistryUser, now: dt.datetime, action: Action,
             interaction: Interaction, operation: str, entity: Entity | None,
             detail: str) -> None:
    with registry_transaction(db) as session:
        append_audits(session, [_event(user, now, action, interaction, operation, entity,
                                       detail, outcome="4")])


def record_refusal(db: Database, user: RegistryUser, *, now: dt.datetime, operation: str,
                   record: str | None = None) -> None:
    """Record a registry request refused to the caller's role (the record it named, if any)."""
    entity = Entity("record", None, record) if record else None
    _refused(db, user, now, "E", "operation", operation, entity, "refused to this role")


def _created_events(user: RegistryUser, now: dt.datetime, organisation: str, batch: Registry,
                    operation: str, detail: str | None = None) -> list[AuditRecord]:
    entities = [Entity("procedure", organisation, p.id) for p in batch.procedures]
    entities += [Entity("complication", organisation, c.id) for c in batch.complications]
    entities += [Entity("follow-up", organisation, f"{f.procedure_id}/{f.timepoint.value}")
                 for f in batch.follow_ups]
    # A batch is audited in events of up to AUDIT_BATCH records each (one entity per record):
    # every record is named, and a 10,000-procedure import does not write 50,000 events.
    return [_event(user, now, "C", "create", operation,
                   entities[start : start + AUDIT_BATCH], detail)
            for start in range(0, len(entities), AUDIT_BATCH)]


AUDIT_BATCH = 100  # records named by one audit event of a batch write


def _fields(details: Sequence[RowProblem]) -> str:
    # The audit trail names the fields refused, never the values (they may be patient data).
    return "refused: " + ", ".join(sorted({d.field for d in details}))


def _record_one(
    db: Database, user: RegistryUser, kind: RowKind, data: dict[str, Any], entity: Entity, *,
    organisation: str, now: dt.datetime,
) -> Registry:
    operation = f"registry-{kind}-create"
    reading = Reading("body", [RawRow(kind, None, "body", data)])
    with registry_transaction(db) as session:
        repo = SqlRegistryRepository(session, organisation=organisation,
                                     recorder=_recorder(user, now))
        checker = _Checker(reading, repo, now.date(), cases=repo.linked_cases,
                           organisation=organisation)
        batch = checker.check()
        if checker.bad_rows == 0:
            try:
                repo.add(batch)
            except DuplicateRecordError:  # stored by a concurrent request since the check
                checker.report(reading.rows[0], [_Duplicate("id", "is already in the registry")])
            else:
                append_audits(session, _created_events(user, now, organisation, batch, operation))
                return batch
    _refused(db, user, now, "C", "create", operation, entity, _fields(checker.details))
    raise BadRecords(checker.details)


def record_procedure(
    db: Database, user: RegistryUser, data: dict[str, Any], *, now: dt.datetime,
    organisation: str | None = None,
) -> StoredProcedure:
    """Record one procedure (the fields of `ProcedureIn`) for the user's unit.

    Raises:
        BadRecords: a value is impossible, the linked case is not the unit's, or the id is
            already stored (`duplicate`).
        RegistryForbidden: the user may not record for that organisation.
    """
    org = _write_scope(user, organisation)
    entity = Entity("procedure", org, str(data.get("id", "?")))
    batch = _record_one(db, user, "procedure", data, entity, organisation=org, now=now)
    return StoredProcedure(org, batch.procedures[0], _recorder(user, now))


def record_complication(
    db: Database, user: RegistryUser, procedure_id: str, data: dict[str, Any], *,
    now: dt.datetime, organisation: str | None = None,
) -> StoredComplication:
    """Record a complication of one of the unit's procedures.

    Raises:
        RegistryNotFound: no such procedure in the unit.
        BadRecords, RegistryForbidden: as for `record_procedure`.
    """
    org = _write_scope(user, organisation)
    data = _with_parent(data, procedure_id)
    entity = Entity("complication", org, str(data.get("id", "?")))
    _require_procedure(db, user, org, procedure_id, "registry-complication-create", now)
    batch = _record_one(db, user, "complication", data, entity, organisation=org, now=now)
    return StoredComplication(org, batch.complications[0], _recorder(user, now))


def record_follow_up(
    db: Database, user: RegistryUser, procedure_id: str, data: dict[str, Any], *,
    now: dt.datetime, organisation: str | None = None,
) -> StoredFollowUp:
    """Record the outcome measures at one timepoint of one of the unit's procedures.

    Raises:
        RegistryNotFound: no such procedure in the unit.
        BadRecords, RegistryForbidden: as for `record_procedure`.
    """
    org = _write_scope(user, organisation)
    data = _with_parent(data, procedure_id)
    entity = Entity("follow-up", org, f"{procedure_id}/{data.get('timepoint', '?')}")
    _require_procedure(db, user, org, procedure_id, "registry-follow-up-create", now)
    batch = _record_one(db, user, "follow-up", data, entity, organisation=org, now=now)
    return StoredFollowUp(org, batch.follow_ups[0], _recorder(user, now))


def _with_parent(data: dict[str, Any], procedure_id: str) -> dict[str, Any]:
    given = data.get("procedure_id")
    if given is not None and str(given).strip() != procedure_id:
        raise BadRecords([RowProblem(
            None, "body", "procedure_id", f"{given!r} is not the procedure in the address "
            f"({procedure_id!r})", f"procedure_id: {given!r} is not {procedure_id!r}")])
    return {**data, "procedure_id": procedure_id}


def _require_procedure(db: Database, user: RegistryUser, organisation: str, procedure_id: str,
                       operation: str, now: dt.datetime) -> None:
    with registry_transaction(db) as session:
        found = SqlRegistryRepository(session, organisation=organisation).procedures(
            [procedure_id])
    if not found:
        _refused(db, user, now, "C", "create", operation,
                 Entity("procedure", organisation, procedure_id), "no such procedure")
        raise RegistryNotFound(procedure_id)


def import_reading(
    db: Database, user: RegistryUser, reading: Reading, *, now: dt.datetime,
    skip_bad: bool = False, organisation: str | None = None,
) -> ImportResult:
    """Validate a registry file (CSV or a FHIR Bundle, already read) and store it in the
    service database for the user's unit: all of it, or (skip_bad) its good rows only.

    Raises:
        RegistryForbidden: the user may not record for that organisation.
    """
    org = _write_scope(user, organisation)
    operation = "registry-import"
    with registry_transaction(db) as session:
        repo = SqlRegistryRepository(session, organisation=org, recorder=_recorder(user, now))
        checker = _Checker(reading, repo, now.date(), cases=repo.linked_cases, organisation=org)
        batch = checker.check()
        stored = checker.bad_rows == 0 or skip_bad
        if stored:
            repo.add(batch)  # checked above inside this transaction: no duplicate can remain
            detail = (f"{reading.source}; {checker.bad_rows} bad rows skipped"
                      if checker.bad_rows else reading.source)
            append_audits(session, _created_events(user, now, org, batch, operation, detail))
    if not stored:
        _refused(db, user, now, "C", "create", operation, Entity("import", org, reading.source),
                 f"{checker.bad_rows} bad rows; nothing stored")
    loaded = {"procedures": 0, "complications": 0, "follow_ups": 0}
    if stored:
        loaded = {"procedures": len(batch.procedures),
                  "complications": len(batch.complications),
                  "follow_ups": len(batch.follow_ups)}
    return ImportResult(reading.source, loaded, checker.bad_rows, checker.problems,
                        reading.notes, checker.details)


def import_file_to_database(
    path: Path, db: Database, user: RegistryUser, *, now: dt.datetime, organisation: str,
    skip_bad: bool = False,
) -> ImportResult:
    """`import_reading` for a file (the CLI).

    Raises:
        InputError: the file itself cannot be read.
    """
    return import_reading(db, user, registry_import.read_registry_file(path), now=now,
                          skip_bad=skip_bad, organisation=organisation)


def store_registry(db: Database, user: RegistryUser, registry: Registry, *, now: dt.datetime,
                   organisation: str) -> None:
    """Store a whole registry (a simulated one) for a unit, or nothing.

    Raises:
        DuplicateRecordError: some of its records are already stored.
    """
    with registry_transaction(db) as session:
        repo = SqlRegistryRepository(session, organisation=organisation,
                                     recorder=_recorder(user, now))
        repo.add(registry)
        append_audits(session, _created_events(user, now, organisation, registry,
                                               "registry-store"))


def list_procedures(
    db: Database, user: RegistryUser, *, now: dt.datetime, organisation: str | None = None,
    start: dt.date | None = None, end: dt.date | None = None, limit: int = 100,
    offset: int = 0,
) -> list[StoredProcedure]:
    """Procedures the user may see, newest first; each listed one is an audited read.

    Raises:
        RegistryForbidden: a requester asked for another organisation.
    """
    scope = read_scope(user, organisation)
    with registry_transaction(db) as session:
        repo = SqlRegistryRepository(session, organisation=scope)
        found = repo.list_procedures(start=start, end=end, limit=limit, offset=offset)
        append_audits(session, [
            _event(user, now, "R", "search-type", "registry-procedure-list",
                   Entity("procedure", s.organisation, s.record.id)) for s in found])
    return found


def _resolve(session: Session, user: RegistryUser, kind: str, record_id: str,
             organisation: str | None) -> str | None:
    """The unit holding the record, for a user who may not have named it."""
    scope = read_scope(user, organisation)
    if scope is not None:
        return scope
    holders = SqlRegistryRepository(session, organisation=None).organisations_holding(
        kind, record_id)
    if len(holders) > 1:
        raise RegistryAmbiguous(f"{len(holders)} organisations hold a {kind} {record_id!r}: "
                                f"give the organisation ({', '.join(holders)})")
    return holders[0] if holders else None


def procedure_detail(
    db: Database, user: RegistryUser, procedure_id: str, *, now: dt.datetime,
    organisation: str | None = None,
) -> ProcedureDetail:
    """One procedure with its complications and follow-ups, and the pathway its linked case
    gives it.

    Raises:
        RegistryNotFound: no such procedure visible to the user.
        RegistryAmbiguous: several units hold it and the user named none.
    """
    operation = "registry-procedure-read"
    with registry_transaction(db) as session:
        org = _resolve(session, user, "procedure", procedure_id, organisation)
        stored = None
        if org is not None:
            repo = SqlRegistryRepository(session, organisation=org)
            stored = repo.get_procedure(procedure_id)
        if stored is not None and org is not None:
            case_id = stored.record.case_id
            case = repo.linked_cases([case_id]).get(case_id) if case_id else None
            detail = ProcedureDetail(
                stored, repo.complications_of(procedure_id), repo.follow_ups_of(procedure_id),
                case, approval(case, stored.record.procedure) if case else None)
            append_audits(session, [_event(user, now, "R", "read", operation,
                                           Entity("procedure", org, procedure_id))])
            return detail
    _refused(db, user, now, "R", "read", operation, Entity("procedure", org, procedure_id),
             "no such procedure for this caller")
    raise RegistryNotFound(procedure_id)


def load_linked(repo: SqlRegistryRepository, start: dt.date | None,
                end: dt.date | None) -> Registry:
    """The stored registry of the period with each linked procedure's pathway taken from its
    prior-authorisation case (the hand-entered pathway stays for the others)."""
    registry = repo.load(start, end)
    case_ids = {p.case_id for p in registry.procedures if p.case_id}
    return link_pathways(registry, repo.linked_cases(case_ids)) if case_ids else registry


def audit_from_database(
    db: Database, user: RegistryUser, *, generated_on: dt.date, now: dt.datetime,
    organisation: str | None = None, period_from: dt.date | None = None,
    period_to: dt.date | None = None, title: str = "Vertebral augmentation audit",
) -> AuditReport:
    """The audit of the procedures the user may see (one unit, or every unit for payer staff),
    with pathways joined from the linked cases; the report is one audited read.

    Raises:
        RegistryForbidden: a requester asked for another organisation.
    """
    scope = read_scope(user, organisation)
    with registry_transaction(db) as session:
        repo = SqlRegistryRepository(session, organisation=scope)
        registry = load_linked(repo, period_from, period_to)
        report = build_audit(registry, generated_on=generated_on, period_from=period_from,
                             period_to=period_to, title=title)
        period = f"{period_from or 'start'}..{period_to or 'end'}"
        append_audits(session, [_event(
            user, now, "R", "operation", "registry-audit-report",
            Entity("report", scope, period),
            f"{report.procedures} procedures of {scope or 'every organisation'}")])
    return report


def incident_from_database(
    db: Database, user: RegistryUser, complication_id: str, *, reporter: Reporter,
    report_date: dt.date, now: dt.datetime, organisation: str | None = None,
) -> IncidentReport:
    """The draft device incident report for one of the unit's complications.

    Raises:
        RegistryNotFound: no such complication visible to the user.
        RegistryAmbiguous: several units hold it and the user named none.
        InputError: it is not recorded as device-related.
    """
    operation = "registry-incident-report"
    with registry_transaction(db) as session:
        org = _resolve(session, user, "complication", complication_id, organisation)
        if org is not None:
            repo = SqlRegistryRepository(session, organisation=org)
            found = repo.complication(complication_id)
            procedure = (repo.procedures([found.procedure_id]).get(found.procedure_id)
                         if found else None)
            if found is not None and procedure is not None:
                entity = Entity("complication", org, complication_id)
                try:
                    report = build_incident(found, procedure, reporter=reporter,
                                            report_date=report_date)
                except IncidentNotDeviceRelated as exc:
                    problem = InputError("incident", str(exc))
                else:
                    append_audits(session, [_event(user, now, "R", "operation", operation,
                                                   entity)])
                    return report
                append_audits(session, [_event(user, now, "R", "operation", operation, entity,
                                               "not device-related", outcome="4")])
                raise problem
    _refused(db, user, now, "R", "operation", operation,
             Entity("complication", org, complication_id), "no such complication for this caller")
    raise RegistryNotFound(complication_id)


# --- Simulation ---------------------------------------------------------------------------------


def simulate_registry(
    n: int, *, seed: int, start: dt.date, end: dt.date, as_of: dt.date
) -> Registry:
    """A synthetic registry (see `core.registry.simulate`).

    Raises:
        InputError: impossible arguments.
    """
    try:
        return simulate(n, seed=seed, start=start, end=end, as_of=as_of)
    except ValueError as exc:
        raise InputError("simulate", str(exc)) from None


def write_registry(registry: Registry, out: Path, fmt: Literal["csv", "fhir"]) -> list[Path]:
    """Write a registry as the three CSV files, or one FHIR Bundle, into a folder."""
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "fhir":
        path = out / "registry-bundle.json"
        path.write_text(json.dumps(registry_import.registry_bundle(registry)), encoding="utf-8")
        return [path]
    written = []
    for name, text in registry_import.registry_csv(registry).items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


# --- The audit report ---------------------------------------------------------------------------


def audit(
    repo: AbstractRegistryRepository,
    *,
    generated_on: dt.date,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
) -> AuditReport:
    """The audit of the stored procedures done in the period."""
    registry = repo.load(period_from, period_to)
    return build_audit(
        registry, generated_on=generated_on, period_from=period_from, period_to=period_to
    )


# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
BLUE, ORANGE, VERMILLION, GREEN, SKY, PURPLE = (
    "#0072B2", "#E69F00", "#D55E00", "#009E73", "#56B4E9", "#CC79A7"
)
INK, MUTED, BAND, GRID = "#222222", "#666666", "#D9EFE6", "#E6E6E6"
LIMIT_95, LIMIT_998 = "#8C8C8C", "#3A3A3A"
_GOOD, _BAD, _NEUTRAL = BLUE, VERMILLION, GREEN


def _pct(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    if digits and 0 < value < 0.01:
        digits += 1  # below 1%, one more decimal
    return f"{100 * value:.{digits}f}%"


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure  # imported here: slow to load, only charts need it

    fig = Figure(figsize=(width, height), dpi=100)
    fig.patch.set_facecolor("white")
    return fig


def _style(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.spines[["left", "bottom"]].set_color("#999999")
    ax.tick_params(colors=MUTED, labelsize=8.5)
    ax.grid(axis="both", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=160, bbox_inches="tight", facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _rate_colour(rate: RateOut) -> str:
    positions = {c.position.value for c in rate.comparisons if c.position is not None}
    primary = rate.comparisons[0].position.value if rate.comparisons and rate.comparisons[
        0].position else None
    if not positions or primary in (None, "within"):
        return _NEUTRAL
    good = (primary == "above") == (rate.kind == "benefit")
    return _GOOD if good else _BAD


def _short_source(source: str) -> str:
    return {"nice-htg3": "NICE", "rbft-leaflet": "RBFT leaflet"}.get(source, source)


def chart_rates(report: AuditReport, subtitle: str | None = None) -> Any:
    """Each rate with its 95% interval against the published range: one row per rate, each on
    its own scale, the published range shaded, a single published figure as a dashed line."""
    rates = [r for r in report.rates if r.comparisons and r.proportion.rate is not None]
    if not rates:  # an empty period: say so instead of drawing empty axes
        fig = _figure(9.0, 1.2)
        fig.text(0.5, 0.5, "No rate to compare: no procedures recorded in this period.",
                 ha="center", va="center", fontsize=11)
        return fig
    fig = _figure(9.0, 0.82 * len(rates) + 1.0)
    axes = fig.subplots(len(rates), 1, squeeze=False)[:, 0] if rates else []
    for ax, rate in zip(axes, rates, strict=True):
        p = rate.proportion
        assert p.rate is not None and p.low is not None and p.high is not None
        top = max([p.high] + [c.benchmark.high for c in rate.comparisons])
        xmax = 1.0 if rate.kind == "benefit" else min(1.0, max(top * 1.35, 0.004))
        ax.set_xlim(0, xmax)
        ax.set_ylim(-0.6, 0.6)
        ax.set_yticks([])
        _style(ax)
        ax.spines["left"].set_visible(False)
        ax.grid(axis="y", visible=False)
        ax.xaxis.set_major_formatter(lambda v, _pos: f"{100 * v:g}%")
        ax.tick_params(axis="x", labelsize=8, pad=2)
        for i, comparison in enumerate(rate.comparisons):
            b = comparison.benchmark
            label = f"{b.figure} ({_short_source(b.source)})"
            colour = PURPLE if i else GREEN
            if b.low < b.high:
                ax.axvspan(b.low, b.high, color=BAND, zorder=0)
                right = b.high > 0.8 * xmax
                ax.text(b.high, 0.55, f"{label} " if right else f" {label}", fontsize=8,
                        color=GREEN, va="top", ha="right" if right else "left")
            else:
                ax.axvline(b.low, color=colour, linestyle=(0, (4, 2)), lw=1.4)
                ax.text(b.low, -0.58 if i else 0.55, f" {label}", fontsize=8, color=colour,
                        va="bottom" if i else "top")
        colour = _rate_colour(rate)
        ax.plot([p.low, p.high], [0, 0], color=colour, lw=3, solid_capstyle="round")
        ax.plot([p.rate], [0], "o", color=colour, ms=8, mec="white", mew=1.3, zorder=5)
        ax.text(-0.03, 0.18, rate.label, transform=ax.transAxes, ha="right", va="center",
                fontsize=10, color=INK, fontweight="bold")
        ax.text(-0.03, -0.3, f"{_pct(p.rate)}  ({_pct(p.low)}–{_pct(p.high)})  n={p.n:,}",
                transform=ax.transAxes, ha="right", va="center", fontsize=9, color=colour)
    height = fig.get_figheight()
    fig.suptitle("Unit rates with 95% intervals against the published figures", x=0.01,
                 y=1 - 0.1 / height, ha="left", va="top", fontsize=11, color=INK,
                 fontweight="bold")
    if subtitle:
        fig.text(0.01, 1 - 0.38 / height, subtitle, ha="left", va="top", fontsize=9,
                 color=MUTED)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig.legend(
        [Line2D([], [], color=GREEN, marker="o", lw=3, ms=7, mec="white"),
         Patch(color=BAND), Line2D([], [], color=GREEN, ls=(0, (4, 2)), lw=1.4),
         Line2D([], [], color=BLUE, marker="o", lw=3, ms=7, mec="white"),
         Line2D([], [], color=VERMILLION, marker="o", lw=3, ms=7, mec="white")],
        ["consistent with the figure", "published range", "single published figure",
         "better than published", "worse than published"],
        loc="lower center", ncol=5, frameon=False, fontsize=8, handlelength=2.2,
    )
    fig.subplots_adjust(left=0.37, right=0.98, top=1 - (0.85 if subtitle else 0.6) / height,
                        bottom=0.6 / height, hspace=1.05)
    return fig


def chart_funnels(report: AuditReport) -> Any:
    """One funnel plot per audited rate: operators' rates against their volume, with the 95%
    and 99.8% limits around the unit's rate."""
    funnels = [f for f in report.funnels if f.unit.rate is not None and f.limits]
    fig = _figure(9.2, 3.3)
    axes = fig.subplots(1, max(1, len(funnels)), squeeze=False)[0]
    for ax, funnel in zip(axes, funnels, strict=False):
        _draw_funnel(ax, funnel)
    fig.subplots_adjust(left=0.07, right=0.99, top=0.86, bottom=0.2, wspace=0.28)
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=SKY, lw=1.4),
        Line2D([], [], color=LIMIT_95, lw=1.2, ls="--"),
        Line2D([], [], color=LIMIT_998, lw=1.3),
        Line2D([], [], color=VERMILLION, marker="o", lw=0, ms=7),
        Line2D([], [], color=BLUE, marker="o", lw=0, ms=7),
    ]
    fig.legend(
        handles, ["unit rate", "95% limits", "99.8% limits", "worse than the funnel",
                  "better than the funnel"],
        loc="lower center", ncol=5, frameon=False, fontsize=8.5,
    )
    return fig


def _draw_funnel(ax: Any, funnel: FunnelOut) -> None:
    assert funnel.unit.rate is not None
    unit = funnel.unit.rate
    ns = [lim.n for lim in funnel.limits]
    ax.plot(ns, [lim.high_998 for lim in funnel.limits], color=LIMIT_998, lw=1.3)
    ax.plot(ns, [lim.low_998 for lim in funnel.limits], color=LIMIT_998, lw=1.3)
    ax.plot(ns, [lim.high_95 for lim in funnel.limits], color=LIMIT_95, lw=1.2, ls="--")
    ax.plot(ns, [lim.low_95 for lim in funnel.limits], color=LIMIT_95, lw=1.2, ls="--")
    ax.axhline(unit, color=SKY, lw=1.4)
    points = [o for o in funnel.operators if o.proportion.rate is not None]
    max_n = max((o.proportion.n for o in points), default=10)
    rates = [o.proportion.rate or 0.0 for o in points]
    # The y range shows every operator and the limits from a modest volume on.
    spread = max(max([*rates, unit]) - min([*rates, unit]), 0.01)
    low_at = next(
        (lim for lim in funnel.limits if lim.n >= max(20, max_n * 0.12)), funnel.limits[-1]
    )
    top = min(1.0, max([*rates, low_at.high_998]) + 0.12 * spread)
    bottom = max(0.0, min([*rates, low_at.low_998]) - 0.12 * spread)
    ax.set_ylim(bottom, top)
    ax.set_xlim(0, max_n * 1.12)
    placed: list[tuple[float, float]] = []
    for o in sorted(points, key=lambda o: o.proportion.n):
        flag = o.flag.value if o.flag else "within"
        bad = flag.startswith("above") == (funnel.kind == "harm") and flag != "within"
        colour = INK if flag == "within" else (VERMILLION if bad else BLUE)
        size = 8 if "99.8" in flag else 6
        x, y = o.proportion.n, o.proportion.rate or 0.0
        ax.plot([x], [y], "o", color=colour, ms=size, mec="white", mew=0.8, zorder=5)
        crowded = any(
            abs(x - px) < 0.12 * max_n and abs(y - py) < 0.07 * (top - bottom)
            for px, py in placed
        )
        ax.annotate(o.operator, (x, y), fontsize=7.5, color=colour,
                    xytext=(4, -11) if crowded else (4, 3), textcoords="offset points")
        placed.append((x, y))
    _style(ax)
    ax.yaxis.set_major_formatter(
        lambda v, _pos: f"{100 * v:.0f}%" if v >= 0.05 or v == 0 else f"{100 * v:.1f}%"
    )
    ax.set_xlabel("procedures per operator", fontsize=8.5, color=MUTED)
    ax.set_title(f"{funnel.label}\nunit {_pct(unit)} of {funnel.unit.n:,}",
                 fontsize=10, color=INK, loc="left")


_TP_LABEL = {"baseline": "Baseline", "2-weeks": "2 weeks", "3-months": "3 months",
             "12-months": "12 months"}
_GROUP_COLOUR = {"all": INK, "vertebroplasty": BLUE, "kyphoplasty": ORANGE,
                 "sacroplasty": PURPLE}


def chart_trajectory(report: AuditReport) -> Any:
    """Mean pain (0-10) and Roland-Morris disability (0-24) at each timepoint, with 95%
    intervals, for all procedures and for each procedure type."""
    fig = _figure(9.0, 3.2)
    pain_ax, rm_ax = fig.subplots(1, 2)
    xs = list(range(len(_TP_LABEL)))
    for offset, trajectory in enumerate(report.trajectories):
        colour = _GROUP_COLOUR.get(trajectory.group, GREEN)
        shift = (offset - (len(report.trajectories) - 1) / 2) * 0.06
        for ax, attribute in ((pain_ax, "pain"), (rm_ax, "roland_morris")):
            means = [getattr(pt, attribute) for pt in trajectory.points]
            shown = [(x + shift, m) for x, m in zip(xs, means, strict=True) if m.mean is not None]
            if not shown:
                continue
            n_all = min(m.n for _, m in shown)
            label = f"{trajectory.group} (n≥{n_all:,})"
            ax.plot([x for x, _ in shown], [m.mean for _, m in shown], "-o", color=colour,
                    lw=2.2 if trajectory.group == "all" else 1.3, ms=4, label=label)
            ax.vlines([x for x, _ in shown], [m.low for _, m in shown], [m.high for _, m in shown],
                      color=colour, lw=1.2)
    for ax, title, top in ((pain_ax, "Pain score (0–10, lower is better)", 10),
                           (rm_ax, "Roland-Morris disability (0–24, lower is better)", 24)):
        _style(ax)
        ax.set_xticks(xs, list(_TP_LABEL.values()))
        ax.set_ylim(0, top)
        ax.set_title(title, fontsize=10, color=INK, loc="left")
    if pain_ax.get_legend_handles_labels()[0]:  # nothing drawn without follow-ups
        pain_ax.legend(fontsize=8, frameon=False, loc="upper right")
    fig.subplots_adjust(left=0.06, right=0.99, top=0.88, bottom=0.1, wspace=0.18)
    return fig


def chart_trends(report: AuditReport) -> Any:
    """Pain relief, cement leakage and procedure-related complications per calendar quarter,
    with 95% intervals as bands (quarters with fewer than 20 procedures are left out)."""
    periods = [p for p in report.trends if p.procedures >= 20]
    fig = _figure(9.0, 3.0)
    left, right = fig.subplots(1, 2)
    xs = list(range(len(periods)))
    labels = [
        f"{p.period[-2:]}\n{p.period[:4]}" if p.period.endswith("Q1") or i == 0 else p.period[-2:]
        for i, p in enumerate(periods)
    ]
    for ax, series in (
        (left, (("Pain relief at 3 months", "pain_relief", BLUE),)),
        (right, (("Cement leakage", "cement_leak", ORANGE),
                 ("Procedure-related complication", "complication", VERMILLION))),
    ):
        for label, attribute, colour in series:
            values = [getattr(p, attribute) for p in periods]
            keep = [(x, v) for x, v in zip(xs, values, strict=True) if v.rate is not None]
            if not keep:
                continue
            ax.fill_between([x for x, _ in keep], [v.low for _, v in keep],
                            [v.high for _, v in keep], color=colour, alpha=0.18, lw=0)
            ax.plot([x for x, _ in keep], [v.rate for _, v in keep], "-o", color=colour, ms=3,
                    lw=1.6, label=label)
        _style(ax)
        step = max(1, len(xs) // 16)
        ax.set_xticks(xs[::step], labels[::step])
        ax.yaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f}%")
        if ax.get_legend_handles_labels()[0]:  # no quarter with 20 procedures: no lines
            ax.legend(fontsize=8, frameon=False, loc="best")
    left.set_ylim(0, 1)
    right.set_ylim(bottom=0)
    left.set_title("Benefit by quarter of procedure", fontsize=10, color=INK, loc="left")
    right.set_title("Harms by quarter of procedure", fontsize=10, color=INK, loc="left")
    fig.subplots_adjust(left=0.06, right=0.99, top=0.88, bottom=0.16, wspace=0.18)
    return fig


def chart_pathways(report: AuditReport) -> Any:
    """For each approving pathway: pain relief at 3 months (with the NICE range) and the mean
    change in pain, each with a 95% interval."""
    pathways = [p for p in report.pathways if p.pain_relief.rate is not None]
    fig = _figure(9.0, 0.42 * len(pathways) + 1.3)
    left, right = fig.subplots(1, 2, sharey=True)
    ys = list(range(len(pathways)))[::-1]
    nice = next((c.benchmark for r in report.rates if r.metric == "pain-relief"
                 for c in r.comparisons if c.benchmark.low < c.benchmark.high), None)
    if nice is not None:
        left.axvspan(nice.low, nice.high, color=BAND, zorder=0, label=f"NICE {nice.figure}")
    for y, p in zip(ys, pathways, strict=True):
        r, change = p.pain_relief, p.pain_change
        left.plot([r.low, r.high], [y, y], color=BLUE, lw=2.4, solid_capstyle="round")
        left.plot([r.rate], [y], "o", color=BLUE, ms=6, mec="white", mew=1)
        if change.mean is not None:
            right.plot([change.low, change.high], [y, y], color=GREEN, lw=2.4,
                       solid_capstyle="round")
            right.plot([change.mean], [y], "o", color=GREEN, ms=6, mec="white", mew=1)
    left.set_yticks(ys, [f"{p.label}  (n={p.procedures:,})" for p in pathways], fontsize=8)
    lowest = min([p.pain_relief.low or 0.0 for p in pathways] + [nice.low if nice else 1.0])
    left.set_xlim(max(0.0, min(0.4, lowest - 0.05)), 1)
    left.xaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f}%")
    left.set_title("Pain relief at 3 months", fontsize=10, color=INK, loc="left")
    left.legend(fontsize=8, frameon=False, loc="lower left")
    right.axvline(0, color=MUTED, lw=0.8)
    right.set_xlabel("points on the 0–10 scale (negative: less pain)", fontsize=8.5, color=MUTED)
    right.set_title("Mean change in pain, baseline to 3 months", fontsize=10, color=INK, loc="left")
    lows = [p.pain_change.low for p in pathways if p.pain_change.low is not None]
    right.set_xlim(min([*lows, -1.0]) * 1.15, 0.5)
    for ax in (left, right):
        _style(ax)
        ax.set_ylim(-0.7, len(pathways) - 0.3)
    fig.subplots_adjust(left=0.3, right=0.99, top=0.9, bottom=0.12, wspace=0.08)
    return fig


@dataclass(frozen=True, slots=True)
class Charts:
    """The report's charts as PNG data URIs."""

    rates: str
    funnels: str
    trajectory: str
    trends: str
    pathways: str


def render_charts(report: AuditReport) -> Charts:
    """Draw every chart of the report."""
    return Charts(
        rates=_png(chart_rates(report)),
        funnels=_png(chart_funnels(report)),
        trajectory=_png(chart_trajectory(report)),
        trends=_png(chart_trends(report)),
        pathways=_png(chart_pathways(report)),
    )


def save_chart_png(fig: Any, path: Path) -> None:
    """Write one chart as a PNG file (for the README)."""
    fig.savefig(path, format="png", dpi=160, bbox_inches="tight", facecolor="white")


def findings(report: AuditReport) -> list[str]:
    """The headline sentences: each compared rate's position, and operators outside 99.8%."""
    lines = []
    for rate in report.rates:
        p = rate.proportion
        if not rate.comparisons or p.rate is None:
            continue
        parts = []
        for c in rate.comparisons:
            b = c.benchmark
            who = "NICE" if b.source == "nice-htg3" else "the Royal Berkshire leaflet"
            parts.append(f"{c.position.value if c.position else 'not compared'} {who}'s {b.figure}")
        lines.append(
            f"{rate.label}: {_pct(p.rate)} (95% CI {_pct(p.low)}–{_pct(p.high)}, "
            f"{p.events:,} of {p.n:,}) — {'; '.join(parts)}."
        )
    for funnel in report.funnels:
        for o in funnel.operators:
            if o.flag is not None and "99.8" in o.flag.value:
                side = "above" if o.flag.value.startswith("above") else "below"
                worse = (side == "above") == (funnel.kind == "harm")
                lines.append(
                    f"{o.operator} is {side} the 99.8% limit for {funnel.label.lower()} "
                    f"({'worse' if worse else 'better'} than the unit): "
                    f"{_pct(o.proportion.rate)} of {o.proportion.n:,} against the unit's "
                    f"{_pct(funnel.unit.rate)}."
                )
    return lines


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("vertebro", "registry/templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = _pct
    env.filters["num"] = lambda v, digits=1: "–" if v is None else f"{v:.{digits}f}"
    return env


def render_html(report: AuditReport, charts: Charts | None = None) -> str:
    """The audit as a standalone HTML page with its charts embedded."""
    charts = charts or render_charts(report)
    return _environment().get_template("audit.html.j2").render(
        report=report, charts=charts, findings=findings(report)
    )


def render_pdf(report: AuditReport, charts: Charts | None = None) -> bytes:
    """The audit as PDF (A4), rendered from the HTML by WeasyPrint."""
    return _pdf(render_html(report, charts))


def _pdf(html: str) -> bytes:
    import weasyprint  # type: ignore[import-untyped]  # slow to load: only the PDF needs it

    pdf = weasyprint.HTML(string=html).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf


# --- Device incident ----------------------------------------------------------------------------


def incident(
    repo: AbstractRegistryRepository, complication_id: str, *, reporter: Reporter,
    report_date: dt.date,
) -> IncidentReport:
    """The draft device incident report for a stored complication.

    Raises:
        InputError: no such complication, or it is not recorded as device-related.
    """
    complication = repo.complication(complication_id)
    if complication is None:
        raise InputError("incident", f"no complication {complication_id!r} in the registry")
    procedure = repo.procedures([complication.procedure_id]).get(complication.procedure_id)
    if procedure is None:
        raise InputError("incident", f"procedure {complication.procedure_id!r} is not stored")
    try:
        return build_incident(complication, procedure, reporter=reporter, report_date=report_date)
    except IncidentNotDeviceRelated as exc:
        raise InputError("incident", str(exc)) from None


def render_incident_html(report: IncidentReport) -> str:
    """The draft incident report as a standalone HTML page."""
    return _environment().get_template("incident.html.j2").render(report=report)


def render_incident_pdf(report: IncidentReport) -> bytes:
    """The draft incident report as PDF (A4)."""
    return _pdf(render_incident_html(report))
