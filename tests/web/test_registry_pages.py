"""The registry pages in-process: recording a procedure, complications and follow-ups through
plain forms (POST then redirect), refused values shown next to their field and linked for
screen readers, the linked case's pathway, draft incident reports, the audit report with its
full HTML and PDF, and the same permissions as the API - every refusal a page, never a 500."""

from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
import yaml

from vertebro.web.pages import PAGES
from vertebro.web.pages import registry as registry_pages

from .conftest import REPO, Web

EXAMPLES = REPO / "examples"
API_KEYS = {"requester": "dev-requester-key", "other-org": "dev-requester-other-org-key",
            "auditor": "dev-auditor-key"}
PROCEDURE = {
    "id": "P1", "date": "2026-09-01", "operator": "OP-A", "procedure": "vertebroplasty",
    "levels": "T12-L1", "approach": "bilateral", "image_guidance": "fluoroscopy",
    "cement_ml": "T12=3.5; L1=4", "biopsy": "yes", "patient": "PT-9", "age": "81",
    "sex": "female", "cement_product": "Demo PMMA", "cement_manufacturer": "Demo Medical",
    "cement_lot": "LOT-7", "cement_expiry": "2027-01-31", "case_id": "",
}
LEAK = {"id": "C1", "kind": "cement-leak", "date": "2026-09-01", "symptomatic": "yes",
        "leak_site": "veins", "fracture_site": "", "level": "", "cause": "",
        "further_intervention": "no", "outcome": "recovered", "device_related": "yes",
        "description": "Small venous leak seen on fluoroscopy"}
BASELINE = {"timepoint": "baseline", "date": "2026-08-30", "pain": "8",
            "analgesics": "strong-opioid", "mobility": "with-aids", "roland_morris": "18"}


@pytest.fixture
def site(web: Web) -> Web:
    """The web pages with the registry's (until the lead lists `registry` in `PAGES`, the
    router is added here; the pages under test are the same either way)."""
    if registry_pages.router not in PAGES:
        web.client.app.include_router(registry_pages.router)  # type: ignore[attr-defined]
    return web


def text(html: str) -> str:
    """The page's words, without tags and runs of white space."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def record(web: Web, **changes: str) -> Any:
    return web.post_form("/app/registry/new", {**PROCEDURE, **changes})


def api_list(web: Web, who: str = "requester") -> list[dict[str, Any]]:
    response = web.client.get("/registry/procedures", headers={"X-API-Key": API_KEYS[who]})
    assert response.status_code == 200
    listed: list[dict[str, Any]] = response.json()["procedures"]
    return listed


class _Fields(HTMLParser):
    """Every form control's id, and every label's `for`."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labels: set[str] = set()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "label" and values.get("for"):
            self.labels.add(str(values["for"]))
        if tag in ("input", "select", "textarea") and values.get("type") != "hidden":
            self.controls.append(values)


def fields(html: str) -> _Fields:
    parser = _Fields()
    parser.feed(html)
    return parser


def assert_accessible_form(html: str) -> None:
    """Every control has a label; every aria-describedby points at something on the page."""
    found = fields(html)
    assert found.controls
    for control in found.controls:
        assert control.get("id") in found.labels, control
        for target in (control.get("aria-describedby") or "").split():
            assert target in found.ids, (control, target)


# --- Recording ----------------------------------------------------------------------------------


def test_record_a_procedure_through_the_form(site: Web) -> None:
    site.sign_in("clinician")
    home = site.client.get("/app").text
    assert 'href="/app/registry"' in home  # in the navigation for a recording unit
    form = site.client.get("/app/registry/new")
    assert form.status_code == 200
    assert_accessible_form(form.text)
    assert 'value="2026-10-06"' in form.text  # today by default
    response = record(site)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/registry/procedures/P1?done=registry-procedure"
    page = site.client.get(response.headers["location"])
    words = text(page.text)
    assert "The procedure is recorded, with your name and the time." in words
    assert "Vertebroplasty at T12, L1 on 2026-09-01" in words
    assert "T12 3.5 mL; L1 4.0 mL" in words and "lot LOT-7" in words
    assert "Dr Claire Referrer (org-demo-hospital)" in words
    stored = api_list(site)
    assert [(p["id"], p["levels"], p["biopsy"], p["recorded_by"]["id"]) for p in stored] == [
        ("P1", ["T12", "L1"], True, "demo-clinician")]
    listed = text(site.client.get("/app/registry").text)
    assert "P1 vertebroplasty" in listed and "OP-A" in listed


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"levels": "L9", "cement_ml": "L9=3"}, "levels", "Not a spinal level: L9"),
    ({"cement_ml": "T12=3.5"}, "cement_ml", "No volume for treated level L1"),
    ({"age": "184"}, "age", "'184' is above the maximum of 120"),
    ({"date": "2026-12-01"}, "date", "2026-12-01 is in the future"),
    ({"cement_expiry": "2026-01-01"}, "cement_expiry", "is before the procedure"),
    ({"id": ""}, "id", "Is required"),
    ({"case_id": "no-such-case"}, "case_id", "No prior-authorisation case 'no-such-case'"),
    ({"operator": "OP\x00A"}, "operator", "cannot be stored"),
])
def test_a_refused_value_is_shown_next_to_its_field(
    site: Web, changes: dict[str, str], field: str, message: str
) -> None:
    site.sign_in("requester")
    response = record(site, **changes)
    assert response.status_code == 400
    html = response.text
    error = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', html, re.S)
    assert error, f"no error beside {field}"
    assert message in text(error.group(1))
    control = re.search(rf'<(?:input|select)[^>]* id="{field}"[^>]*>', html)
    assert control and f"{field}-error" in control.group(0)
    assert 'aria-invalid="true"' in control.group(0)
    assert f'href="#{field}"' in html  # the summary links to the field
    assert_accessible_form(html)
    typed = {**PROCEDURE, **changes}
    assert f'value="{typed["levels"]}"' in html  # what was typed is kept
    assert "\x00" not in html  # except what cannot be stored
    assert api_list(site) == []


def test_forms_without_their_token_are_refused(site: Web) -> None:
    site.sign_in("requester")
    response = site.client.post("/app/registry/new", data=PROCEDURE, follow_redirects=False)
    assert response.status_code == 403 and "This form has expired" in response.text
    assert api_list(site) == []


def test_complications_and_follow_ups_through_the_forms(site: Web) -> None:
    site.sign_in("requester")
    assert record(site).status_code == 303
    page = site.client.get("/app/registry/procedures/P1")
    assert_accessible_form(page.text)
    leak = site.post_form("/app/registry/procedures/P1/complications", LEAK)
    assert leak.status_code == 303
    assert leak.headers["location"].endswith("?done=registry-complication#complications")
    baseline = site.post_form("/app/registry/procedures/P1/follow-ups", BASELINE)
    assert baseline.status_code == 303
    words = text(site.client.get("/app/registry/procedures/P1").text)
    assert "Cement leak (C1)" in words and "Symptomatic, into veins" in words
    assert "Baseline (before the procedure) 2026-08-30 8 strong opioid with aids 18" in words
    # Refused values are shown beside the right form's field, and nothing is stored.
    pain = site.post_form("/app/registry/procedures/P1/follow-ups",
                          {**BASELINE, "timepoint": "2-weeks", "date": "2026-09-15",
                           "pain": "14"})
    assert pain.status_code == 400
    assert "'14' is above the maximum of 10" in text(
        re.search(r'id="f-pain-error">(.*?)</p>', pain.text, re.S).group(1))  # type: ignore[union-attr]
    early = site.post_form("/app/registry/procedures/P1/follow-ups",
                           {**BASELINE, "timepoint": "3-months", "date": "2026-08-01"})
    assert early.status_code == 400 and 'id="f-date-error"' in early.text
    assert "is not after the procedure on 2026-09-01" in text(early.text)
    assert 'id="c-date-error"' not in early.text  # the other form is untouched
    no_site = site.post_form("/app/registry/procedures/P1/complications",
                             {**LEAK, "id": "C2", "leak_site": ""})
    assert no_site.status_code == 400 and 'id="c-leak_site-error"' in no_site.text
    twice = site.post_form("/app/registry/procedures/P1/complications", LEAK)
    assert twice.status_code == 400
    assert "each record needs its own id" in text(twice.text)
    detail = site.client.get("/registry/procedures/P1",
                             headers={"X-API-Key": API_KEYS["requester"]}).json()
    assert [c["id"] for c in detail["complications"]] == ["C1"]
    assert [f["timepoint"] for f in detail["follow_ups"]] == ["baseline"]
    missing = site.post_form("/app/registry/procedures/P404/follow-ups", BASELINE)
    assert missing.status_code == 404


def test_a_device_incident_report_from_the_procedure_page(site: Web) -> None:
    site.sign_in("requester")
    record(site)
    site.post_form("/app/registry/procedures/P1/complications", LEAK)
    page = site.client.get("/app/registry/procedures/P1").text
    assert 'href="/app/registry/complications/C1/incident"' in page
    html = site.client.get("/app/registry/complications/C1/incident")
    assert html.status_code == 200 and "LOT-7" in html.text and "Demo PMMA" in html.text
    pdf = site.client.get("/app/registry/complications/C1/incident?format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    site.post_form("/app/registry/procedures/P1/complications",
                   {**LEAK, "id": "C2", "kind": "bleeding", "symptomatic": "", "leak_site": "",
                    "device_related": "no"})
    refused = site.client.get("/app/registry/complications/C2/incident")
    assert refused.status_code == 400 and "device" in refused.text


def test_a_record_number_with_slashes_has_its_pages(site: Web) -> None:
    # "RBH/2026/0001" is a valid record id: the list links to its page, and its forms and its
    # complication's incident report work at the addresses the pages give.
    site.sign_in("requester")
    assert record(site, id="RBH/2026/0001").status_code == 303
    listed = site.client.get("/app/registry").text
    assert 'href="/app/registry/procedures/RBH/2026/0001"' in listed
    page = site.client.get("/app/registry/procedures/RBH/2026/0001")
    assert page.status_code == 200 and "RBH/2026/0001" in page.text
    assert 'action="/app/registry/procedures/RBH/2026/0001/complications"' in page.text
    leak = site.post_form("/app/registry/procedures/RBH/2026/0001/complications",
                          {**LEAK, "id": "C/1"})
    assert leak.status_code == 303, leak.text
    assert leak.headers["location"].startswith("/app/registry/procedures/RBH/2026/0001?")
    follow_up = site.post_form("/app/registry/procedures/RBH/2026/0001/follow-ups", BASELINE)
    assert follow_up.status_code == 303, follow_up.text
    words = text(site.client.get("/app/registry/procedures/RBH/2026/0001").text)
    assert "Cement leak (C/1)" in words and "Baseline (before the procedure)" in words
    report = site.client.get("/app/registry/complications/C/1/incident")
    assert report.status_code == 200 and "LOT-7" in report.text


def test_the_pathway_comes_from_the_linked_case(site: Web) -> None:
    document = json.loads(json.dumps(yaml.safe_load(
        (EXAMPLES / "01-osteoporotic-l1-failed-conservative.yaml").read_text("utf-8")),
        default=str))
    case = site.client.post("/cases", headers={"X-API-Key": API_KEYS["requester"]},
                            json={"identifier": "WEB-REG-1", "document": document}).json()
    assert case["state"] == "approved-automatically"
    decided_by = case["assessment"]["determinations"][0]["decided_by"]
    site.sign_in("clinician")  # the same hospital as the requesting system
    prefilled = site.client.get(f"/app/registry/new?case_id={case['id']}").text
    assert f'value="{case["id"]}"' in prefilled
    response = record(site, date="2026-10-06", levels="L1", cement_ml="L1=4",
                      case_id=case["id"])
    assert response.status_code == 303, text(response.text)
    words = text(site.client.get("/app/registry/procedures/P1").text)
    assert f"under the pathway carefirst: {decided_by.replace('-', ' ')}" in words
    report = text(site.client.get("/app/registry/report").text)
    assert f"carefirst: {decided_by}" in report
    site.sign_in("other-org")
    theirs = record(site, date="2026-10-06", levels="L1", cement_ml="L1=4", case_id=case["id"])
    assert theirs.status_code == 400 and 'id="case_id-error"' in theirs.text


# --- The audit report ---------------------------------------------------------------------------


def test_the_audit_report_page_with_the_full_report_and_pdf(site: Web) -> None:
    site.sign_in("requester")
    record(site)
    site.post_form("/app/registry/procedures/P1/complications", LEAK)
    page = site.client.get("/app/registry/report")
    assert page.status_code == 200
    words = text(page.text)
    assert "1 procedure, 1 operator" in words
    assert re.search(r"Cement leakage 1 / 1 100\.0% \(\d", words)
    assert "Consistent with the published figure" in words or "Above the published" in words
    assert 'href="/app/registry/report.html"' in page.text
    full = site.client.get("/app/registry/report.html")
    assert full.status_code == 200 and "data:image/png;base64," in full.text
    pdf = site.client.get("/app/registry/report.pdf?from=2026-01-01")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    backwards = site.client.get("/app/registry/report?from=2026-05-01&to=2026-01-01")
    assert backwards.status_code == 400 and 'id="to-error"' in backwards.text
    bad_date = site.client.get("/app/registry/report.pdf?from=soon")
    assert bad_date.status_code == 400


# --- Who may do what ----------------------------------------------------------------------------


def test_roles_and_organisations(site: Web) -> None:
    site.sign_in("requester")
    record(site)
    site.sign_in("reviewer")
    for path in ("/app/registry", "/app/registry/new", "/app/registry/report",
                 "/app/registry/procedures/P1"):
        response = site.client.get(path)
        assert response.status_code == 403, path
        assert "may not" in response.text
    assert 'href="/app/registry"' not in site.client.get("/app").text
    site.sign_in("other-org")
    assert site.client.get("/app/registry/procedures/P1").status_code == 404
    assert "No procedures recorded" in site.client.get("/app/registry").text
    site.sign_in("auditor")
    listed = site.client.get("/app/registry").text
    assert "org-demo-hospital" in listed and "Record a procedure" not in listed
    assert site.client.get("/app/registry/new").status_code == 403
    detail = site.client.get("/app/registry/procedures/P1")
    assert detail.status_code == 200 and "Add a complication" not in detail.text
    assert site.client.get("/app/registry/procedures/bad%20id").status_code == 404
    site.client.cookies.clear()
    signed_out = site.client.get("/app/registry", follow_redirects=False)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/app/login")
