"""One module per page family; `PAGES` lists their routers in navigation order."""

from __future__ import annotations

from fastapi import APIRouter

from vertebro.web.pages import assess, cases, coding, home, plan, policies, registry

PAGES: list[APIRouter] = [
    home.router,
    assess.router,
    cases.router,
    coding.router,
    policies.router,
    plan.router,
    registry.router,
]
