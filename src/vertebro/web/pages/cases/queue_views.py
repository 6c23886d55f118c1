"""The queue's view model: its filters read from the query string, and one row per case."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from vertebro import case_service
from vertebro.adapters.db.repository import StoredCase
from vertebro.adapters.fhir.bundle import json_shape_problem
from vertebro.api.security import Permission, Principal
from vertebro.core import cases
from vertebro.web.pages.cases.words import (
    DUE_CHOICES,
    OPEN_STATES,
    PRIORITY_CHOICES,
    STATE_BADGES,
    STATE_CHOICES,
    STATE_WORDS,
    ClockView,
    clock_view,
    when,
)

PAGE_SIZE = 25

MAX_PAGE = 10_000

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
        values = {
            "state": self.state,
            "due": self.due,
            "overdue": "1" if self.overdue else "",
            "priority": self.priority,
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        return "/app/cases?" + urlencode({k: v for k, v in values.items() if v})


def queue_query(params: Mapping[str, str], user: Principal) -> tuple[QueueQuery, dict[str, str]]:
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


def case_filter(query: QueueQuery) -> case_service.CaseFilter:
    """The use case's filter for the queue's filters and page."""
    states: frozenset[str] | None
    if query.state == "open":
        states = OPEN_STATES
    elif query.state == "all":
        states = None
    else:
        states = frozenset({query.state})
    return case_service.CaseFilter(
        states=states,
        overdue_only=query.overdue,
        due_within=dt.timedelta(hours=int(query.due)) if query.due else None,
        priority=cases.Priority(query.priority) if query.priority else None,
        limit=PAGE_SIZE,
        offset=(query.page - 1) * PAGE_SIZE,
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


def queue_row(stored: StoredCase, now: dt.datetime) -> QueueRow:
    """A stored case as a row of the queue, with its clock at `now`."""
    case = stored.case
    kind = case.state.kind
    return QueueRow(
        id=case.id,
        identifier=case.submission_key,
        organisation=case.organisation,
        procedures="; ".join(item.label for item in stored.items),
        priority=case.priority.value,
        state=kind,
        state_words=STATE_WORDS[kind],
        badge=STATE_BADGES[kind],
        received=when(case.received_at),
        clock=clock_view(cases.clock(case, now)),
    )


def clean_params(request: Request) -> dict[str, str]:
    """The query's values; a value no database could store (NUL, lone surrogates) is treated
    as unknown, so it is refused by the filter checks rather than failing later."""
    return {
        key: ("\ufffd" if json_shape_problem(value) else value)
        for key, value in request.query_params.items()
    }
