"""The Cases pages in Chromium against a real `vertebro serve`: a reviewer works the queue
(approves one case, is refused an empty denial reason, denies another with a reason), another
organisation cannot find the case, and the requesting organisation reads the decision and
appeals."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from .conftest import SCREENSHOTS, Server, shot, sign_in, sign_out
from .test_cases_pages import PENDED, QUEUED, document

pytestmark = pytest.mark.browser


def create(server: Server, example: str) -> dict[str, Any]:
    """A case submitted through the API by the demo requester's system (expedited, so that it
    is near the top of a queue other tests share)."""
    response = httpx.post(f"{server.url}/cases", headers={"X-API-Key": "dev-requester-key"},
                          json={"identifier": f"web-{example[:2]}-{uuid.uuid4().hex[:6]}",
                                "priority": "expedited", "document": document(example)},
                          timeout=60)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def view(page: Any, name: str) -> None:
    """A screenshot of what is on screen (small enough for docs/screenshots)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_a_reviewer_works_the_queue_and_the_requester_appeals(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    pended = create(server, PENDED)
    queued = create(server, QUEUED)

    # The reviewer's queue: both cases, with their clocks in words.
    sign_in(page, "reviewer")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cases").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cases")
    for case, state in ((pended, "Waiting for information"), (queued, "Waiting for a reviewer")):
        row = page.locator(f'tr[data-case="{case["id"]}"]')
        expect(row).to_contain_text(state)
        expect(row).to_contain_text(re.compile(r"2 days 23 hours left|3 days left"))
    view(page, "queue")
    page.set_viewport_size({"width": 768, "height": 1024})
    view(page, "queue-tablet")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Filters are a plain GET form.
    page.get_by_label("State").select_option("pended-for-information")
    page.get_by_role("button", name="Show cases").click()
    expect(page.locator(f'tr[data-case="{pended["id"]}"]')).to_be_visible()
    expect(page.locator(f'tr[data-case="{queued["id"]}"]')).to_have_count(0)

    # Open the pended case and approve it (the note is optional).
    page.get_by_role("link", name=pended["identifier"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {pended['identifier']}")
    expect(page.get_by_text("Insufficient information - questions below")).to_be_visible()
    expect(page.get_by_role("heading", name="Outstanding questions")).to_be_visible()
    view(page, "case-pended")
    shot(page, "case-pended-full")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_have_text(
        "The case is approved. Your decision is recorded with your name.")
    expect(page.locator(".case-status")).to_contain_text("Approved by a reviewer")

    # Open the queued case: an empty denial reason is refused beside the field.
    page.goto("/app/cases")
    page.get_by_role("link", name=queued["identifier"]).click()
    expect(page.get_by_text("Does not meet criteria - a reviewer will decide")).to_be_visible()
    page.get_by_role("button", name="Deny").click()
    reason_box = page.get_by_label("Reason for the denial (required)")
    expect(reason_box).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#deny-reason-error")).to_contain_text(
        "Write the reason for the denial")
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    reason_box.scroll_into_view_if_needed()
    view(page, "case-deny-refused")

    reason = "Pain is settling at 3 weeks; conservative care should continue."
    reason_box.fill(reason)
    page.get_by_role("button", name="Deny").click()
    expect(page.get_by_role("status")).to_have_text(
        "The case is denied. The requester sees your reason and may appeal.")
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text("Submitted")
    expect(timeline).to_contain_text("Assessed by vertebro")
    expect(timeline).to_contain_text("Denied by Dr Ada Reviewer (demo-reviewer)")
    expect(timeline).to_contain_text(reason)
    view(page, "case-denied")
    shot(page, "case-denied-full")
    case_url = page.url.split("?")[0]
    sign_out(page)

    # Another organisation's requester: not in the list, and the address is "not found".
    sign_in(page, "other-org")
    page.goto("/app/cases?state=all")
    expect(page.locator(f'tr[data-case="{queued["id"]}"]')).to_have_count(0)
    page.goto(case_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    sign_out(page)

    # The requesting organisation reads the decision and appeals.
    sign_in(page, "requester")
    page.goto(case_url)
    expect(page.locator("#decision-section")).to_contain_text(reason)
    expect(page.get_by_role("button", name="Deny")).to_have_count(0)
    page.get_by_label("Reason for the appeal (required)").fill(
        "Pain now prevents walking; see the attached ward note.")
    page.get_by_role("button", name="Appeal").click()
    expect(page.get_by_role("status")).to_have_text(
        "Your appeal is recorded. A different reviewer will decide it.")
    expect(page.locator(".case-status")).to_contain_text("Under appeal")
    expect(page.locator("#case-clock")).to_contain_text("left")
    page.set_viewport_size({"width": 768, "height": 1024})
    view(page, "case-appealed-tablet")
