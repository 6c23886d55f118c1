"""The registry API's writes: recording procedures, complications and follow-ups, and importing
them from a CSV file or a FHIR Bundle."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from vertebro import registry_service
from vertebro.adapters import registry_import
from vertebro.api.deps import json_body, json_object, state
from vertebro.api.errors import ApiError
from vertebro.api.routes.registry.common import (
    Recorder,
    Refused,
    outcome_reply,
    problems_outcome,
    registry_user,
    run_use_case,
)
from vertebro.api.routes.registry.models import (
    ComplicationOut,
    FollowUpOut,
    ImportOut,
    RegistryProcedureOut,
    complication_out,
    follow_up_out,
    procedure_out,
)
from vertebro.core.registry.rows import ComplicationIn, FollowUpIn, ProcedureIn
from vertebro.registry_service import ImportResult

router = APIRouter(prefix="/registry", tags=["outcomes registry"])
CSV_TYPES = ("text/csv", "application/csv")
JSON_TYPES = ("application/json", "application/fhir+json")


def _body(model: type[BaseModel], note: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": note,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


# --- Recording ----------------------------------------------------------------------------------


@router.post(
    "/procedures",
    status_code=201,
    response_model=RegistryProcedureOut,
    summary="Record a procedure",
    openapi_extra=_body(
        ProcedureIn,
        "levels as text ('T12-L1') or a list; cement_ml "
        "as {level: mL}; case_id links a "
        "prior-authorisation case of your organisation",
    ),
)
async def create_procedure(request: Request, principal: Recorder) -> Any:
    """Record a procedure of your unit. With `case_id`, the audit report takes the approving
    pathway from that case's assessment."""
    data = json_object(await json_body(request), "a procedure")
    app = state(request)
    try:
        stored = await run_in_threadpool(
            run_use_case,
            registry_service.record_procedure,
            app.db,
            registry_user(principal),
            data,
            now=app.now(),
        )
    except Refused as refused:
        return refused.response
    return JSONResponse(procedure_out(stored).model_dump(mode="json"), status_code=201)


@router.post(
    "/procedures/{procedure_id:path}/complications",
    status_code=201,
    response_model=ComplicationOut,
    summary="Record a complication of a procedure",
    openapi_extra=_body(ComplicationIn, "procedure_id comes from the address"),
)
async def create_complication(procedure_id: str, request: Request, principal: Recorder) -> Any:
    """A complication (cement leak, embolism, nerve or cord injury, infection, bleeding, new
    fracture within 12 months, death within 30 days) of one of your unit's procedures."""
    data = json_object(await json_body(request), "a complication")
    app = state(request)
    try:
        stored = await run_in_threadpool(
            run_use_case,
            registry_service.record_complication,
            app.db,
            registry_user(principal),
            procedure_id,
            data,
            now=app.now(),
        )
    except Refused as refused:
        return refused.response
    return JSONResponse(complication_out(stored).model_dump(mode="json"), status_code=201)


@router.post(
    "/procedures/{procedure_id:path}/follow-ups",
    status_code=201,
    response_model=FollowUpOut,
    summary="Record a follow-up of a procedure",
    openapi_extra=_body(FollowUpIn, "procedure_id comes from the address"),
)
async def create_follow_up(procedure_id: str, request: Request, principal: Recorder) -> Any:
    """Pain (0-10), analgesic use, mobility and Roland-Morris (0-24) at baseline, 2 weeks,
    3 months or 12 months."""
    data = json_object(await json_body(request), "a follow-up")
    app = state(request)
    try:
        stored = await run_in_threadpool(
            run_use_case,
            registry_service.record_follow_up,
            app.db,
            registry_user(principal),
            procedure_id,
            data,
            now=app.now(),
        )
    except Refused as refused:
        return refused.response
    return JSONResponse(follow_up_out(stored).model_dump(mode="json"), status_code=201)


@router.post(
    "/imports",
    status_code=201,
    response_model=ImportOut,
    summary="Import a registry CSV file or a FHIR Bundle",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {
                        "type": "string",
                        "description": "a procedures, complications or follow-ups file",
                    }
                },
                "application/fhir+json": {
                    "schema": {
                        "type": "object",
                        "description": "a Bundle of Procedure, Observation and "
                        "AdverseEvent resources",
                    }
                },
            },
        }
    },
)
async def import_records(
    request: Request,
    principal: Recorder,
    skip_bad: Annotated[
        bool, Query(description="store the good rows of a file with bad rows")
    ] = False,
) -> Any:
    """All or nothing: a file with a bad row stores nothing (400, every bad row an issue
    naming its field), unless `skip_bad=true` (201; the skipped rows are warnings)."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media in CSV_TYPES:
        fhir = False
    elif media in JSON_TYPES:
        fhir = True
    else:
        raise ApiError(
            415,
            "send a registry CSV file (text/csv) or a FHIR Bundle "
            f"(application/fhir+json), not {media or 'no content type'}",
            "not-supported",
        )
    source = "upload.json" if fhir else "upload.csv"
    reading = registry_import.read_registry_bytes(await request.body(), source, fhir=fhir)
    app = state(request)
    result: ImportResult = await run_in_threadpool(
        run_use_case,
        registry_service.import_reading,
        app.db,
        registry_user(principal),
        reading,
        now=app.now(),
        skip_bad=skip_bad,
    )
    if result.bad_rows and not skip_bad:
        return outcome_reply(400, problems_outcome(result.details, notes=result.notes))
    outcome = (
        problems_outcome(result.details, severity="warning", notes=result.notes)
        if result.details or result.notes
        else None
    )
    out = ImportOut(
        source=result.source, loaded=result.loaded, bad_rows=result.bad_rows, outcome=outcome
    )
    return JSONResponse(out.model_dump(mode="json"), status_code=201)
