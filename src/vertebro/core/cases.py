"""The prior-authorisation case: its lifecycle as types, and the decision clocks.

A case is received, then triaged by software into exactly one of three states:

* `AutoApproved` - every requested procedure meets the policy's criteria, no requirement that
  applies is unmet and no evidence conflicts;
* `PendedForInformation` - the outcome is open and the questions say what would settle it;
* `QueuedForReview` - a clinician must look: a procedure does not meet criteria or is
  investigational, evidence conflicts, a requirement is unmet or a requested service is outside
  what the policies cover.

Only a person ends the other paths: `ApprovedByReviewer` or `DeniedByReviewer`, each carrying a
`HumanReviewer` and a non-empty `Reason`. A denial can be appealed (`UnderAppeal`) and is then
decided again by a reviewer other than the one who denied it.

**No automated denial.** `triage` - the only function that reads an assessment - returns a
`Triage`, a union that has no denial in it; a `DeniedByReviewer` cannot be built without a
reviewer and a reason, and the only transition that records one is `decide`, which takes both.
Nothing in this module reads the clock: every time is an argument.

Clocks (CMS-0057-F, final rule 17 January 2024, in force from 1 January 2026 for impacted payers):
a decision is due 72 hours after receipt for an expedited request and 7 calendar days after
receipt for a standard one. The clock runs from receipt until a reviewer's or the software's
decision; pending for information does not stop it. Appeals (reconsiderations) run on their own
clock from the appeal's receipt: 72 hours expedited, 30 calendar days standard (42 CFR 422.590,
Medicare Advantage pre-service reconsiderations; confidence: likely - check the plan's rules).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from vertebro.core.catalogue import CATALOGUE, Procedure
from vertebro.core.evaluator import Determination
from vertebro.core.policy import Outcome
from vertebro.core.tri import Tri

MAX_REASON_CHARS = 4000


class CaseError(ValueError):
    """A transition that the lifecycle does not allow, or a value that cannot be represented."""


class Priority(StrEnum):
    """How fast the payer must decide (CMS-0057-F)."""

    EXPEDITED = "expedited"
    STANDARD = "standard"


DECISION_WINDOWS: dict[Priority, dt.timedelta] = {
    Priority.EXPEDITED: dt.timedelta(hours=72),
    Priority.STANDARD: dt.timedelta(days=7),
}
APPEAL_WINDOWS: dict[Priority, dt.timedelta] = {
    Priority.EXPEDITED: dt.timedelta(hours=72),
    Priority.STANDARD: dt.timedelta(days=30),
}


def _text(value: str, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise CaseError(f"{what} must be text")
    text = value.strip()
    if not text:
        raise CaseError(f"{what} must not be empty")
    if len(text) > limit:
        raise CaseError(f"{what} is {len(text)} characters; the limit is {limit}")
    return text


def _aware(at: dt.datetime, what: str) -> dt.datetime:
    if not isinstance(at, dt.datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise CaseError(f"{what} must be a timezone-aware datetime")
    return at


@dataclass(frozen=True, slots=True)
class HumanReviewer:
    """A named person who may record a clinical decision."""

    id: str  # the stable identity of the account (e.g. the token subject)
    name: str  # the person's name as shown on the decision

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", _text(self.id, "reviewer id", 200))
        object.__setattr__(self, "name", _text(self.name, "reviewer name", 200))


@dataclass(frozen=True, slots=True)
class Reason:
    """The written reason for a decision or an appeal; never empty."""

    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", _text(self.text, "reason", MAX_REASON_CHARS))


@dataclass(frozen=True, slots=True)
class Question:
    """A fact that could settle an open outcome, the question that asks for it, and for what."""

    fact: str
    question: str
    items: tuple[str, ...]  # the requested items (procedures) it matters for


class ReviewCause(StrEnum):
    """Why software routed a case to a clinician instead of approving it."""

    DOES_NOT_MEET_CRITERIA = "does-not-meet-criteria"
    INVESTIGATIONAL = "investigational"
    CONFLICTING_EVIDENCE = "conflicting-evidence"
    REQUIREMENT_NOT_MET = "requirement-not-met"
    NOT_ASSESSABLE = "not-assessable"  # a requested service no shipped policy covers


@dataclass(frozen=True, slots=True)
class ReviewFlag:
    """One reason for clinical review, tied to the requested item it concerns."""

    cause: ReviewCause
    item: str
    detail: str


# --- What software may conclude ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AutoApproved:
    """Every requested item meets criteria: approved without a person."""

    basis: tuple[str, ...]  # per item, the rule that was met

    kind: Literal["approved-automatically"] = field(default="approved-automatically", init=False)


@dataclass(frozen=True, slots=True)
class PendedForInformation:
    """The outcome is open; the questions say what is missing."""

    questions: tuple[Question, ...]

    kind: Literal["pended-for-information"] = field(default="pended-for-information", init=False)

    def __post_init__(self) -> None:
        if not self.questions:
            raise CaseError("a case pended for information needs at least one question")


@dataclass(frozen=True, slots=True)
class QueuedForReview:
    """A clinician must decide; the flags say why. Open questions may be answered meanwhile."""

    flags: tuple[ReviewFlag, ...]
    questions: tuple[Question, ...] = ()

    kind: Literal["queued-for-review"] = field(default="queued-for-review", init=False)

    def __post_init__(self) -> None:
        if not self.flags:
            raise CaseError("a case queued for review needs at least one reason")


Triage = AutoApproved | PendedForInformation | QueuedForReview


# --- What only a person may record ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApprovedByReviewer:
    """Approved by a named reviewer, with the reason."""

    reviewer: HumanReviewer
    reason: Reason
    at: dt.datetime

    kind: Literal["approved-by-reviewer"] = field(default="approved-by-reviewer", init=False)

    def __post_init__(self) -> None:
        _check_decision(self.reviewer, self.reason, self.at)


@dataclass(frozen=True, slots=True)
class DeniedByReviewer:
    """An adverse decision. It exists only with a named human reviewer and a written reason."""

    reviewer: HumanReviewer
    reason: Reason
    at: dt.datetime

    kind: Literal["denied-by-reviewer"] = field(default="denied-by-reviewer", init=False)

    def __post_init__(self) -> None:
        _check_decision(self.reviewer, self.reason, self.at)


def _check_decision(reviewer: object, reason: object, at: dt.datetime) -> None:
    # Types say this already; the checks keep it true for data read back from storage too.
    if not isinstance(reviewer, HumanReviewer):
        raise CaseError("a decision needs a named human reviewer")
    if not isinstance(reason, Reason):
        raise CaseError("a decision needs a written reason")
    _aware(at, "decision time")


@dataclass(frozen=True, slots=True)
class UnderAppeal:
    """A denial has been appealed; a reviewer other than the one who denied it must decide."""

    denial: DeniedByReviewer
    appellant: str
    reason: Reason
    at: dt.datetime

    kind: Literal["under-appeal"] = field(default="under-appeal", init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.denial, DeniedByReviewer):
            raise CaseError("only a denial can be appealed")
        object.__setattr__(self, "appellant", _text(self.appellant, "appellant", 200))
        _aware(self.at, "appeal time")


State = (
    AutoApproved
    | PendedForInformation
    | QueuedForReview
    | ApprovedByReviewer
    | DeniedByReviewer
    | UnderAppeal
)
DECIDED = (AutoApproved, ApprovedByReviewer, DeniedByReviewer)
OPEN = (PendedForInformation, QueuedForReview, UnderAppeal)


class EventKind(StrEnum):
    """What happened to a case."""

    SUBMITTED = "submitted"
    TRIAGED = "triaged"
    INFORMATION_ADDED = "information-added"
    APPROVED = "approved-by-reviewer"
    DENIED = "denied-by-reviewer"
    APPEALED = "appealed"


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a case's history; the history only grows."""

    seq: int
    at: dt.datetime
    kind: EventKind
    actor: str
    detail: str


@dataclass(frozen=True, slots=True)
class PriorAuthCase:
    """A prior-authorisation request and where it stands."""

    id: str
    organisation: str  # the requesting organisation; requesters see only their own
    submission_key: str  # the submitter's identifier for the request (idempotency)
    priority: Priority
    received_at: dt.datetime
    state: State
    events: tuple[Event, ...]

    def _with(self, state: State, *new: tuple[dt.datetime, EventKind, str, str]) -> PriorAuthCase:
        events = list(self.events)
        for at, kind, actor, detail in new:
            if events and at < events[-1].at:
                raise CaseError("events cannot go back in time")
            events.append(Event(len(events) + 1, at, kind, actor, detail))
        return replace(self, state=state, events=tuple(events))


# --- Triage: from an assessment to what software may conclude --------------------------------


@dataclass(frozen=True, slots=True)
class RequestedItem:
    """One line of a request as submitted: its sequence, what it asks for and its codes."""

    sequence: int
    label: str  # e.g. 'vertebroplasty (CPT 22511)' or the service's display text
    procedure: Procedure | None  # None when no shipped policy covers the service
    codes: tuple[str, ...] = ()  # 'system|code' as submitted


@dataclass(frozen=True, slots=True)
class AssessedItem:
    """A requested item and the policy's determination for it."""

    label: str
    determination: Determination


@dataclass(frozen=True, slots=True)
class UnassessedItem:
    """A requested item that no shipped policy covers (software cannot assess it)."""

    label: str
    reason: str


def triage(items: Sequence[AssessedItem | UnassessedItem]) -> Triage:
    """What software may conclude from the items' assessments: approve, pend or queue.

    Approves only when every item meets criteria with no conflicting evidence and no applicable
    requirement unmet or unconfirmed. There is no path from here to a denial.
    """
    if not items:
        raise CaseError("a request needs at least one requested item")
    flags: list[ReviewFlag] = []
    questions: dict[str, tuple[str, list[str]]] = {}
    basis: list[str] = []

    def ask(fact: str, question: str, item: str) -> None:
        entry = questions.setdefault(fact, (question, []))
        if item not in entry[1]:
            entry[1].append(item)

    for item in items:
        if isinstance(item, UnassessedItem):
            flags.append(ReviewFlag(ReviewCause.NOT_ASSESSABLE, item.label, item.reason))
            continue
        det = item.determination
        if det.outcome is Outcome.DOES_NOT_MEET_CRITERIA:
            flags.append(ReviewFlag(ReviewCause.DOES_NOT_MEET_CRITERIA, item.label,
                                    _rule_detail(det, "the policy's criteria are not met")))
        elif det.outcome is Outcome.INVESTIGATIONAL:
            flags.append(ReviewFlag(ReviewCause.INVESTIGATIONAL, item.label,
                                    _rule_detail(det, "the policy calls this investigational")))
        for missing in det.missing:
            ask(missing.fact, missing.question, item.label)
        for name in _conflicting_facts(det):
            flags.append(ReviewFlag(ReviewCause.CONFLICTING_EVIDENCE, item.label,
                                    f"sources disagree about {name}"))
        for req in det.requirements:
            if req.applies is Tri.FALSE or req.status is None:
                continue
            if req.status is Tri.FALSE:
                flags.append(ReviewFlag(ReviewCause.REQUIREMENT_NOT_MET, item.label,
                                        f"requirement not met: {req.requirement.title}"))
            elif req.status is Tri.UNKNOWN or req.applies is Tri.UNKNOWN:
                for result in req.criteria:
                    fact = getattr(result.node, "fact", None)
                    if fact and result.status is Tri.UNKNOWN:
                        ask(fact, _question(fact, det), item.label)
        if det.outcome is Outcome.MEETS_CRITERIA and det.decided_by is not None:
            basis.append(f"{item.label}: {det.decided_by.when or 'fallback rule'}")

    asked = tuple(Question(f, q, tuple(labels)) for f, (q, labels) in questions.items())
    if flags:
        return QueuedForReview(tuple(_dedupe_flags(flags)), asked)
    if asked:
        return PendedForInformation(asked)
    return AutoApproved(tuple(basis))


def _rule_detail(det: Determination, default: str) -> str:
    rule = det.decided_by
    return f"{default} (rule: {rule.when})" if rule is not None and rule.when else default


def _conflicting_facts(det: Determination) -> list[str]:
    seen: dict[str, None] = {}
    for result in det.criteria:
        for fact in result.evidence:
            if fact.conflicts:
                seen.setdefault(fact.name)
    for req in det.requirements:
        for fact in req.evidence:
            if fact.conflicts:
                seen.setdefault(fact.name)
    return list(seen)


def _question(fact: str, det: Determination) -> str:
    for missing in det.missing:
        if missing.fact == fact:
            return missing.question
    spec = CATALOGUE.get(fact)
    return spec.question if spec is not None else f"What is {fact}?"


def _dedupe_flags(flags: list[ReviewFlag]) -> list[ReviewFlag]:
    return list(dict.fromkeys(flags))


# --- Transitions -----------------------------------------------------------------------------


def open_case(
    *,
    case_id: str,
    organisation: str,
    submission_key: str,
    priority: Priority,
    received_at: dt.datetime,
    submitted_by: str,
    result: Triage,
) -> PriorAuthCase:
    """A new case: received, then triaged by software in the same step."""
    _aware(received_at, "receipt time")
    case = PriorAuthCase(
        _text(case_id, "case id", 100),
        _text(organisation, "organisation", 200),
        _text(submission_key, "submission identifier", 500),
        Priority(priority),
        received_at,
        result,
        (),
    )
    return case._with(
        result,
        (received_at, EventKind.SUBMITTED, submitted_by, f"priority {case.priority.value}"),
        (received_at, EventKind.TRIAGED, "vertebro", _describe(result)),
    )


def add_information(
    case: PriorAuthCase, result: Triage, *, at: dt.datetime, actor: str, what: str
) -> PriorAuthCase:
    """New facts were added and the case reassessed.

    A pended or queued case takes the new triage (new answers may settle it either way short of
    a denial). A case under appeal keeps its state: the appeal reviewer decides.
    """
    _aware(at, "time")
    if isinstance(case.state, DECIDED):
        raise CaseError(f"the case is already decided ({case.state.kind}); information cannot be "
                        "added to a decided case")
    event = (at, EventKind.INFORMATION_ADDED, actor, what)
    if isinstance(case.state, UnderAppeal):
        return case._with(case.state, event)
    return case._with(result, event, (at, EventKind.TRIAGED, "vertebro", _describe(result)))


Verdict = Literal["approve", "deny"]


def decide(
    case: PriorAuthCase, verdict: Verdict, *, reviewer: HumanReviewer, reason: Reason,
    at: dt.datetime,
) -> PriorAuthCase:
    """A reviewer's decision on an open case. The only way to record a denial."""
    if not isinstance(case.state, OPEN):
        raise CaseError(f"the case is {case.state.kind}; only a pended, queued or appealed case "
                        "can be decided")
    if isinstance(case.state, UnderAppeal) and case.state.denial.reviewer.id == reviewer.id:
        raise CaseError("an appeal must be decided by a reviewer other than the one who denied "
                        "the request")
    decision: ApprovedByReviewer | DeniedByReviewer
    if verdict == "approve":
        decision = ApprovedByReviewer(reviewer, reason, at)
        kind = EventKind.APPROVED
    elif verdict == "deny":
        decision = DeniedByReviewer(reviewer, reason, at)
        kind = EventKind.DENIED
    else:
        raise CaseError(f"unknown verdict {verdict!r}; expected approve or deny")
    return case._with(decision, (at, kind, f"{reviewer.name} ({reviewer.id})", reason.text))


def appeal(
    case: PriorAuthCase, *, appellant: str, reason: Reason, at: dt.datetime
) -> PriorAuthCase:
    """An appeal against a reviewer's denial."""
    if not isinstance(case.state, DeniedByReviewer):
        raise CaseError(f"the case is {case.state.kind}; only a denial can be appealed")
    state = UnderAppeal(case.state, appellant, reason, at)
    return case._with(state, (at, EventKind.APPEALED, state.appellant, reason.text))


def _describe(result: Triage) -> str:
    if isinstance(result, AutoApproved):
        return "approved automatically: every requested item meets criteria"
    if isinstance(result, PendedForInformation):
        return f"pended for information: {len(result.questions)} question(s)"
    return "queued for clinical review: " + "; ".join(
        f"{flag.item}: {flag.cause.value}" for flag in result.flags
    )


# --- Clocks ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clock:
    """The decision clock of a case at a moment."""

    started_at: dt.datetime
    due_at: dt.datetime
    stopped_at: dt.datetime | None  # when the decision was made; None while open
    overdue: bool  # open past the due time, or decided after it
    remaining: dt.timedelta  # to the due time (negative when past); zero once decided
    appeal: bool  # the appeal clock rather than the initial decision clock


def due_at(priority: Priority, received_at: dt.datetime) -> dt.datetime:
    """When the initial decision is due: 72 hours (expedited) or 7 calendar days (standard)."""
    return _aware(received_at, "receipt time") + DECISION_WINDOWS[priority]


def clock(case: PriorAuthCase, now: dt.datetime) -> Clock:
    """The case's running (or stopped) clock as of `now`."""
    _aware(now, "now")
    state = case.state
    if isinstance(state, UnderAppeal) or _appealed(case):
        start = _last_appeal_at(case)
        due = start + APPEAL_WINDOWS[case.priority]
        is_appeal = True
    else:
        start = case.received_at
        due = due_at(case.priority, case.received_at)
        is_appeal = False
    stopped = _decided_at(case) if isinstance(state, DECIDED) else None
    if stopped is not None:
        return Clock(start, due, stopped, stopped > due, dt.timedelta(0), is_appeal)
    return Clock(start, due, None, now > due, due - now, is_appeal)


def _appealed(case: PriorAuthCase) -> bool:
    return any(e.kind is EventKind.APPEALED for e in case.events)


def _last_appeal_at(case: PriorAuthCase) -> dt.datetime:
    return [e.at for e in case.events if e.kind is EventKind.APPEALED][-1]


def _decided_at(case: PriorAuthCase) -> dt.datetime:
    state = case.state
    if isinstance(state, ApprovedByReviewer | DeniedByReviewer):
        return state.at
    triaged = [e.at for e in case.events if e.kind is EventKind.TRIAGED]
    return triaged[-1] if triaged else case.received_at
