"""The New assessment page in-process: the form, every kind of input (pasted note, FHIR bundle,
vertebro case file), the result (outcome, deciding rule, criteria tree with citations and
evidence, the note with its evidence highlighted), answering questions without a server-side
store, submitting for prior authorisation, permissions, CSRF and bad input shown beside the
field - never a 500."""

from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from vertebro.core.catalogue import CATALOGUE
from vertebro.web.pages import assess as assess_page

from .conftest import REPO, SHARED, Web

NOTES = SHARED / "fixtures" / "notes"
KYPHOPLASTY_NOTE = NOTES / "kyphoplasty.txt"  # a real transcribed note: four questions open
GP_REFERRAL = REPO / "tests" / "fixtures" / "notes" / "gp-referral-t12-vertebroplasty.txt"
NO_REQUEST_NOTE = REPO / "tests" / "fixtures" / "notes" / "mri-lumbar-acute-l1.txt"
MYELOMA_BUNDLE = REPO / "tests" / "fixtures" / "fhir" / "myeloma-vertebroplasty-l2.json"
PAS_CONSULTATION = SHARED / "fixtures" / "davinci-pas" / "conformant_pas_bundle_v110.json"
SYNTHEA = SHARED / "fixtures" / "synthea" / "Emilee_Ritchie_27abf6e8-2b5d-4ec0-bfd9-6b433fc73cc2.json"
EXAMPLE_10 = REPO / "examples" / "10-osteoporotic-undocumented-treatment.yaml"
REVIEWER_KEY = "dev-reviewer-key"
NO_FILE = {"document": ("", b"", "application/octet-stream")}


# --- A small DOM, to check structure rather than strings ---------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class El:
    def __init__(self, tag: str, attrs: dict[str, str], parent: El | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[El | str] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def all(self) -> list[El]:
        out = []
        for child in self.children:
            if isinstance(child, El):
                out.append(child)
                out.extend(child.all())
        return out

    def find(self, tag: str | None = None, **attrs: str) -> list[El]:
        return [e for e in self.all() if (tag is None or e.tag == tag) and all(
            e.attrs.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())]

    def by_id(self, dom_id: str) -> El:
        found = [e for e in self.all() if e.attrs.get("id") == dom_id]
        assert len(found) == 1, f"{len(found)} elements with id {dom_id!r}"
        return found[0]

    def ancestors(self) -> list[El]:
        out, at = [], self.parent
        while at is not None:
            out.append(at)
            at = at.parent
        return out


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = El("#root", {}, None)
        self.at = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = El(tag, {k: v or "" for k, v in attrs}, self.at)
        self.at.children.append(element)
        if tag not in VOID:
            self.at = element

    def handle_endtag(self, tag: str) -> None:
        at: El | None = self.at
        while at is not None and at.tag != tag:
            at = at.parent
        if at is not None and at.parent is not None:
            self.at = at.parent

    def handle_data(self, data: str) -> None:
        self.at.children.append(data)


def dom(html: str) -> El:
    parser = _Parser()
    parser.feed(html)
    return parser.root


def words(html: str) -> str:
    """The page's text with whitespace collapsed."""
    return re.sub(r"\s+", " ", dom(html).text())


# --- Helpers -----------------------------------------------------------------------------------


def assess_note(web: Web, text: str, **fields: str) -> Any:
    return web.post_form("/app/assess", {"note": text, "policy": "carefirst", "as_of": "",
                                         **fields}, files=NO_FILE)


def assess_file(web: Web, path: Path, *, name: str | None = None, policy: str = "carefirst",
                content: bytes | None = None, **fields: str) -> Any:
    data = path.read_bytes() if content is None else content
    return web.post_form("/app/assess", {"note": "", "policy": policy, "as_of": "", **fields},
                         files={"document": (name or path.name, data, "application/json")})


def draft_of(html: str, form_action: str = "/app/assess/answers") -> str:
    form = next(f for f in dom(html).find("form") if f.attrs.get("action") == form_action)
    return next(i.attrs["value"] for i in form.find("input") if i.attrs.get("name") == "draft")


def answer(web: Web, html: str, answers: dict[str, str | list[str]]) -> Any:
    """Post the questions form of a result page as a person would: every asked field, with
    the given answers filled in and the rest left as they were."""
    page = dom(html)
    form = next(f for f in page.find("form") if f.attrs.get("action") == "/app/assess/answers")
    data: dict[str, Any] = {"draft": draft_of(html), "asked": []}
    for element in form.find("input"):
        name, kind = element.attrs.get("name", ""), element.attrs.get("type")
        if name == "asked":
            data["asked"].append(element.attrs["value"])
        elif name.startswith("answer.") and (kind not in ("radio", "checkbox")
                                             or "checked" in element.attrs):
            data.setdefault(name, []).append(element.attrs.get("value", ""))
    for fact, value in answers.items():
        data[f"answer.{fact}"] = value
    return web.post_form("/app/assess/answers", data)


def outcome_badges(html: str) -> list[str]:
    return [b.text().strip() for b in dom(html).find("span")
            if "badge--large" in b.attrs.get("class", "")]


def field_error(html: str, field_id: str) -> str:
    """The error shown beside a field, checked to be linked to it with aria-describedby."""
    page = dom(html)
    control = page.by_id(field_id)
    error = page.by_id(f"{field_id}-error")
    assert f"{field_id}-error" in control.attrs.get("aria-describedby", "").split()
    return re.sub(r"\s+", " ", error.text()).strip()


# --- The form ----------------------------------------------------------------------------------


def test_the_form_labels_every_input_and_offers_every_policy_version(web: Web) -> None:
    web.sign_in("clinician")
    response = web.client.get("/app/assess")
    assert response.status_code == 200
    page = dom(response.text)
    labels = {lab.attrs["for"]: lab.text().strip() for lab in page.find("label")
              if "for" in lab.attrs}
    assert labels["note"] == "Clinical note"
    assert labels["document"] == "File"
    assert labels["policy"] == "Policy"
    assert labels["as_of"].startswith("Assess as of")
    options = {o.attrs["value"]: o for o in page.by_id("policy").find("option")}
    assert {"carefirst", "carefirst@2022", "nice", "nice@2026.01"} <= set(options)
    assert "selected" in options["carefirst"].attrs  # the service's default policy
    form = page.by_id("note").ancestors()
    assert any(f.tag == "form" and f.attrs.get("enctype") == "multipart/form-data"
               for f in form)


def test_signed_out_people_are_sent_to_sign_in(web: Web) -> None:
    response = web.client.get("/app/assess", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/login?next=%2Fapp%2Fassess"


@pytest.mark.parametrize("who", ["auditor", "admin"])
def test_roles_without_the_assess_permission_are_refused(web: Web, who: str) -> None:
    web.sign_in(who)
    assert web.client.get("/app/assess").status_code == 403
    refused = web.post_form("/app/assess", {"note": GP_REFERRAL.read_text(),
                                            "policy": "carefirst"}, files=NO_FILE)
    assert refused.status_code == 403
    assert "may not assess" in refused.text


def test_a_form_without_its_token_is_refused(web: Web) -> None:
    web.sign_in("clinician")
    refused = web.client.post("/app/assess", data={"note": GP_REFERRAL.read_text(),
                                                   "policy": "carefirst", "csrf_token": "0"},
                              files=NO_FILE)
    assert refused.status_code == 403
    assert "did not come from vertebro" in refused.text
    for path in ("/app/assess/answers", "/app/assess/submit"):
        other = web.client.post(path, data={"draft": "x", "csrf_token": "0" * 64})
        assert other.status_code == 403, path
        assert "did not come from vertebro" in other.text


# --- Bad input beside its field ----------------------------------------------------------------


def test_nothing_to_assess_is_asked_for_beside_the_note(web: Web) -> None:
    web.sign_in("clinician")
    response = assess_note(web, "   ")
    assert response.status_code == 400
    assert field_error(response.text, "note") == ("Paste a clinical note here, or choose a "
                                                  "file below.")


def test_a_note_and_a_file_together_are_refused(web: Web) -> None:
    web.sign_in("clinician")
    response = web.post_form("/app/assess", {"note": "Vertebroplasty at L1.",
                                             "policy": "carefirst"},
                             files={"document": ("x.json", b"{}", "application/json")})
    assert response.status_code == 400
    assert "not both" in field_error(response.text, "note")


def test_a_note_that_requests_nothing_keeps_its_text_and_says_why(web: Web) -> None:
    web.sign_in("clinician")
    text = NO_REQUEST_NOTE.read_text()
    response = assess_note(web, text)
    assert response.status_code == 400
    message = field_error(response.text, "note")
    assert "holds no vertebroplasty, kyphoplasty or sacroplasty request" in message
    assert dom(response.text).by_id("note").text() == text  # nothing to type again


@pytest.mark.parametrize(("fields", "field", "expected"), [
    ({"as_of": "06/10/2026"}, "as_of", "Enter the date as year-month-day"),
    ({"policy": "acme"}, "policy", "Choose a policy from the list."),
    ({"policy": "carefirst@2022", "as_of": "2021-06-01"}, "policy",
     "Carefirst 2022 is in effect from 2022-01-01, not on 2021-06-01."),
    ({"policy": "carefirst", "as_of": "2021-06-01"}, "policy",
     "No version of 'carefirst' is in effect on 2021-06-01"),
])
def test_bad_choices_are_shown_beside_their_field(web: Web, fields: dict[str, str], field: str,
                                                  expected: str) -> None:
    web.sign_in("clinician")
    response = assess_note(web, GP_REFERRAL.read_text(), **fields)
    assert response.status_code == 400
    assert expected in field_error(response.text, field)


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("broken.json", b'{"resourceType": "Bundle",\n "entry": [}',
     "broken.json, line 2: Not valid JSON: Expecting value."),
    ("scan.pdf", b"%PDF-1.7 binary", "scan.pdf: Choose a FHIR bundle or vertebro case file"),
    ("empty.yaml", b"  \n", "empty.yaml: The file is empty."),
    ("latin1.txt", "Vertebroplastie à L1".encode("latin-1"), "latin1.txt: Not UTF-8 text."),
    ("case.yaml", b"requests:\n  - procedure: vertebroplasty\nfacts:\n  pain.scre: 7\n",
     "case.yaml, line 4: Unknown fact 'pain.scre'"),
])
def test_unreadable_files_are_named_beside_the_file_input(web: Web, name: str, content: bytes,
                                                          expected: str) -> None:
    web.sign_in("clinician")
    response = assess_file(web, Path(name), name=name, content=content)
    assert response.status_code == 400
    assert expected in field_error(response.text, "document")


def test_a_da_vinci_request_for_other_services_says_what_it_requests(web: Web) -> None:
    web.sign_in("clinician")
    response = assess_file(web, PAS_CONSULTATION)
    assert response.status_code == 400
    message = field_error(response.text, "document")
    assert message.startswith("conformant_pas_bundle_v110.json: Da Vinci PAS request bundle "
                              "holds no vertebroplasty")
    assert "it requests: Claim/ReferralAuthorizationExample item 1: Consultation" in message


# --- The result --------------------------------------------------------------------------------


def test_a_pasted_note_shows_outcome_rule_tree_citations_and_highlighted_evidence(
    web: Web,
) -> None:
    web.sign_in("clinician")
    text = GP_REFERRAL.read_text()
    response = assess_note(web, text)
    assert response.status_code == 200
    html = response.text
    page = dom(html)
    assert outcome_badges(html) == ["Meets criteria"]
    # The note's own "Date:" line dates it, as `vertebro assess` does for a .txt note.
    assert "<dt>Assessed as of</dt><dd>2026-09-14</dd>" in html
    rule = page.by_id("d1-cf-medically-necessary")
    assert ("Decided by the rule “Meets one of the three medically necessary indications”, "
            "whose criteria are met.") in words(html)
    assert any(a.attrs.get("href") == "#d1-cf-medically-necessary" for a in page.find("a"))
    # The tree is nested: a pathway's criteria sit inside the pathway's item.
    child = page.by_id("d1-cf-p1-six-weeks")
    assert page.by_id("d1-cf-pathway-failed-conservative") in child.ancestors()
    assert rule in child.ancestors()
    # Every node says its status in words, and cites its source with the quoted words.
    for item in page.find("li"):
        if item.attrs.get("id", "").startswith("d1-"):
            badge = item.find("span")[0]
            assert badge.text() in ("Met", "Not met", "Unknown")
            assert f"status-{ {'Met': 'met', 'Not met': 'not-met', 'Unknown': 'unknown'}[badge.text()]}" in badge.attrs["class"]
            details = [d for d in item.children if isinstance(d, El) and d.tag == "details"]
            assert details and details[0].find("blockquote"), item.attrs["id"]
    # Evidence links to a highlighted span of the note, and the span is the words read.
    marks = {m.attrs["id"]: m.text() for m in page.find("mark")}
    links = [a.attrs["href"][1:] for a in page.find("a")
             if a.attrs.get("href", "").startswith("#ev-")]
    assert links and set(links) <= set(marks)
    weeks = child.find("a", class_="evidence-link")
    assert weeks and marks[weeks[0].attrs["href"][1:]] == "8 weeks"
    start, end = (int(n) for n in weeks[0].attrs["href"].split("-")[1:])
    assert text[start:end] == "8 weeks"
    # The note is shown whole, the marks in place.
    assert page.find("div", class_="note-text")[0].text() == text


def test_an_unknown_criterion_says_not_documented_never_not_met(web: Web) -> None:
    web.sign_in("clinician")
    page = dom(assess_note(web, GP_REFERRAL.read_text()).text)
    osteolytic = page.by_id("d1-cf-p3-osteolytic")
    assert osteolytic.find("span")[0].text() == "Unknown"
    assert "Osteolytic lesion: not documented, so unknown" in words(
        "".join(e.text() for e in osteolytic.find("p")))


def test_answering_a_question_reassesses_with_the_answer_as_evidence(web: Web) -> None:
    web.sign_in("clinician")
    first = assess_note(web, KYPHOPLASTY_NOTE.read_text())
    assert outcome_badges(first.text) == ["Insufficient information - questions below"]
    questions = dom(first.text).by_id("questions")
    number = questions.find("input", id="q-conservative_treatment-duration_weeks")[0]
    assert number.attrs["type"] == "number" and number.attrs["min"] == "0"
    radios = questions.find("input", name="answer.pain.prevents_ambulation")
    assert [r.attrs["value"] for r in radios] == ["yes", "no", ""]
    assert questions.find("input", id="q-fracture-onset_date")[0].attrs["type"] == "date"

    second = answer(web, first.text, {"conservative_treatment.duration_weeks": "12"})
    assert second.status_code == 200
    assert outcome_badges(second.text) == ["Meets criteria"]
    page = dom(second.text)
    six_weeks = page.by_id("d1-cf-p1-six-weeks")
    assert six_weeks.find("span")[0].text() == "Met"
    assert "Weeks of conservative treatment: 12 attested by Dr Claire Referrer" in words(
        "".join(li.text() for li in six_weeks.find("li")))
    # The answer can be changed: it is shown again, filled in.
    assert page.by_id("q-conservative_treatment-duration_weeks").attrs["value"] == "12"
    # Taking it back makes the outcome open again: nothing is remembered on the server.
    third = answer(web, second.text, {"conservative_treatment.duration_weeks": ""})
    assert outcome_badges(third.text) == ["Insufficient information - questions below"]


def test_a_bad_answer_is_shown_beside_its_question_and_changes_nothing(web: Web) -> None:
    web.sign_in("clinician")
    first = assess_note(web, KYPHOPLASTY_NOTE.read_text())
    response = answer(web, first.text, {"conservative_treatment.duration_weeks": "lots",
                                        "pain.prevents_ambulation": "yes"})
    assert response.status_code == 400
    error = field_error(response.text, "q-conservative_treatment-duration_weeks")
    assert error == "Expected a number, got 'lots'."
    assert outcome_badges(response.text) == ["Insufficient information - questions below"]
    page = dom(response.text)
    assert page.by_id("q-conservative_treatment-duration_weeks").attrs["value"] == "lots"
    assert "checked" in page.by_id("q-pain-prevents_ambulation-yes").attrs
    too_many = answer(web, first.text, {"conservative_treatment.duration_weeks": "9999"})
    assert "9999 is above the maximum 5200." in field_error(
        too_many.text, "q-conservative_treatment-duration_weeks")


def test_a_draft_from_another_session_or_altered_is_refused(web: Web) -> None:
    web.sign_in("clinician")
    first = assess_note(web, KYPHOPLASTY_NOTE.read_text())
    draft = draft_of(first.text)
    blob, signature = draft.rsplit(".", 1)
    altered = web.post_form("/app/assess/answers", {"draft": blob[:-4] + "AAAA." + signature})
    assert altered.status_code == 400
    assert "cannot be continued" in altered.text
    web.sign_in("reviewer")
    other = web.post_form("/app/assess/answers", {"draft": draft})
    assert other.status_code == 400
    assert "cannot be continued" in other.text


def test_a_fhir_bundle_shows_resource_references_as_evidence(web: Web) -> None:
    web.sign_in("clinician")
    response = assess_file(web, MYELOMA_BUNDLE)
    assert response.status_code == 200
    text = words(response.text)
    assert "myeloma-vertebroplasty-l2.json (collection Bundle)" in text
    assert "Cause of the fracture or lesion: myeloma from FHIR Condition/myeloma" in text
    assert "from the text of DiagnosticReport/mri-spine" in text
    # The reader's skipped parts are said, and there is no note to highlight.
    assert "application/pdf attachment is not text; skipped" in text
    assert not dom(response.text).find("mark")
    assert "Unstable fracture or spine" in text  # the one open question


def test_a_case_file_asks_list_questions_with_checkboxes_and_none_of_these(web: Web) -> None:
    web.sign_in("clinician")
    first = assess_file(web, EXAMPLE_10, policy="nice")
    assert first.status_code == 200
    assert outcome_badges(first.text) == ["Insufficient information - questions below"]
    boxes = dom(first.text).by_id("questions").find("input", name="answer.mdt.members")
    assert [b.attrs["type"] for b in boxes] == ["checkbox"] * len(boxes)
    values = [b.attrs["value"] for b in boxes]
    assert values[:-1] == list(CATALOGUE["mdt.members"].choices)
    assert values[-1] == assess_page.NONE_OF_THESE
    both = answer(web, first.text, {"mdt.members": ["radiologist", assess_page.NONE_OF_THESE]})
    assert both.status_code == 400
    assert "not both" in both.text
    done = answer(web, first.text, {
        "mdt.members": ["interventional-radiologist", "spinal-surgeon"],
        "mdt.discussed": "yes", "conservative_treatment.failed": "yes"})
    assert done.status_code == 200
    assert outcome_badges(done.text) == ["Meets criteria"]
    kept = dom(done.text).find("input", name="answer.mdt.members")
    assert sorted(b.attrs["value"] for b in kept if "checked" in b.attrs) == [
        "interventional-radiologist", "spinal-surgeon"]


def test_coders_may_assess_but_only_requesters_may_submit(web: Web) -> None:
    web.sign_in("coder")
    response = assess_note(web, GP_REFERRAL.read_text())
    assert response.status_code == 200
    assert "Submit for prior authorisation" not in response.text
    refused = web.post_form("/app/assess/submit", {"draft": "x", "priority": "standard",
                                                   "identifier": "web-1"})
    assert refused.status_code == 403


def test_submitting_creates_the_case_with_the_answers_once(web: Web) -> None:
    web.sign_in("clinician")
    first = assess_note(web, KYPHOPLASTY_NOTE.read_text())
    second = answer(web, first.text, {"conservative_treatment.duration_weeks": "12"})
    page = dom(second.text)
    form = next(f for f in page.find("form") if f.attrs.get("action") == "/app/assess/submit")
    fields = {i.attrs["name"]: i.attrs.get("value", "") for i in form.find("input")
              if i.attrs.get("type") == "hidden"}
    data = {"draft": fields["draft"], "identifier": fields["identifier"],
            "priority": "expedited"}
    response = web.post_form("/app/assess/submit", data)
    assert response.status_code == 303
    location = response.headers["location"]
    match = re.fullmatch(r"/app/cases/([0-9a-f-]{36})\?done=case-submitted", location)
    assert match, location
    case = web.client.get(f"/cases/{match.group(1)}", headers={"X-API-Key": REVIEWER_KEY}).json()
    assert case["state"] == "approved-automatically"
    assert case["priority"] == "expedited"
    assert case["channel"] == "web"
    assert case["organisation"] == "org-demo-hospital"
    # The same form again is the same request: no second case.
    again = web.post_form("/app/assess/submit", data)
    assert again.headers["location"] == f"/app/cases/{match.group(1)}?done=case-resubmitted"


def test_a_submitted_case_without_answers_waits_for_them(web: Web) -> None:
    web.sign_in("clinician")
    first = assess_note(web, KYPHOPLASTY_NOTE.read_text())
    form = next(f for f in dom(first.text).find("form")
                if f.attrs.get("action") == "/app/assess/submit")
    fields = {i.attrs["name"]: i.attrs.get("value", "") for i in form.find("input")
              if i.attrs.get("type") == "hidden"}
    response = web.post_form("/app/assess/submit", {
        "draft": fields["draft"], "identifier": fields["identifier"], "priority": "standard"})
    case_id = response.headers["location"].split("/")[-1].split("?")[0]
    case = web.client.get(f"/cases/{case_id}", headers={"X-API-Key": REVIEWER_KEY}).json()
    assert case["state"] == "pended-for-information"


def test_a_bad_priority_is_refused_beside_the_submit_button(web: Web) -> None:
    web.sign_in("clinician")
    first = assess_note(web, GP_REFERRAL.read_text())
    response = web.post_form("/app/assess/submit", {
        "draft": draft_of(first.text, "/app/assess/submit"), "priority": "urgent",
        "identifier": "web-x"})
    assert response.status_code == 400
    assert "Choose standard or expedited" in dom(response.text).by_id("submit-error").text()


# --- The pieces --------------------------------------------------------------------------------


def test_list_answers_distinguish_none_from_not_known() -> None:
    members = CATALOGUE["mdt.members"]
    assert assess_page.coerce_answer(members, []) is None
    assert assess_page.coerce_answer(members, [assess_page.NONE_OF_THESE]) == []
    assert assess_page.coerce_answer(members, ["spinal-surgeon", "haematologist"]) == [
        "haematologist", "spinal-surgeon"]
    assert assess_page.coerce_answer(CATALOGUE["request.levels"], ["T12-L2"]) == [
        "T12", "L1", "L2"]
    assert assess_page.coerce_answer(CATALOGUE["mdt.discussed"], [""]) is None
    with pytest.raises(ValueError, match="Give one answer"):
        assess_page.coerce_answer(CATALOGUE["mdt.discussed"], ["yes", "no"])


def test_overlapping_evidence_spans_share_one_mark() -> None:
    from vertebro.report import AssessmentReport

    def ev(span: tuple[int, int]) -> dict[str, Any]:
        return {"fact": "pain.severe", "value": True, "kind": "note", "source": "n",
                "quote": "q", "span": span}

    report = AssessmentReport.model_validate({
        "input": "n", "case": "n", "as_of": "2026-10-06",
        "policy": {"id": "p", "version": "1", "hash": "h", "title": "t"},
        "determinations": [{
            "procedure": "vertebroplasty", "levels": None, "outcome": "meets-criteria",
            "decided_by": "otherwise", "missing": [], "requirements": [],
            "criteria": [{"id": "c", "title": "c", "status": "met", "parent": None,
                          "depth": 0, "citation": {"source": "s", "document": "d",
                                                   "section": "s", "words": "w"},
                          "evidence": [ev((0, 4)), ev((2, 8)), ev((10, 12))]}]}]})
    html, ids = assess_page.note_marks(report, "<b>&c severe <i>", "n")
    assert ids == {(0, 4): "ev-0-8", (2, 8): "ev-0-8", (10, 12): "ev-10-12"}
    assert str(html).startswith('<mark class="evidence" id="ev-0-8"')
    assert "&lt;b&gt;&amp;c " in str(html)  # the note's text is escaped, never markup
    assert unescape(re.sub(r"<[^>]+>", "", str(html))) == "<b>&c severe <i>"


def test_a_large_synthea_record_round_trips_without_a_server_side_store(web: Web) -> None:
    """A 1.5 MB Synthea record with a kyphoplasty request added: the draft carrying it between
    steps stays small (compressed), and an answer is laid over its facts."""
    bundle = json.loads(SYNTHEA.read_text(encoding="utf-8"))
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    subject = {"reference": patient["fullUrl"]}
    cm = "http://hl7.org/fhir/sid/icd-10-cm"
    bundle["entry"] += [
        {"fullUrl": "urn:uuid:0d5e2d8c-7b0e-4c55-9a1b-5a5a0c1a0001", "resource": {
            "resourceType": "Claim", "status": "active", "use": "preauthorization",
            "patient": subject, "created": "2026-10-01",
            "diagnosis": [{"sequence": 1, "diagnosisCodeableConcept": {
                "coding": [{"system": cm, "code": "M80.08XA"}]}}],
            "item": [{"sequence": 1, "productOrService": {
                "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22514"}]},
                "bodySite": {"text": "L1"}}]}},
    ]
    content = json.dumps(bundle, indent=2).encode("utf-8")
    assert len(content) > 1_500_000
    web.sign_in("clinician")
    first = assess_file(web, SYNTHEA, content=content)
    assert first.status_code == 200, field_error(first.text, "document")
    assert "Kyphoplasty at L1" in words(first.text)
    draft = draft_of(first.text)
    assert len(draft) < len(content) / 5
    second = answer(web, first.text, {"fracture.symptomatic": "yes"})
    assert second.status_code == 200
    symptomatic = [li for li in dom(second.text).find("li")
                   if li.attrs.get("id", "").endswith("-cf-p1-symptomatic")]
    assert symptomatic and symptomatic[0].find("span")[0].text() == "Met"


@pytest.mark.parametrize(("repeats", "expected"), [
    (12_000, "Note is 264,000 characters; the limit is 200,000."),
    (60_000, "The note is far too long (over 1 MB)."),
])
def test_an_overlong_note_is_refused_beside_the_note(web: Web, repeats: int,
                                                     expected: str) -> None:
    web.sign_in("clinician")
    response = assess_note(web, "Vertebroplasty at L1. " * repeats)
    assert response.status_code == 400
    assert field_error(response.text, "note").startswith(expected)


def test_a_choice_question_offers_the_catalogue_choices_and_not_known(web: Web) -> None:
    web.sign_in("clinician")
    response = assess_note(web, (NOTES / "vertebroplasty.txt").read_text())
    assert response.status_code == 200
    group = dom(response.text).by_id("questions")
    radios = group.find("input", name="answer.fracture.aetiology")
    assert [r.attrs["value"] for r in radios] == [*CATALOGUE["fracture.aetiology"].choices, ""]
    assert all(r.attrs["type"] == "radio" for r in radios)
    assert "checked" in radios[-1].attrs  # nothing is assumed: "not known" until answered
    labels = {lab.attrs["for"]: re.sub(r"\s+", " ", lab.text()).strip()
              for lab in group.find("label")}
    assert labels["q-fracture-aetiology-myeloma"] == "Myeloma"
    assert labels["q-fracture-aetiology-unknown"] == "Not known"


def test_a_reviewers_answer_is_an_answer_and_a_clinicians_an_attestation(web: Web) -> None:
    """As on a case: the requesting side attests, a reviewer answers (and outranks it)."""
    for who, words_expected in (("reviewer", "answered by Dr Ada Reviewer"),
                                ("clinician", "attested by Dr Claire Referrer")):
        web.sign_in(who)
        first = assess_note(web, KYPHOPLASTY_NOTE.read_text())
        second = answer(web, first.text, {"conservative_treatment.duration_weeks": "12"})
        six_weeks = dom(second.text).by_id("d1-cf-p1-six-weeks")
        assert words_expected in words("".join(li.text() for li in six_weeks.find("li")))
