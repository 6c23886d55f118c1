"""The API's own JSON shapes (requests and responses), and a stored case as its view."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vertebro.adapters.db.repository import AuditRecord, StoredCase
from vertebro.core import cases
from vertebro.report import AssessmentReport


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class CaseCreate(_In):
    """A new prior-authorisation request through the native API."""

    identifier: str = Field(min_length=1, max_length=500,
                            description="your identifier for the request; a repeat with the same "
                                        "identifier returns the original answer")
    priority: Literal["standard", "expedited"] = "standard"
    policy: str | None = Field(default=None, description="policy id (default: the service's)")
    document: dict[str, Any] = Field(description="a vertebro case (the CLI's JSON case format) "
                                                 "or a FHIR R4 Bundle")


class AnswersIn(_In):
    """Answers to a case's questions: fact name to value, or to {value, source, quote}."""

    facts: dict[str, Any] = Field(min_length=1)


class DecisionIn(_In):
    """A reviewer's decision."""

    decision: Literal["approve", "deny"]
    reason: str = Field(min_length=1, max_length=cases.MAX_REASON_CHARS)


class AppealIn(_In):
    """An appeal against a denial."""

    reason: str = Field(min_length=1, max_length=cases.MAX_REASON_CHARS)


class TokenOut(_Out):
    """An OAuth2 access token (RFC 6749 section 5.1)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class QuestionOut(_Out):
    """A question whose answer could settle an open outcome."""

    fact: str
    question: str
    items: list[str]


class FlagOut(_Out):
    """Why a case waits for a clinician."""

    cause: str
    item: str
    detail: str


class DecisionOut(_Out):
    """A named reviewer's decision and its reason."""

    reviewer_id: str
    reviewer_name: str
    reason: str
    at: dt.datetime


class AppealOut(_Out):
    """An appeal against a denial."""

    appellant: str
    reason: str
    at: dt.datetime
    denial: DecisionOut


class ClockOut(_Out):
    """The CMS-0057-F decision clock (72 hours expedited, 7 calendar days standard)."""

    started_at: dt.datetime
    due_at: dt.datetime
    stopped_at: dt.datetime | None
    overdue: bool
    remaining_seconds: int
    appeal: bool


class ItemOut(_Out):
    """A requested item as submitted."""

    sequence: int
    label: str
    procedure: str | None
    codes: list[str]


class EventOut(_Out):
    """One entry of the case history."""

    seq: int
    at: dt.datetime
    kind: str
    actor: str
    detail: str


class PolicyRefOut(_Out):
    """The exact policy text applied: id, version and content hash."""

    id: str
    version: str
    hash: str


class CaseOut(_Out):
    """A prior-authorisation case: its state, clock, questions, decision and assessment."""

    id: str
    identifier: str
    organisation: str
    channel: str
    priority: str
    received_at: dt.datetime
    state: str
    open: bool
    clock: ClockOut
    items: list[ItemOut]
    questions: list[QuestionOut]
    review_flags: list[FlagOut]
    decision: DecisionOut | None
    appeal: AppealOut | None
    policy: PolicyRefOut | None
    assessment: AssessmentReport | None
    events: list[EventOut]


class CaseSummaryOut(_Out):
    """A case in a list: what is due when."""

    id: str
    identifier: str
    organisation: str
    priority: str
    state: str
    received_at: dt.datetime
    due_at: dt.datetime
    overdue: bool
    remaining_seconds: int


class CaseListOut(_Out):
    """Cases, soonest due first."""

    now: dt.datetime
    count: int
    cases: list[CaseSummaryOut]


def _decision(d: cases.ApprovedByReviewer | cases.DeniedByReviewer) -> DecisionOut:
    return DecisionOut(reviewer_id=d.reviewer.id, reviewer_name=d.reviewer.name,
                       reason=d.reason.text, at=d.at)


def _clock(c: cases.Clock) -> ClockOut:
    return ClockOut(started_at=c.started_at, due_at=c.due_at, stopped_at=c.stopped_at,
                    overdue=c.overdue, remaining_seconds=int(c.remaining.total_seconds()),
                    appeal=c.appeal)


def case_out(stored: StoredCase, now: dt.datetime) -> CaseOut:
    """The API view of a stored case."""
    case = stored.case
    state = case.state
    questions: tuple[cases.Question, ...] = ()
    flags: tuple[cases.ReviewFlag, ...] = ()
    if isinstance(state, cases.PendedForInformation):
        questions = state.questions
    elif isinstance(state, cases.QueuedForReview):
        questions, flags = state.questions, state.flags
    decision = _decision(state) if isinstance(
        state, cases.ApprovedByReviewer | cases.DeniedByReviewer) else None
    appeal = AppealOut(appellant=state.appellant, reason=state.reason.text, at=state.at,
                       denial=_decision(state.denial)) if isinstance(
        state, cases.UnderAppeal) else None
    return CaseOut(
        id=case.id, identifier=case.submission_key, organisation=case.organisation,
        channel=stored.channel, priority=case.priority.value, received_at=case.received_at,
        state=state.kind, open=isinstance(state, cases.OPEN),
        clock=_clock(cases.clock(case, now)),
        items=[ItemOut(sequence=i.sequence, label=i.label,
                       procedure=i.procedure.value if i.procedure else None, codes=list(i.codes))
               for i in stored.items],
        questions=[QuestionOut(fact=q.fact, question=q.question, items=list(q.items))
                   for q in questions],
        review_flags=[FlagOut(cause=f.cause.value, item=f.item, detail=f.detail) for f in flags],
        decision=decision, appeal=appeal,
        policy=PolicyRefOut(id=stored.policy.id, version=stored.policy.version,
                            hash=stored.policy.hash) if stored.policy else None,
        assessment=AssessmentReport.model_validate(stored.report) if stored.report else None,
        events=[EventOut(seq=e.seq, at=e.at, kind=e.kind.value, actor=e.actor, detail=e.detail)
                for e in case.events],
    )


def case_summary(stored: StoredCase, now: dt.datetime) -> CaseSummaryOut:
    """A case as a line of the list."""
    case = stored.case
    clock = cases.clock(case, now)
    return CaseSummaryOut(
        id=case.id, identifier=case.submission_key, organisation=case.organisation,
        priority=case.priority.value, state=case.state.kind, received_at=case.received_at,
        due_at=clock.due_at, overdue=clock.overdue,
        remaining_seconds=int(clock.remaining.total_seconds()),
    )


def audit_bundle(records: list[AuditRecord]) -> dict[str, Any]:
    """Audit records as a FHIR searchset Bundle of AuditEvents."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(records),
        "entry": [{"fullUrl": f"urn:vertebro:audit-event:{r.id}",
                   "resource": {**r.resource, "id": str(r.id)}} for r in records],
    }
