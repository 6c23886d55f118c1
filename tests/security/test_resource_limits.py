"""Bounded resources: huge bodies (413), deeply nested JSON (400, no RecursionError, memory
measured with tracemalloc), characters and numbers no database can store, very long strings,
and zip-bomb-like attachments (one large Binary named by thousands of documents, a huge
attachment, many texts, gzip/deflate bodies) - each refused with a clear OperationOutcome or
InputError, on SQLite and PostgreSQL, never a 500."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import time
import tracemalloc
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir import load_fhir_file, read_fhir
from vertebro.adapters.fhir.bundle import MAX_JSON_DEPTH
from vertebro.adapters.fhir.context import MAX_WARNINGS
from vertebro.adapters.fhir.documents import (
    MAX_BUNDLE_DECODED_BYTES,
    MAX_BUNDLE_TEXT_CHARS,
    MAX_BUNDLE_TEXTS,
    MAX_TEXT_CHARS,
)
from vertebro.adapters.nlp import read_note
from vertebro.adapters.nlp.extract import MAX_NOTE_BREAKS, MAX_PASSAGE_CHARS

from .conftest import (
    HOSPITAL,
    Json,
    Service,
    as_account,
    case_document,
    outcome_text,
    service,
    va_hook_request,
    va_pas_bundle,
)

FHIR = {"content-type": "application/fhir+json"}
# Every route that reads a JSON body, with a valid body for it.
JSON_ROUTES: dict[str, Callable[[], Json]] = {
    "/assessments": lambda: va_pas_bundle("LIM-A"),
    "/cases": lambda: {"identifier": "LIM-C", "document": case_document(
        "10-osteoporotic-undocumented-treatment.yaml")},
    "/fhir/Claim/$submit": lambda: va_pas_bundle("LIM-S"),
    "/fhir/Claim/$inquire": lambda: va_pas_bundle("LIM-I"),
    "/cds-services/vertebro-order-sign": va_hook_request,
    "/fhir/Questionnaire/$questionnaire-package": lambda: {
        "resourceType": "Parameters", "parameter": []},
}


def post_raw(api: Service, path: str, raw: bytes, **headers: str) -> Any:
    return api.client.post(path, content=raw, headers={**as_account(HOSPITAL), **FHIR,
                                                       **headers})


def peak_memory(action: Callable[[], Any]) -> tuple[Any, float]:
    """The action's result and the peak of memory allocated meanwhile, in MB."""
    tracemalloc.start()
    try:
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak / 1e6


# --- Size -------------------------------------------------------------------------------------


@pytest.fixture
def small_api(sqlite_url: str) -> Iterator[Service]:
    with service(sqlite_url, max_body_bytes=5_000) as running:
        yield running


@pytest.mark.parametrize("path", [*JSON_ROUTES, "/cases/x/answers", "/auth/token",
                                  "/registry/imports"])
def test_a_body_over_the_limit_is_413_declared_or_streamed(small_api: Service, path: str) -> None:
    media = {"content-type": "application/x-www-form-urlencoded"} if path == "/auth/token" else {}
    declared = post_raw(small_api, path, b" " * 5_001, **media)
    assert declared.status_code == 413
    assert "5,000 bytes" in outcome_text(declared)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
        for _ in range(20):
            yield b" " * 1_000

    streamed = post_raw(small_api, path, chunks(), **media)  # type: ignore[arg-type]
    assert streamed.status_code == 413
    assert small_api.get("/cases").json()["count"] == 0
    assert small_api.unexpected_errors == 0


# --- Nesting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(JSON_ROUTES))
@pytest.mark.parametrize("shape", ["list", "object"])
def test_json_nested_100000_deep_is_a_400_in_bounded_memory(
    api: Service, path: str, shape: str
) -> None:
    depth = 100_000
    raw = (b"[" * depth + b"]" * depth if shape == "list"
           else b'{"a":' * depth + b"1" + b"}" * depth)
    response, peak = peak_memory(lambda: post_raw(api, path, raw))
    assert response.status_code == 400
    assert "nested" in outcome_text(response)
    assert peak < 50, f"{peak:.1f} MB for a {len(raw):,}-byte body"
    assert api.unexpected_errors == 0


@pytest.mark.parametrize("path", list(JSON_ROUTES))
def test_json_nested_past_the_depth_limit_is_refused_before_any_reader(
    api: Service, path: str
) -> None:
    """Deep enough to pass json.loads, too deep for the readers, the database driver and the
    encoders further on (real FHIR is about 20 levels deep)."""
    body = JSON_ROUTES[path]()
    nested: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH + 50):
        nested = {"extension": [nested]}
    body["deep"] = nested
    response = post_raw(api, path, json.dumps(body).encode())
    assert response.status_code == 400
    assert f"nested more than {MAX_JSON_DEPTH} levels" in outcome_text(response)
    assert api.unexpected_errors == 0


def test_the_fhir_file_reader_refuses_deep_json(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"resourceType": "Bundle", "entry": ' + "[" * 900 + "]" * 900 + "}")
    with pytest.raises(InputError, match="nested more than"):
        load_fhir_file(path)


# --- What no database can store ---------------------------------------------------------------


def _with_claim_identifier(value: str) -> Json:
    bundle = va_pas_bundle("LIM-X")
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = value
    return bundle


def _with_member_id(value: str) -> Json:
    bundle = va_pas_bundle("LIM-M")
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["identifier"][0]["value"] = value
    return bundle


@pytest.mark.parametrize(("what", "path", "raw"), [
    ("NUL in a string", "/fhir/Claim/$submit",
     json.dumps(_with_claim_identifier("nul\u0000here")).encode()),
    ("NUL in a key", "/assessments",
     json.dumps({**va_pas_bundle("LIM-K"), "ke\u0000y": 1}).encode()),
    ("lone surrogate", "/fhir/Claim/$submit", b'{"resourceType": "Bundle", "x": "\\ud800"}'),
    ("lone surrogate in a case", "/cases",
     b'{"identifier": "a\\udfffb", "document": {"requests": ["vertebroplasty"]}}'),
])
def test_unstorable_characters_are_a_400(api_any: Service, what: str, path: str,
                                         raw: bytes) -> None:
    response = post_raw(api_any, path, raw)
    assert response.status_code == 400, what
    assert "NUL character or an unpaired surrogate" in outcome_text(response)
    assert api_any.unexpected_errors == 0


@pytest.mark.parametrize(("path", "account", "status"), [
    ("/cases/a%00b", HOSPITAL, 400),
    ("/cases/" + "a" * 5000, HOSPITAL, 404),
    ("/cases/" + "a" * 5000, "demo-coder", 404),
    ("/cases/" + "a" * 5000 + "/decision", "demo-coder", 403),
    ("/cases?state=a%00", HOSPITAL, 400),
    ("/cases?offset=99999999999999999999999", HOSPITAL, 400),
    ("/cases?limit=-99999999999999999999999", HOSPITAL, 400),
    ("/audit-events?case=a%00b", "demo-auditor", 400),
    ("/audit-events?offset=18446744073709551616", "demo-auditor", 400),
    ("/audit-events?case=" + "c" * 5000 + "&agent=" + "d" * 5000, "demo-auditor", 200),
    ("/registry/procedures?offset=18446744073709551616", "demo-auditor", 400),
    ("/registry/procedures?offset=00000000000000000000000000000000000000000009", "demo-auditor",
     200),
])
def test_urls_no_database_can_take(api_any: Service, path: str, account: str,
                                   status: int) -> None:
    method = "POST" if path.endswith("/decision") else "GET"
    response = api_any.client.request(method, path, headers=as_account(account),
                                      json={"decision": "approve", "reason": "x"})
    assert response.status_code == status, response.text[:300]
    if status >= 400:
        outcome_text(response)
    assert api_any.unexpected_errors == 0


@pytest.mark.parametrize("path", list(JSON_ROUTES))
@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999",
                                    b"1" * 5000])
def test_numbers_json_does_not_have_are_a_400(api: Service, path: str, number: bytes) -> None:
    """Python's JSON reader takes NaN, Infinity and 1e999 (as float infinity), and fails on
    integers over 4,300 digits with a ValueError; none is JSON a store or encoder can take."""
    response = post_raw(api, path, b'{"resourceType": "Bundle", "value": ' + number + b"}")
    assert response.status_code == 400
    assert "malformed JSON" in outcome_text(response)
    assert api.unexpected_errors == 0


def test_the_fhir_file_reader_refuses_numbers_json_does_not_have(tmp_path: Path) -> None:
    path = tmp_path / "nan.json"
    for number in ("NaN", "1e999", "7" * 5000):
        path.write_text('{"resourceType": "Patient", "x": ' + number + "}")
        with pytest.raises(InputError, match="not valid JSON"):
            load_fhir_file(path)


# --- Long strings -----------------------------------------------------------------------------


@pytest.mark.parametrize(("what", "path", "body", "statuses"), [
    ("a 3,000-character Claim identifier", "/fhir/Claim/$submit",
     lambda: _with_claim_identifier("x" * 3_000), {400}),
    ("a 3,000-character member id", "/fhir/Claim/$submit",
     lambda: _with_member_id("m" * 3_000), {200, 400}),  # kept by SQLite, refused by PostgreSQL
    ("a 1 MB case identifier", "/cases",
     lambda: {"identifier": "i" * 1_000_000, "document": {"requests": ["vertebroplasty"]}},
     {400}),
    ("a 4 MB narrative", "/fhir/Claim/$submit", lambda: _narrative(4_000_000), {200}),
    ("a 1 MB policy name", "/cases",
     lambda: {"identifier": "LIM-P", "policy": "p" * 1_000_000,
              "document": case_document("10-osteoporotic-undocumented-treatment.yaml")},
     {400}),
])
def test_long_strings(api_any: Service, what: str, path: str, body: Callable[[], Json],
                      statuses: set[int]) -> None:
    response = post_raw(api_any, path, json.dumps(body()).encode())
    assert response.status_code in statuses, (what, response.text[:300])
    if response.status_code >= 400:
        assert len(outcome_text(response)) < 2_000  # the value is not echoed back
    assert api_any.unexpected_errors == 0


def _narrative(size: int) -> Json:
    bundle = va_pas_bundle(f"LIM-N{size}")
    bundle["entry"][0]["resource"]["text"] = {"status": "generated",
                                              "div": "<div>" + "n" * size + "</div>"}
    return bundle


def test_a_long_reason_is_refused(api: Service) -> None:
    case = api.post("/cases", JSON_ROUTES["/cases"]()).json()["id"]
    response = api.post(f"/cases/{case}/decision", {"decision": "deny", "reason": "r" * 100_000},
                        "demo-reviewer")
    assert response.status_code == 400
    outcome_text(response)


@pytest.mark.parametrize(("note", "words"), [
    ("x" * 300_000, "the limit is 200,000"),
    ("L1 fracture " * (MAX_PASSAGE_CHARS // 12 + 10), "without a full stop"),
    ("Pain. " * (MAX_NOTE_BREAKS + 10), "sentence breaks"),
])
def test_notes_too_costly_to_read_are_refused(api: Service, note: str, words: str) -> None:
    started = time.perf_counter()
    response = api.client.post("/assessments", content=note.encode(),
                               headers={**as_account(HOSPITAL), "content-type": "text/plain"})
    assert response.status_code == 400
    assert words in outcome_text(response)
    assert time.perf_counter() - started < 5  # refused before the pipeline runs


# --- Attachments: base64 bombs ----------------------------------------------------------------


def _bundle_with_documents(binary_text: str, references: int, *, inline: bool = False) -> Json:
    """A vertebroplasty request whose record holds `references` DocumentReferences, all naming
    one text Binary (or each carrying the text inline)."""
    bundle = copy.deepcopy(va_pas_bundle(f"LIM-B{uuid.uuid4().hex[:6]}"))
    data = base64.b64encode(binary_text.encode()).decode()
    patient = next(e["resource"]["id"] for e in bundle["entry"]
                   if e["resource"]["resourceType"] == "Patient")
    if not inline:
        bundle["entry"].append({"fullUrl": "http://example.org/fhir/Binary/letter",
                                "resource": {"resourceType": "Binary", "id": "letter",
                                             "contentType": "text/plain", "data": data}})
    for i in range(references):
        attachment = {"contentType": "text/plain", "data": data} if inline else {
            "url": "Binary/letter"}
        bundle["entry"].append({
            "fullUrl": f"http://example.org/fhir/DocumentReference/d{i}",
            "resource": {"resourceType": "DocumentReference", "id": f"d{i}",
                         "status": "current", "subject": {"reference": f"Patient/{patient}"},
                         "content": [{"attachment": attachment}]}})
    return bundle


LETTER = "Acute painful L1 osteoporotic compression fracture despite analgesia. "


def test_one_binary_named_by_thousands_of_documents_is_refused(api: Service) -> None:
    """About 20 MB of text from a 1.6 MB request: refused once the bundle's budget is spent,
    without decoding the rest."""
    text = (LETTER * 200)[: MAX_TEXT_CHARS // 100]  # 10,000 characters, read once each
    bundle = _bundle_with_documents(text, 2_000)
    raw = json.dumps(bundle).encode()
    started = time.perf_counter()
    response, peak = peak_memory(lambda: post_raw(api, "/fhir/Claim/$submit", raw))
    assert response.status_code == 400
    assert "texts come to more than" in outcome_text(response)
    assert time.perf_counter() - started < 30
    assert peak < 100, f"{peak:.0f} MB"
    assert api.get("/cases").json()["count"] == 0


def test_a_large_binary_named_twice_is_refused_without_reading_it(api: Service) -> None:
    text = (LETTER * 6000)[: MAX_BUNDLE_TEXT_CHARS - 1_000]
    response = post_raw(api, "/assessments", json.dumps(_bundle_with_documents(text, 2)).encode())
    assert response.status_code == 400
    assert f"{MAX_BUNDLE_TEXT_CHARS:,} characters" in outcome_text(response)


def test_more_texts_than_the_budget_are_refused(api: Service) -> None:
    bundle = _bundle_with_documents("L1 fracture.", MAX_BUNDLE_TEXTS + 5, inline=True)
    response = post_raw(api, "/assessments", json.dumps(bundle).encode())
    assert response.status_code == 400
    assert f"{MAX_BUNDLE_TEXTS:,} texts" in outcome_text(response)


def test_decoding_stops_at_the_bundle_s_byte_budget() -> None:
    """Attachments that are skipped after decoding (binary, over the per-text limit) still
    count, so no bundle can make the reader decode more than the budget."""
    blob = "\u00e9" * (MAX_TEXT_CHARS + 10)  # 2 bytes a character: decoded, then over the limit
    bundle = _bundle_with_documents(blob, 8, inline=True)
    started = time.perf_counter()
    with pytest.raises(InputError, match=f"more than {MAX_BUNDLE_DECODED_BYTES:,} bytes"):
        read_fhir(bundle, "bomb.json")
    assert time.perf_counter() - started < 10


def test_a_huge_attachment_is_skipped_undecoded_with_a_warning() -> None:
    size = 4 * MAX_TEXT_CHARS + 1000
    bundle = _bundle_with_documents("x", 0)
    bundle["entry"].append({"resource": {
        "resourceType": "DocumentReference", "id": "huge", "status": "current",
        "content": [{"attachment": {"contentType": "text/plain",
                                    "data": "QUFB" * (size // 3)}}]}})
    (reading, peak) = peak_memory(lambda: read_fhir(bundle, "huge.json"))
    assert any("not decoded, skipped" in w for w in reading.warnings)
    assert peak < 30, f"{peak:.0f} MB"  # the 5 MB of base64 was never decoded


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "x-gzip, identity"])
def test_compressed_bodies_are_415_and_never_decompressed(api: Service, coding: str) -> None:
    zeros = b"\x00" * 20_000_000
    raw = gzip.compress(zeros) if "gzip" in coding else zlib.compress(zeros)
    response, peak = peak_memory(
        lambda: post_raw(api, "/fhir/Claim/$submit", raw, **{"content-encoding": coding}))
    assert response.status_code == 415
    assert "uncompressed" in outcome_text(response)
    assert peak < 10, f"{peak:.0f} MB"


def test_identity_encoding_is_accepted(api: Service) -> None:
    raw = json.dumps(va_pas_bundle("LIM-ID")).encode()
    assert post_raw(api, "/fhir/Claim/$submit", raw,
                    **{"content-encoding": "identity"}).status_code == 200


# --- Many small things ------------------------------------------------------------------------


def test_forty_thousand_odd_entries_cost_linear_time_and_few_warnings() -> None:
    entries = [{"resource": {"resourceType": "DocumentReference", "id": f"d{i}",
                             "status": "current", "content": [{"attachment": {
                                 "contentType": "application/pdf", "data": "AAAA"}}]}}
               for i in range(40_000)]
    started = time.perf_counter()
    reading = read_fhir({"resourceType": "Bundle", "type": "collection", "entry": entries},
                        "many.json")
    assert time.perf_counter() - started < 10  # was 8 s on its own before warnings were capped
    assert len(reading.warnings) <= MAX_WARNINGS + 1
    assert reading.warnings[-1].startswith("and ") and "more warnings" in reading.warnings[-1]


def test_the_note_reader_refuses_a_note_it_would_take_minutes_over() -> None:
    with pytest.raises(InputError, match="without a full stop"):
        read_note("L1 " * 60_000, source="long.txt", note_date=None)


# --- Policies are named, never read from a path -----------------------------------------------


@pytest.mark.parametrize("policy", ["/etc/passwd", "/dev/zero", "../../../etc/os-release.yaml",
                                    "policies/carefirst/2022/policy.yaml", "carefirst/"])
def test_a_policy_is_a_shipped_id_never_a_file(api: Service, policy: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy reader also takes a path (for the CLI); over HTTP that would let a caller
    make the server read any file - or /dev/zero until memory runs out."""
    from vertebro.adapters import policy_files

    def never(path: Path) -> Any:
        raise AssertionError(f"the API read the file {path}")

    monkeypatch.setattr(policy_files, "load_policy_path", never)
    body = case_document("01-osteoporotic-l1-failed-conservative.yaml")
    assessed = api.client.post("/assessments", params={"policy": policy}, json=body,
                               headers=as_account(HOSPITAL))
    created = api.post("/cases", {"identifier": "LIM-POL", "policy": policy, "document": body})
    for response in (assessed, created):
        assert response.status_code == 400, response.text[:300]
        assert "unknown policy" in outcome_text(response)
    assert api.unexpected_errors == 0
