"""The registry's router: its navigation entry, then the reading, recording and report routes."""

from __future__ import annotations

from fastapi import APIRouter

from vertebro.api.security import Permission
from vertebro.web.pages.registry import reading, recording, report
from vertebro.web.templating import NavItem, add_nav

router = APIRouter()

add_nav(
    NavItem(
        "Registry",
        "/app/registry",
        "Record procedures, complications and follow-up; the audit report against the published "
        "figures, and draft device incident reports.",
        (Permission.READ_REGISTRY,),
    )
)

router.include_router(reading.router)
router.include_router(recording.router)
router.include_router(report.router)
