"""The registry API's reads: listing and reading procedures, the audit report, and draft device
incident reports."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from vertebro import registry_service
from vertebro.adapters.errors import InputError
from vertebro.api.deps import state
from vertebro.api.errors import ApiError
from vertebro.api.routes.registry.common import Organisation, Reader, registry_user, run_use_case
from vertebro.api.routes.registry.models import (
    ProcedureDetailOut,
    ProcedureListOut,
    detail_out,
    procedure_out,
)
from vertebro.core.registry.audit import AuditReport
from vertebro.core.registry.incident import IncidentReport, Reporter

router = APIRouter(prefix="/registry", tags=["outcomes registry"])
Format = Literal["json", "html", "pdf"]


# --- Reading ------------------------------------------------------------------------------------


@router.get("/procedures", response_model=ProcedureListOut, summary="List procedures")
def list_procedures(
    request: Request,
    principal: Reader,
    organisation: Organisation = None,
    start: Annotated[dt.date | None, Query(alias="from", description="first date")] = None,
    end: Annotated[dt.date | None, Query(alias="to", description="last date")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ProcedureListOut:
    """Procedures newest first: your unit's, or (auditors, admins) every unit's."""
    app = state(request)
    found = run_use_case(
        registry_service.list_procedures,
        app.db,
        registry_user(principal),
        now=app.now(),
        organisation=organisation,
        start=start,
        end=end,
        limit=limit,
        offset=offset,
    )
    return ProcedureListOut(count=len(found), procedures=[procedure_out(s) for s in found])


@router.get(
    "/procedures/{procedure_id:path}",
    response_model=ProcedureDetailOut,
    summary="Read a procedure with its complications and follow-ups",
)
def read_procedure(
    procedure_id: str, request: Request, principal: Reader, organisation: Organisation = None
) -> ProcedureDetailOut:
    """The procedure, who recorded it, its complications and follow-ups, and the pathway its
    linked prior-authorisation case gives it."""
    app = state(request)
    detail = run_use_case(
        registry_service.procedure_detail,
        app.db,
        registry_user(principal),
        procedure_id,
        now=app.now(),
        organisation=organisation,
    )
    return detail_out(detail)


def _dates(start: dt.date | None, end: dt.date | None) -> None:
    if start is not None and end is not None and end < start:
        raise ApiError(400, f"to {end} is before from {start}", "value", expression="to")


@router.get(
    "/audit-report",
    summary="The audit report (JSON, HTML or PDF)",
    response_model=AuditReport,
    responses={200: {"content": {"text/html": {}, "application/pdf": {}}}},
)
def audit_report(
    request: Request,
    principal: Reader,
    organisation: Organisation = None,
    fmt: Annotated[Format, Query(alias="format")] = "json",
    start: Annotated[
        dt.date | None, Query(alias="from", description="first procedure date")
    ] = None,
    end: Annotated[dt.date | None, Query(alias="to", description="last procedure date")] = None,
) -> Response:
    """Rates with 95% Wilson intervals against the published figures, operator funnel plots,
    outcome trends, and outcomes by the policy pathway that approved the patient (from the
    linked case's assessment when the procedure names its case)."""
    _dates(start, end)
    app = state(request)
    now = app.now()
    report = run_use_case(
        registry_service.audit_from_database,
        app.db,
        registry_user(principal),
        generated_on=now.date(),
        now=now,
        organisation=organisation,
        period_from=start,
        period_to=end,
    )
    if fmt == "json":
        return JSONResponse(report.model_dump(mode="json"))
    if fmt == "html":
        return HTMLResponse(registry_service.render_html(report))
    return Response(
        registry_service.render_pdf(report),
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="audit-report.pdf"'},
    )


@router.get(
    "/complications/{complication_id:path}/incident",
    summary="A draft device adverse incident report (never submitted)",
    response_model=IncidentReport,
    responses={200: {"content": {"text/html": {}, "application/pdf": {}}}},
)
def incident_report(
    complication_id: str,
    request: Request,
    principal: Reader,
    organisation: Organisation = None,
    fmt: Annotated[Format, Query(alias="format")] = "json",
) -> Response:
    """The fields a regulator's device form asks for, filled from the registry, for a person
    to check and file; `missing` lists what must be added first. Nothing is sent anywhere."""
    app = state(request)
    now = app.now()
    reporter = Reporter(name=principal.name, organisation=principal.organisation)
    try:
        report: IncidentReport = run_use_case(
            registry_service.incident_from_database,
            app.db,
            registry_user(principal),
            complication_id,
            reporter=reporter,
            report_date=now.date(),
            now=now,
            organisation=organisation,
        )
    except InputError as exc:
        raise ApiError(400, exc.message, "business-rule", expression="device_related") from None
    if fmt == "json":
        return JSONResponse(report.model_dump(mode="json"))
    if fmt == "html":
        return HTMLResponse(registry_service.render_incident_html(report))
    name = re.sub(r"[^A-Za-z0-9._-]", "-", complication_id)  # a safe file name
    return Response(
        registry_service.render_incident_pdf(report),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="incident-{name}.pdf"'},
    )
