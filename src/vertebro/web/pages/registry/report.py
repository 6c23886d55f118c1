"""The audit report pages: the report in brief, the full report with its charts, and its PDF."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from vertebro import registry_service
from vertebro.api.deps import state
from vertebro.api.routes.registry import registry_user
from vertebro.api.security import Permission, Principal
from vertebro.core.registry.audit import AuditReport
from vertebro.settings import Role
from vertebro.web.pages.registry.choices import POSITION_WORDS
from vertebro.web.pages.registry.forms import parse_date, parse_organisation
from vertebro.web.session import PageError, page_require
from vertebro.web.templating import render

router = APIRouter()


# --- The audit report -------------------------------------------------------------------------


def _report_query(request: Request, user: Principal) -> tuple[dict[str, Any], dict[str, str]]:
    params = request.query_params
    errors: dict[str, str] = {}
    start = parse_date(params.get("from"), "from", errors)
    end = parse_date(params.get("to"), "to", errors)
    if start and end and end < start:
        errors["to"] = "The last date is before the first date."
    organisation = parse_organisation(user, params.get("organisation"), errors)
    return {"period_from": start, "period_to": end, "organisation": organisation}, errors


async def _report(request: Request, user: Principal, query: dict[str, Any]) -> AuditReport:
    app = state(request)
    now = app.now()
    report: AuditReport = await run_in_threadpool(
        lambda: registry_service.audit_from_database(
            app.db, registry_user(user), generated_on=now.date(), now=now, **query
        )
    )
    return report


@router.get("/app/registry/report", response_class=HTMLResponse)
async def report_page(
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_REGISTRY))],
) -> Response:
    """The audit in brief - each rate with its interval against the published figures, and
    the findings - with the full report (charts) and its PDF one link away."""
    query, errors = _report_query(request, user)
    report = None if errors else await _report(request, user, query)
    shown = {
        "from": request.query_params.get("from") or "",
        "to": request.query_params.get("to") or "",
        "organisation": query["organisation"] or "",
    }
    link = urlencode({k: v for k, v in shown.items() if v})
    return render(
        request,
        "registry_report.html",
        user,
        status=400 if errors else 200,
        report=report,
        errors=errors,
        query=shown,
        all_units=user.role is not Role.REQUESTER,
        findings=registry_service.findings(report) if report else [],
        position_words=POSITION_WORDS,
        pct=_pct,
        full_link="/app/registry/report.html" + (f"?{link}" if link else ""),
        pdf_link="/app/registry/report.pdf" + (f"?{link}" if link else ""),
    )


def _pct(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.2f}%" if 0 < value < 0.01 else f"{100 * value:.1f}%"


@router.get("/app/registry/report.html", response_class=HTMLResponse)
async def report_html(
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_REGISTRY))],
) -> Response:
    """The full audit report with its charts, as a page of its own (to read or print)."""
    query, errors = _report_query(request, user)
    if errors:
        raise PageError(400, " ".join(errors.values()))
    report = await _report(request, user, query)
    html = await run_in_threadpool(registry_service.render_html, report)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/app/registry/report.pdf")
async def report_pdf(
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_REGISTRY))],
) -> Response:
    """The full audit report as a PDF download."""
    query, errors = _report_query(request, user)
    if errors:
        raise PageError(400, " ".join(errors.values()))
    report = await _report(request, user, query)
    pdf = await run_in_threadpool(registry_service.render_pdf, report)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="audit-report.pdf"',
            "Cache-Control": "no-store",
        },
    )
