"""The Cases pages in-process: the reviewer queue (order, clocks, filters, paging, who sees
what) and the case page (evidence, questions and answers, decisions, appeals, the timeline),
with the same permissions as the API and every refusal a page, never a 500."""

from __future__ import annotations

import json
import re
import uuid
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import yaml

from vertebro.web.pages import cases as cases_page

from .conftest import REPO, Web

EXAMPLES = REPO / "examples"
PENDED = "10-osteoporotic-undocumented-treatment.yaml"  # two questions open
QUEUED = "11-osteoporotic-pain-settling.yaml"  # does not meet criteria: a reviewer decides
APPROVED = "01-osteoporotic-l1-failed-conservative.yaml"  # meets criteria
API_KEYS = {"requester": "dev-requester-key", "other-org": "dev-requester-other-org-key",
            "auditor": "dev-auditor-key", "reviewer": "dev-reviewer-key"}


def document(name: str) -> dict[str, Any]:
    data = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    loaded: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return loaded


def submit(web: Web, example: str, *, priority: str = "standard", who: str = "requester",
           identifier: str | None = None) -> dict[str, Any]:
    """A case created through the API, as a requester's system would."""
    response = web.client.post("/cases", headers={"X-API-Key": API_KEYS[who]}, json={
        "identifier": identifier or f"{Path(example).stem[:2]}-{uuid.uuid4().hex[:8]}",
        "priority": priority, "document": document(example)})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def api_case(web: Web, case_id: str) -> dict[str, Any]:
    response = web.client.get(f"/cases/{case_id}", headers={"X-API-Key": API_KEYS["reviewer"]})
    assert response.status_code == 200
    found: dict[str, Any] = response.json()
    return found


def audit(web: Web, case_id: str) -> list[dict[str, Any]]:
    bundle = web.client.get(f"/cases/{case_id}/audit",
                            headers={"X-API-Key": API_KEYS["auditor"]}).json()
    return [entry["resource"] for entry in bundle["entry"]]


def queue_ids(html: str) -> list[str]:
    """The case ids of the queue's rows, top to bottom."""
    return re.findall(r'<tr class="queue__row" data-case="([^"]+)"', html)


def row(html: str, case_id: str) -> str:
    match = re.search(rf'<tr class="queue__row" data-case="{case_id}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {case_id}"
    return match.group(1)


def text(html: str) -> str:
    """The page's words, without tags and runs of white space."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


# --- The queue ---------------------------------------------------------------------------------


def test_the_reviewer_queue_lists_open_cases_soonest_due_first_with_their_clocks(
    web: Web,
) -> None:
    standard = submit(web, PENDED)
    web.clock.advance(hours=1)
    expedited = submit(web, QUEUED, priority="expedited")
    done = submit(web, APPROVED)
    web.sign_in("reviewer")
    page = web.client.get("/app/cases")
    assert page.status_code == 200
    # expedited: due 72 h after its receipt, before the standard case's 7 days
    assert queue_ids(page.text) == [expedited["id"], standard["id"]]
    assert done["id"] not in page.text  # decided by software: not in the work list
    exp_row = text(row(page.text, expedited["id"]))
    assert "Waiting for a reviewer" in exp_row
    assert "3 days left" in exp_row and "Due Fri 9 Oct 2026, 10:00 UTC" in exp_row
    std_row = text(row(page.text, standard["id"]))
    assert "Waiting for information" in std_row
    assert "6 days 23 hours left" in std_row and "vertebroplasty L2" in std_row


def test_a_case_past_its_deadline_is_called_overdue_in_words(web: Web) -> None:
    expedited = submit(web, QUEUED, priority="expedited")
    standard = submit(web, PENDED)
    web.sign_in("reviewer")
    web.clock.advance(hours=80)  # 8 hours past the 72-hour clock; 88 hours before 7 days
    page = web.client.get("/app/cases").text
    late = row(page, expedited["id"])
    assert "Overdue by 8 hours" in late and "clock--overdue" in late
    assert "3 days 16 hours left" in text(row(page, standard["id"]))
    overdue_only = web.client.get("/app/cases?overdue=1").text
    assert queue_ids(overdue_only) == [expedited["id"]]
    case_page = text(web.client.get(f"/app/cases/{expedited['id']}").text)
    assert "Overdue by 8 hours" in case_page


def test_the_filters_select_by_state_priority_and_due_time(web: Web) -> None:
    pended = submit(web, PENDED)
    queued = submit(web, QUEUED, priority="expedited")
    approved = submit(web, APPROVED)
    web.sign_in("reviewer")
    get = web.client.get
    assert queue_ids(get("/app/cases?priority=standard").text) == [pended["id"]]
    assert queue_ids(get("/app/cases?priority=expedited").text) == [queued["id"]]
    assert queue_ids(get("/app/cases?state=pended-for-information").text) == [pended["id"]]
    assert set(queue_ids(get("/app/cases?state=all").text)) == {
        pended["id"], queued["id"], approved["id"]}
    web.clock.advance(minutes=1)  # "due within 3 days" means due before now + 72 hours
    assert queue_ids(get("/app/cases?due=72&state=all").text) == [queued["id"]]
    shown = get("/app/cases?state=approved-automatically").text
    assert queue_ids(shown) == [approved["id"]]
    assert "Approved (meets criteria)" in text(row(shown, approved["id"]))
    assert 'value="approved-automatically" selected' in shown  # the form keeps the choice


@pytest.mark.parametrize(("query", "field", "message"), [
    ("state=bogus", "state", "Choose one of the states in the list."),
    ("due=5", "due", "Choose how soon the cases are due from the list."),
    ("priority=urgent", "priority", "Choose expedited, standard or any priority."),
    ("page=0", "page", "The page number must be a whole number from 1 to 10000."),
    ("page=abc", "page", "The page number must be a whole number"),
    ("state=%00", "state", "Choose one of the states in the list."),
])
def test_a_bad_filter_is_shown_next_to_its_field(
    web: Web, query: str, field: str, message: str
) -> None:
    submit(web, PENDED)
    web.sign_in("reviewer")
    page = web.client.get(f"/app/cases?{query}")
    assert page.status_code == 400
    assert message in page.text
    assert 'class="queue__row"' not in page.text
    if field != "page":
        assert f'id="filter-{field}" name="{field}" aria-describedby="{field}-error"' in page.text
        assert f'<p class="error" id="{field}-error">{message}' in page.text


def test_the_queue_pages_through_the_cases(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cases_page.queue_views, "PAGE_SIZE", 2)
    made = []
    for _ in range(3):
        made.append(submit(web, QUEUED)["id"])
        web.clock.advance(minutes=5)
    web.sign_in("reviewer")
    first = web.client.get("/app/cases").text
    assert queue_ids(first) == made[:2]
    assert "Showing cases 1 to 2." in first
    assert 'href="/app/cases?state=open&amp;page=2" rel="next"' in first
    second = web.client.get("/app/cases?state=open&page=2").text
    assert queue_ids(second) == made[2:]
    assert "Showing cases 3 to 3." in second and 'rel="next"' not in second
    assert 'href="/app/cases?state=open&amp;page=1" rel="prev"' in second


def test_a_priority_page_counts_only_cases_of_that_priority(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store is read in chunks of one so that the chunk boundaries are crossed.
    monkeypatch.setattr(cases_page.queue_views, "PAGE_SIZE", 1)
    monkeypatch.setattr("vertebro.case_service.reads.PRIORITY_SCAN_CHUNK", 1)
    ids = []
    for priority in ("standard", "expedited", "standard", "expedited", "standard"):
        ids.append((priority, submit(web, QUEUED, priority=priority)["id"]))
        web.clock.advance(minutes=1)
    standard = [i for p, i in ids if p == "standard"]
    web.sign_in("reviewer")
    pages = [queue_ids(web.client.get(f"/app/cases?priority=standard&page={n}").text)
             for n in (1, 2, 3, 4)]
    assert pages == [[standard[0]], [standard[1]], [standard[2]], []]


def test_a_requester_sees_only_its_own_organisations_cases(web: Web) -> None:
    ours = submit(web, PENDED)
    theirs = submit(web, PENDED, who="other-org")
    web.sign_in("other-org")
    page = web.client.get("/app/cases")
    assert queue_ids(page.text) == [theirs["id"]]
    assert "Your organisation's prior-authorisation requests" in page.text
    refused = web.client.get(f"/app/cases/{ours['id']}")
    assert refused.status_code == 404
    assert "Not found" in refused.text and ours["identifier"] not in refused.text
    # the same answer as for a case that does not exist at all
    missing = web.client.get(f"/app/cases/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert text(missing.text) == text(refused.text)


@pytest.mark.parametrize("who", ["coder", "auditor", "admin"])
def test_payer_staff_see_every_organisations_cases(web: Web, who: str) -> None:
    ours = submit(web, PENDED)
    theirs = submit(web, QUEUED, who="other-org")
    web.sign_in(who)
    assert set(queue_ids(web.client.get("/app/cases?state=all").text)) == {
        ours["id"], theirs["id"]}


def test_signed_out_visitors_are_sent_to_sign_in(web: Web) -> None:
    case = submit(web, PENDED)
    response = web.client.get(f"/app/cases/{case['id']}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/app/login?next=%2Fapp%2Fcases%2F")


# --- The case page -----------------------------------------------------------------------------


def test_the_case_page_shows_the_request_determinations_evidence_and_timeline(
    web: Web,
) -> None:
    case = submit(web, PENDED)
    web.sign_in("reviewer")
    page = web.client.get(f"/app/cases/{case['id']}")
    assert page.status_code == 200
    words = text(page.text)
    assert f"Case {case['identifier']}" in words
    assert "Waiting for information" in words and "7 days left" in words
    assert "Age 74 years" in words and "Sex female" in words
    assert "Requested by org-demo-hospital" in words
    assert "Vertebroplasty at L2" in words
    assert "Insufficient information - questions below" in words
    assert "Not settled: the outcome depends on information not yet on record." in words
    # criteria with status words and the policy's own words and the record's evidence
    assert re.search(r'status-met">met</span> <span class="criterion__text">The fracture is '
                     r"symptomatic", page.text)
    assert 'status-unknown">unknown</span> <span class="criterion__text">Conservative ' \
           "treatment given for at least 6 weeks" in page.text
    assert "Symptomatic osteoporotic vertebral compression fracture(s)" in page.text
    assert "Painful L2 osteoporotic fracture since mid-August, managed conservatively to date." \
        in page.text
    assert "For how many weeks has conservative treatment been given?" in words
    # the timeline: who and when
    assert "Submitted by Demo Hospital EHR (demo-requester) Tue 6 Oct 2026, 09:00 UTC" in words
    assert "Assessed by vertebro Tue 6 Oct 2026, 09:00 UTC pended for information" in words
    assert "denied" not in words.lower().replace("denied by a reviewer", "")


def test_a_queued_case_says_why_a_reviewer_must_look_and_which_rule_decided(web: Web) -> None:
    case = submit(web, QUEUED)
    web.sign_in("coder")
    words = text(web.client.get(f"/app/cases/{case['id']}").text)
    assert "Why a reviewer must look" in words
    assert "Does not meet the policy's criteria - a reviewer will decide" in words
    assert "Does not meet criteria - a reviewer will decide" in words
    rule = api_case(web, case["id"])["assessment"]["determinations"][0]["decided_by"]
    assert rule and f'href="#criterion-{rule}"' in web.client.get(
        f"/app/cases/{case['id']}").text


@pytest.mark.parametrize(("who", "answer", "decide", "appeal"), [
    ("reviewer", True, True, False),
    ("requester", True, False, False),
    ("clinician", True, False, False),
    ("coder", False, False, False),
    ("auditor", False, False, False),
    ("admin", False, False, False),
])
def test_the_actions_offered_follow_the_role(
    web: Web, who: str, answer: bool, decide: bool, appeal: bool
) -> None:
    case = submit(web, PENDED)
    web.sign_in(who)
    page = web.client.get(f"/app/cases/{case['id']}").text
    assert (f'action="/app/cases/{case["id"]}/answers"' in page) is answer
    assert (f'action="/app/cases/{case["id"]}/decision"' in page) is decide
    assert (">Deny</button>" in page) is decide
    assert (f'action="/app/cases/{case["id"]}/appeal"' in page) is appeal


def test_every_view_of_a_case_is_an_audited_read(web: Web) -> None:
    case = submit(web, PENDED)
    web.sign_in("coder")
    web.client.get("/app/cases")
    web.client.get(f"/app/cases/{case['id']}")
    reads = [(e["entity"][0]["description"], e["agent"][0]["who"]["identifier"]["value"])
             for e in audit(web, case["id"]) if e["action"] == "R"]
    assert ("list", "demo-coder") in reads
    assert ("read", "demo-coder") in reads


# --- Decisions ---------------------------------------------------------------------------------


def test_a_reviewer_approves_with_an_optional_note(web: Web) -> None:
    case = submit(web, PENDED)
    web.sign_in("reviewer")
    response = web.post_form(f"/app/cases/{case['id']}/decision",
                             {"decision": "approve", "reason": ""})
    assert response.status_code == 303
    assert response.headers["location"] == f"/app/cases/{case['id']}?done=case-approved"
    stored = api_case(web, case["id"])
    assert stored["state"] == "approved-by-reviewer"
    assert stored["decision"]["reviewer_name"] == "Dr Ada Reviewer"
    assert stored["decision"]["reason"] == cases_page.APPROVED_WITHOUT_NOTE
    page = text(web.client.get(response.headers["location"]).text)
    assert "The case is approved. Your decision is recorded with your name." in page
    assert "Approved by a reviewer Decided by Dr Ada Reviewer on Tue 6 Oct 2026, 09:00 UTC" \
        in page
    assert "Approved by Dr Ada Reviewer (demo-reviewer)" in page  # the timeline
    assert "Decided in time" in page
    assert ">Approve</button>" not in page


def test_a_denial_needs_a_reason_shown_next_to_the_field(web: Web) -> None:
    case = submit(web, QUEUED)
    web.sign_in("reviewer")
    page = web.client.get(f"/app/cases/{case['id']}").text
    assert "Reason for the denial (required)" in page and "A reason is required." in page
    for empty in ("", "   \n  "):
        refused = web.post_form(f"/app/cases/{case['id']}/decision",
                                {"decision": "deny", "reason": empty})
        assert refused.status_code == 400
        assert ('<p class="error" id="deny-reason-error"><span class="visually-hidden">Error: '
                "</span>Write the reason for the denial") in refused.text
        assert 'aria-describedby="deny-reason-hint deny-reason-error" aria-invalid="true"' \
            in refused.text
        assert 'href="#deny-reason"' in refused.text  # the summary links to the field
    assert api_case(web, case["id"])["state"] == "queued-for-review"


def test_a_reviewer_denies_with_a_reason_and_the_requester_appeals(web: Web) -> None:
    case = submit(web, QUEUED)
    web.sign_in("reviewer")
    reason = "Pain is settling at 3 weeks; conservative care should continue."
    denied = web.post_form(f"/app/cases/{case['id']}/decision",
                           {"decision": "deny", "reason": reason})
    assert denied.headers["location"] == f"/app/cases/{case['id']}?done=case-denied"
    page = text(web.client.get(denied.headers["location"]).text)
    assert "The case is denied. The requester sees your reason and may appeal." in page
    assert "Decided by Dr Ada Reviewer" in page and reason in page
    assert f"Denied by Dr Ada Reviewer (demo-reviewer) Tue 6 Oct 2026, 09:00 UTC {reason}" \
        in page  # the timeline

    web.clock.advance(hours=2)
    web.sign_in("clinician")
    page = web.client.get(f"/app/cases/{case['id']}").text
    assert "Reason for the appeal (required)" in page and reason in page
    empty = web.post_form(f"/app/cases/{case['id']}/appeal", {"reason": " "})
    assert empty.status_code == 400
    assert 'id="appeal-reason-error"' in empty.text and "Write the reason for the appeal" \
        in empty.text
    appealed = web.post_form(f"/app/cases/{case['id']}/appeal",
                             {"reason": "Pain now prevents walking; see the attached note."})
    assert appealed.headers["location"] == f"/app/cases/{case['id']}?done=case-appealed"
    page = text(web.client.get(appealed.headers["location"]).text)
    assert "Under appeal" in page and "30 days left" in page
    assert "Appealed by Dr Claire Referrer (demo-clinician)" in page

    # the reviewer who denied may not decide the appeal; another reviewer may
    web.sign_in("reviewer")
    page = web.client.get(f"/app/cases/{case['id']}").text
    assert "You denied this request, so another reviewer must decide the appeal." in page
    assert ">Approve</button>" not in page
    crafted = web.post_form(f"/app/cases/{case['id']}/decision",
                            {"decision": "approve", "reason": "on appeal"})
    assert crafted.status_code == 409
    assert "An appeal must be decided by a reviewer other than the one who denied" \
        in crafted.text
    web.sign_in("reviewer-2")
    approved = web.post_form(f"/app/cases/{case['id']}/decision",
                             {"decision": "approve", "reason": "Accepted on appeal."})
    assert approved.status_code == 303
    assert api_case(web, case["id"])["decision"]["reviewer_name"] == "Dr Ben Second"


@pytest.mark.parametrize(("who", "path", "data", "permission"), [
    ("coder", "decision", {"decision": "deny", "reason": "crafted"}, "decide"),
    ("auditor", "decision", {"decision": "approve", "reason": "crafted"}, "decide"),
    ("requester", "decision", {"decision": "approve", "reason": "crafted"}, "decide"),
    ("reviewer", "appeal", {"reason": "crafted"}, "appeal"),
    ("coder", "answers", {"answer:conservative_treatment.failed": "yes"}, "answer"),
])
def test_a_crafted_post_by_a_role_that_may_not_act_gets_a_403_page(
    web: Web, who: str, path: str, data: dict[str, str], permission: str
) -> None:
    case = submit(web, PENDED)
    web.sign_in(who)
    response = web.post_form(f"/app/cases/{case['id']}/{path}", data)
    assert response.status_code == 403
    assert "Not allowed" in response.text and f"may not {permission}" in response.text
    assert api_case(web, case["id"])["state"] == "pended-for-information"
    refused = [e for e in audit(web, case["id"]) if e["outcome"] == "4"]
    assert refused[-1]["entity"][0]["description"] == f"refused: {permission}"


@pytest.mark.parametrize("path", ["decision", "appeal", "answers"])
def test_a_form_without_the_sessions_token_is_refused(web: Web, path: str) -> None:
    case = submit(web, PENDED)
    web.sign_in("reviewer")
    response = web.client.post(f"/app/cases/{case['id']}/{path}", data={
        "decision": "deny", "reason": "forged", "csrf_token": "0" * 64})
    assert response.status_code == 403
    assert "did not come from vertebro" in response.text
    assert api_case(web, case["id"])["state"] == "pended-for-information"


def test_deciding_a_decided_case_is_a_conflict_shown_on_the_page(web: Web) -> None:
    case = submit(web, APPROVED)
    web.sign_in("reviewer")
    response = web.post_form(f"/app/cases/{case['id']}/decision",
                             {"decision": "deny", "reason": "too late"})
    assert response.status_code == 409
    assert "The case is approved-automatically; only a pended, queued or appealed case can " \
           "be decided." in response.text
    assert api_case(web, case["id"])["state"] == "approved-automatically"


def test_text_that_cannot_be_stored_is_refused_at_the_field(web: Web) -> None:
    case = submit(web, QUEUED)
    web.sign_in("reviewer")
    response = web.post_form(f"/app/cases/{case['id']}/decision",
                             {"decision": "deny", "reason": "bad\x00reason"})
    assert response.status_code == 400
    assert 'id="deny-reason-error"' in response.text and "cannot be stored" in response.text


def test_an_unknown_verdict_is_a_400_page(web: Web) -> None:
    case = submit(web, QUEUED)
    web.sign_in("reviewer")
    response = web.post_form(f"/app/cases/{case['id']}/decision",
                             {"decision": "maybe", "reason": "x"})
    assert response.status_code == 400
    assert "Choose Approve or Deny" in response.text


# --- Answers -----------------------------------------------------------------------------------


def test_the_requester_answers_the_questions_and_the_case_is_reassessed(web: Web) -> None:
    case = submit(web, PENDED)
    web.sign_in("clinician")
    response = web.post_form(f"/app/cases/{case['id']}/answers", {
        "answer:conservative_treatment.duration_weeks": "8",
        "quote:conservative_treatment.duration_weeks": "Eight weeks of analgesia.",
        "answer:conservative_treatment.failed": "yes",
        "quote:conservative_treatment.failed": ""})
    assert response.status_code == 303
    assert response.headers["location"] == f"/app/cases/{case['id']}?done=case-answered"
    stored = api_case(web, case["id"])
    assert stored["state"] == "approved-automatically"
    evidence = [e for d in stored["assessment"]["determinations"] for c in d["criteria"]
                for e in c["evidence"] if e["fact"] == "conservative_treatment.duration_weeks"]
    assert evidence and evidence[0]["kind"] == "answer"
    assert evidence[0]["source"] == "Dr Claire Referrer"
    assert evidence[0]["quote"] == "Eight weeks of analgesia."
    page = text(web.client.get(response.headers["location"]).text)
    assert "Your answers are recorded and the case has been assessed again." in page
    assert "Information added by Dr Claire Referrer (demo-clinician)" in page
    assert "Approved (meets criteria)" in page


def test_a_bad_answer_is_shown_next_to_its_question_and_nothing_is_recorded(web: Web) -> None:
    case = submit(web, PENDED)
    web.sign_in("reviewer")
    response = web.post_form(f"/app/cases/{case['id']}/answers", {
        "answer:conservative_treatment.duration_weeks": "about eight",
        "answer:conservative_treatment.failed": "yes"})
    assert response.status_code == 400
    field = "answer-conservative-treatment-duration-weeks"
    assert f'<p class="error" id="{field}-error">' in response.text
    assert "Expected a number, got &#39;about eight&#39;." in response.text
    assert f'aria-describedby="{field}-hint {field}-error" aria-invalid="true"' in response.text
    assert 'value="about eight"' in response.text  # what was typed is kept
    assert api_case(web, case["id"])["state"] == "pended-for-information"
    assert len(api_case(web, case["id"])["events"]) == 2


def test_an_empty_answer_form_asks_for_an_answer(web: Web) -> None:
    case = submit(web, PENDED)
    web.sign_in("requester")
    response = web.post_form(f"/app/cases/{case['id']}/answers", {
        "answer:conservative_treatment.duration_weeks": "",
        "answer:conservative_treatment.failed": ""})
    assert response.status_code == 400
    assert "Answer at least one question (leave the others empty)." in response.text


def test_answers_to_a_case_of_another_organisation_are_not_found(web: Web) -> None:
    case = submit(web, PENDED)
    web.sign_in("other-org")
    response = web.post_form(f"/app/cases/{case['id']}/answers", {
        "answer:conservative_treatment.failed": "yes"})
    assert response.status_code == 404
    assert api_case(web, case["id"])["state"] == "pended-for-information"


# --- Bad addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize("case_id", ["x" * 300, "%00", "nope"])
def test_a_case_address_that_names_no_case_is_a_404_page(web: Web, case_id: str) -> None:
    web.sign_in("reviewer")
    response = web.client.get(f"/app/cases/{case_id}")
    assert response.status_code == 404
    assert "Not found" in response.text
    posted = web.post_form(f"/app/cases/{case_id}/decision", {"decision": "approve"})
    assert posted.status_code == 404
