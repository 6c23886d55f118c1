"""The case page's view model: summary, clock, patient, facts, questions, actions and timeline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from vertebro.adapters.db.repository import StoredCase
from vertebro.api.schemas import CaseOut, QuestionOut, case_out
from vertebro.api.security import Permission, Principal
from vertebro.core import cases
from vertebro.core.catalogue import CATALOGUE
from vertebro.core.facts import FactSpec, FactType
from vertebro.web.pages.cases.words import (
    CHANNEL_WORDS,
    EVENT_WORDS,
    FACT_TITLES,
    FLAG_WORDS,
    STATE_BADGES,
    STATE_WORDS,
    clock_view,
    values_text,
    when,
)

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
        fact=question.fact,
        question=question.question,
        items=tuple(question.items),
        type=kind,
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
            text = values_text(fact.value)
            spec = CATALOGUE[name]
            out.append((spec.title, f"{text} {spec.unit}" if spec.unit else text))
    return out


def _facts_on_record(stored: StoredCase) -> list[dict[str, Any]]:
    rows = []
    for fact in stored.facts.values():
        rows.append(
            {
                "title": FACT_TITLES.get(fact.name, fact.name),
                "value": values_text(fact.value),
                "sources": [{"source": p.source, "quote": p.quote} for p in fact.evidence],
                "conflicts": len(fact.conflicts),
            }
        )
    return sorted(rows, key=lambda row: str(row["title"]))


def case_context(stored: StoredCase, now: dt.datetime, user: Principal) -> dict[str, Any]:
    """The case page's template values for this user: what it shows and the actions offered."""
    view: CaseOut = case_out(stored, now)
    denied_by = view.appeal.denial.reviewer_id if view.appeal else None
    may_decide = user.may(Permission.DECIDE) and view.open
    return {
        "case": view,
        "state_words": STATE_WORDS[view.state],
        "badge": STATE_BADGES[view.state],
        "clock": clock_view(cases.clock(stored.case, now)),
        "priority_words": (
            "Expedited: decision due within 72 hours of receipt"
            if view.priority == "expedited"
            else "Standard: decision due within 7 calendar days of receipt"
        ),
        "channel_words": CHANNEL_WORDS.get(view.channel, view.channel),
        "patient": _patient(stored),
        "facts": _facts_on_record(stored),
        "questions": [_question_field(q) for q in view.questions],
        "flags": [(FLAG_WORDS.get(f.cause, f.cause), f.item, f.detail) for f in view.review_flags],
        "events": [
            (when(e.at), e.at.isoformat(), EVENT_WORDS.get(e.kind, e.kind), e.actor, e.detail)
            for e in view.events
        ],
        "may_answer": user.may(Permission.ANSWER) and view.open and bool(view.questions),
        "may_decide": may_decide and denied_by != user.id,
        "decided_the_denial": may_decide and denied_by == user.id,
        "may_appeal": user.may(Permission.APPEAL) and view.state == "denied-by-reviewer",
        "fact_titles": FACT_TITLES,
        "when": when,
        "max_reason": cases.MAX_REASON_CHARS,
    }
