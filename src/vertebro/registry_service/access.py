"""The caller on the service database: who it is, the units it may read or write, audit events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from vertebro.adapters.db.audit import Action, Interaction
from vertebro.adapters.db.audit import Outcome as AuditOutcome
from vertebro.adapters.db.registry_repository import (
    Entity,
    RecordedBy,
    append_audits,
    registry_audit,
    registry_transaction,
)
from vertebro.adapters.db.repository import AuditRecord, Database
from vertebro.core.registry.model import Registry
from vertebro.registry_service.checking import RowProblem
from vertebro.registry_service.errors import RegistryForbidden
from vertebro.settings import Role

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


def write_scope(user: RegistryUser, organisation: str | None) -> str:
    if user.role is Role.REQUESTER:
        if organisation not in (None, user.organisation):
            raise RegistryForbidden("a requester records only its own organisation's procedures")
        return user.organisation
    if organisation is None:
        raise RegistryForbidden("name the organisation the records belong to")
    return organisation


def recorder_of(user: RegistryUser, now: dt.datetime) -> RecordedBy:
    return RecordedBy(user.id, user.name, user.organisation, now)


def audit_event(
    user: RegistryUser,
    now: dt.datetime,
    action: Action,
    interaction: Interaction,
    operation: str,
    entity: Entity | Sequence[Entity] | None,
    detail: str | None = None,
    outcome: AuditOutcome = "0",
) -> AuditRecord:
    return registry_audit(
        at=now,
        action=action,
        interaction=interaction,
        operation=operation,
        outcome=outcome,
        agent_id=user.id,
        agent_name=user.name,
        agent_role=user.role.value,
        agent_organisation=user.organisation,
        entity=entity,
        detail=detail,
    )


def audit_refused(
    db: Database,
    user: RegistryUser,
    now: dt.datetime,
    action: Action,
    interaction: Interaction,
    operation: str,
    entity: Entity | None,
    detail: str,
) -> None:
    """Audit a request refused (outcome 4: minor failure), in a transaction of its own."""
    with registry_transaction(db) as session:
        append_audits(
            session,
            [audit_event(user, now, action, interaction, operation, entity, detail, outcome="4")],
        )


def record_refusal(
    db: Database, user: RegistryUser, *, now: dt.datetime, operation: str, record: str | None = None
) -> None:
    """Record a registry request refused to the caller's role (the record it named, if any)."""
    entity = Entity("record", None, record) if record else None
    audit_refused(db, user, now, "E", "operation", operation, entity, "refused to this role")


def created_events(
    user: RegistryUser,
    now: dt.datetime,
    organisation: str,
    batch: Registry,
    operation: str,
    detail: str | None = None,
) -> list[AuditRecord]:
    entities = [Entity("procedure", organisation, p.id) for p in batch.procedures]
    entities += [Entity("complication", organisation, c.id) for c in batch.complications]
    entities += [
        Entity("follow-up", organisation, f"{f.procedure_id}/{f.timepoint.value}")
        for f in batch.follow_ups
    ]
    # A batch is audited in events of up to AUDIT_BATCH records each (one entity per record):
    # every record is named, and a 10,000-procedure import does not write 50,000 events.
    return [
        audit_event(
            user, now, "C", "create", operation, entities[start : start + AUDIT_BATCH], detail
        )
        for start in range(0, len(entities), AUDIT_BATCH)
    ]


AUDIT_BATCH = 100  # records named by one audit event of a batch write


def refused_fields(details: Sequence[RowProblem]) -> str:
    # The audit trail names the fields refused, never the values (they may be patient data).
    return "refused: " + ", ".join(sorted({d.field for d in details}))
