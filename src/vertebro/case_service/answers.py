"""Answers to questions: reading them as facts, laying them over a case's facts, and adding
them to a stored case."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any, Literal

from vertebro.adapters import policy_files
from vertebro.adapters.case_files import parse_facts
from vertebro.adapters.combine import combine, readings_of
from vertebro.adapters.db.repository import Database, StoredCase
from vertebro.adapters.errors import InputError
from vertebro.case_service.review import apply_change
from vertebro.case_service.shared import Actor
from vertebro.case_service.submission import assess_items, triage_items
from vertebro.core import cases
from vertebro.core.case import Case
from vertebro.core.cases import Triage
from vertebro.core.facts import Fact, FactSet, Provenance
from vertebro.settings import Role


def answered_facts(
    values: dict[str, Any], *, answered_by: str, how: str, kind: Literal["answer", "attestation"]
) -> FactSet:
    """Answers to questions (fact name to value, as in a case file's `facts:`) as facts whose
    evidence is the person who answered (`kind` from `answer_kind`).

    Raises:
        InputError: an unknown fact, or a value that does not fit its fact.
    """
    parsed = parse_facts(values, "answers")
    return FactSet(
        Fact(
            f.name,
            f.value,
            tuple(Provenance(kind, answered_by, p.quote, None, how) for p in f.evidence),
        )
        for f in parsed.values()
    )


def merge_answers(facts: FactSet, answers: FactSet) -> FactSet:
    """The facts with answers laid over them: a reviewer's answer (provenance kind 'answer')
    outranks the requester's attestation, which outranks coded data and text; the readings an
    answer overrules are kept as conflicts (see `adapters.combine`)."""
    if not answers:
        return facts
    return combine([*readings_of(facts), *readings_of(answers)])


def answer_kind(actor: Actor) -> Literal["answer", "attestation"]:
    """How strong an account's answers are: a reviewer answers, anyone else attests."""
    return "answer" if actor.role is Role.REVIEWER else "attestation"


def add_answers(
    db: Database, actor: Actor, case_id: str, answers: FactSet, *, now: dt.datetime, what: str
) -> StoredCase:
    """Add answered facts to an open case and reassess it.

    Raises:
        NotFound: no such case visible to the actor.
        Conflict: the case is decided, or changed concurrently.
        InputError: the answers cannot be assessed.
    """
    if not answers:
        raise InputError("answers", "no answers given")

    def change(stored: StoredCase) -> StoredCase:
        facts = merge_answers(stored.facts, answers)
        case = Case(stored.case.id, "stored case", stored.requests, facts, None)
        day = stored.case.received_at.date()
        policy_name = stored.policy.id if stored.policy else policy_files.known_ids()[0]
        requests, determinations, report, ref = assess_items(stored.items, case, policy_name, day)
        result: Triage = cases.triage(triage_items(stored.items, determinations, ref))
        names = ", ".join(sorted(answers))
        updated = cases.add_information(
            stored.case, result, at=now, actor=f"{actor.name} ({actor.id})", what=f"{what}: {names}"
        )
        return replace(
            stored,
            case=updated,
            facts=facts,
            requests=requests or stored.requests,
            report=report if report is not None else stored.report,
        )

    return apply_change(db, actor, case_id, change, now=now, operation="answer")
