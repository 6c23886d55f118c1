"""Da Vinci PAS: `Claim/$submit` and `Claim/$inquire` (see `vertebro.api.fhir.pas`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vertebro import case_service
from vertebro.adapters import fhir
from vertebro.api.deps import AppState, json_body, require, state
from vertebro.api.fhir import dtr, pas
from vertebro.api.fhir.outcome import FHIR_JSON
from vertebro.api.security import Permission, Principal
from vertebro.core.case import Case
from vertebro.core.facts import FactSet

router = APIRouter(prefix="/fhir", tags=["Da Vinci PAS"])

_BUNDLE_BODY = {"requestBody": {"required": True, "content": {"application/fhir+json": {
    "schema": {"type": "object", "description": "a PAS request Bundle (first entry a Claim)"}}}}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "OperationOutcome: the bundle cannot be processed"},
    409: {"description": "OperationOutcome: identifier reused for a different request"},
}


@router.post("/Claim/$submit", summary="Submit a prior-authorisation request (PAS)",
             response_class=JSONResponse, openapi_extra=_BUNDLE_BODY, responses=_ERRORS)
async def submit(
    request: Request, principal: Annotated[Principal, Depends(require(Permission.SUBMIT))],
) -> JSONResponse:
    """A PAS request Bundle in; a PAS response Bundle (ClaimResponse first) out. Each item's
    review action is A1 (certified) when every item meets criteria, else A4 (pended); A3 only
    ever appears after a named reviewer's denial. A repeat of the same Claim identifier and
    content returns the original answer without a second case."""
    data = await json_body(request)
    response = await run_in_threadpool(_submit, state(request), principal, data)
    return JSONResponse(response, media_type=FHIR_JSON)


def _submit(app: AppState, principal: Principal, data: Any) -> dict[str, Any]:
    req = pas.read_request(data)
    now = app.now()
    reading = fhir.read_fhir(data, "PAS request", default_id="pas", as_of=now.date())
    answers: list[FactSet] = []
    for entry in req.questionnaire_responses:
        if dtr.is_ours(str(entry.resource.get("questionnaire") or "")):
            answers.append(dtr.facts_from_response(entry.resource, source=entry.name))
    facts = reading.case.facts
    for found in answers:
        facts = case_service.merge_answers(facts, found)
    case = Case(reading.case.id, "PAS request", reading.case.requests, facts,
                reading.case.request_date)
    sub = case_service.Submission(
        key=req.key, priority=req.priority, channel="pas", document=data, items=req.items,
        case=case, policy_name=app.settings.default_policy, patient_key=req.patient_key,
        provider_keys=req.provider_keys,
    )
    outcome = case_service.submit(
        app.db, principal.actor(), sub, now=now,
        respond=lambda stored: pas.response_bundle(req, case_id=stored.case.id,
                                                   state=stored.case.state, now=now),
    )
    return outcome.response


@router.post("/Claim/$inquire", summary="Ask for the status of a request (PAS)",
             response_class=JSONResponse, openapi_extra=_BUNDLE_BODY,
             responses={400: _ERRORS[400],
                        404: {"description": "OperationOutcome: no request matches"}})
async def inquire(
    request: Request, principal: Annotated[Principal, Depends(require(Permission.SUBMIT))],
) -> JSONResponse:
    """A PAS inquiry Bundle in (the Claim identifier, the member's identifier and a provider
    identifier must all match the original request); the current status out, for every
    submitted item (spec-46), with the reviewer's decision once one is recorded."""
    data = await json_body(request)
    response = await run_in_threadpool(_inquire, state(request), principal, data)
    return JSONResponse(response, media_type=FHIR_JSON)


def _inquire(app: AppState, principal: Principal, data: Any) -> dict[str, Any]:
    req = pas.read_request(data, operation="$inquire")
    now = app.now()
    stored = case_service.find_for_inquiry(app.db, principal.actor(), req.key,
                                           patient_key=req.patient_key,
                                           provider_keys=req.provider_keys, now=now)
    original = pas.read_request(stored.submission) if stored.channel == "pas" else req
    return pas.response_bundle(original, case_id=stored.case.id, state=stored.case.state,
                               now=now, inquiry=True)
