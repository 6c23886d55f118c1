"""The registry's reading pages: its procedures, one procedure, a draft incident report."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from vertebro import registry_service
from vertebro.adapters.errors import InputError
from vertebro.api.deps import state
from vertebro.api.routes.registry import procedure_out, registry_user
from vertebro.api.security import Permission, Principal
from vertebro.core.registry.incident import Reporter
from vertebro.registry_service import RegistryAmbiguous, RegistryForbidden, RegistryNotFound
from vertebro.settings import Role
from vertebro.web.pages.registry.forms import parse_date, parse_organisation, plausible_id, sentence
from vertebro.web.pages.registry.rendering import detail_page
from vertebro.web.session import PageError, page_require
from vertebro.web.templating import render

router = APIRouter()
PAGE_SIZE = 50
MAX_PAGE = 10_000


# --- The list ---------------------------------------------------------------------------------


@router.get("/app/registry", response_class=HTMLResponse)
async def registry_list(
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_REGISTRY))],
) -> Response:
    """The unit's procedures, newest first (auditors and admins: every unit's)."""
    params = request.query_params
    errors: dict[str, str] = {}
    start = parse_date(params.get("from"), "from", errors)
    end = parse_date(params.get("to"), "to", errors)
    if start and end and end < start:
        errors["to"] = "The last date is before the first date."
    organisation = parse_organisation(user, params.get("organisation"), errors)
    page_raw = params.get("page") or "1"
    page = int(page_raw) if page_raw.isdigit() and len(page_raw) <= 6 else 0
    if not 1 <= page <= MAX_PAGE:
        errors["page"] = f"The page number must be a whole number from 1 to {MAX_PAGE}."
        page = 1
    rows = []
    if not errors:
        app = state(request)
        found = await run_in_threadpool(
            registry_service.list_procedures,
            app.db,
            registry_user(user),
            now=app.now(),
            organisation=organisation,
            start=start,
            end=end,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        rows = [procedure_out(s) for s in found]
    query = {
        "from": params.get("from") or "",
        "to": params.get("to") or "",
        "organisation": organisation or "",
    }

    def link(to_page: int) -> str:
        return "/app/registry?" + urlencode(
            {**{k: v for k, v in query.items() if v}, "page": str(to_page)}
        )

    return render(
        request,
        "registry_list.html",
        user,
        status=400 if errors else 200,
        rows=rows,
        errors=errors,
        query=query,
        all_units=user.role is not Role.REQUESTER,
        may_record=user.may(Permission.RECORD_OUTCOMES),
        previous=link(page - 1) if page > 1 else None,
        next=link(page + 1) if len(rows) == PAGE_SIZE else None,
    )


# --- A procedure, its complications and follow-ups --------------------------------------------


@router.get("/app/registry/procedures/{procedure_id:path}", response_class=HTMLResponse)
async def procedure_page(
    procedure_id: str,
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_REGISTRY))],
) -> Response:
    """One procedure: what was done, the linked case and its pathway, complications and
    follow-ups, with forms to add them."""
    errors: dict[str, str] = {}
    organisation = parse_organisation(user, request.query_params.get("organisation"), errors)
    if errors:
        raise PageError(400, errors["organisation"])
    return await detail_page(request, user, plausible_id(procedure_id), organisation=organisation)


@router.get("/app/registry/complications/{complication_id:path}/incident")
async def incident_page(
    complication_id: str,
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_REGISTRY))],
) -> Response:
    """The draft device incident report as a page to print (`format=pdf`: the PDF)."""
    complication_id = plausible_id(complication_id)
    errors: dict[str, str] = {}
    organisation = parse_organisation(user, request.query_params.get("organisation"), errors)
    fmt = request.query_params.get("format") or "html"
    if fmt not in ("html", "pdf") or errors:
        raise PageError(400, "Ask for the report as html or pdf.")
    app = state(request)
    now = app.now()
    reporter = Reporter(name=user.name, organisation=user.organisation)
    try:
        report = await run_in_threadpool(
            registry_service.incident_from_database,
            app.db,
            registry_user(user),
            complication_id,
            reporter=reporter,
            report_date=now.date(),
            now=now,
            organisation=organisation,
        )
    except RegistryNotFound:
        raise PageError(404, "There is no such complication in your registry.") from None
    except RegistryAmbiguous as exc:
        raise PageError(400, f"{exc}.") from None
    except RegistryForbidden as exc:
        raise PageError(403, str(exc)) from None
    except InputError as exc:
        raise PageError(400, sentence(exc.message)) from None
    if fmt == "pdf":
        pdf = await run_in_threadpool(registry_service.render_incident_pdf, report)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="incident-{complication_id}.pdf"',
                "Cache-Control": "no-store",
            },
        )
    html = registry_service.render_incident_html(report)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
