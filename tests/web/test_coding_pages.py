"""The Coding page: codes per system in reporting order with confidence in words, evidence,
questions and copy buttons; permissions, CSRF, and bad input shown beside its field."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from vertebro.server import create_server
from vertebro.settings import Settings

from .conftest import REPO, SHARED, START, FakeClock, Web

REAL_NOTE = SHARED / "fixtures" / "notes" / "vertebroplasty.txt"
NOTES = REPO / "tests" / "fixtures" / "operative_notes"
BUNDLES = REPO / "tests" / "coding" / "data"


@pytest.fixture(autouse=True)
def no_loaded_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped code tables only: no release loaded in the tester's own data directory."""
    monkeypatch.setenv("VERTEBRO_HOME", str(tmp_path / "vertebro-home"))


def code(web: Web, text: str = "", systems: str = "uk",
         upload: tuple[str, bytes, str] | None = None, **extra: str) -> tuple[int, str]:
    files = {"upload": upload} if upload else {"upload": ("", b"", "application/octet-stream")}
    response = web.post_form("/app/coding", {"text": text, "systems": systems, **extra},
                             files=files)
    return response.status_code, response.text


def block(page: str, system_id: str) -> str:
    """The HTML of one system's block."""
    match = re.search(rf'<section class="card code-system" aria-labelledby="system-{system_id}">'
                      r"(.*?)</section>", page, re.S)
    assert match, f"no {system_id} block"
    return match.group(1)


def rows(section: str) -> list[str]:
    return re.findall(r'<tr class="code-line.*?</tr>', section, re.S)


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def test_a_real_operative_note_gets_opcs4_codes_in_order_with_confidence_and_evidence(
    web: Web,
) -> None:
    web.sign_in("coder")
    status, page = code(web, REAL_NOTE.read_text(encoding="utf-8"))
    assert status == 200
    opcs = block(page, "opcs4")
    lines = [text_of(r) for r in rows(opcs)]
    # Position, code, title, level, confidence - in reporting order.
    assert lines[0].startswith("1 V44.4 Copy Vertebroplasty of fracture of spine")
    assert "T11" in lines[0]
    assert lines[0].endswith("unconfirmed - check against the official release")
    assert lines[1].startswith("2 V55.1 Copy One level of spine") and lines[1].endswith("confirmed")
    assert "unconfirmed" not in lines[1]
    assert lines[2].startswith("3 Y53.4")
    assert "no code yet" in lines[3] and "Site code" in lines[3]
    # The evidence is the note's own words, linked to the highlighted span in the note.
    assert "<blockquote>Unilateral transpedicular T11 vertebroplasty.</blockquote>" in rows(opcs)[0]
    link = re.search(r'<a href="#(ev-\d+)">show in the note</a>', rows(opcs)[0])
    assert link
    assert (f'<mark class="evidence" id="{link.group(1)}">Unilateral transpedicular T11 '
            "vertebroplasty.</mark>") in page
    # Copy: one code, and the whole block in order without the line that has no code.
    assert 'data-copy="V44.4"' in rows(opcs)[0]
    assert 'data-copy="V44.4\nV55.1\nY53.4"' in opcs
    assert "leaves out the 1 line with no confirmed code yet" in opcs
    icd = block(page, "icd10")
    assert "M48.5" in icd and "Collapsed vertebra" in icd
    assert 'id="system-cpt"' not in page  # the UK systems only
    questions = text_of(page.split('id="questions-heading"')[1].split("</section>")[0])
    assert "Cement leakage is documented at T11" in questions
    assert "Ask: Did the cement leakage cause a clinical complication" in questions


def test_a_fhir_bundle_upload_is_coded_in_the_us_systems_with_resource_evidence(
    web: Web,
) -> None:
    web.sign_in("clinician")
    bundle = (BUNDLES / "bundle-kyphoplasty.json").read_bytes()
    status, page = code(web, systems="us",
                        upload=("bundle-kyphoplasty.json", bundle, "application/fhir+json"))
    assert status == 200
    cpt = [text_of(r) for r in rows(block(page, "cpt"))]
    assert cpt[0].startswith("1 22513 Copy") and "T12" in cpt[0]
    assert cpt[1].startswith("2 22515 Copy") and "(add-on)" in cpt[1]
    assert "M80.08XA" in block(page, "icd10cm")
    assert 'id="system-opcs4"' not in page
    assert "FHIR Procedure/" in page  # the evidence names the resource
    assert "The note, with the evidence highlighted" not in page  # no note to highlight
    # The file's text comes back in the text area, named, so coding again needs no upload.
    assert "This is the text of <strong>bundle-kyphoplasty.json</strong>" in page
    assert 'name="source_name" value="bundle-kyphoplasty.json"' in page


def test_the_uploaded_name_is_kept_only_while_the_text_is_unchanged(web: Web) -> None:
    web.sign_in("coder")
    note = (NOTES / "01-vertebroplasty-l1-postmenopausal.txt").read_text(encoding="utf-8")
    _, first = code(web, upload=("theatre-note.txt", note.encode(), "text/plain"))
    digest = re.search(r'name="source_digest" value="([0-9a-f]+)"', first)
    assert digest
    _, again = code(web, note.replace("\n", "\r\n"), source_name="theatre-note.txt",
                    source_digest=digest.group(1))
    assert "From <strong>theatre-note.txt</strong>" in again
    _, edited = code(web, note + "\nAddendum.", source_name="theatre-note.txt",
                     source_digest=digest.group(1))
    assert "From <strong>pasted text</strong>" in edited


def test_a_note_without_a_performed_procedure_gets_no_codes_and_the_reason(web: Web) -> None:
    web.sign_in("coder")
    status, page = code(web, (NOTES / "27-procedure-not-performed.txt").read_text("utf-8"))
    assert status == 200
    assert "<strong>No codes.</strong> The procedure is mentioned but not described" in page
    assert "code-system" not in page
    assert "Is there an operative note or procedure record" in page


@pytest.mark.parametrize(("who", "allowed"), [
    ("coder", True), ("clinician", True), ("reviewer", True), ("auditor", False),
    ("admin", False),
])
def test_only_roles_that_may_assess_can_code(web: Web, who: str, allowed: bool) -> None:
    web.sign_in(who)
    page = web.client.get("/app/coding")
    assert page.status_code == (200 if allowed else 403)
    if not allowed:
        assert "may not assess" in page.text
        posted = web.client.post("/app/coding", data={"text": "T12 vertebroplasty performed.",
                                                      "systems": "uk", "csrf_token": "x"})
        assert posted.status_code == 403
        assert "code-system" not in posted.text


def test_signed_out_coding_goes_to_sign_in(web: Web) -> None:
    response = web.client.get("/app/coding", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/login?next=%2Fapp%2Fcoding"


def test_a_post_without_the_form_token_is_refused_and_codes_nothing(web: Web) -> None:
    web.sign_in("coder")
    response = web.client.post("/app/coding", data={
        "text": REAL_NOTE.read_text("utf-8"), "systems": "uk", "csrf_token": "0" * 64})
    assert response.status_code == 403
    assert "did not come from vertebro" in response.text
    assert "V44.4" not in response.text


def _error(page: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.S)
    assert match, f"no error beside {field}"
    return text_of(match.group(1))


@pytest.mark.parametrize(("form", "upload", "field", "message"), [
    ({"text": "   "}, None, "text",
     "Paste an operative note (text) or FHIR Procedure and Condition JSON, or choose a file."),
    ({"text": '{"resourceType": "Bundle", '}, None, "text", "Line 1: Not valid JSON"),
    ({"text": '{"entry": []}'}, None, "text",
     "JSON input must be a FHIR resource or Bundle (no resourceType)."),
    ({}, ("op.json", b'{"resourceType": "Bundle",\n  "entry": [}', "application/json"),
     "upload", "Line 2: Not valid JSON"),
    ({}, ("op.txt", b"\xff\xfe\x00vertebroplasty", "text/plain"), "upload",
     "The file is not UTF-8 text"),
    ({}, ("op.txt", b"  \n", "text/plain"), "upload", "The file is empty."),
    ({"text": "T12 vertebroplasty performed.", "systems": "everything"}, None, "systems",
     "Choose the code systems."),
])
def test_bad_input_is_shown_next_to_its_field(
    web: Web, form: dict[str, str], upload: tuple[str, bytes, str] | None, field: str,
    message: str,
) -> None:
    web.sign_in("coder")
    data = {"systems": "uk", **form}
    response = web.post_form("/app/coding", data, files={
        "upload": upload or ("", b"", "application/octet-stream")})
    assert response.status_code == 400
    assert _error(response.text, field).startswith("Error: " + message)
    if field != "systems":  # the field points at its message for screen readers
        assert re.search(rf'id="{field}"[^>]*aria-describedby="[^"]*{field}-error"',
                         response.text)
    assert 'role="alert"' in response.text
    assert f'href="#{"systems-uk" if field == "systems" else field}"' in response.text
    assert "code-system" not in response.text
    if "text" in form and form["text"].strip():  # what was typed is kept
        assert str(escape(form["text"])) in response.text


@pytest.mark.parametrize(("size", "field", "upload", "message"), [
    (5_100_000, "text", False, "The text is 5,100,000 bytes; the limit is 5,000,000."),
    (6_500_000, "text", False, "The text is too long for the form; upload it as a file."),
    (5_000_001, "upload", True, "The file is larger than the limit of 5,000,000 bytes."),
])
def test_too_large_input_is_refused_beside_its_field_not_with_an_error_page(
    tmp_path: Path, size: int, field: str, upload: bool, message: str,
) -> None:
    # A service that accepts larger request bodies than the default (5 MB, the same as the
    # coding limit), so that the page's own limits are the ones reached.
    app = create_server(Settings(database_url=f"sqlite:///{tmp_path / 'web.db'}",
                                 warm_up=False, max_body_bytes=20_000_000),
                        clock=FakeClock(START))
    with TestClient(app) as client:
        _too_large(Web(client, FakeClock(START)), size, field, upload, message)


def _too_large(web: Web, size: int, field: str, upload: bool, message: str) -> None:
    web.sign_in("coder")
    big = "a" * size
    if upload:
        status, page = code(web, upload=("big.txt", big.encode(), "text/plain"))
    else:
        status, page = code(web, big)
    assert status == 400
    assert _error(page, field) == "Error: " + message
