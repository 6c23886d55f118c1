"""Prior-authorisation cases through the native API: create, list with clocks, read, answer
questions, decide (reviewers), appeal (requesters), and a case's audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from vertebro import case_service
from vertebro.adapters.case_files import parse_facts
from vertebro.adapters.errors import InputError
from vertebro.api.deps import AppState, json_body, json_object, policy_id, require, state
from vertebro.api.errors import ApiError
from vertebro.api.fhir import dtr
from vertebro.api.fhir.outcome import FHIR_JSON
from vertebro.api.schemas import (
    AnswersIn,
    AppealIn,
    CaseCreate,
    CaseListOut,
    CaseOut,
    DecisionIn,
    audit_bundle,
    case_out,
    case_summary,
)
from vertebro.api.security import Permission, Principal
from vertebro.core.cases import Priority, RequestedItem
from vertebro.core.facts import Fact, FactSet, Provenance

router = APIRouter(tags=["prior-authorisation cases"])

def _body(model: type[Any]) -> dict[str, Any]:
    """OpenAPI for a JSON body read by hand (so that errors can be OperationOutcomes)."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": model.model_json_schema()}}}}


STATES = ("approved-automatically", "pended-for-information", "queued-for-review",
          "approved-by-reviewer", "denied-by-reviewer", "under-appeal")


def _model(model: type[Any], data: Any, what: str) -> Any:
    try:
        return model.model_validate(json_object(data, what))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(400, f"{where}: {first['msg']}", "invalid", expression=where) from None


@router.post("/cases", response_model=CaseOut, status_code=201,
             summary="Submit a prior-authorisation request", openapi_extra=_body(CaseCreate),
             responses={200: {"description": "a repeat of an earlier identical request: the "
                                             "original answer, no new case"},
                        409: {"description": "the identifier was used for a different request"}})
async def create_case(
    request: Request, principal: Annotated[Principal, Depends(require(Permission.SUBMIT))],
) -> JSONResponse:
    """Assess and triage a request: approved automatically when every requested procedure meets
    the policy's criteria, else pended with questions or queued for a clinician. Never denied."""
    body = _model(CaseCreate, await json_body(request), "a case request")
    app = state(request)
    outcome = await run_in_threadpool(_create, app, principal, body)
    return JSONResponse(outcome.response, status_code=200 if outcome.replayed else 201)


def _create(app: AppState, principal: Principal, body: CaseCreate) -> case_service.SubmitOutcome:
    now = app.now()
    read = case_service.read_json_document(body.document, "document", as_of=now.date())
    if not read.case.requests:
        found = "; ".join(read.other_requests[:3])
        raise InputError("document", f"the {read.kind} requests no vertebroplasty, kyphoplasty "
                                     f"or sacroplasty{f' (it requests: {found})' if found else ''}")
    items = tuple(
        RequestedItem(n, r.procedure.value + (
            f" {', '.join(str(lv) for lv in r.levels)}" if r.levels else ""), r.procedure)
        for n, r in enumerate(read.case.requests, 1)
    )
    sub = case_service.Submission(
        key=body.identifier, priority=Priority(body.priority), channel="api",
        document=body.model_dump(mode="json"), items=items, case=read.case,
        policy_name=policy_id(body.policy, app.settings.default_policy),
    )
    return case_service.submit(app.db, principal.actor(), sub, now=now,
                               respond=lambda stored: case_out(stored, now).model_dump(mode="json"))


@router.get("/cases", response_model=CaseListOut, summary="List cases with their clocks")
def list_cases(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.READ_CASES))],
    state_: Annotated[list[str] | None, Query(alias="state", description="state kinds")] = None,
    overdue: Annotated[bool, Query(description="only open cases past their due time")] = False,
    due_within_hours: Annotated[float | None, Query(gt=0, le=24 * 365)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CaseListOut:
    """Cases soonest due first, with due and overdue status from the CMS-0057-F clocks (72 hours
    expedited, 7 calendar days standard). Requesters see only their organisation's cases."""
    for kind in state_ or []:
        if kind not in STATES:
            raise ApiError(400, f"unknown state {kind!r}; states: {', '.join(STATES)}",
                           "code-invalid", expression="state")
    app = state(request)
    now = app.now()
    flt = case_service.CaseFilter(
        states=frozenset(state_) if state_ else None, overdue_only=overdue,
        due_within=dt.timedelta(hours=due_within_hours) if due_within_hours else None,
        limit=limit, offset=offset,
    )
    found = case_service.list_cases(app.db, principal.actor(), flt, now=now)
    return CaseListOut(now=now, count=len(found), cases=[case_summary(s, now) for s in found])


@router.get("/cases/{case_id}", response_model=CaseOut, summary="Read a case")
def read_case(
    case_id: str, request: Request,
    principal: Annotated[Principal, Depends(require(Permission.READ_CASES))],
) -> CaseOut:
    """The case with its state, clock, questions, decision, assessment and history."""
    app = state(request)
    now = app.now()
    return case_out(case_service.get_case(app.db, principal.actor(), case_id, now=now), now)


@router.post("/cases/{case_id}/answers", response_model=CaseOut,
             summary="Answer a case's questions", openapi_extra=_body(AnswersIn))
async def answer(
    case_id: str, request: Request,
    principal: Annotated[Principal, Depends(require(Permission.ANSWER))],
) -> CaseOut:
    """Add facts (`{"facts": {name: value}}`, names as in `vertebro facts`); the case is
    reassessed. Each answer is recorded with the caller's name and provenance kind 'answer'
    (a reviewer) or 'attestation' (the requesting side), which a reviewer's answer outranks."""
    body = _model(AnswersIn, await json_body(request), "answers")
    parsed = parse_facts(body.facts, "answers")
    kind = case_service.answer_kind(principal.actor())
    answers = FactSet(
        Fact(f.name, f.value, tuple(
            Provenance(kind, principal.name, p.quote, None,
                       f"answered via the API by {principal.id}")
            for p in f.evidence)) for f in parsed.values()
    )
    return await run_in_threadpool(_answer, state(request), principal, case_id, answers,
                                   "answers")


@router.post("/cases/{case_id}/questionnaire-response", response_model=CaseOut,
             summary="Answer a case's questions with a DTR QuestionnaireResponse",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/fhir+json": {"schema": {"type": "object", "description":
                                           "a QuestionnaireResponse"}}}}})
async def questionnaire_response(
    case_id: str, request: Request,
    principal: Annotated[Principal, Depends(require(Permission.ANSWER))],
) -> CaseOut:
    """A QuestionnaireResponse to a Questionnaire from `$questionnaire-package`: each answer
    becomes a fact (provenance kind 'answer' from a reviewer, 'attestation' from the requesting
    side, with its information-origin) and the case is reassessed."""
    data = await json_body(request)
    answers = dtr.facts_from_response(data, source="QuestionnaireResponse",
                                      kind=case_service.answer_kind(principal.actor()))
    if not answers:
        raise ApiError(400, "the QuestionnaireResponse answers nothing", "required")
    return await run_in_threadpool(_answer, state(request), principal, case_id, answers,
                                   "QuestionnaireResponse")


def _answer(app: AppState, principal: Principal, case_id: str, answers: FactSet,
            what: str) -> CaseOut:
    now = app.now()
    stored = case_service.add_answers(app.db, principal.actor(), case_id, answers, now=now,
                                      what=what)
    return case_out(stored, now)


@router.post("/cases/{case_id}/decision", response_model=CaseOut,
             summary="Record a reviewer's decision", openapi_extra=_body(DecisionIn))
async def decide(
    case_id: str, request: Request,
    principal: Annotated[Principal, Depends(require(Permission.DECIDE))],
) -> CaseOut:
    """Approve or deny, with a reason. Only a named person with the reviewer role can; an
    appeal must be decided by a reviewer other than the one who denied."""
    body = _model(DecisionIn, await json_body(request), "a decision")
    app = state(request)
    now = app.now()
    stored = await run_in_threadpool(case_service.decide, app.db, principal.actor(), case_id,
                                     body.decision, body.reason, now=now)
    return case_out(stored, now)


@router.post("/cases/{case_id}/appeal", response_model=CaseOut, summary="Appeal a denial",
             openapi_extra=_body(AppealIn))
async def appeal(
    case_id: str, request: Request,
    principal: Annotated[Principal, Depends(require(Permission.APPEAL))],
) -> CaseOut:
    """The requesting organisation appeals a reviewer's denial; the appeal clock starts."""
    body = _model(AppealIn, await json_body(request), "an appeal")
    app = state(request)
    now = app.now()
    stored = await run_in_threadpool(case_service.appeal, app.db, principal.actor(), case_id,
                                     body.reason, now=now)
    return case_out(stored, now)


@router.get("/cases/{case_id}/audit", summary="A case's audit trail (FHIR AuditEvents)",
            response_class=JSONResponse)
def case_audit(
    case_id: str, request: Request,
    principal: Annotated[Principal, Depends(require(Permission.READ_AUDIT))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    """Every read and write of the case, oldest first, as a searchset Bundle of AuditEvents."""
    app = state(request)
    records = case_service.audit_trail(app.db, principal.actor(), case_id=case_id, limit=limit,
                                       offset=offset)
    return JSONResponse(audit_bundle(records), media_type=FHIR_JSON)


@router.get("/audit-events", summary="The audit trail (FHIR AuditEvents)",
            response_class=JSONResponse, tags=["audit"])
def audit_events(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.READ_AUDIT))],
    case: Annotated[str | None, Query(description="only this case")] = None,
    agent: Annotated[str | None, Query(description="only this account")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    """The append-only audit trail, oldest first. There is no way to change or delete it."""
    app = state(request)
    records = case_service.audit_trail(app.db, principal.actor(), case_id=case, agent_id=agent,
                                       limit=limit, offset=offset)
    return JSONResponse(audit_bundle(records), media_type=FHIR_JSON)
