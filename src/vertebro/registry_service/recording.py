"""Recording one procedure, complication or follow-up on the service database."""

from __future__ import annotations

import datetime as dt
from typing import Any

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
from vertebro.adapters.registry_import import RawRow, Reading, RowKind
from vertebro.core.registry.model import Registry
from vertebro.core.registry.ports import DuplicateRecordError
from vertebro.registry_service.access import (
    RegistryUser,
    audit_refused,
    created_events,
    recorder_of,
    refused_fields,
    write_scope,
)
from vertebro.registry_service.checking import DuplicateRecord, RowChecker, RowProblem
from vertebro.registry_service.errors import BadRecords, RegistryNotFound


def record_one(
    db: Database,
    user: RegistryUser,
    kind: RowKind,
    data: dict[str, Any],
    entity: Entity,
    *,
    organisation: str,
    now: dt.datetime,
) -> Registry:
    operation = f"registry-{kind}-create"
    reading = Reading("body", [RawRow(kind, None, "body", data)])
    with registry_transaction(db) as session:
        repo = SqlRegistryRepository(
            session, organisation=organisation, recorder=recorder_of(user, now)
        )
        checker = RowChecker(
            reading, repo, now.date(), cases=repo.linked_cases, organisation=organisation
        )
        batch = checker.check()
        if checker.bad_rows == 0:
            try:
                repo.add(batch)
            except DuplicateRecordError:  # stored by a concurrent request since the check
                checker.report(
                    reading.rows[0], [DuplicateRecord("id", "is already in the registry")]
                )
            else:
                append_audits(session, created_events(user, now, organisation, batch, operation))
                return batch
    audit_refused(db, user, now, "C", "create", operation, entity, refused_fields(checker.details))
    raise BadRecords(checker.details)


def record_procedure(
    db: Database,
    user: RegistryUser,
    data: dict[str, Any],
    *,
    now: dt.datetime,
    organisation: str | None = None,
) -> StoredProcedure:
    """Record one procedure (the fields of `ProcedureIn`) for the user's unit.

    Raises:
        BadRecords: a value is impossible, the linked case is not the unit's, or the id is
            already stored (`duplicate`).
        RegistryForbidden: the user may not record for that organisation.
    """
    org = write_scope(user, organisation)
    entity = Entity("procedure", org, str(data.get("id", "?")))
    batch = record_one(db, user, "procedure", data, entity, organisation=org, now=now)
    return StoredProcedure(org, batch.procedures[0], recorder_of(user, now))


def record_complication(
    db: Database,
    user: RegistryUser,
    procedure_id: str,
    data: dict[str, Any],
    *,
    now: dt.datetime,
    organisation: str | None = None,
) -> StoredComplication:
    """Record a complication of one of the unit's procedures.

    Raises:
        RegistryNotFound: no such procedure in the unit.
        BadRecords, RegistryForbidden: as for `record_procedure`.
    """
    org = write_scope(user, organisation)
    data = _with_parent(data, procedure_id)
    entity = Entity("complication", org, str(data.get("id", "?")))
    _require_procedure(db, user, org, procedure_id, "registry-complication-create", now)
    batch = record_one(db, user, "complication", data, entity, organisation=org, now=now)
    return StoredComplication(org, batch.complications[0], recorder_of(user, now))


def record_follow_up(
    db: Database,
    user: RegistryUser,
    procedure_id: str,
    data: dict[str, Any],
    *,
    now: dt.datetime,
    organisation: str | None = None,
) -> StoredFollowUp:
    """Record the outcome measures at one timepoint of one of the unit's procedures.

    Raises:
        RegistryNotFound: no such procedure in the unit.
        BadRecords, RegistryForbidden: as for `record_procedure`.
    """
    org = write_scope(user, organisation)
    data = _with_parent(data, procedure_id)
    entity = Entity("follow-up", org, f"{procedure_id}/{data.get('timepoint', '?')}")
    _require_procedure(db, user, org, procedure_id, "registry-follow-up-create", now)
    batch = record_one(db, user, "follow-up", data, entity, organisation=org, now=now)
    return StoredFollowUp(org, batch.follow_ups[0], recorder_of(user, now))


def _with_parent(data: dict[str, Any], procedure_id: str) -> dict[str, Any]:
    given = data.get("procedure_id")
    if given is not None and str(given).strip() != procedure_id:
        raise BadRecords(
            [
                RowProblem(
                    None,
                    "body",
                    "procedure_id",
                    f"{given!r} is not the procedure in the address ({procedure_id!r})",
                    f"procedure_id: {given!r} is not {procedure_id!r}",
                )
            ]
        )
    return {**data, "procedure_id": procedure_id}


def _require_procedure(
    db: Database,
    user: RegistryUser,
    organisation: str,
    procedure_id: str,
    operation: str,
    now: dt.datetime,
) -> None:
    with registry_transaction(db) as session:
        found = SqlRegistryRepository(session, organisation=organisation).procedures([procedure_id])
    if not found:
        audit_refused(
            db,
            user,
            now,
            "C",
            "create",
            operation,
            Entity("procedure", organisation, procedure_id),
            "no such procedure",
        )
        raise RegistryNotFound(procedure_id)
