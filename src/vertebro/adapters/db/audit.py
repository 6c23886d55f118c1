"""FHIR R4 AuditEvent resources for the audit trail: who did what to which case, and the result.

An AuditEvent names the case by its id only; it never holds patient data. Codes:
`type` is DICOM/HL7 `rest` (RESTful operation, terminology.hl7.org audit-event-type),
`subtype` a FHIR restful interaction (`create`, `read`, `update`, `search-type`, `operation`),
`action` C/R/U/D/E and `outcome` 0 (success), 4 (minor failure: refused or not found),
8 (serious failure) as defined by FHIR R4 AuditEvent.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from vertebro.adapters.db.repository import AuditRecord

Action = Literal["C", "R", "U", "D", "E"]
Outcome = Literal["0", "4", "8", "12"]
Interaction = Literal["create", "read", "update", "search-type", "operation"]

AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
CASE_SYSTEM = "urn:vertebro:prior-authorisation-case"
PRINCIPAL_SYSTEM = "urn:vertebro:principal"
ROLE_SYSTEM = "urn:vertebro:role"


def audit_record(
    *,
    at: dt.datetime,
    action: Action,
    interaction: Interaction,
    operation: str,
    outcome: Outcome,
    agent_id: str,
    agent_name: str,
    agent_role: str,
    organisation: str,
    case_id: str | None,
    detail: str | None = None,
) -> AuditRecord:
    """An audit record holding its FHIR AuditEvent."""
    resource: dict[str, object] = {
        "resourceType": "AuditEvent",
        "type": {"system": AUDIT_TYPE, "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": RESTFUL, "code": interaction}],
        "action": action,
        "recorded": at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "outcome": outcome,
        "agent": [{
            "who": {"identifier": {"system": PRINCIPAL_SYSTEM, "value": agent_id},
                    "display": agent_name},
            "role": [{"coding": [{"system": ROLE_SYSTEM, "code": agent_role}]}],
            "requestor": True,
        }],
        "source": {
            "site": organisation,
            "observer": {"display": "vertebro"},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                      "code": "4", "display": "Application Server"}],
        },
    }
    if detail:
        resource["outcomeDesc"] = detail
    if case_id is not None:
        resource["entity"] = [{
            "what": {"identifier": {"system": CASE_SYSTEM, "value": case_id}},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                     "code": "2", "display": "System Object"},
            "description": operation,
        }]
    return AuditRecord(None, at, action, outcome, operation, agent_id, agent_role,
                       organisation, case_id, resource)
