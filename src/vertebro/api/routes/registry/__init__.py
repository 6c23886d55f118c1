"""The audit and outcomes registry through the API: record procedures, their complications and
follow-ups; import CSV or FHIR; list and read records; the audit report (JSON, HTML, PDF) and
draft device incident reports.

Requesters (the units that treat patients) record and read their own organisation's registry;
auditors and admins read every unit's (`?organisation=` narrows it). Every read and write, and
every refusal, is a FHIR AuditEvent. Bad values are 400 OperationOutcomes with one issue per
problem, each naming its field in `expression`; a record already stored is 409.
"""

from fastapi import APIRouter

from vertebro.api.routes.registry import reading, recording
from vertebro.api.routes.registry.common import registry_user
from vertebro.api.routes.registry.models import detail_out, procedure_out

__all__ = ["detail_out", "procedure_out", "registry_user", "router"]

# One router for the app, in the order the routes were always registered: recording, then reading.
router = APIRouter()
router.include_router(recording.router)
router.include_router(reading.router)
