"""Rendering pages: one Jinja2 environment (autoescaped), the navigation each role sees, and
the values every template can use."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from vertebro import __version__
from vertebro.api.security import Permission, Principal
from vertebro.settings import Environment
from vertebro.web.session import CSRF_FIELD, csrf_token


@dataclass(frozen=True, slots=True)
class NavItem:
    """A link in the navigation, shown to accounts holding any of `permissions` (all when
    empty)."""

    label: str
    href: str
    description: str
    permissions: tuple[Permission, ...] = ()

    def visible_to(self, user: Principal) -> bool:
        """Whether the account may use the page."""
        return not self.permissions or any(user.may(p) for p in self.permissions)


NAVIGATION: list[NavItem] = [
    NavItem("New assessment", "/app/assess",
            "Paste a clinical note or upload a FHIR bundle: does the request meet the policy, "
            "criterion by criterion, and on what evidence?", (Permission.ASSESS,)),
    NavItem("Cases", "/app/cases",
            "Prior-authorisation cases and their deadline clocks; reviewers approve, or deny "
            "with a reason.", (Permission.READ_CASES,)),
    NavItem("Coding", "/app/coding",
            "Proposed OPCS-4, ICD-10, CPT and ICD-10-CM codes for an operative note, with "
            "their evidence and warnings.", (Permission.ASSESS,)),
    NavItem("Patient plan", "/app/plan",
            "The preparation plan: checks, medicines to stop, fasting times, and the "
            "printable leaflet.", (Permission.ASSESS,)),
    NavItem("Policies", "/app/policies",
            "Each policy's criteria as a readable, cited document, with its versions."),
]


# Messages shown after a form's redirect (`?done=<key>`): keys, not text, so that a link cannot
# put words of its own on a vertebro page.
FLASH_MESSAGES: dict[str, str] = {
    "signed-out": "You have signed out.",
}


def add_nav(item: NavItem, *, before: str | None = None) -> None:
    """Add a page to the navigation (page modules call this when they are installed)."""
    if any(existing.href == item.href for existing in NAVIGATION):
        return
    index = next((i for i, n in enumerate(NAVIGATION) if n.label == before), len(NAVIGATION))
    NAVIGATION.insert(index, item)


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment (built once)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("vertebro.web", "templates"),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson_pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)
    env.filters["label"] = lambda value: str(value).replace("-", " ").replace("_", " ")
    return env


def render(request: Request, template: str, user: Principal | None, *, status: int = 200,
           **context: Any) -> HTMLResponse:
    """A page from `template`, with the navigation for `user` and the CSRF field helper."""
    token = csrf_token(request) if user is not None else ""

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)

    settings = request.app.state.settings
    values = {
        "request": request,
        "user": user,
        "nav": [n for n in NAVIGATION if user is not None and n.visible_to(user)],
        "path": request.url.path,
        "csrf_field": csrf_field,
        "csrf_token": token,
        "version": __version__,
        "development": settings.environment is Environment.DEVELOPMENT,
        "flash": FLASH_MESSAGES.get(request.query_params.get("done") or ""),
        **context,
    }
    html = environment().get_template(template).render(values)
    return HTMLResponse(html, status_code=status, headers={
        "Cache-Control": "no-store",  # pages hold patient data
    })
