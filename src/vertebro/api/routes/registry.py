"""The audit and outcomes registry through the API: record procedures, their complications and
follow-ups; import CSV or FHIR; list and read records; the audit report (JSON, HTML, PDF) and
draft device incident reports.

Requesters (the units that treat patients) record and read their own organisation's registry;
auditors and admins read every unit's (`?organisation=` narrows it). Every read and write, and
every refusal, is a FHIR AuditEvent. Bad values are 400 OperationOutcomes with one issue per
problem, each naming its field in `expression`; a record already stored is 409.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from vertebro import registry_service
from vertebro.adapters import registry_import
from vertebro.adapters.db.registry_repository import (
    RecordedBy,
    StoredComplication,
    StoredFollowUp,
    StoredProcedure,
)
from vertebro.adapters.errors import InputError
from vertebro.api.deps import authenticate, check_url, json_body, json_object, state
from vertebro.api.errors import ApiError
from vertebro.api.fhir.outcome import FHIR_JSON, IssueType, Severity
from vertebro.api.security import Permission, Principal
from vertebro.core.registry.audit import AuditReport
from vertebro.core.registry.incident import IncidentReport, Reporter
from vertebro.core.registry.model import Complication, FollowUp, ProcedureRecord
from vertebro.core.registry.rows import RECORD_ID, ComplicationIn, FollowUpIn, ProcedureIn
from vertebro.registry_service import (
    BadRecords,
    ImportResult,
    ProcedureDetail,
    RegistryAmbiguous,
    RegistryForbidden,
    RegistryNotFound,
    RegistryUser,
    RowProblem,
)

router = APIRouter(prefix="/registry", tags=["outcomes registry"])
CSV_TYPES = ("text/csv", "application/csv")
JSON_TYPES = ("application/json", "application/fhir+json")
Format = Literal["json", "html", "pdf"]


# --- Output models ------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class RecordedByOut(_Out):
    """Who recorded a record, and when."""

    id: str
    name: str
    organisation: str
    at: dt.datetime


class CaseLinkOut(_Out):
    """The prior-authorisation case a procedure names, and the pathway it gives."""

    case_id: str
    state: str
    policy: str | None
    pathway: str


class ProcedureOut(_Out):
    """A procedure as stored."""

    organisation: str
    id: str
    date: dt.date
    operator: str
    procedure: str
    levels: list[str]
    approach: str
    image_guidance: str
    cement_ml: dict[str, float]
    biopsy: bool
    patient: str | None
    age: int | None
    sex: str | None
    cement_product: str | None
    cement_manufacturer: str | None
    cement_lot: str | None
    cement_expiry: dt.date | None
    assessment_id: str | None
    decision_id: str | None
    policy: str | None  # as typed into the record
    pathway: str | None  # as typed into the record
    case_id: str | None
    recorded_by: RecordedByOut


class ComplicationOut(_Out):
    """A complication as stored."""

    organisation: str
    id: str
    procedure_id: str
    kind: str
    date: dt.date
    symptomatic: bool | None
    leak_site: str | None
    fracture_site: str | None
    level: str | None
    cause: str | None
    further_intervention: bool
    outcome: str
    device_related: bool | None
    description: str | None
    recorded_by: RecordedByOut


class FollowUpOut(_Out):
    """A follow-up as stored."""

    organisation: str
    procedure_id: str
    timepoint: str
    date: dt.date
    pain: int | None
    analgesics: str | None
    mobility: str | None
    roland_morris: int | None
    recorded_by: RecordedByOut


class ProcedureDetailOut(_Out):
    """A procedure with its complications, follow-ups and linked case."""

    procedure: ProcedureOut
    case: CaseLinkOut | None
    complications: list[ComplicationOut]
    follow_ups: list[FollowUpOut]


class ProcedureListOut(_Out):
    """A page of procedures, newest first."""

    count: int
    procedures: list[ProcedureOut]


class ImportOut(_Out):
    """What an import stored, and every row it skipped (an OperationOutcome of warnings)."""

    source: str
    loaded: dict[str, int]
    bad_rows: int
    outcome: dict[str, Any] | None


def _recorded(by: RecordedBy) -> RecordedByOut:
    return RecordedByOut(id=by.id, name=by.name, organisation=by.organisation, at=by.at)


def procedure_out(stored: StoredProcedure) -> ProcedureOut:
    """A stored procedure as the API shows it."""
    p: ProcedureRecord = stored.record
    return ProcedureOut(
        organisation=stored.organisation, id=p.id, date=p.date, operator=p.operator,
        procedure=p.procedure.value, levels=[str(lv) for lv in p.levels],
        approach=p.approach.value, image_guidance=p.image_guidance.value,
        cement_ml={str(lv): ml for lv, ml in p.cement_ml}, biopsy=p.biopsy, patient=p.patient,
        age=p.age, sex=p.sex.value if p.sex else None, cement_product=p.cement.product,
        cement_manufacturer=p.cement.manufacturer, cement_lot=p.cement.lot,
        cement_expiry=p.cement.expiry, assessment_id=p.assessment_id,
        decision_id=p.decision_id, policy=p.policy, pathway=p.pathway, case_id=p.case_id,
        recorded_by=_recorded(stored.recorded),
    )


def complication_out(stored: StoredComplication) -> ComplicationOut:
    """A stored complication as the API shows it."""
    c: Complication = stored.record
    return ComplicationOut(
        organisation=stored.organisation, id=c.id, procedure_id=c.procedure_id,
        kind=c.kind.value, date=c.date, symptomatic=c.symptomatic,
        leak_site=c.leak_site.value if c.leak_site else None,
        fracture_site=c.fracture_site.value if c.fracture_site else None,
        level=str(c.level) if c.level else None, cause=c.cause.value if c.cause else None,
        further_intervention=c.further_intervention, outcome=c.outcome.value,
        device_related=c.device_related, description=c.description,
        recorded_by=_recorded(stored.recorded),
    )


def follow_up_out(stored: StoredFollowUp) -> FollowUpOut:
    """A stored follow-up as the API shows it."""
    f: FollowUp = stored.record
    return FollowUpOut(
        organisation=stored.organisation, procedure_id=f.procedure_id,
        timepoint=f.timepoint.value, date=f.date, pain=f.pain,
        analgesics=f.analgesics.value if f.analgesics else None,
        mobility=f.mobility.value if f.mobility else None, roland_morris=f.roland_morris,
        recorded_by=_recorded(stored.recorded),
    )


def detail_out(detail: ProcedureDetail) -> ProcedureDetailOut:
    """A procedure with its records and linked case as the API shows it."""
    case = None
    if detail.case is not None and detail.approval is not None:
        case = CaseLinkOut(case_id=detail.case.id, state=detail.case.state,
                           policy=detail.approval.policy, pathway=detail.approval.pathway)
    return ProcedureDetailOut(
        procedure=procedure_out(detail.stored), case=case,
        complications=[complication_out(c) for c in detail.complications],
        follow_ups=[follow_up_out(f) for f in detail.follow_ups],
    )


# --- Errors -------------------------------------------------------------------------------------


def problems_outcome(details: list[RowProblem], *, severity: Severity = "error",
                     notes: list[str] | None = None, single: bool = False) -> dict[str, Any]:
    """Every problem as an OperationOutcome issue naming its field (`expression`)."""
    issues: list[dict[str, Any]] = []
    for d in details:
        code: IssueType = "duplicate" if d.duplicate else "value"
        text = f"{d.field}: {d.message}" if single else d.text
        issues.append({"severity": severity, "code": code, "diagnostics": text,
                       "expression": [d.field]})
    for note in notes or []:
        issues.append({"severity": "information", "code": "informational",
                       "diagnostics": note})
    if not issues:
        issues.append({"severity": "information", "code": "informational",
                       "diagnostics": "no problems"})
    return {"resourceType": "OperationOutcome", "issue": issues}


def _outcome(status: int, outcome: dict[str, Any]) -> JSONResponse:
    return JSONResponse(outcome, status_code=status, media_type=FHIR_JSON)


class _Refused(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def _call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a use case, turning the registry's refusals into API errors."""
    try:
        return function(*args, **kwargs)
    except BadRecords as exc:
        status = 409 if exc.duplicate else 400
        raise _Refused(_outcome(status, problems_outcome(exc.details, single=True))) from None
    except RegistryNotFound as exc:
        raise ApiError(404, f"no registry record {exc} visible to this account",
                       "not-found") from None
    except RegistryForbidden as exc:
        raise ApiError(403, str(exc), "forbidden", expression="organisation") from None
    except RegistryAmbiguous as exc:
        raise ApiError(400, str(exc), "required", expression="organisation") from None


def registry_user(principal: Principal) -> RegistryUser:
    """The signed-in account as the registry's use cases see it."""
    return RegistryUser(principal.id, principal.name, principal.role, principal.organisation)


_user = registry_user


def _require(permission: Permission) -> Callable[[Request], Principal]:
    """The caller, who must hold `permission`; a refusal is recorded in the audit trail.

    A URL holding NUL or unpaired surrogates is refused (400; no database column can store
    them), and a record id in the path that no record could have is simply not found.
    """

    def dependency(request: Request) -> Principal:
        principal = authenticate(request)
        check_url(request)  # NUL, unpaired surrogates, integers beyond 64 bits: 400
        record = (request.path_params.get("procedure_id")
                  or request.path_params.get("complication_id"))
        plausible = record is None or bool(RECORD_ID.fullmatch(record))
        if not principal.may(permission):
            app = state(request)
            registry_service.record_refusal(
                app.db, _user(principal), now=app.now(),
                operation=f"refused: {permission.value}", record=record if plausible else None)
            raise ApiError(403, f"the {principal.role.value} role may not "
                                f"{permission.value}", "forbidden")
        if not plausible:
            raise ApiError(404, "no registry record with such an id (letters, digits and "
                                ". _ : / -, at most 64)", "not-found")
        return principal

    dependency.__name__ = f"registry_require_{permission.value.replace('-', '_')}"
    return dependency


Recorder = Annotated[Principal, Depends(_require(Permission.RECORD_OUTCOMES))]
Reader = Annotated[Principal, Depends(_require(Permission.READ_REGISTRY))]
Organisation = Annotated[str | None, Query(
    description="the unit whose records to read (auditors and admins; requesters always "
                "read their own)", max_length=200)]


def _body(model: type[BaseModel], note: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "description": note, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


# --- Recording ----------------------------------------------------------------------------------


@router.post("/procedures", status_code=201, response_model=ProcedureOut,
             summary="Record a procedure",
             openapi_extra=_body(ProcedureIn, "levels as text ('T12-L1') or a list; cement_ml "
                                              "as {level: mL}; case_id links a "
                                              "prior-authorisation case of your organisation"))
async def create_procedure(request: Request, principal: Recorder) -> Any:
    """Record a procedure of your unit. With `case_id`, the audit report takes the approving
    pathway from that case's assessment."""
    data = json_object(await json_body(request), "a procedure")
    app = state(request)
    try:
        stored = await run_in_threadpool(_call, registry_service.record_procedure, app.db,
                                         _user(principal), data, now=app.now())
    except _Refused as refused:
        return refused.response
    return JSONResponse(procedure_out(stored).model_dump(mode="json"), status_code=201)


@router.post("/procedures/{procedure_id:path}/complications", status_code=201,
             response_model=ComplicationOut, summary="Record a complication of a procedure",
             openapi_extra=_body(ComplicationIn, "procedure_id comes from the address"))
async def create_complication(procedure_id: str, request: Request, principal: Recorder) -> Any:
    """A complication (cement leak, embolism, nerve or cord injury, infection, bleeding, new
    fracture within 12 months, death within 30 days) of one of your unit's procedures."""
    data = json_object(await json_body(request), "a complication")
    app = state(request)
    try:
        stored = await run_in_threadpool(_call, registry_service.record_complication, app.db,
                                         _user(principal), procedure_id, data, now=app.now())
    except _Refused as refused:
        return refused.response
    return JSONResponse(complication_out(stored).model_dump(mode="json"), status_code=201)


@router.post("/procedures/{procedure_id:path}/follow-ups", status_code=201,
             response_model=FollowUpOut, summary="Record a follow-up of a procedure",
             openapi_extra=_body(FollowUpIn, "procedure_id comes from the address"))
async def create_follow_up(procedure_id: str, request: Request, principal: Recorder) -> Any:
    """Pain (0-10), analgesic use, mobility and Roland-Morris (0-24) at baseline, 2 weeks,
    3 months or 12 months."""
    data = json_object(await json_body(request), "a follow-up")
    app = state(request)
    try:
        stored = await run_in_threadpool(_call, registry_service.record_follow_up, app.db,
                                         _user(principal), procedure_id, data, now=app.now())
    except _Refused as refused:
        return refused.response
    return JSONResponse(follow_up_out(stored).model_dump(mode="json"), status_code=201)


@router.post("/imports", status_code=201, response_model=ImportOut,
             summary="Import a registry CSV file or a FHIR Bundle",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string", "description":
                                         "a procedures, complications or follow-ups file"}},
                 "application/fhir+json": {"schema": {"type": "object", "description":
                                           "a Bundle of Procedure, Observation and "
                                           "AdverseEvent resources"}}}}})
async def import_records(
    request: Request, principal: Recorder,
    skip_bad: Annotated[bool, Query(description="store the good rows of a file with bad "
                                                "rows")] = False,
) -> Any:
    """All or nothing: a file with a bad row stores nothing (400, every bad row an issue
    naming its field), unless `skip_bad=true` (201; the skipped rows are warnings)."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media in CSV_TYPES:
        fhir = False
    elif media in JSON_TYPES:
        fhir = True
    else:
        raise ApiError(415, "send a registry CSV file (text/csv) or a FHIR Bundle "
                            f"(application/fhir+json), not {media or 'no content type'}",
                       "not-supported")
    source = "upload.json" if fhir else "upload.csv"
    reading = registry_import.read_registry_bytes(await request.body(), source, fhir=fhir)
    app = state(request)
    result: ImportResult = await run_in_threadpool(
        _call, registry_service.import_reading, app.db, _user(principal), reading,
        now=app.now(), skip_bad=skip_bad)
    if result.bad_rows and not skip_bad:
        return _outcome(400, problems_outcome(result.details, notes=result.notes))
    outcome = (problems_outcome(result.details, severity="warning", notes=result.notes)
               if result.details or result.notes else None)
    out = ImportOut(source=result.source, loaded=result.loaded, bad_rows=result.bad_rows,
                    outcome=outcome)
    return JSONResponse(out.model_dump(mode="json"), status_code=201)


# --- Reading ------------------------------------------------------------------------------------


@router.get("/procedures", response_model=ProcedureListOut, summary="List procedures")
def list_procedures(
    request: Request, principal: Reader, organisation: Organisation = None,
    start: Annotated[dt.date | None, Query(alias="from", description="first date")] = None,
    end: Annotated[dt.date | None, Query(alias="to", description="last date")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ProcedureListOut:
    """Procedures newest first: your unit's, or (auditors, admins) every unit's."""
    app = state(request)
    found = _call(registry_service.list_procedures, app.db, _user(principal), now=app.now(),
                  organisation=organisation, start=start, end=end, limit=limit, offset=offset)
    return ProcedureListOut(count=len(found), procedures=[procedure_out(s) for s in found])


@router.get("/procedures/{procedure_id:path}", response_model=ProcedureDetailOut,
            summary="Read a procedure with its complications and follow-ups")
def read_procedure(procedure_id: str, request: Request, principal: Reader,
                   organisation: Organisation = None) -> ProcedureDetailOut:
    """The procedure, who recorded it, its complications and follow-ups, and the pathway its
    linked prior-authorisation case gives it."""
    app = state(request)
    detail = _call(registry_service.procedure_detail, app.db, _user(principal), procedure_id,
                   now=app.now(), organisation=organisation)
    return detail_out(detail)


def _dates(start: dt.date | None, end: dt.date | None) -> None:
    if start is not None and end is not None and end < start:
        raise ApiError(400, f"to {end} is before from {start}", "value", expression="to")


@router.get("/audit-report", summary="The audit report (JSON, HTML or PDF)",
            response_model=AuditReport,
            responses={200: {"content": {"text/html": {}, "application/pdf": {}}}})
def audit_report(
    request: Request, principal: Reader, organisation: Organisation = None,
    fmt: Annotated[Format, Query(alias="format")] = "json",
    start: Annotated[dt.date | None, Query(alias="from", description="first procedure "
                                                                     "date")] = None,
    end: Annotated[dt.date | None, Query(alias="to", description="last procedure date")] = None,
) -> Response:
    """Rates with 95% Wilson intervals against the published figures, operator funnel plots,
    outcome trends, and outcomes by the policy pathway that approved the patient (from the
    linked case's assessment when the procedure names its case)."""
    _dates(start, end)
    app = state(request)
    now = app.now()
    report = _call(registry_service.audit_from_database, app.db, _user(principal),
                   generated_on=now.date(), now=now, organisation=organisation,
                   period_from=start, period_to=end)
    if fmt == "json":
        return JSONResponse(report.model_dump(mode="json"))
    if fmt == "html":
        return HTMLResponse(registry_service.render_html(report))
    return Response(registry_service.render_pdf(report), media_type="application/pdf",
                    headers={"Content-Disposition": 'attachment; filename="audit-report.pdf"'})


@router.get("/complications/{complication_id:path}/incident",
            summary="A draft device adverse incident report (never submitted)",
            response_model=IncidentReport,
            responses={200: {"content": {"text/html": {}, "application/pdf": {}}}})
def incident_report(
    complication_id: str, request: Request, principal: Reader,
    organisation: Organisation = None,
    fmt: Annotated[Format, Query(alias="format")] = "json",
) -> Response:
    """The fields a regulator's device form asks for, filled from the registry, for a person
    to check and file; `missing` lists what must be added first. Nothing is sent anywhere."""
    app = state(request)
    now = app.now()
    reporter = Reporter(name=principal.name, organisation=principal.organisation)
    try:
        report: IncidentReport = _call(
            registry_service.incident_from_database, app.db, _user(principal), complication_id,
            reporter=reporter, report_date=now.date(), now=now, organisation=organisation)
    except InputError as exc:
        raise ApiError(400, exc.message, "business-rule", expression="device_related") from None
    if fmt == "json":
        return JSONResponse(report.model_dump(mode="json"))
    if fmt == "html":
        return HTMLResponse(registry_service.render_incident_html(report))
    name = re.sub(r"[^A-Za-z0-9._-]", "-", complication_id)  # a safe file name
    return Response(registry_service.render_incident_pdf(report), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="incident-{name}.pdf"'})
