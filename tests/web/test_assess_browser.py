"""The New assessment and Policies pages in Debian's Chromium against a real `vertebro serve`:
a clinician pastes a real note, follows evidence to its highlighted words, answers a question
and sees the outcome change, then submits; a FHIR bundle is uploaded; a policy is read."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import REPO, SCREENSHOTS, SHARED, shot, sign_in

KYPHOPLASTY_NOTE = SHARED / "fixtures" / "notes" / "kyphoplasty.txt"
MYELOMA_BUNDLE = REPO / "tests" / "fixtures" / "fhir" / "myeloma-vertebroplasty-l2.json"

pytestmark = pytest.mark.browser


def viewport_shot(page: Any, name: str) -> None:
    """What a person sees without scrolling (small enough to keep in docs/)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def outcome(page: Any) -> str:
    text: str = page.locator(".outcome .badge--large").first.inner_text()
    return text


def test_a_clinician_assesses_a_note_answers_a_question_and_submits(page: Any) -> None:
    sign_in(page, "clinician")
    page.get_by_role("navigation", name="Main").get_by_role("link",
                                                            name="New assessment").click()
    page.wait_for_url(re.compile(r".*/app/assess$"))
    page.get_by_label("Clinical note").fill(KYPHOPLASTY_NOTE.read_text())
    shot(page, "assess-form")
    page.get_by_role("button", name="Assess").click()
    page.get_by_role("heading", name="Assessment result").wait_for()
    assert outcome(page) == "Insufficient information - questions below"

    # Evidence links to its words in the note, highlighted.
    link = page.locator("#d1-cf-p1-osteoporotic a.evidence-link").first
    target = link.get_attribute("href")
    assert target and target.startswith("#ev-")
    link.click()
    mark = page.locator(f"mark{target}")
    assert mark.evaluate("m => m.matches(':target')")
    assert mark.is_visible()
    assert "osteoporo" in mark.inner_text().lower()
    shot(page, "assess-result-note")
    viewport_shot(page, "assess-result-note-viewport")

    # The citation opens from the keyboard.
    summary = page.locator("#d1-cf-p1-six-weeks > details.cite > summary")
    summary.focus()
    page.keyboard.press("Enter")
    assert page.locator("#d1-cf-p1-six-weeks > details.cite blockquote").is_visible()

    page.get_by_label("For how many weeks has conservative treatment been given?").fill("12")
    page.get_by_role("button", name="Assess again with these answers").click()
    page.get_by_role("heading", name="Assessment result").wait_for()
    assert outcome(page) == "Meets criteria"
    assert page.locator("#d1-cf-p1-six-weeks .badge").first.inner_text() == "Met"
    assert "attested by Dr Claire Referrer" in page.locator("#d1-cf-p1-six-weeks").inner_text()
    page.set_viewport_size({"width": 768, "height": 1024})
    shot(page, "assess-result-tablet")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_label("Expedited: within 72 hours").check()
    page.get_by_role("button", name="Submit for prior authorisation").click()
    page.wait_for_url(re.compile(r".*/app/cases/[0-9a-f-]{36}\?done=case-submitted$"))


def test_a_fhir_bundle_is_uploaded_and_its_resources_shown_as_evidence(page: Any) -> None:
    sign_in(page, "clinician")
    page.goto("/app/assess")
    page.get_by_label("File").set_input_files(str(MYELOMA_BUNDLE))
    page.get_by_role("button", name="Assess").click()
    page.get_by_role("heading", name="Assessment result").wait_for()
    assert outcome(page) == "Insufficient information - questions below"
    assert "FHIR Condition/myeloma" in page.locator("main").inner_text()
    assert page.get_by_role("group", name="Is the vertebral fracture or the spine unstable?") \
        .is_visible()
    shot(page, "assess-result-fhir")


def test_a_policy_is_read_as_a_cited_document(page: Any) -> None:
    sign_in(page, "auditor")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policies").click()
    page.get_by_role("heading", name="Policies", exact=True).wait_for()
    shot(page, "policies-list")
    page.get_by_role("link", name=re.compile(r"^Percutaneous vertebroplasty and balloon")).click()
    page.get_by_role("heading", name="How the outcome is decided").wait_for()
    assert page.get_by_label("Show version").input_value() == "2026.01"
    page.get_by_role("link", name="Criteria", exact=True).click()
    assert page.locator("#criteria").is_visible()
    assert page.locator("#criterion-nice-osteoporotic blockquote").first.is_visible()
    shot(page, "policy-nice")
    page.goto(page.url.split("#")[0])
    viewport_shot(page, "policy-nice-top")
    page.set_viewport_size({"width": 768, "height": 1024})
    viewport_shot(page, "policy-nice-tablet")
