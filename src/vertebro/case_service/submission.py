"""Submitting a request: a new case assessed and triaged automatically, or the replayed answer
to a repeat."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from vertebro.adapters import policy_files
from vertebro.adapters.db.repository import (
    Database,
    DuplicateSubmission,
    Repository,
    StoredCase,
)
from vertebro.adapters.errors import InputError
from vertebro.case_service.audit import audit
from vertebro.case_service.shared import Actor, Conflict, Json
from vertebro.core import cases
from vertebro.core.case import Case
from vertebro.core.cases import AssessedItem, Priority, RequestedItem, UnassessedItem
from vertebro.core.catalogue import Procedure
from vertebro.core.evaluator import Determination, ProcedureRequest, assess
from vertebro.core.policy import PolicyRef
from vertebro.report import build_report


def requested_items(case: Case) -> tuple[RequestedItem, ...]:
    """The requested procedures of a case read from a document, as the lines of a submission
    (as POST /cases numbers them)."""
    return tuple(
        RequestedItem(
            n,
            r.procedure.value + (f" {', '.join(str(lv) for lv in r.levels)}" if r.levels else ""),
            r.procedure,
        )
        for n, r in enumerate(case.requests, 1)
    )


@dataclass(frozen=True, slots=True)
class Submission:
    """A prior-authorisation request as an interface received it."""

    key: str  # the submitter's identifier; a repeat with the same key is the same request
    priority: Priority
    channel: Literal["pas", "api", "web"]
    document: Json  # what was submitted, stored as received
    items: tuple[RequestedItem, ...]
    case: Case  # facts and requested procedures read from the document
    policy_name: str
    patient_key: str | None = None
    provider_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    """The stored case, the answer to give, and whether this was a repeat of an earlier one."""

    stored: StoredCase
    response: Json
    replayed: bool


Responder = Callable[[StoredCase], Json]


def document_hash(document: Json) -> str:
    """SHA-256 of a document's canonical JSON: the same request gives the same hash."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def submit(
    db: Database, actor: Actor, sub: Submission, *, now: dt.datetime, respond: Responder
) -> SubmitOutcome:
    """Create a case, assess it and triage it - or replay the answer to an earlier identical
    submission with the same identifier (no second case).

    Raises:
        Conflict: the identifier was used before for a different request.
        InputError: no policy version in effect, or the request cannot be assessed.
    """
    digest = document_hash(sub.document)
    for _attempt in range(2):
        with db.transaction() as repo:
            existing = repo.find_by_submission(actor.organisation, sub.key)
            if existing is not None:
                return _replay(repo, actor, existing, digest, now=now, respond=respond)
        try:
            with db.transaction() as repo:
                stored = _new_case(actor, sub, digest, now=now)
                stored = replace(stored, first_response=respond(stored))
                repo.add(stored, now=now)
                audit(
                    repo,
                    actor,
                    now,
                    "C",
                    "create",
                    "submit",
                    stored.case.id,
                    f"{sub.channel} submission; {stored.case.state.kind}",
                )
                assert stored.first_response is not None
                return SubmitOutcome(stored, stored.first_response, replayed=False)
        except DuplicateSubmission:
            continue  # a concurrent submission won the race: replay its answer
    raise Conflict(f"submission {sub.key!r} is being processed; try again")


def _replay(
    repo: Repository,
    actor: Actor,
    existing: StoredCase,
    digest: str,
    *,
    now: dt.datetime,
    respond: Responder,
) -> SubmitOutcome:
    if existing.request_hash != digest:
        raise Conflict(
            f"identifier {existing.case.submission_key!r} was already used by this "
            f"organisation for a different request (case {existing.case.id}); "
            "a new request needs a new identifier"
        )
    audit(
        repo,
        actor,
        now,
        "R",
        "read",
        "submit-repeat",
        existing.case.id,
        "repeat of an earlier submission; original answer returned",
    )
    response = (
        existing.first_response if existing.first_response is not None else (respond(existing))
    )
    return SubmitOutcome(existing, response, replayed=True)


def _new_case(actor: Actor, sub: Submission, digest: str, *, now: dt.datetime) -> StoredCase:
    if not sub.items:
        raise InputError(sub.case.source, "the request lists no items")
    day = now.date()
    requests, determinations, report, ref = assess_items(sub.items, sub.case, sub.policy_name, day)
    result = cases.triage(triage_items(sub.items, determinations, ref))
    case = cases.open_case(
        case_id=str(uuid.uuid4()),
        organisation=actor.organisation,
        submission_key=sub.key,
        priority=sub.priority,
        received_at=now,
        submitted_by=f"{actor.name} ({actor.id})",
        result=result,
    )
    return StoredCase(
        case=case,
        version=1,
        channel=sub.channel,
        request_hash=digest,
        items=sub.items,
        requests=requests,
        facts=sub.case.facts,
        policy=ref,
        report=report,
        submission=sub.document,
        first_response=None,
        patient_key=sub.patient_key,
        provider_keys=sub.provider_keys,
    )


def assess_items(
    items: tuple[RequestedItem, ...], case: Case, policy_name: str, day: dt.date
) -> tuple[tuple[ProcedureRequest, ...], dict[Procedure, Determination], Json | None, PolicyRef]:
    """Assess every distinct requested procedure under the policy in effect on `day`."""
    wanted = list(dict.fromkeys(i.procedure for i in items if i.procedure is not None))
    policy = policy_files.resolve(policy_name, day)
    by_procedure = {r.procedure: r for r in case.requests}
    requests = tuple(
        by_procedure.get(p) or ProcedureRequest(p) for p in wanted if p in policy.rules
    )
    if not requests:
        return (), {}, None, policy.ref
    assessment = assess(policy, case.facts, requests, as_of=day)
    subject = Case(case.id, case.source, requests, case.facts, case.request_date)
    report = build_report(assessment, policy, subject, case.source).model_dump(mode="json")
    return requests, {d.procedure: d for d in assessment.determinations}, report, policy.ref


def triage_items(
    items: tuple[RequestedItem, ...],
    determinations: dict[Procedure, Determination],
    ref: PolicyRef,
) -> list[AssessedItem | UnassessedItem]:
    out: list[AssessedItem | UnassessedItem] = []
    for item in items:
        if item.procedure is None:
            out.append(
                UnassessedItem(
                    item.label, "no shipped policy covers this service; a clinician must review it"
                )
            )
        elif item.procedure not in determinations:
            out.append(
                UnassessedItem(
                    item.label,
                    f"policy {ref.id} {ref.version} does not cover {item.procedure.value}",
                )
            )
        else:
            out.append(AssessedItem(item.label, determinations[item.procedure]))
    return out
