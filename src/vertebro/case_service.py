"""Use cases of the prior-authorisation service: read inputs, submit, read, answer, decide,
appeal, and the audit trail. Interfaces (the HTTP API, the CLI) call these; the lifecycle rules
themselves are in `vertebro.core.cases` and storage in `vertebro.adapters.db`.

Every function that touches a case records a FHIR AuditEvent in the same transaction as the
read or write it describes; a refused access is recorded in a transaction of its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from vertebro import services
from vertebro.adapters import fhir, policy_files
from vertebro.adapters.case_files import parse_case, parse_facts
from vertebro.adapters.combine import combine, readings_of
from vertebro.adapters.db.audit import Action, Interaction, audit_record
from vertebro.adapters.db.audit import Outcome as AuditOutcome
from vertebro.adapters.db.repository import (
    AuditRecord,
    ConcurrentUpdate,
    Database,
    DuplicateSubmission,
    Repository,
    StoredCase,
)
from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir.codes import System, official_title
from vertebro.adapters.fhir.notes import nlp_function, note_reader
from vertebro.core import cases
from vertebro.core.case import UNNAMED_NOTE_CASE, Case
from vertebro.core.cases import (
    AssessedItem,
    CaseError,
    HumanReviewer,
    Priority,
    Reason,
    RequestedItem,
    Triage,
    UnassessedItem,
)
from vertebro.core.catalogue import Procedure
from vertebro.core.evaluator import Determination, ProcedureRequest, assess
from vertebro.core.facts import Fact, FactSet, Provenance
from vertebro.core.policy import Policy, PolicyRef
from vertebro.report import AssessmentReport, build_report
from vertebro.settings import Role

Json = dict[str, Any]


class Actor(BaseModel):
    """Who is calling: an authenticated account."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    kind: Literal["person", "system"]
    role: Role
    organisation: str


class NotFound(Exception):
    """No such case - or one the caller may not see (the two are not distinguished)."""


class Forbidden(Exception):
    """The caller may not do this."""


class Conflict(Exception):
    """The request clashes with the stored state (a reused identifier, a transition the
    lifecycle does not allow, or a concurrent change)."""


def warm_up() -> None:
    """Load what is loaded lazily and slowly (the ICD code lists, the note reader's pipeline)
    before the first request, so that the first CRD call is as fast as the others."""
    official_title(System.ICD10CM, "M80.08XA")
    official_title(System.ICD10, "M80.0")
    reader = note_reader()
    if reader is not None:
        with contextlib.suppress(ValueError):
            reader("Vertebroplasty at L1 requested.", source="warm-up", note_date=None)


# --- Reading inputs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadResult:
    """A case read from a request body, what kind of input it was, and the reader's warnings."""

    case: Case
    kind: str
    warnings: tuple[str, ...] = ()
    other_requests: tuple[str, ...] = ()  # requested services that are not ours


def read_json_document(data: Any, source: str, *, as_of: dt.date | None) -> ReadResult:
    """A FHIR R4 resource (`resourceType`) or a vertebro case (`requests` / `facts`).

    Raises:
        InputError: neither kind, or unreadable as its kind.
    """
    if isinstance(data, dict) and "resourceType" in data:
        reading = fhir.read_fhir(data, source, default_id="fhir", as_of=as_of)
        return ReadResult(reading.case, reading.kind, reading.warnings, reading.other_requests)
    if isinstance(data, dict) and ("requests" in data or "facts" in data):
        return ReadResult(parse_case(data, source, default_id="case"), "vertebro case")
    hint = ""
    if isinstance(data, dict) and "hook" in data and "context" in data:
        hint = "; it is a CDS Hooks request (POST it to /cds-services/{id})"
    raise InputError(source, "neither FHIR (no 'resourceType') nor a vertebro case (no "
                             f"'requests' or 'facts'){hint}")


def read_note_text(text: str, source: str, *, note_date: dt.date | None) -> ReadResult:
    """A clinical note read by the note reader (vertebro.adapters.nlp).

    Raises:
        InputError: the note names no request, or the note reader is unavailable.
    """
    reader = note_reader()
    if reader is None:
        raise NoteReaderUnavailable(source, "free-text notes need the note reader "
                                            "(vertebro.adapters.nlp), which is not available")
    try:
        reading = reader(text, source=source, note_date=note_date)
    except ValueError as exc:  # InputError is a ValueError
        raise InputError(source, str(exc).removeprefix(f"{source}: ")) from None
    facts = getattr(reading, "facts", None)
    if not isinstance(facts, FactSet):
        raise InputError(source, "the note reader returned no facts")
    requests = tuple(r for r in getattr(reading, "requests", ())
                     if isinstance(r, ProcedureRequest))
    warnings = tuple(str(w) for w in getattr(reading, "warnings", ()))
    return ReadResult(
        Case(UNNAMED_NOTE_CASE, source, requests, facts, note_date), "clinical note", warnings
    )


class NoteReaderUnavailable(InputError):
    """The note reader is not installed: the service cannot read free text."""


def note_date(text: str) -> dt.date | None:
    """A note's own date, from a line such as "Date: 14/09/2026" (as `vertebro assess` reads a
    .txt note); None when there is none or the note reader is unavailable."""
    find = nlp_function("note_date_from_text")
    day = find(text) if find is not None else None
    return day if isinstance(day, dt.date) else None


def answered_facts(values: dict[str, Any], *, answered_by: str, how: str,
                   kind: Literal["answer", "attestation"]) -> FactSet:
    """Answers to questions (fact name to value, as in a case file's `facts:`) as facts whose
    evidence is the person who answered (`kind` from `answer_kind`).

    Raises:
        InputError: an unknown fact, or a value that does not fit its fact.
    """
    parsed = parse_facts(values, "answers")
    return FactSet(
        Fact(f.name, f.value, tuple(Provenance(kind, answered_by, p.quote, None, how)
                                    for p in f.evidence))
        for f in parsed.values()
    )


def requested_items(case: Case) -> tuple[RequestedItem, ...]:
    """The requested procedures of a case read from a document, as the lines of a submission
    (as POST /cases numbers them)."""
    return tuple(
        RequestedItem(n, r.procedure.value + (
            f" {', '.join(str(lv) for lv in r.levels)}" if r.levels else ""), r.procedure)
        for n, r in enumerate(case.requests, 1)
    )


def assess_document(
    read: ReadResult, policy_name: str, *, as_of: dt.date | None, today: dt.date,
    version: str | None = None,
) -> AssessmentReport:
    """The assessment report for a read input (the same JSON as `vertebro assess`); `version`
    names one shipped version of the policy instead of the one in effect.

    Raises:
        InputError: nothing to assess, or no policy version in effect.
    """
    if not read.case.requests:
        found = "; ".join(read.other_requests[:3])
        more = f" (it requests: {found})" if found else ""
        raise InputError(read.case.source, f"{read.kind} holds no vertebroplasty, kyphoplasty "
                                           f"or sacroplasty request{more}")
    return services.assess_case(read.case, policy_name, as_of=as_of, today=today,
                                version=version)


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


@dataclass(frozen=True, slots=True)
class ProcedureAssessment:
    """The determinations for some requested procedures under the policy in effect on a day."""

    policy: Policy
    determinations: tuple[Determination, ...]
    triage: Triage


def assess_procedures(
    facts: FactSet, requests: tuple[ProcedureRequest, ...], policy_name: str, day: dt.date
) -> ProcedureAssessment:
    """Assess requested procedures (CRD, DTR) and triage them as a submission would be.

    Raises:
        InputError: no policy version in effect, or the policy covers none of the procedures.
    """
    policy = policy_files.resolve(policy_name, day)
    covered = tuple(r for r in requests if r.procedure in policy.rules)
    if not covered:
        raise InputError("policy", f"policy {policy.id} {policy.version} does not cover "
                                   f"{', '.join(r.procedure.value for r in requests)}")
    assessment = assess(policy, facts, covered, as_of=day)
    result = cases.triage([AssessedItem(d.procedure.value, d) for d in assessment.determinations])
    return ProcedureAssessment(policy, assessment.determinations, result)


# --- Submitting -------------------------------------------------------------------------------


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
                _audit(repo, actor, now, "C", "create", "submit", stored.case.id,
                       f"{sub.channel} submission; {stored.case.state.kind}")
                assert stored.first_response is not None
                return SubmitOutcome(stored, stored.first_response, replayed=False)
        except DuplicateSubmission:
            continue  # a concurrent submission won the race: replay its answer
    raise Conflict(f"submission {sub.key!r} is being processed; try again")


def _replay(
    repo: Repository, actor: Actor, existing: StoredCase, digest: str, *, now: dt.datetime,
    respond: Responder,
) -> SubmitOutcome:
    if existing.request_hash != digest:
        raise Conflict(f"identifier {existing.case.submission_key!r} was already used by this "
                       f"organisation for a different request (case {existing.case.id}); "
                       "a new request needs a new identifier")
    _audit(repo, actor, now, "R", "read", "submit-repeat", existing.case.id,
           "repeat of an earlier submission; original answer returned")
    response = existing.first_response if existing.first_response is not None else (
        respond(existing))
    return SubmitOutcome(existing, response, replayed=True)


def _new_case(actor: Actor, sub: Submission, digest: str, *, now: dt.datetime) -> StoredCase:
    if not sub.items:
        raise InputError(sub.case.source, "the request lists no items")
    day = now.date()
    requests, determinations, report, ref = _assess_items(sub.items, sub.case, sub.policy_name,
                                                          day)
    result = cases.triage(_triage_items(sub.items, determinations, ref))
    case = cases.open_case(
        case_id=str(uuid.uuid4()), organisation=actor.organisation, submission_key=sub.key,
        priority=sub.priority, received_at=now, submitted_by=f"{actor.name} ({actor.id})",
        result=result,
    )
    return StoredCase(
        case=case, version=1, channel=sub.channel, request_hash=digest, items=sub.items,
        requests=requests, facts=sub.case.facts, policy=ref, report=report,
        submission=sub.document, first_response=None, patient_key=sub.patient_key,
        provider_keys=sub.provider_keys,
    )


def _assess_items(
    items: tuple[RequestedItem, ...], case: Case, policy_name: str, day: dt.date
) -> tuple[tuple[ProcedureRequest, ...], dict[Procedure, Determination], Json | None,
           PolicyRef]:
    """Assess every distinct requested procedure under the policy in effect on `day`."""
    wanted = list(dict.fromkeys(i.procedure for i in items if i.procedure is not None))
    policy = policy_files.resolve(policy_name, day)
    by_procedure = {r.procedure: r for r in case.requests}
    requests = tuple(by_procedure.get(p) or ProcedureRequest(p) for p in wanted
                     if p in policy.rules)
    if not requests:
        return (), {}, None, policy.ref
    assessment = assess(policy, case.facts, requests, as_of=day)
    subject = Case(case.id, case.source, requests, case.facts, case.request_date)
    report = build_report(assessment, policy, subject, case.source).model_dump(mode="json")
    return requests, {d.procedure: d for d in assessment.determinations}, report, policy.ref


def _triage_items(
    items: tuple[RequestedItem, ...], determinations: dict[Procedure, Determination],
    ref: PolicyRef,
) -> list[AssessedItem | UnassessedItem]:
    out: list[AssessedItem | UnassessedItem] = []
    for item in items:
        if item.procedure is None:
            out.append(UnassessedItem(item.label, "no shipped policy covers this service; "
                                                  "a clinician must review it"))
        elif item.procedure not in determinations:
            out.append(UnassessedItem(item.label, f"policy {ref.id} {ref.version} does not "
                                                  f"cover {item.procedure.value}"))
        else:
            out.append(AssessedItem(item.label, determinations[item.procedure]))
    return out


# --- Reading cases ----------------------------------------------------------------------------


def get_case(db: Database, actor: Actor, case_id: str, *, now: dt.datetime,
             operation: str = "read") -> StoredCase:
    """One case the actor may see.

    Raises:
        NotFound: no such case, or one of another organisation (for a requester).
    """
    with db.transaction() as repo:
        stored = repo.get(case_id)
        if stored is not None and _visible(actor, stored):
            _audit(repo, actor, now, "R", "read", operation, case_id)
            return stored
    _refused(db, actor, now, "R", "read", operation, case_id, "no such case for this caller")
    raise NotFound(case_id)


def find_for_inquiry(
    db: Database, actor: Actor, key: str, *, patient_key: str | None,
    provider_keys: tuple[str, ...], now: dt.datetime,
) -> StoredCase:
    """The organisation's case with this identifier, when patient and provider match too
    (PAS inquiry: member id plus a provider identifier).

    Raises:
        NotFound: no case matches all three.
    """
    with db.transaction() as repo:
        stored = repo.find_by_submission(actor.organisation, key)
        if stored is not None and _inquiry_matches(stored, patient_key, provider_keys):
            _audit(repo, actor, now, "R", "operation", "inquire", stored.case.id)
            return stored
    _refused(db, actor, now, "R", "operation", "inquire", None,
             "inquiry matched no case")
    raise NotFound(key)


def _inquiry_matches(stored: StoredCase, patient_key: str | None,
                     provider_keys: tuple[str, ...]) -> bool:
    if stored.patient_key is not None and patient_key != stored.patient_key:
        return False
    return not stored.provider_keys or bool(set(provider_keys) & set(stored.provider_keys))


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """Which cases to list."""

    states: frozenset[str] | None = None
    due_within: dt.timedelta | None = None  # due before now + this
    overdue_only: bool = False
    priority: Priority | None = None  # only expedited, or only standard, requests
    limit: int = 100
    offset: int = 0


def list_cases(
    db: Database, actor: Actor, flt: CaseFilter, *, now: dt.datetime
) -> list[StoredCase]:
    """Cases the actor may see, soonest due first; each listed case is an audited read."""
    due_before = None
    if flt.overdue_only:
        due_before = now
    elif flt.due_within is not None:
        due_before = now + flt.due_within
    organisation = actor.organisation if actor.role is Role.REQUESTER else None
    states = flt.states
    if flt.overdue_only:
        open_kinds = frozenset({"pended-for-information", "queued-for-review", "under-appeal"})
        states = open_kinds if states is None else states & open_kinds
    with db.transaction() as repo:
        if flt.priority is None:
            found = repo.list_cases(organisation=organisation, states=states,
                                    due_before=due_before, limit=flt.limit, offset=flt.offset)
        else:
            found = _with_priority(repo, flt.priority, flt.limit, flt.offset,
                                   organisation=organisation, states=states,
                                   due_before=due_before)
        if flt.overdue_only:
            found = [s for s in found if cases.clock(s.case, now).overdue]
        for stored in found:
            _audit(repo, actor, now, "R", "search-type", "list", stored.case.id)
        return found


PRIORITY_SCAN_CHUNK = 500


def _with_priority(
    repo: Repository, priority: Priority, limit: int, offset: int, *,
    organisation: str | None, states: frozenset[str] | None, due_before: dt.datetime | None,
) -> list[StoredCase]:
    """A page of the cases of one priority, soonest due first. The store filters everything
    else; priority is checked here, a chunk at a time, so that `offset` and `limit` count
    matching cases only (and only the cases returned are audited by the caller)."""
    matched: list[StoredCase] = []
    skipped = 0
    start = 0
    while True:
        chunk = repo.list_cases(organisation=organisation, states=states,
                                due_before=due_before, limit=PRIORITY_SCAN_CHUNK, offset=start)
        for stored in chunk:
            if stored.case.priority is not priority:
                continue
            if skipped < offset:
                skipped += 1
                continue
            matched.append(stored)
            if len(matched) >= limit:
                return matched
        if len(chunk) < PRIORITY_SCAN_CHUNK:
            return matched
        start += PRIORITY_SCAN_CHUNK


# --- Changing cases ---------------------------------------------------------------------------


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
        requests, determinations, report, ref = _assess_items(stored.items, case, policy_name,
                                                              day)
        result: Triage = cases.triage(_triage_items(stored.items, determinations, ref))
        names = ", ".join(sorted(answers))
        updated = cases.add_information(stored.case, result, at=now,
                                        actor=f"{actor.name} ({actor.id})",
                                        what=f"{what}: {names}")
        return replace(stored, case=updated, facts=facts, requests=requests or stored.requests,
                       report=report if report is not None else stored.report)

    return _change(db, actor, case_id, change, now=now, operation="answer")


def decide(
    db: Database, actor: Actor, case_id: str, verdict: cases.Verdict, reason: str, *,
    now: dt.datetime,
) -> StoredCase:
    """A reviewer approves or denies a case. The actor must be a named person with the
    reviewer role: that is what makes an adverse decision a human one.

    Raises:
        Forbidden: the actor is not a person with the reviewer role.
        NotFound, Conflict: as for `add_answers`.
    """
    if actor.role is not Role.REVIEWER or actor.kind != "person":
        _refused(db, actor, now, "U", "update", f"decide-{verdict}", case_id,
                 "only a named person with the reviewer role may decide")
        raise Forbidden("only a named person with the reviewer role may record a decision")
    reviewer = HumanReviewer(actor.id, actor.name)
    written = _reason(reason)

    def change(stored: StoredCase) -> StoredCase:
        updated = cases.decide(stored.case, verdict, reviewer=reviewer, reason=written, at=now)
        return replace(stored, case=updated)

    return _change(db, actor, case_id, change, now=now, operation=f"decide-{verdict}")


def appeal(
    db: Database, actor: Actor, case_id: str, reason: str, *, now: dt.datetime
) -> StoredCase:
    """The requesting organisation appeals a denial.

    Raises:
        NotFound, Conflict: as for `add_answers`.
    """
    written = _reason(reason)

    def change(stored: StoredCase) -> StoredCase:
        updated = cases.appeal(stored.case, appellant=f"{actor.name} ({actor.id})",
                               reason=written, at=now)
        return replace(stored, case=updated)

    return _change(db, actor, case_id, change, now=now, operation="appeal")


def _reason(text: str) -> Reason:
    try:
        return Reason(text)
    except CaseError as exc:
        raise InputError("reason", str(exc)) from None


def _change(
    db: Database, actor: Actor, case_id: str, change: Callable[[StoredCase], StoredCase], *,
    now: dt.datetime, operation: str,
) -> StoredCase:
    try:
        with db.transaction() as repo:
            stored = repo.get(case_id)
            if stored is not None and _visible(actor, stored):
                try:
                    changed = change(stored)
                except CaseError as exc:
                    raise Conflict(str(exc)) from None
                saved = repo.update(changed, now=now)
                _audit(repo, actor, now, "U", "update", operation, case_id,
                       f"now {saved.case.state.kind}")
                return saved
    except ConcurrentUpdate:
        raise Conflict("the case changed while this request was handled; read it again") from None
    except Conflict as exc:
        _refused(db, actor, now, "U", "update", operation, case_id, str(exc))
        raise
    _refused(db, actor, now, "U", "update", operation, case_id, "no such case for this caller")
    raise NotFound(case_id)


def _visible(actor: Actor, stored: StoredCase) -> bool:
    """Requesters see their own organisation's cases only; payer staff see all."""
    return actor.role is not Role.REQUESTER or stored.case.organisation == actor.organisation


# --- Audit ------------------------------------------------------------------------------------


def _audit(
    repo: Repository, actor: Actor, now: dt.datetime, action: Action, interaction: Interaction,
    operation: str, case_id: str | None, detail: str | None = None, *,
    outcome: AuditOutcome = "0",
) -> None:
    repo.append_audit(audit_record(
        at=now, action=action, interaction=interaction, operation=operation,
        outcome=outcome,
        agent_id=actor.id, agent_name=actor.name, agent_role=actor.role.value,
        organisation=actor.organisation, case_id=case_id, detail=detail,
    ))


def _refused(
    db: Database, actor: Actor, now: dt.datetime, action: Action, interaction: Interaction,
    operation: str, case_id: str | None, detail: str,
) -> None:
    with db.transaction() as repo:
        _audit(repo, actor, now, action, interaction, operation, case_id, detail, outcome="4")


def record_access(
    db: Database, actor: Actor, *, now: dt.datetime, operation: str, case_ids: Iterable[str],
    action: Action = "R", interaction: Interaction = "operation",
    outcome: AuditOutcome = "0",
) -> None:
    """Record an access made or refused outside the functions above (e.g. a route refused to
    the caller's role: outcome '4')."""
    with db.transaction() as repo:
        for case_id in case_ids:
            _audit(repo, actor, now, action, interaction, operation, case_id, outcome=outcome)


def audit_trail(
    db: Database, actor: Actor, *, case_id: str | None = None, agent_id: str | None = None,
    limit: int = 100, offset: int = 0,
) -> list[AuditRecord]:
    """The audit trail, oldest first (auditors and admins).

    Raises:
        Forbidden: the actor is neither an auditor nor an admin.
    """
    if actor.role not in (Role.AUDITOR, Role.ADMIN):
        raise Forbidden("only auditors and admins read the audit trail")
    with db.transaction() as repo:
        return repo.audit_trail(case_id=case_id, agent_id=agent_id, limit=limit, offset=offset)

