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

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from vertebro import registry_service
from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir.bundle import json_shape_problem
from vertebro.api.deps import state
from vertebro.api.routes.registry import detail_out, procedure_out, registry_user
from vertebro.api.security import Permission, Principal
from vertebro.core.catalogue import Procedure
from vertebro.core.registry.audit import AuditReport
from vertebro.core.registry.incident import Reporter
from vertebro.core.registry.model import (
    AnalgesicUse,
    Approach,
    ComplicationKind,
    EventOutcome,
    FractureSite,
    ImageGuidance,
    InjuryCause,
    LeakSite,
    Mobility,
    Sex,
    Timepoint,
)
from vertebro.core.registry.rows import RECORD_ID
from vertebro.registry_service import (
    BadRecords,
    RegistryAmbiguous,
    RegistryForbidden,
    RegistryNotFound,
)
from vertebro.settings import Role
from vertebro.web.session import PageError, form_data, page_require
from vertebro.web.templating import FLASH_MESSAGES, NavItem, add_nav, render

router = APIRouter()
PAGE_SIZE = 50
MAX_PAGE = 10_000

add_nav(NavItem(
    "Registry", "/app/registry",
    "Record procedures, complications and follow-up; the audit report against the published "
    "figures, and draft device incident reports.", (Permission.READ_REGISTRY,)))
FLASH_MESSAGES.update({
    "registry-procedure": "The procedure is recorded, with your name and the time.",
    "registry-complication": "The complication is recorded.",
    "registry-follow-up": "The follow-up is recorded.",
})

Choices = list[tuple[str, str]]


def _choices(words: Mapping[str, str], blank: str | None = None) -> Choices:
    """Select options (value, words), optionally after an empty choice."""
    return ([("", blank)] if blank else []) + list(words.items())


PROCEDURES: Choices = [(p.value, p.value.capitalize()) for p in Procedure]
APPROACHES: Choices = _choices({Approach.UNILATERAL: "Unilateral (one pedicle)",
                                Approach.BILATERAL: "Bilateral (both pedicles)",
                                Approach.OTHER: "Other"})
GUIDANCE: Choices = _choices({ImageGuidance.FLUOROSCOPY: "Fluoroscopy", ImageGuidance.CT: "CT",
                              ImageGuidance.CT_FLUOROSCOPY: "CT fluoroscopy",
                              ImageGuidance.OTHER: "Other"})
SEXES: Choices = [("", "Not recorded")] + [(s.value, s.value.capitalize()) for s in Sex]
KINDS: Choices = _choices({
    ComplicationKind.CEMENT_LEAK: "Cement leak",
    ComplicationKind.PULMONARY_CEMENT_EMBOLISM: "Pulmonary cement embolism",
    ComplicationKind.NERVE_INJURY: "Nerve root injury",
    ComplicationKind.CORD_INJURY: "Spinal cord injury",
    ComplicationKind.INFECTION: "Infection",
    ComplicationKind.BLEEDING: "Bleeding",
    ComplicationKind.NEW_FRACTURE: "New vertebral fracture (within 12 months)",
    ComplicationKind.DEATH: "Death (within 30 days)",
})
LEAK_SITES: Choices = _choices(blank="Not a cement leak", words={
    LeakSite.CANAL: "Spinal canal", LeakSite.FORAMEN: "Foramen (nerve root exit)",
    LeakSite.VEINS: "Veins", LeakSite.DISC: "Disc", LeakSite.SOFT_TISSUE: "Soft tissue",
    LeakSite.OTHER: "Other"})
FRACTURE_SITES: Choices = [("", "Not a new fracture"),
                           (FractureSite.ADJACENT.value, "Adjacent to a treated level"),
                           (FractureSite.DISTANT.value, "Distant from the treated levels")]
CAUSES: Choices = [("", "Not a nerve or cord injury")] + [
    (c.value, c.value.capitalize()) for c in InjuryCause]
OUTCOMES: Choices = _choices({
    EventOutcome.UNKNOWN: "Not known yet", EventOutcome.RECOVERED: "Recovered",
    EventOutcome.RECOVERING: "Recovering", EventOutcome.NOT_RECOVERED: "Not recovered",
    EventOutcome.RECOVERED_WITH_HARM: "Recovered with lasting harm",
    EventOutcome.FATAL: "Fatal"})
TIMEPOINTS: Choices = _choices({Timepoint.BASELINE: "Baseline (before the procedure)",
                                Timepoint.WEEKS_2: "2 weeks", Timepoint.MONTHS_3: "3 months",
                                Timepoint.MONTHS_12: "12 months"})
ANALGESICS: Choices = _choices(blank="Not recorded", words={
    AnalgesicUse.NONE: "None", AnalgesicUse.NON_OPIOID: "Non-opioid (e.g. paracetamol)",
    AnalgesicUse.WEAK_OPIOID: "Weak opioid (e.g. codeine)",
    AnalgesicUse.STRONG_OPIOID: "Strong opioid (e.g. morphine)"})
MOBILITY: Choices = _choices(blank="Not recorded", words={
    Mobility.INDEPENDENT: "Walks independently", Mobility.WITH_AIDS: "Walks with aids",
    Mobility.UNABLE: "Unable to walk"})
YES_NO_UNKNOWN: Choices = [("yes", "Yes"), ("no", "No"), ("", "Not known")]
POSITION_WORDS = {"within": "Consistent with the published figure",
                  "above": "Above the published figure", "below": "Below the published figure"}

PROCEDURE_FIELDS = (
    "id", "date", "operator", "procedure", "levels", "approach", "image_guidance", "cement_ml",
    "biopsy", "patient", "age", "sex", "cement_product", "cement_manufacturer", "cement_lot",
    "cement_expiry", "case_id",
)
COMPLICATION_FIELDS = (
    "id", "kind", "date", "symptomatic", "leak_site", "fracture_site", "level", "cause",
    "further_intervention", "outcome", "device_related", "description",
)
FOLLOW_UP_FIELDS = ("timepoint", "date", "pain", "analgesics", "mobility", "roland_morris")


# --- Form values and errors -------------------------------------------------------------------


def _values(form: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """The posted text of each field (empty when absent)."""
    out = {}
    for name in names:
        value = form.get(name)
        out[name] = value.strip() if isinstance(value, str) else ""
    return out


def _record(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The non-empty values as a record for the use case, and the fields that hold text no
    database can store (NUL, unpaired surrogates; emptied, not shown again)."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, value in values.items():
        if json_shape_problem(value):
            errors[name] = "This holds characters that cannot be stored; type it again."
            values[name] = ""
        elif value:
            data[name] = value
    return data, errors


def _field_errors(exc: BadRecords, known: tuple[str, ...]) -> dict[str, str]:
    """The first problem of each field, in words; anything not a form field goes under
    'form'."""
    errors: dict[str, str] = {}
    for detail in exc.details:
        name = detail.field.split(".")[0]
        key = name if name in known else "form"
        message = detail.message
        if detail.duplicate:
            message = (f"{message}: each record needs its own id" if name == "id" else
                       f"{message}: this timepoint is already recorded for the procedure")
        if key == "form":
            message = f"{detail.field}: {message}"
        errors.setdefault(key, _sentence(message))
    return errors


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]) if text else text


def _plausible(record_id: str) -> str:
    if not RECORD_ID.fullmatch(record_id):
        raise PageError(404, "There is no such record in the registry.")
    return record_id


def _date(value: str | None, name: str, errors: dict[str, str]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors[name] = "Enter a date as year-month-day, for example 2026-03-02."
        return None


def _organisation(user: Principal, value: str | None, errors: dict[str, str]) -> str | None:
    if user.role is Role.REQUESTER or not value:
        return None
    if len(value) > 200 or json_shape_problem(value):
        errors["organisation"] = "Enter an organisation identifier, or leave it empty."
        return None
    return value


# --- The list ---------------------------------------------------------------------------------


@router.get("/app/registry", response_class=HTMLResponse)
async def registry_list(
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_REGISTRY))],
) -> Response:
    """The unit's procedures, newest first (auditors and admins: every unit's)."""
    params = request.query_params
    errors: dict[str, str] = {}
    start = _date(params.get("from"), "from", errors)
    end = _date(params.get("to"), "to", errors)
    if start and end and end < start:
        errors["to"] = "The last date is before the first date."
    organisation = _organisation(user, params.get("organisation"), errors)
    page_raw = params.get("page") or "1"
    page = int(page_raw) if page_raw.isdigit() and len(page_raw) <= 6 else 0
    if not 1 <= page <= MAX_PAGE:
        errors["page"] = f"The page number must be a whole number from 1 to {MAX_PAGE}."
        page = 1
    rows = []
    if not errors:
        app = state(request)
        found = await run_in_threadpool(
            registry_service.list_procedures, app.db, registry_user(user), now=app.now(),
            organisation=organisation, start=start, end=end, limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE)
        rows = [procedure_out(s) for s in found]
    query = {"from": params.get("from") or "", "to": params.get("to") or "",
             "organisation": organisation or ""}

    def link(to_page: int) -> str:
        return "/app/registry?" + urlencode({**{k: v for k, v in query.items() if v},
                                             "page": str(to_page)})

    return render(
        request, "registry_list.html", user, status=400 if errors else 200, rows=rows,
        errors=errors, query=query, all_units=user.role is not Role.REQUESTER,
        may_record=user.may(Permission.RECORD_OUTCOMES),
        previous=link(page - 1) if page > 1 else None,
        next=link(page + 1) if len(rows) == PAGE_SIZE else None,
    )


# --- Recording a procedure --------------------------------------------------------------------


def _procedure_form(request: Request, user: Principal, values: Mapping[str, str],
                    errors: Mapping[str, str], status: int = 200) -> Response:
    return render(request, "registry_procedure_form.html", user, status=status,
                  values=values, errors=errors, procedures=PROCEDURES, approaches=APPROACHES,
                  guidance=GUIDANCE, sexes=SEXES)


@router.get("/app/registry/new", response_class=HTMLResponse)
async def new_procedure(
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.RECORD_OUTCOMES))],
) -> Response:
    """The form to record a procedure of the unit."""
    values = dict.fromkeys(PROCEDURE_FIELDS, "")
    values.update(date=state(request).now().date().isoformat(), approach="bilateral",
                  image_guidance="fluoroscopy", procedure="vertebroplasty", biopsy="no")
    case_id = request.query_params.get("case_id") or ""
    if RECORD_ID.fullmatch(case_id):
        values["case_id"] = case_id  # "record the procedure" from a case page
    return _procedure_form(request, user, values, {})


@router.post("/app/registry/new", response_class=HTMLResponse)
async def record_procedure(
    request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.RECORD_OUTCOMES))],
) -> Response:
    """Record the procedure; a refused value is shown next to its field."""
    form = await form_data(request)
    values = _values(form, PROCEDURE_FIELDS)
    data, errors = _record(values)
    if not errors:
        app = state(request)
        try:
            stored = await run_in_threadpool(registry_service.record_procedure, app.db,
                                             registry_user(user), data, now=app.now())
        except BadRecords as exc:
            errors = _field_errors(exc, PROCEDURE_FIELDS)
        except RegistryForbidden as exc:
            raise PageError(403, str(exc)) from None
        else:
            return RedirectResponse(
                f"/app/registry/procedures/{stored.record.id}?done=registry-procedure",
                status_code=303)
    return _procedure_form(request, user, values, errors, status=400)


# --- A procedure, its complications and follow-ups --------------------------------------------


async def _detail_page(
    request: Request, user: Principal, procedure_id: str, *, organisation: str | None = None,
    form: str | None = None, values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None, status: int = 200,
) -> Response:
    app = state(request)
    try:
        detail = await run_in_threadpool(registry_service.procedure_detail, app.db,
                                         registry_user(user), procedure_id, now=app.now(),
                                         organisation=organisation)
    except RegistryNotFound:
        raise PageError(404, "There is no such procedure in your registry.") from None
    except RegistryAmbiguous as exc:
        raise PageError(400, f"{exc}.") from None
    except RegistryForbidden as exc:
        raise PageError(403, str(exc)) from None
    shown = detail_out(detail)
    may_record = (user.may(Permission.RECORD_OUTCOMES)
                  and detail.stored.organisation == user.organisation)
    complication_values = dict.fromkeys(COMPLICATION_FIELDS, "")
    complication_values.update(date=shown.procedure.date.isoformat(), outcome="unknown",
                               further_intervention="no")
    follow_up_values = dict.fromkeys(FOLLOW_UP_FIELDS, "")
    if form == "complication" and values is not None:
        complication_values = dict(values)
    if form == "follow-up" and values is not None:
        follow_up_values = dict(values)
    return render(
        request, "registry_procedure.html", user, status=status, detail=shown,
        may_record=may_record, form=form, errors=errors or {},
        complication_values=complication_values, follow_up_values=follow_up_values,
        kinds=KINDS, leak_sites=LEAK_SITES, fracture_sites=FRACTURE_SITES, causes=CAUSES,
        outcomes=OUTCOMES, yes_no_unknown=YES_NO_UNKNOWN, timepoints=TIMEPOINTS,
        analgesics=ANALGESICS, mobility=MOBILITY, kind_words=dict(KINDS),
        timepoint_words=dict(TIMEPOINTS), outcome_words=dict(OUTCOMES),
        org_query=("?" + urlencode({"organisation": shown.procedure.organisation})
                   if user.role is not Role.REQUESTER else ""),
    )


@router.get("/app/registry/procedures/{procedure_id:path}", response_class=HTMLResponse)
async def procedure_page(
    procedure_id: str, request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_REGISTRY))],
) -> Response:
    """One procedure: what was done, the linked case and its pathway, complications and
    follow-ups, with forms to add them."""
    errors: dict[str, str] = {}
    organisation = _organisation(user, request.query_params.get("organisation"), errors)
    if errors:
        raise PageError(400, errors["organisation"])
    return await _detail_page(request, user, _plausible(procedure_id),
                              organisation=organisation)


async def _add(request: Request, user: Principal, procedure_id: str, kind: str,
               fields: tuple[str, ...]) -> Response:
    procedure_id = _plausible(procedure_id)
    form = await form_data(request)
    values = _values(form, fields)
    if kind == "complication" and values.get("further_intervention") not in ("yes", ""):
        values["further_intervention"] = "no"
    data, errors = _record(values)
    if not errors:
        app = state(request)
        use_case = (registry_service.record_complication if kind == "complication"
                    else registry_service.record_follow_up)
        try:
            await run_in_threadpool(use_case, app.db, registry_user(user), procedure_id, data,
                                    now=app.now())
        except BadRecords as exc:
            errors = _field_errors(exc, fields)
        except RegistryNotFound:
            raise PageError(404, "There is no such procedure in your registry.") from None
        except RegistryForbidden as exc:
            raise PageError(403, str(exc)) from None
        else:
            anchor = "complications" if kind == "complication" else "follow-ups"
            return RedirectResponse(
                f"/app/registry/procedures/{procedure_id}?done=registry-{kind}#{anchor}",
                status_code=303)
    return await _detail_page(request, user, procedure_id, form=kind, values=values,
                              errors=errors, status=400)


@router.post("/app/registry/procedures/{procedure_id:path}/complications",
             response_class=HTMLResponse)
async def add_complication(
    procedure_id: str, request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.RECORD_OUTCOMES))],
) -> Response:
    """Record a complication of the procedure."""
    return await _add(request, user, procedure_id, "complication", COMPLICATION_FIELDS)


@router.post("/app/registry/procedures/{procedure_id:path}/follow-ups", response_class=HTMLResponse)
async def add_follow_up(
    procedure_id: str, request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.RECORD_OUTCOMES))],
) -> Response:
    """Record the outcome measures at one timepoint."""
    return await _add(request, user, procedure_id, "follow-up", FOLLOW_UP_FIELDS)


@router.get("/app/registry/complications/{complication_id:path}/incident")
async def incident_page(
    complication_id: str, request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_REGISTRY))],
) -> Response:
    """The draft device incident report as a page to print (`format=pdf`: the PDF)."""
    complication_id = _plausible(complication_id)
    errors: dict[str, str] = {}
    organisation = _organisation(user, request.query_params.get("organisation"), errors)
    fmt = request.query_params.get("format") or "html"
    if fmt not in ("html", "pdf") or errors:
        raise PageError(400, "Ask for the report as html or pdf.")
    app = state(request)
    now = app.now()
    reporter = Reporter(name=user.name, organisation=user.organisation)
    try:
        report = await run_in_threadpool(
            registry_service.incident_from_database, app.db, registry_user(user),
            complication_id, reporter=reporter, report_date=now.date(), now=now,
            organisation=organisation)
    except RegistryNotFound:
        raise PageError(404, "There is no such complication in your registry.") from None
    except RegistryAmbiguous as exc:
        raise PageError(400, f"{exc}.") from None
    except RegistryForbidden as exc:
        raise PageError(403, str(exc)) from None
    except InputError as exc:
        raise PageError(400, _sentence(exc.message)) from None
    if fmt == "pdf":
        pdf = await run_in_threadpool(registry_service.render_incident_pdf, report)
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="incident-{complication_id}.pdf"',
            "Cache-Control": "no-store"})
    html = registry_service.render_incident_html(report)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


# --- The audit report -------------------------------------------------------------------------


def _report_query(request: Request, user: Principal) -> tuple[dict[str, Any], dict[str, str]]:
    params = request.query_params
    errors: dict[str, str] = {}
    start = _date(params.get("from"), "from", errors)
    end = _date(params.get("to"), "to", errors)
    if start and end and end < start:
        errors["to"] = "The last date is before the first date."
    organisation = _organisation(user, params.get("organisation"), errors)
    return {"period_from": start, "period_to": end, "organisation": organisation}, errors


async def _report(request: Request, user: Principal, query: dict[str, Any]) -> AuditReport:
    app = state(request)
    now = app.now()
    report: AuditReport = await run_in_threadpool(
        lambda: registry_service.audit_from_database(
            app.db, registry_user(user), generated_on=now.date(), now=now, **query))
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
    shown = {"from": request.query_params.get("from") or "",
             "to": request.query_params.get("to") or "",
             "organisation": query["organisation"] or ""}
    link = urlencode({k: v for k, v in shown.items() if v})
    return render(
        request, "registry_report.html", user, status=400 if errors else 200, report=report,
        errors=errors, query=shown, all_units=user.role is not Role.REQUESTER,
        findings=registry_service.findings(report) if report else [],
        position_words=POSITION_WORDS, pct=_pct,
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
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="audit-report.pdf"',
        "Cache-Control": "no-store"})
