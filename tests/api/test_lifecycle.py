"""The prior-authorisation lifecycle as types: triage, human decisions, appeals and the clocks.

Pure domain tests (no HTTP, no database)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from pathlib import Path

import pytest

from vertebro.adapters.case_files import load_case_file
from vertebro.adapters.db import codec
from vertebro.core import cases
from vertebro.core.cases import (
    AssessedItem,
    AutoApproved,
    CaseError,
    DeniedByReviewer,
    HumanReviewer,
    PendedForInformation,
    Priority,
    QueuedForReview,
    Reason,
    ReviewCause,
    UnassessedItem,
)
from vertebro.core.evaluator import Determination, assess
from vertebro.core.facts import Fact, Provenance
from vertebro.core.policy import Policy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T0 = dt.datetime(2026, 10, 5, 8, 0, tzinfo=dt.UTC)
ADA = HumanReviewer("demo-reviewer", "Dr Ada Reviewer")
BEN = HumanReviewer("demo-reviewer-2", "Dr Ben Second")


def determinations(policy: Policy, example: str) -> tuple[Determination, ...]:
    case = load_case_file(EXAMPLES / example)
    day = case.request_date or dt.date(2026, 10, 5)
    return assess(policy, case.facts, case.requests, as_of=day).determinations


def items(policy: Policy, example: str) -> list[AssessedItem | UnassessedItem]:
    return [AssessedItem(d.procedure.value, d) for d in determinations(policy, example)]


def opened(result: cases.Triage, priority: Priority = Priority.STANDARD) -> cases.PriorAuthCase:
    return cases.open_case(case_id="c-1", organisation="org-a", submission_key="key-1",
                           priority=priority, received_at=T0, submitted_by="EHR", result=result)


def queued() -> cases.PriorAuthCase:
    flag = cases.ReviewFlag(ReviewCause.DOES_NOT_MEET_CRITERIA, "vertebroplasty", "not met")
    return opened(QueuedForReview((flag,)))


# --- Triage -----------------------------------------------------------------------------------


def test_every_procedure_meeting_criteria_is_approved_automatically(carefirst: Policy) -> None:
    result = cases.triage(items(carefirst, "06-myeloma-l3.yaml"))  # two procedures, both met
    assert isinstance(result, AutoApproved)
    assert len(result.basis) == 2


def test_missing_documentation_pends_with_the_questions(carefirst: Policy) -> None:
    result = cases.triage(items(carefirst, "10-osteoporotic-undocumented-treatment.yaml"))
    assert isinstance(result, PendedForInformation)
    assert {q.fact for q in result.questions} == {
        "conservative_treatment.duration_weeks", "conservative_treatment.failed"}
    assert all(q.question.endswith("?") and q.items == ("vertebroplasty",)
               for q in result.questions)


@pytest.mark.parametrize(("example", "cause"), [
    ("11-osteoporotic-pain-settling.yaml", ReviewCause.DOES_NOT_MEET_CRITERIA),
    ("07-haemangioma-t7.yaml", ReviewCause.INVESTIGATIONAL),
])
def test_criteria_not_met_or_investigational_go_to_a_clinician(
    carefirst: Policy, example: str, cause: ReviewCause
) -> None:
    result = cases.triage(items(carefirst, example))
    assert isinstance(result, QueuedForReview)
    assert [f.cause for f in result.flags] == [cause]


def test_one_unmet_procedure_keeps_the_whole_request_from_automatic_approval(
    nice: Policy,
) -> None:
    # NICE: vertebroplasty met, kyphoplasty not met for the myeloma example.
    result = cases.triage(items(nice, "06-myeloma-l3.yaml"))
    assert isinstance(result, QueuedForReview)
    assert [f.item for f in result.flags] == ["kyphoplasty"]


def test_conflicting_evidence_goes_to_a_clinician_even_when_criteria_are_met(
    carefirst: Policy,
) -> None:
    case = load_case_file(EXAMPLES / "01-osteoporotic-l1-failed-conservative.yaml")
    old = case.facts["conservative_treatment.failed"]
    loser = Fact(old.name, False, (Provenance("note", "clinic letter"),))
    facts = case.facts.with_facts([dataclasses.replace(old, conflicts=(loser,))])
    dets = assess(carefirst, facts, case.requests, as_of=dt.date(2026, 10, 5)).determinations
    assert dets[0].outcome.value == "meets-criteria"
    result = cases.triage([AssessedItem("vertebroplasty", dets[0])])
    assert isinstance(result, QueuedForReview)
    assert result.flags[0].cause is ReviewCause.CONFLICTING_EVIDENCE
    assert "conservative_treatment.failed" in result.flags[0].detail


def test_a_service_no_policy_covers_is_queued_not_refused() -> None:
    result = cases.triage([UnassessedItem("item 1: Consultation", "no policy covers it")])
    assert isinstance(result, QueuedForReview)
    assert result.flags[0].cause is ReviewCause.NOT_ASSESSABLE


def test_triage_needs_at_least_one_item() -> None:
    with pytest.raises(CaseError):
        cases.triage([])


# --- No automated denial, by construction -----------------------------------------------------


def test_triage_cannot_return_a_denial() -> None:
    returned = typing.get_args(typing.get_type_hints(cases.triage)["return"])
    assert set(returned) == {AutoApproved, PendedForInformation, QueuedForReview}
    assert DeniedByReviewer not in returned


def test_a_denial_needs_a_named_human_and_a_reason() -> None:
    with pytest.raises(CaseError, match="named human reviewer"):
        DeniedByReviewer("the software", Reason("criteria not met"), T0)  # type: ignore[arg-type]
    with pytest.raises(CaseError, match="reason"):
        DeniedByReviewer(ADA, "criteria not met", T0)  # type: ignore[arg-type]
    with pytest.raises(CaseError, match="empty"):
        Reason("   ")
    with pytest.raises(CaseError, match="empty"):
        HumanReviewer("id-1", "")
    with pytest.raises(CaseError, match="timezone"):
        DeniedByReviewer(ADA, Reason("x"), dt.datetime(2026, 1, 1))


def test_the_only_transition_that_records_a_denial_takes_a_reviewer_and_a_reason() -> None:
    hints = typing.get_type_hints(cases.decide)
    assert hints["reviewer"] is HumanReviewer and hints["reason"] is Reason
    for name, function in vars(cases).items():
        if callable(function) and getattr(function, "__module__", "") == cases.__name__ and (
            name not in {"decide", "DeniedByReviewer", "UnderAppeal"}
        ):
            returned = typing.get_type_hints(function).get("return") if not isinstance(
                function, type) else None
            assert returned is not DeniedByReviewer, name


def test_a_stored_denial_without_a_reviewer_cannot_be_read_back() -> None:
    stored = codec.state_to_json(DeniedByReviewer(ADA, Reason("not indicated"), T0))
    stored["reviewer"] = None
    with pytest.raises(codec.CodecError):
        codec.state_from_json(stored)
    assert codec.state_from_json({**stored, "reviewer": {"id": ADA.id, "name": ADA.name}}) == (
        DeniedByReviewer(ADA, Reason("not indicated"), T0))


# --- Transitions ------------------------------------------------------------------------------


def test_open_case_records_submission_and_triage() -> None:
    case = queued()
    assert [e.kind for e in case.events] == [cases.EventKind.SUBMITTED, cases.EventKind.TRIAGED]
    assert case.state.kind == "queued-for-review"


def test_a_reviewer_decides_then_the_case_is_closed() -> None:
    case = cases.decide(queued(), "deny", reviewer=ADA, reason=Reason("fracture healed"),
                        at=T0 + dt.timedelta(hours=5))
    assert isinstance(case.state, DeniedByReviewer) and case.state.reviewer == ADA
    assert case.events[-1].detail == "fracture healed"
    with pytest.raises(CaseError, match="only a pended, queued or appealed case"):
        cases.decide(case, "approve", reviewer=BEN, reason=Reason("x"), at=T0)
    with pytest.raises(CaseError, match="decided"):
        cases.add_information(case, AutoApproved(()), at=T0 + dt.timedelta(hours=6), actor="x",
                              what="answers")


def test_an_automatic_approval_cannot_be_turned_into_a_denial() -> None:
    case = opened(AutoApproved(("vertebroplasty: pathway-1",)))
    with pytest.raises(CaseError):
        cases.decide(case, "deny", reviewer=ADA, reason=Reason("changed my mind"), at=T0)


def test_appeal_goes_to_a_different_reviewer() -> None:
    denied = cases.decide(queued(), "deny", reviewer=ADA, reason=Reason("not indicated"),
                          at=T0 + dt.timedelta(hours=1))
    appealed = cases.appeal(denied, appellant="Demo Hospital", reason=Reason("new MRI"),
                            at=T0 + dt.timedelta(days=2))
    assert appealed.state.kind == "under-appeal"
    with pytest.raises(CaseError, match="other than the one who denied"):
        cases.decide(appealed, "approve", reviewer=ADA, reason=Reason("ok"),
                     at=T0 + dt.timedelta(days=3))
    overturned = cases.decide(appealed, "approve", reviewer=BEN, reason=Reason("MRI shows oedema"),
                              at=T0 + dt.timedelta(days=3))
    assert overturned.state.kind == "approved-by-reviewer"
    assert [e.kind.value for e in overturned.events][-2:] == ["appealed", "approved-by-reviewer"]


def test_only_a_denial_can_be_appealed() -> None:
    with pytest.raises(CaseError, match="only a denial"):
        cases.appeal(queued(), appellant="x", reason=Reason("why"), at=T0)


def test_new_answers_reassess_an_open_case_but_not_one_under_appeal() -> None:
    pended = opened(PendedForInformation((cases.Question("f", "q?", ("v",)),)))
    later = T0 + dt.timedelta(hours=2)
    approved = cases.add_information(pended, AutoApproved(("v",)), at=later, actor="EHR",
                                     what="answers: f")
    assert approved.state.kind == "approved-automatically"
    denied = cases.decide(queued(), "deny", reviewer=ADA, reason=Reason("no"), at=later)
    appealed = cases.appeal(denied, appellant="EHR", reason=Reason("see MRI"), at=later)
    kept = cases.add_information(appealed, AutoApproved(("v",)), at=later, actor="EHR",
                                 what="answers")
    assert kept.state.kind == "under-appeal"  # the appeal reviewer decides


def test_history_cannot_go_back_in_time() -> None:
    with pytest.raises(CaseError, match="back in time"):
        cases.decide(queued(), "approve", reviewer=ADA, reason=Reason("ok"),
                     at=T0 - dt.timedelta(seconds=1))


# --- Clocks (CMS-0057-F) ----------------------------------------------------------------------


@pytest.mark.parametrize(("priority", "window"), [
    (Priority.EXPEDITED, dt.timedelta(hours=72)),
    (Priority.STANDARD, dt.timedelta(days=7)),
])
def test_decision_is_due_72_hours_or_7_days_after_receipt(
    priority: Priority, window: dt.timedelta
) -> None:
    flag = cases.ReviewFlag(ReviewCause.DOES_NOT_MEET_CRITERIA, "vertebroplasty", "not met")
    case = opened(QueuedForReview((flag,)), priority)
    just_before = cases.clock(case, T0 + window - dt.timedelta(seconds=1))
    assert just_before.due_at == T0 + window
    assert not just_before.overdue and just_before.remaining == dt.timedelta(seconds=1)
    after = cases.clock(case, T0 + window + dt.timedelta(minutes=1))
    assert after.overdue and after.remaining == -dt.timedelta(minutes=1)


def test_the_clock_stops_at_the_decision() -> None:
    on_time = cases.decide(queued(), "approve", reviewer=ADA, reason=Reason("ok"),
                           at=T0 + dt.timedelta(days=6))
    late = cases.decide(queued(), "deny", reviewer=ADA, reason=Reason("no"),
                        at=T0 + dt.timedelta(days=8))
    far_future = T0 + dt.timedelta(days=90)
    assert cases.clock(on_time, far_future).overdue is False
    assert cases.clock(on_time, far_future).stopped_at == T0 + dt.timedelta(days=6)
    assert cases.clock(late, far_future).overdue is True  # decided after the deadline


def test_pending_for_information_does_not_stop_the_clock() -> None:
    pended = opened(PendedForInformation((cases.Question("f", "q?", ("v",)),)))
    assert cases.clock(pended, T0 + dt.timedelta(days=8)).overdue is True


def test_an_appeal_runs_on_its_own_clock() -> None:
    denied = cases.decide(queued(), "deny", reviewer=ADA, reason=Reason("no"),
                          at=T0 + dt.timedelta(days=1))
    appealed = cases.appeal(denied, appellant="EHR", reason=Reason("new evidence"),
                            at=T0 + dt.timedelta(days=20))
    clock = cases.clock(appealed, T0 + dt.timedelta(days=21))
    assert clock.appeal and clock.started_at == T0 + dt.timedelta(days=20)
    assert clock.due_at == T0 + dt.timedelta(days=50) and not clock.overdue


def test_clocks_need_aware_times() -> None:
    with pytest.raises(CaseError):
        cases.clock(queued(), dt.datetime(2026, 10, 6))
