"""The Patient plan page: checks with citations, the dated plan, consent figures and the leaflet
(on the page and as a PDF); permissions, CSRF, and bad input shown beside its field."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape

from .conftest import REPO, Web

WARFARIN = REPO / "examples" / "prepare" / "warfarin-outpatient.yaml"
FHIR = REPO / "tests" / "fixtures" / "fhir" / "myeloma-vertebroplasty-l2.json"
# The test clock says Tuesday 6 October 2026; the procedure is the Monday after next.
MONDAY = "2026-10-19"


def plan(web: Web, text: str = "", date: str = MONDAY, time: str = "08:00",
         upload: tuple[str, bytes, str] | None = None, **extra: str) -> tuple[int, str]:
    files = {"upload": upload} if upload else {"upload": ("", b"", "application/octet-stream")}
    response = web.post_form("/app/plan", {"text": text, "procedure_date": date,
                                           "procedure_time": time, **extra}, files=files)
    return response.status_code, response.text


def text_of(fragment: str) -> str:
    from html import unescape

    return " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def section(page: str, heading_id: str) -> str:
    match = re.search(rf'aria-labelledby="{heading_id}">(.*?)</section>', page, re.S)
    assert match, f"no section {heading_id}"
    return match.group(1)


def test_a_plan_for_a_monday_gives_the_warfarin_stop_date_and_fasting_times(web: Web) -> None:
    web.sign_in("clinician")
    status, page = plan(web, upload=("warfarin-outpatient.yaml", WARFARIN.read_bytes(),
                                     "application/yaml"))
    assert status == 200
    summary = text_of(section(page, "summary-heading"))
    assert "Vertebroplasty on Monday 19 October 2026 at 08:00" in summary
    assert "Readiness: to confirm Some checks are not settled yet" in summary
    assert "warfarin-outpatient.yaml (vertebro case, case example-prepare-01)" in summary
    steps = text_of(section(page, "plan-heading"))
    assert ("Wednesday 14 October 2026 Stop warfarin at least 5 days before: last dose "
            "Tuesday 13 October 2026, none from Wednesday 14 October 2026") in steps
    assert "Monday 19 October 2026 02:00 No food from 02:00" in steps
    assert "Monday 19 October 2026 06:00 No drinks from 06:00" in steps
    assert "Until the procedure Keep taking aspirin as normal" in steps


def test_checks_show_pass_fail_unknown_in_words_with_evidence_and_citation(web: Web) -> None:
    web.sign_in("clinician")
    _, page = plan(web, WARFARIN.read_text("utf-8"))
    checks = section(page, "checks-heading")
    rows = {}
    for row in re.findall(r"<tr>.*?</tr>", checks, re.S)[1:]:
        title = re.search(r'<th scope="row" class="check-title">(.*?)</th>', row, re.S)
        assert title
        rows[text_of(title.group(1))] = row
    allergy = rows["No allergy to bone cement or contrast"]
    assert '<span class="badge status-met">pass</span>' in allergy
    assert "not met Allergic to contrast: no GP summary 2026-10-28" in text_of(allergy)
    assert "<blockquote>No known drug allergies.</blockquote>" in allergy
    assert "4.1 Relative contraindications" in allergy  # the citation's section
    # ... of a numbered source, listed with its title at the end of the clinician's part.
    cited = re.search(r'<a href="#source-(\d+)">Source \1</a>: ([^<]+)</p>', allergy)
    assert cited
    listed = re.search(rf'<li id="source-{cited.group(1)}">([^<]+)', page)
    assert listed and listed.group(1).startswith(cited.group(2).strip())
    consent = next(r for title, r in rows.items() if title.startswith("Informed consent"))
    assert '<span class="badge status-unknown">unknown</span>' in consent
    assert "To settle: Take and record consent" in text_of(consent)
    assert "not documented" in text_of(consent)


def test_a_failed_check_says_fail_and_what_to_do_without_deciding_for_the_clinician(
    web: Web,
) -> None:
    web.sign_in("clinician")
    case = WARFARIN.read_text("utf-8").replace("infection.active: false",
                                               "infection.active: true")
    _, page = plan(web, case)
    summary = text_of(section(page, "summary-heading"))
    assert "Readiness: resolve first A safety check failed" in summary
    checks = section(page, "checks-heading")
    infection = next(r for r in re.findall(r"<tr>.*?</tr>", checks, re.S)
                     if "No active infection" in r)
    assert '<span class="badge status-not-met">fail</span>' in infection
    assert "If failed: resolve before going ahead." in text_of(infection)
    assert "denied" not in page.lower()


def test_consent_figures_and_the_leaflet_are_on_the_page(web: Web) -> None:
    web.sign_in("clinician")
    _, page = plan(web, WARFARIN.read_text("utf-8"))
    consent = text_of(section(page, "consent-heading"))
    assert "risk 1 in 500 Cement leaking out and pressing on the spinal cord" in consent
    assert "(for the clinician; not in the leaflet)" in consent
    leaflet = section(page, "leaflet-heading")
    # The leaflet's own words (as in the PDF), its headings under the page's one <h1>.
    assert "<h3>Getting ready for your vertebroplasty</h3>" in leaflet
    assert "Last dose of warfarin: <strong>Tuesday 13 October 2026</strong>" in leaflet
    assert "Stop eating: <strong>02:00</strong>" in leaflet
    assert page.count("<h1") == 1 and "<h2" not in leaflet.split("</article>")[0].split(
        '<article class="leaflet"')[1]
    assert '<button type="button" class="btn btn-primary" data-print' in leaflet


def test_the_pdf_button_posts_the_same_input_and_downloads_a_pdf(web: Web) -> None:
    web.sign_in("clinician")
    _, page = plan(web, upload=("warfarin-outpatient.yaml", WARFARIN.read_bytes(),
                                "application/yaml"))
    pdf_form = re.search(r'<form method="post" action="/app/plan"[^>]*class="inline">(.*?)</form>',
                         page, re.S)
    assert pdf_form
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"',
                             pdf_form.group(1)))
    assert fields["procedure_date"] == MONDAY and fields["procedure_time"] == "08:00"
    assert fields["source_name"] == "warfarin-outpatient.yaml"
    from html import unescape

    fields = {k: unescape(v) for k, v in fields.items() if k != "csrf_token"}
    response = web.post_form("/app/plan", {**fields, "format": "pdf"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        'attachment; filename="vertebroplasty-leaflet-2026-10-19.pdf"')
    assert response.headers["cache-control"] == "no-store"
    assert response.content.startswith(b"%PDF-") and len(response.content) > 10_000


def test_a_fhir_bundle_is_read_with_the_readers_warnings_shown(web: Web) -> None:
    web.sign_in("reviewer")
    status, page = plan(web, upload=(FHIR.name, FHIR.read_bytes(), "application/fhir+json"),
                        time="")
    assert status == 200
    summary = text_of(section(page, "summary-heading"))
    assert "myeloma-vertebroplasty-l2.json (FHIR" in summary
    assert "What the reader skipped or doubted (2)" in summary
    assert "Not given: fasting is in hours before the procedure" in summary
    assert "No food" in text_of(section(page, "plan-heading"))


def test_a_pasted_note_is_read_and_the_unrecorded_blood_thinners_are_flagged(web: Web) -> None:
    web.sign_in("clinician")
    note = ("Date: 01/10/2026\nReferral for vertebroplasty of a painful T12 osteoporotic "
            "compression fracture.\nMRI shows marrow oedema at T12.\n")
    status, page = plan(web, note)
    assert status == 200
    assert "pasted text (clinical note)" in text_of(section(page, "summary-heading"))
    flags = text_of(section(page, "flags-heading"))
    assert "Blood thinners" in flags or "blood thinner" in flags
    assert "clinician to confirm" in text_of(section(page, "plan-heading"))
    # Pasted text names no patient: the leaflet does not call the placeholder case theirs.
    assert "Made for:" not in page


@pytest.mark.parametrize(("who", "allowed"), [
    ("clinician", True), ("coder", True), ("requester", True), ("auditor", False),
    ("admin", False),
])
def test_only_roles_that_may_assess_can_make_a_plan(web: Web, who: str, allowed: bool) -> None:
    web.sign_in(who)
    response = web.client.get("/app/plan")
    assert response.status_code == (200 if allowed else 403)
    if allowed:
        assert '<label for="procedure_date">Procedure date</label>' in response.text


def test_a_post_without_the_form_token_is_refused(web: Web) -> None:
    web.sign_in("clinician")
    response = web.client.post("/app/plan", data={
        "text": WARFARIN.read_text("utf-8"), "procedure_date": MONDAY, "format": "pdf"})
    assert response.status_code == 403
    assert "did not come from vertebro" in response.text
    assert response.headers["content-type"].startswith("text/html")


def _error(page: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.S)
    assert match, f"no error beside {field}"
    return text_of(match.group(1)).removeprefix("Error: ")


@pytest.mark.parametrize(("form", "upload", "field", "message"), [
    ({"text": "", "procedure_date": MONDAY}, None, "text",
     "Paste a clinical note, a FHIR bundle or a vertebro case file, or choose a file."),
    ({"procedure_date": ""}, None, "procedure_date",
     "Enter the procedure date, for example 2026-12-07."),
    ({"procedure_date": "19/10/2026"}, None, "procedure_date",
     "The procedure date is not a date"),
    ({"procedure_date": "2026-10-05"}, None, "procedure_date",
     "The procedure date 2026-10-05 is in the past (today is 2026-10-06)."),
    ({"procedure_time": "8 o'clock"}, None, "procedure_time",
     "The time is not a time: use the 24-hour clock"),
    ({"text": "Knee pain for two weeks.\n"}, None, "text",
     "The clinical note names no vertebroplasty, kyphoplasty or sacroplasty request"),
    ({"text": ""}, ("patient.json", b'{"resourceType": "Patient", "id": "p1"}',
                    "application/fhir+json"), "upload",
     "The FHIR input names no vertebroplasty, kyphoplasty or sacroplasty request"),
    ({"text": ""}, ("case.yaml", b"requests: [vertebroplasty]\nfacts: {patient.age: [}\n",
                    "application/yaml"), "upload", "Line 2:"),
    ({"text": ""}, ("case.yaml", b"requests: [vertebroplasty]\nfacts:\n  made.up: 3\n",
                    "application/yaml"), "upload", "Line 3:"),
])
def test_bad_input_is_shown_next_to_its_field(
    web: Web, form: dict[str, str], upload: tuple[str, bytes, str] | None, field: str,
    message: str,
) -> None:
    web.sign_in("clinician")
    data = {"text": WARFARIN.read_text("utf-8"), "procedure_date": MONDAY,
            "procedure_time": "08:00", **form}
    response = web.post_form("/app/plan", data, files={
        "upload": upload or ("", b"", "application/octet-stream")})
    assert response.status_code == 400
    assert _error(response.text, field).startswith(message)
    assert re.search(rf'id="{field}"[^>]*aria-describedby="[^"]*{field}-error"', response.text)
    assert f'<li><a href="#{field}">' in response.text
    assert 'id="checks-heading"' not in response.text
    # What was typed stays in the form.
    if data["procedure_date"]:
        assert f'value="{escape(data["procedure_date"])}"' in response.text
