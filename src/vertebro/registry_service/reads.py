"""Audited reads of the service database: procedures, one procedure, audit and incident reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from vertebro.adapters.db.registry_repository import (
    Entity,
    SqlRegistryRepository,
    StoredComplication,
    StoredFollowUp,
    StoredProcedure,
    append_audits,
    registry_transaction,
)
from vertebro.adapters.db.repository import Database
from vertebro.adapters.errors import InputError
from vertebro.core.registry.audit import AuditReport, build_audit
from vertebro.core.registry.incident import (
    IncidentNotDeviceRelated,
    IncidentReport,
    Reporter,
    build_incident,
)
from vertebro.core.registry.linking import Approval, LinkedCase, approval, link_pathways
from vertebro.core.registry.model import Registry
from vertebro.registry_service.access import RegistryUser, audit_event, audit_refused, read_scope
from vertebro.registry_service.errors import RegistryAmbiguous, RegistryNotFound


@dataclass(frozen=True, slots=True)
class ProcedureDetail:
    """A procedure with its complications, follow-ups, and the pathway its case gives it."""

    stored: StoredProcedure
    complications: list[StoredComplication]
    follow_ups: list[StoredFollowUp]
    case: LinkedCase | None
    approval: Approval | None


def list_procedures(
    db: Database,
    user: RegistryUser,
    *,
    now: dt.datetime,
    organisation: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    limit: int = 100,
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
        append_audits(
            session,
            [
                audit_event(
                    user,
                    now,
                    "R",
                    "search-type",
                    "registry-procedure-list",
                    Entity("procedure", s.organisation, s.record.id),
                )
                for s in found
            ],
        )
    return found


def _resolve(
    session: Session, user: RegistryUser, kind: str, record_id: str, organisation: str | None
) -> str | None:
    """The unit holding the record, for a user who may not have named it."""
    scope = read_scope(user, organisation)
    if scope is not None:
        return scope
    holders = SqlRegistryRepository(session, organisation=None).organisations_holding(
        kind, record_id
    )
    if len(holders) > 1:
        raise RegistryAmbiguous(
            f"{len(holders)} organisations hold a {kind} {record_id!r}: "
            f"give the organisation ({', '.join(holders)})"
        )
    return holders[0] if holders else None


def procedure_detail(
    db: Database,
    user: RegistryUser,
    procedure_id: str,
    *,
    now: dt.datetime,
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
                stored,
                repo.complications_of(procedure_id),
                repo.follow_ups_of(procedure_id),
                case,
                approval(case, stored.record.procedure) if case else None,
            )
            append_audits(
                session,
                [
                    audit_event(
                        user, now, "R", "read", operation, Entity("procedure", org, procedure_id)
                    )
                ],
            )
            return detail
    audit_refused(
        db,
        user,
        now,
        "R",
        "read",
        operation,
        Entity("procedure", org, procedure_id),
        "no such procedure for this caller",
    )
    raise RegistryNotFound(procedure_id)


def load_linked(
    repo: SqlRegistryRepository, start: dt.date | None, end: dt.date | None
) -> Registry:
    """The stored registry of the period with each linked procedure's pathway taken from its
    prior-authorisation case (the hand-entered pathway stays for the others)."""
    registry = repo.load(start, end)
    case_ids = {p.case_id for p in registry.procedures if p.case_id}
    return link_pathways(registry, repo.linked_cases(case_ids)) if case_ids else registry


def audit_from_database(
    db: Database,
    user: RegistryUser,
    *,
    generated_on: dt.date,
    now: dt.datetime,
    organisation: str | None = None,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
    title: str = "Vertebral augmentation audit",
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
        report = build_audit(
            registry,
            generated_on=generated_on,
            period_from=period_from,
            period_to=period_to,
            title=title,
        )
        period = f"{period_from or 'start'}..{period_to or 'end'}"
        append_audits(
            session,
            [
                audit_event(
                    user,
                    now,
                    "R",
                    "operation",
                    "registry-audit-report",
                    Entity("report", scope, period),
                    f"{report.procedures} procedures of {scope or 'every organisation'}",
                )
            ],
        )
    return report


def incident_from_database(
    db: Database,
    user: RegistryUser,
    complication_id: str,
    *,
    reporter: Reporter,
    report_date: dt.date,
    now: dt.datetime,
    organisation: str | None = None,
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
            procedure = (
                repo.procedures([found.procedure_id]).get(found.procedure_id) if found else None
            )
            if found is not None and procedure is not None:
                entity = Entity("complication", org, complication_id)
                try:
                    report = build_incident(
                        found, procedure, reporter=reporter, report_date=report_date
                    )
                except IncidentNotDeviceRelated as exc:
                    problem = InputError("incident", str(exc))
                else:
                    append_audits(
                        session, [audit_event(user, now, "R", "operation", operation, entity)]
                    )
                    return report
                append_audits(
                    session,
                    [
                        audit_event(
                            user,
                            now,
                            "R",
                            "operation",
                            operation,
                            entity,
                            "not device-related",
                            outcome="4",
                        )
                    ],
                )
                raise problem
    audit_refused(
        db,
        user,
        now,
        "R",
        "operation",
        operation,
        Entity("complication", org, complication_id),
        "no such complication for this caller",
    )
    raise RegistryNotFound(complication_id)
