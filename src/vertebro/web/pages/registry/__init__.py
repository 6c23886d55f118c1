"""The audit and outcomes registry's pages: the unit's procedures, recording a procedure (levels,
technique, approach, guidance, cement per level, biopsy, linked case), adding complications
and follow-ups, draft device incident reports, and the audit report (summary here; the full
HTML report and its PDF one link away).

The pages call the registry's use cases (`vertebro.registry_service`) exactly as the API does
(`vertebro.api.routes.registry`), with the same permissions: requesters record and read their
own unit's registry, auditors and admins read every unit's. Every read and write is in the
audit trail. A refused value is shown next to its field and in a summary at the top; plain
forms, POST then redirect, no JavaScript needed.
"""

from vertebro.web.pages.registry.routes import router

__all__ = ["router"]
