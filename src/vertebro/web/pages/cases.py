"""Prior-authorisation cases: the reviewer queue with its deadline clocks, and the case page
(summary, determinations with their evidence, questions and answers, decisions, appeals and
the timeline).

The pages call the same use cases as the API (`vertebro.api.routes.cases`) with the same
permissions (`vertebro.api.security.PERMISSIONS`): `case_service` decides what an account may
see (a requester only its own organisation's cases) and records every read and change in the
audit trail. A page never decides anything itself; it only offers the actions a role may take
and shows the use case's answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from vertebro import case_service
from vertebro.adapters.db.repository import Database, StoredCase
from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir.bundle import json_shape_problem
from vertebro.api.deps import plausible_case_id, state
from vertebro.api.schemas import CaseOut, QuestionOut, case_out
from vertebro.api.security import Permission, Principal
from vertebro.core import cases
from vertebro.core.catalogue import CATALOGUE
from vertebro.core.facts import Fact, FactSet, FactSpec, FactType, Provenance
from vertebro.report import json_value
from vertebro.settings import Role
from vertebro.web.session import PageError, form_data, page_require
from vertebro.web.templating import FLASH_MESSAGES, render

router = APIRouter()

PAGE_SIZE = 25
MAX_PAGE = 10_000

FLASH_MESSAGES.update({
    "case-approved": "The case is approved. Your decision is recorded with your name.",
    "case-denied": "The case is denied. The requester sees your reason and may appeal.",
    "case-appealed": "Your appeal is recorded. A different reviewer will decide it.",
    "case-answered": "Your answers are recorded and the case has been assessed again.",
})

# --- Words for people --------------------------------------------------------------------------

OPEN_STATES = frozenset({"pended-for-information", "queued-for-review", "under-appeal"})
STATE_WORDS: dict[str, str] = {
    "approved-automatically": "Approved (meets criteria)",
    "pended-for-information": "Waiting for information",
    "queued-for-review": "Waiting for a reviewer",
    "approved-by-reviewer": "Approved by a reviewer",
    "denied-by-reviewer": "Denied by a reviewer",
    "under-appeal": "Under appeal",
}
STATE_BADGES: dict[str, str] = {
    "approved-automatically": "status-met",
    "pended-for-information": "status-unknown",
    "queued-for-review": "status-info",
    "approved-by-reviewer": "status-met",
    "denied-by-reviewer": "status-not-met",
    "under-appeal": "status-info",
}
# The filter's choices: "open" is the reviewer's work list; the API's state kinds follow.
STATE_CHOICES: list[tuple[str, str]] = [
    ("open", "Open: waiting for information, a reviewer or an appeal decision"),
    ("all", "All cases"),
    *((kind, STATE_WORDS[kind]) for kind in STATE_WORDS),
]
DUE_CHOICES: list[tuple[str, str]] = [
    ("", "Any time"), ("24", "24 hours"), ("72", "3 days"), ("168", "7 days"),
]
PRIORITY_CHOICES: list[tuple[str, str]] = [
    ("", "Any priority"), ("expedited", "Expedited (72 hours)"),
    ("standard", "Standard (7 days)"),
]
EVENT_WORDS: dict[str, str] = {
    "submitted": "Submitted",
    "triaged": "Assessed by vertebro",
    "information-added": "Information added",
    "approved-by-reviewer": "Approved",
    "denied-by-reviewer": "Denied",
    "appealed": "Appealed",
}
FLAG_WORDS: dict[str, str] = {
    "does-not-meet-criteria": "Does not meet the policy's criteria - a reviewer will decide",
    "investigational": "The policy calls this investigational - a reviewer will decide",
    "conflicting-evidence": "Sources disagree",
    "requirement-not-met": "A requirement is not met",
    "not-assessable": "No policy covers this service",
}
CHANNEL_WORDS = {"api": "vertebro API", "pas": "Da Vinci PAS (Claim/$submit)"}
APPROVED_WITHOUT_NOTE = "Approved on clinical review (the reviewer added no note)."
FACT_TITLES: dict[str, str] = {name: spec.title for name, spec in CATALOGUE.items()}


def when(moment: dt.datetime | None) -> str:
    """A time for people, always in UTC and saying so: 'Tue 6 Oct 2026, 09:00 UTC'."""
    if moment is None:
        return ""
    utc = moment.astimezone(dt.UTC)
    return f"{utc:%a} {utc.day} {utc:%b %Y, %H:%M} UTC"


def duration_words(seconds: float) -> str:
    """A span in days and hours (hours and minutes under a day): '2 days 4 hours'."""
    total = int(abs(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60

    def unit(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    parts = [unit(days, "day")] if days else []
    if hours:
        parts.append(unit(hours, "hour"))
    if not days and minutes:
        parts.append(unit(minutes, "minute"))
    return " ".join(parts) or "less than a minute"


@dataclass(frozen=True, slots=True)
class ClockView:
    """A case's CMS-0057-F clock in words: overdue is said, never only coloured."""

    words: str  # 'Overdue by 3 hours', '2 days 4 hours left', 'Decided in time'
    due: str
    css: str  # the colour repeats the words
    appeal: bool
    overdue: bool
    running: bool


SOON = dt.timedelta(hours=24)


def clock_view(clock: cases.Clock) -> ClockView:
    """The words and the emphasis for a clock."""
    due = when(clock.due_at)
    if clock.stopped_at is not None:
        if clock.overdue:
            late = duration_words((clock.stopped_at - clock.due_at).total_seconds())
            return ClockView(f"Decided late, {late} after the due time", due, "clock--overdue",
                             clock.appeal, True, False)
        return ClockView("Decided in time", due, "", clock.appeal, False, False)
    if clock.overdue:
        return ClockView(f"Overdue by {duration_words(clock.remaining.total_seconds())}", due,
                         "clock--overdue", clock.appeal, True, True)
    css = "clock--soon" if clock.remaining <= SOON else ""
    return ClockView(f"{duration_words(clock.remaining.total_seconds())} left", due, css,
                     clock.appeal, False, True)


def _values_text(value: Any) -> str:
    shown = json_value(value)
    if shown is None:
        return "unknown"
    if isinstance(shown, bool):
        return "yes" if shown else "no"
    if isinstance(shown, list):
        return ", ".join(shown)
    return str(shown)


# --- The queue ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """The queue's filters as the GET form sent them, checked."""

    state: str
    due: str
    overdue: bool
    priority: str
    page: int

    def link(self, **changes: Any) -> str:
        """The queue with these filters (and changes), as a URL."""
        values = {"state": self.state, "due": self.due, "overdue": "1" if self.overdue else "",
                  "priority": self.priority, "page": str(self.page)}
        values.update({k: str(v) for k, v in changes.items()})
        return "/app/cases?" + urlencode({k: v for k, v in values.items() if v})


def _queue_query(params: Mapping[str, str], user: Principal) -> tuple[QueueQuery, dict[str, str]]:
    """The filters, defaulting to a reviewer's work list (open cases), and what is wrong."""
    errors: dict[str, str] = {}
    default_state = "open" if user.may(Permission.DECIDE) else "all"
    state_ = params.get("state") or default_state
    if state_ not in dict(STATE_CHOICES):
        errors["state"] = "Choose one of the states in the list."
        state_ = default_state
    due = params.get("due") or ""
    if due not in dict(DUE_CHOICES):
        errors["due"] = "Choose how soon the cases are due from the list."
        due = ""
    priority = params.get("priority") or ""
    if priority not in dict(PRIORITY_CHOICES):
        errors["priority"] = "Choose expedited, standard or any priority."
        priority = ""
    overdue_raw = params.get("overdue") or ""
    if overdue_raw not in ("", "1", "on", "true"):
        errors["overdue"] = "Tick the box, or leave it empty."
    page_raw = params.get("page") or "1"
    page = int(page_raw) if page_raw.isdigit() and 0 < len(page_raw) <= 6 else 0
    if not 1 <= page <= MAX_PAGE:
        errors["page"] = f"The page number must be a whole number from 1 to {MAX_PAGE}."
        page = 1
    return QueueQuery(state_, due, overdue_raw in ("1", "on", "true"), priority, page), errors


def _case_filter(query: QueueQuery) -> case_service.CaseFilter:
    states: frozenset[str] | None
    if query.state == "open":
        states = OPEN_STATES
    elif query.state == "all":
        states = None
    else:
        states = frozenset({query.state})
    return case_service.CaseFilter(
        states=states, overdue_only=query.overdue,
        due_within=dt.timedelta(hours=int(query.due)) if query.due else None,
        priority=cases.Priority(query.priority) if query.priority else None,
        limit=PAGE_SIZE, offset=(query.page - 1) * PAGE_SIZE,
    )


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One case in the queue."""

    id: str
    identifier: str
    organisation: str
    procedures: str
    priority: str
    state: str
    state_words: str
    badge: str
    received: str
    clock: ClockView


def _queue_row(stored: StoredCase, now: dt.datetime) -> QueueRow:
    case = stored.case
    kind = case.state.kind
    return QueueRow(
        id=case.id, identifier=case.submission_key, organisation=case.organisation,
        procedures="; ".join(item.label for item in stored.items),
        priority=case.priority.value, state=kind, state_words=STATE_WORDS[kind],
        badge=STATE_BADGES[kind], received=when(case.received_at),
        clock=clock_view(cases.clock(case, now)),
    )


@router.get("/app/cases", response_class=HTMLResponse)
async def queue(
    request: Request, user: Annotated[Principal, Depends(page_require(Permission.READ_CASES))],
) -> Response:
    """Cases soonest due first with their clocks; a GET form filters them."""
    query, errors = _queue_query(_clean_params(request), user)
    rows: list[QueueRow] = []
    if not errors:
        app = state(request)
        now = app.now()
        found = await run_in_threadpool(case_service.list_cases, app.db, user.actor(),
                                        _case_filter(query), now=now)
        rows = [_queue_row(stored, now) for stored in found]
    first = (query.page - 1) * PAGE_SIZE + 1
    return render(
        request, "cases_queue.html", user, status=400 if errors else 200,
        query=query, rows=rows, errors=errors, first=first, last=first + len(rows) - 1,
        previous=query.link(page=query.page - 1) if query.page > 1 else None,
        next=query.link(page=query.page + 1) if len(rows) == PAGE_SIZE else None,
        state_choices=STATE_CHOICES, due_choices=DUE_CHOICES,
        priority_choices=PRIORITY_CHOICES, requester=user.role is Role.REQUESTER,
    )


def _clean_params(request: Request) -> dict[str, str]:
    """The query's values; a value no database could store (NUL, lone surrogates) is treated
    as unknown, so it is refused by the filter checks rather than failing later."""
    return {key: ("\ufffd" if json_shape_problem(value) else value)
            for key, value in request.query_params.items()}


# --- The case page -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuestionField:
    """A question as a form field: the fact, its type and its choices."""

    fact: str
    question: str
    items: tuple[str, ...]
    type: str
    choices: tuple[str, ...]
    unit: str | None
    field_id: str


def _question_field(question: QuestionOut) -> QuestionField:
    spec: FactSpec | None = CATALOGUE.get(question.fact)
    kind = spec.type.value if spec is not None else FactType.BOOLEAN.value
    return QuestionField(
        fact=question.fact, question=question.question, items=tuple(question.items), type=kind,
        choices=spec.choices if spec is not None else (),
        unit=spec.unit if spec is not None else None,
        field_id="answer-" + question.fact.replace(".", "-").replace("_", "-"),
    )


def _patient(stored: StoredCase) -> list[tuple[str, str]]:
    """What the record says about the patient (the facts themselves, with their titles)."""
    out = []
    for name in ("patient.age", "patient.sex"):
        fact = stored.facts.get(name)
        if fact is not None and fact.value is not None:
            text = _values_text(fact.value)
            spec = CATALOGUE[name]
            out.append((spec.title, f"{text} {spec.unit}" if spec.unit else text))
    return out


def _facts_on_record(stored: StoredCase) -> list[dict[str, Any]]:
    rows = []
    for fact in stored.facts.values():
        rows.append({
            "title": FACT_TITLES.get(fact.name, fact.name),
            "value": _values_text(fact.value),
            "sources": [{"source": p.source, "quote": p.quote} for p in fact.evidence],
            "conflicts": len(fact.conflicts),
        })
    return sorted(rows, key=lambda row: str(row["title"]))


FormErrors = dict[str, str]


def _case_context(stored: StoredCase, now: dt.datetime, user: Principal) -> dict[str, Any]:
    view: CaseOut = case_out(stored, now)
    denied_by = view.appeal.denial.reviewer_id if view.appeal else None
    may_decide = user.may(Permission.DECIDE) and view.open
    return {
        "case": view,
        "state_words": STATE_WORDS[view.state],
        "badge": STATE_BADGES[view.state],
        "clock": clock_view(cases.clock(stored.case, now)),
        "priority_words": ("Expedited: decision due within 72 hours of receipt"
                           if view.priority == "expedited"
                           else "Standard: decision due within 7 calendar days of receipt"),
        "channel_words": CHANNEL_WORDS.get(view.channel, view.channel),
        "patient": _patient(stored),
        "facts": _facts_on_record(stored),
        "questions": [_question_field(q) for q in view.questions],
        "flags": [(FLAG_WORDS.get(f.cause, f.cause), f.item, f.detail)
                  for f in view.review_flags],
        "events": [(when(e.at), e.at.isoformat(), EVENT_WORDS.get(e.kind, e.kind), e.actor,
                    e.detail) for e in view.events],
        "may_answer": user.may(Permission.ANSWER) and view.open and bool(view.questions),
        "may_decide": may_decide and denied_by != user.id,
        "decided_the_denial": may_decide and denied_by == user.id,
        "may_appeal": user.may(Permission.APPEAL) and view.state == "denied-by-reviewer",
        "fact_titles": FACT_TITLES,
        "when": when,
        "max_reason": cases.MAX_REASON_CHARS,
    }


def _checked_id(case_id: str) -> str:
    if not plausible_case_id(case_id):
        raise _not_found()
    return case_id


def _not_found() -> PageError:
    # The same words whether the case does not exist or belongs to another organisation.
    return PageError(404, "There is no case at this address that you may see.")


async def _show_case(
    request: Request, user: Principal, case_id: str, *, status: int = 200,
    errors: FormErrors | None = None, values: Mapping[str, Any] | None = None,
) -> Response:
    app = state(request)
    now = app.now()
    try:
        stored = await run_in_threadpool(case_service.get_case, app.db, user.actor(), case_id,
                                         now=now)
    except case_service.NotFound:
        raise _not_found() from None
    context = _case_context(stored, now, user)
    return render(request, "cases_case.html", user, status=status, errors=errors or {},
                  values=values or {}, **context)


@router.get("/app/cases/{case_id}", response_class=HTMLResponse)
async def case_page(
    case_id: str, request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_CASES))],
) -> Response:
    """One case: summary, clock, determinations with evidence, questions, actions, timeline."""
    return await _show_case(request, user, _checked_id(case_id))


async def _allowed(request: Request, user: Principal, permission: Permission,
                   case_id: str) -> None:
    """Refuse (403 page) an action the role may not take, recorded in the audit trail as
    the API records it (`vertebro.api.deps.require`)."""
    if user.may(permission):
        return
    app = state(request)
    await run_in_threadpool(case_service.record_access, app.db, user.actor(), now=app.now(),
                            operation=f"refused: {permission.value}", case_ids=[case_id],
                            action="E", outcome="4")
    raise PageError(403, f"Your role ({user.role.value}) may not "
                         f"{permission.value.replace('-', ' ')} on a case.")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


UNSTORABLE = "This text holds a character that cannot be stored (a NUL or a broken character)."


@router.post("/app/cases/{case_id}/decision", response_class=HTMLResponse)
async def decide(
    case_id: str, request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_CASES))],
) -> Response:
    """A reviewer approves (optional note) or denies (reason required)."""
    case_id = _checked_id(case_id)
    form = await form_data(request)
    await _allowed(request, user, Permission.DECIDE, case_id)
    verdict = _text(form, "decision")
    if verdict not in ("approve", "deny"):
        raise PageError(400, "Choose Approve or Deny on the case page.")
    field = "approve-note" if verdict == "approve" else "deny-reason"
    reason = _text(form, "reason")
    values = {field: reason}
    if json_shape_problem(reason):
        return await _show_case(request, user, case_id, status=400, errors={field: UNSTORABLE},
                                values=values)
    if verdict == "deny" and not reason.strip():
        return await _show_case(request, user, case_id, status=400, values=values, errors={
            field: "Write the reason for the denial: the requester is told it and may appeal "
                   "against it."})
    written = reason if reason.strip() else APPROVED_WITHOUT_NOTE
    app = state(request)
    try:
        await run_in_threadpool(case_service.decide, app.db, user.actor(), case_id,
                                _verdict(verdict), written, now=app.now())
    except case_service.NotFound:
        raise _not_found() from None
    except case_service.Forbidden as exc:
        raise PageError(403, f"{str(exc).capitalize()}.") from None
    except InputError as exc:
        return await _show_case(request, user, case_id, status=400, values=values,
                                errors={field: _sentence(exc.message)})
    except case_service.Conflict as exc:
        return await _show_case(request, user, case_id, status=409, values=values,
                                errors={"decision": _sentence(str(exc))})
    done = "case-approved" if verdict == "approve" else "case-denied"
    return RedirectResponse(f"/app/cases/{case_id}?done={done}", status_code=303)


def _verdict(text: str) -> cases.Verdict:
    return "approve" if text == "approve" else "deny"


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


@router.post("/app/cases/{case_id}/appeal", response_class=HTMLResponse)
async def appeal(
    case_id: str, request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_CASES))],
) -> Response:
    """The requesting organisation appeals a reviewer's denial (reason required)."""
    case_id = _checked_id(case_id)
    form = await form_data(request)
    await _allowed(request, user, Permission.APPEAL, case_id)
    reason = _text(form, "reason")
    values = {"appeal-reason": reason}
    problem = UNSTORABLE if json_shape_problem(reason) else (
        None if reason.strip() else "Write the reason for the appeal: the reviewer who decides "
                                    "it reads it.")
    if problem:
        return await _show_case(request, user, case_id, status=400, values=values,
                                errors={"appeal-reason": problem})
    app = state(request)
    try:
        await run_in_threadpool(case_service.appeal, app.db, user.actor(), case_id, reason,
                                now=app.now())
    except case_service.NotFound:
        raise _not_found() from None
    except InputError as exc:
        return await _show_case(request, user, case_id, status=400, values=values,
                                errors={"appeal-reason": _sentence(exc.message)})
    except case_service.Conflict as exc:
        return await _show_case(request, user, case_id, status=409, values=values,
                                errors={"appeal": _sentence(str(exc))})
    return RedirectResponse(f"/app/cases/{case_id}?done=case-appealed", status_code=303)


ANSWER_PREFIX = "answer:"
QUOTE_PREFIX = "quote:"


def read_answers(form: FormData, user: Principal) -> tuple[FactSet, FormErrors, dict[str, Any]]:
    """The answered facts in a form (`answer:<fact>`, optional `quote:<fact>`), each coerced
    by its catalogue definition and recorded as an answer by the signed-in person (as the
    API's POST /cases/{id}/answers records them); blank fields are unanswered."""
    facts: list[Fact] = []
    errors: FormErrors = {}
    values: dict[str, Any] = {}
    for key in dict.fromkeys(form.keys()):
        if not key.startswith(ANSWER_PREFIX):
            continue
        name = key.removeprefix(ANSWER_PREFIX)
        spec = CATALOGUE.get(name)
        raw = [v for v in form.getlist(key) if isinstance(v, str)]
        quote = _text(form, QUOTE_PREFIX + name).strip()
        values[key], values[QUOTE_PREFIX + name] = raw, quote
        field = "answer-" + name.replace(".", "-").replace("_", "-")
        if spec is None:
            errors["answers"] = "The form asked about a fact vertebro does not know; reload " \
                                "the case page and answer again."
            continue
        if any(json_shape_problem(v) for v in [*raw, quote]):
            errors[field] = UNSTORABLE
            continue
        given = [v.strip() for v in raw if v.strip()]
        if not given:
            continue
        try:
            value = spec.coerce(given if spec.type is FactType.CHOICES else given[0])
        except ValueError as exc:
            errors[field] = _sentence(str(exc))
            continue
        if value is None:  # 'unknown' adds nothing: the question stays open
            continue
        facts.append(Fact(name, value, (Provenance(
            "answer", user.name, quote or None, None,
            f"answered on the web page by {user.id}"),)))
    if not facts and not errors:
        errors["answers"] = "Answer at least one question (leave the others empty)."
    return FactSet(facts), errors, values


@router.post("/app/cases/{case_id}/answers", response_class=HTMLResponse)
async def answer(
    case_id: str, request: Request,
    user: Annotated[Principal, Depends(page_require(Permission.READ_CASES))],
) -> Response:
    """Answer outstanding questions; the case is reassessed (as POST /cases/{id}/answers)."""
    case_id = _checked_id(case_id)
    form = await form_data(request)
    await _allowed(request, user, Permission.ANSWER, case_id)
    answers, errors, values = read_answers(form, user)
    if errors:
        return await _show_case(request, user, case_id, status=400, errors=errors,
                                values=values)
    app = state(request)
    try:
        await run_in_threadpool(_add_answers, app.db, user, case_id, answers, app.now())
    except case_service.NotFound:
        raise _not_found() from None
    except InputError as exc:
        return await _show_case(request, user, case_id, status=400, values=values,
                                errors={"answers": _sentence(exc.message)})
    except case_service.Conflict as exc:
        return await _show_case(request, user, case_id, status=409, values=values,
                                errors={"answers": _sentence(str(exc))})
    return RedirectResponse(f"/app/cases/{case_id}?done=case-answered", status_code=303)


def _add_answers(db: Database, user: Principal, case_id: str, answers: FactSet,
                 now: dt.datetime) -> StoredCase:
    return case_service.add_answers(db, user.actor(), case_id, answers, now=now,
                                    what="answers on the web page")

