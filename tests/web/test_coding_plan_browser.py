"""In Chromium: a coder codes a real operative note and copies the codes; a clinician makes a
plan for a Monday procedure, downloads the PDF leaflet and prints the leaflet."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from vertebro.core.pathway.plan import long_date

from .conftest import REPO, SHARED, Server, shot, sign_in

REAL_NOTE = SHARED / "fixtures" / "notes" / "vertebroplasty.txt"
WARFARIN = REPO / "examples" / "prepare" / "warfarin-outpatient.yaml"
TABLET = {"width": 768, "height": 1024}


@pytest.mark.browser
def test_a_coder_codes_a_real_operative_note_and_copies_the_codes(
    page: Any, server: Server
) -> None:
    from playwright.sync_api import expect

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    sign_in(page, "coder")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Coding").click()
    page.get_by_label("Operative note", exact=True).fill(REAL_NOTE.read_text(encoding="utf-8"))
    page.get_by_label("UK: OPCS-4 and ICD-10 (WHO)").check()
    page.get_by_role("button", name="Propose codes").click()

    opcs = page.get_by_role("region", name="OPCS-4")
    first = opcs.get_by_role("row").nth(1)
    expect(first).to_contain_text("V44.4")
    expect(first).to_contain_text("Vertebroplasty of fracture of spine")
    expect(first).to_contain_text("unconfirmed - check against the official release")
    first.get_by_text("Evidence and notes").click()
    expect(first.locator("blockquote").first).to_have_text(
        "Unilateral transpedicular T11 vertebroplasty.")
    expect(page.get_by_role("region", name="ICD-10 (WHO)")).to_contain_text("M48.5")

    copy = page.get_by_role("button", name="Copy OPCS-4 code V44.4")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "V44.4"
    page.get_by_role("button", name="Copy all OPCS-4 codes").click()
    assert page.evaluate("navigator.clipboard.readText()") == "V44.4\nV55.1\nY53.4"
    shot(page, "coding-result")
    page.set_viewport_size(TABLET)
    shot(page, "coding-result-tablet")


def _monday_at_least_a_week_ahead() -> dt.date:
    day = dt.date.today() + dt.timedelta(days=7)
    return day + dt.timedelta(days=(0 - day.weekday()) % 7)


@pytest.mark.browser
def test_a_clinician_plans_a_monday_procedure_and_prints_the_leaflet(
    page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    monday = _monday_at_least_a_week_ahead()
    sign_in(page, "clinician")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patient plan").click()
    shot(page, "plan-form")
    page.get_by_label("Or upload a file").set_input_files(str(WARFARIN))
    page.get_by_label("Procedure date").fill(monday.isoformat())
    page.get_by_label("Procedure time (optional)").fill("08:00")
    page.get_by_role("button", name="Make the plan").click()

    expect(page.get_by_role("heading", level=2, name=f"Vertebroplasty on {long_date(monday)}"
                                                    " at 08:00")).to_be_visible()
    steps = page.get_by_role("region", name="The dated plan")
    last_dose, stop = monday - dt.timedelta(days=6), monday - dt.timedelta(days=5)
    expect(steps.get_by_role("row", name=f"{long_date(stop)} Stop warfarin")).to_contain_text(
        f"last dose {long_date(last_dose)}, none from {long_date(stop)}")
    expect(steps.get_by_role("row", name=f"{long_date(monday)} 02:00")).to_contain_text(
        "No food from 02:00")
    expect(steps.get_by_role("row", name=f"{long_date(monday)} 06:00")).to_contain_text(
        "No drinks from 06:00")
    checks = page.get_by_role("region", name="Safety and suitability checks")
    expect(checks.get_by_text("unknown", exact=True).first).to_be_visible()
    shot(page, "plan-result")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download the leaflet (PDF)").click()
    pdf = tmp_path / "leaflet.pdf"
    download.value.save_as(str(pdf))
    assert download.value.suggested_filename == f"vertebroplasty-leaflet-{monday}.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")

    page.get_by_role("heading", name="Patient leaflet").scroll_into_view_if_needed()
    page.emulate_media(media="print")
    leaflet = page.get_by_role("article", name="Patient leaflet")
    expect(leaflet.get_by_role("heading", name="Getting ready for your vertebroplasty"))\
        .to_be_visible()
    expect(leaflet).to_contain_text(f"Last dose of warfarin: {long_date(last_dose)}")
    # Printing gives the patient the leaflet only: no navigation, form or clinician's checks.
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    expect(checks).to_be_hidden()
    expect(page.get_by_role("button", name="Print the leaflet")).to_be_hidden()
    shot(page, "plan-print")
    page.emulate_media(media="screen")
    page.set_viewport_size(TABLET)
    shot(page, "plan-result-tablet")
