"""POST /assessments: a FHIR Bundle, a vertebro case or a clinical note in, the assessment
report out (the same JSON as `vertebro assess --format json`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from vertebro.api.deps import JSON_TYPES, parse_json, policy_id, require, state
from vertebro.api.errors import ApiError
from vertebro.api.security import Permission
from vertebro.case_service import (
    ReadResult,
    assess_document,
    read_json_document,
    read_note_text,
)
from vertebro.report import AssessmentReport

router = APIRouter(tags=["assessment"])
TEXT = "text/plain"


@router.post(
    "/assessments",
    response_model=AssessmentReport,
    summary="Assess a FHIR Bundle, a vertebro case or a clinical note",
    dependencies=[Depends(require(Permission.ASSESS))],
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/fhir+json": {"schema": {"type": "object",
                                             "description": "a FHIR R4 Bundle or resource"}},
        "application/json": {"schema": {"type": "object",
                                        "description": "a vertebro case (requests, facts)"}},
        TEXT: {"schema": {"type": "string", "description": "a clinical note"}},
    }}},
)
async def assess(
    request: Request,
    policy: Annotated[str | None, Query(description="policy id (default: the service's)")] = None,
    as_of: Annotated[dt.date | None, Query(description="assess as of (YYYY-MM-DD)")] = None,
) -> AssessmentReport:
    """The determination for every requested procedure, with the criterion trace, the evidence
    and the questions that would settle what is still open."""
    app = state(request)
    media = (request.headers.get("content-type") or "application/json").split(";")[0].strip()
    raw = await request.body()
    today = app.now().date()
    read: ReadResult
    if media.lower() == TEXT:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "the note is not UTF-8 text", "structure") from None
        if not text.strip():
            raise ApiError(400, "the note is empty", "required")
        read = await run_in_threadpool(read_note_text, text, "note", note_date=as_of)
    elif media.lower() in JSON_TYPES:
        data = parse_json(raw)
        read = await run_in_threadpool(read_json_document, data, "request body",
                                       as_of=as_of or today)
    else:
        raise ApiError(415, f"send application/fhir+json, application/json or {TEXT}, not "
                            f"{media}", "not-supported")
    return await run_in_threadpool(assess_document, read,
                                   policy_id(policy, app.settings.default_policy),
                                   as_of=as_of, today=today)
