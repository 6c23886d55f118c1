"""The text of DiagnosticReports, DocumentReferences and document Compositions, for the note reader.

Text is taken from: DiagnosticReport.conclusion and presentedForm; DocumentReference
content attachments; the section narratives of a Composition; and, when a report or document
has no other text, its narrative (text.div). An attachment is read when it is text (contentType
text/plain, or none given and the bytes are UTF-8 text): inline base64 `data`, or a `url`
naming a Binary in the bundle (relative 'Binary/id', urn:uuid, or its fullUrl). URLs that
point outside the bundle are never fetched; binary attachments (PDF, images) are skipped.
Both are reported as warnings.

A diagnostic report's text ranks as report text, a document's as letter text (unless its type
says it is a report), in the merge rule of adapters.combine.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass

from vertebro.adapters.combine import Rank
from vertebro.adapters.fhir.bundle import Entry
from vertebro.adapters.fhir.context import ReadContext
from vertebro.adapters.fhir.elements import (
    JsonObj,
    concept_words,
    narrative_text,
    obj,
    objs,
    parse_date,
    period,
    string,
)

MAX_TEXT_CHARS = 1_000_000
# Per bundle: the note reader takes ~30,000 characters/s and ~3 ms per text, and many small
# documents can all name one large Binary - a 5 MB request could otherwise ask for gigabytes
# of decoded text (a "zip bomb" made of references). Past either limit the bundle is refused
# (`ReadContext.text_refused`): reading only part of the record could miss a safety finding.
MAX_BUNDLE_TEXT_CHARS = 500_000
MAX_BUNDLE_TEXTS = 500
MAX_BUNDLE_DECODED_BYTES = 8_000_000  # base64 decoded per bundle, read or not
_TEXT_TYPES = {"text/plain", "text/markdown", "text/x-markdown"}
_REPORT_WORDS = re.compile(
    r"\breport\b|\bradiolog\w*|\bimaging\b|\bMRI\b|\bMR\b|\bCT\b|\bpatholog\w*|\bscan\b", re.I
)
_SKIPPED_STATUS = {"entered-in-error", "cancelled", "superseded", "registered"}


@dataclass(frozen=True, slots=True)
class DocumentText:
    """One text to read, where it came from, its date, and how strong a source it is."""

    source: str  # e.g. 'DiagnosticReport/mri-1 presentedForm[0]'
    entry: Entry
    location: str
    text: str
    date: dt.date | None
    rank: Rank


def document_texts(ctx: ReadContext) -> list[DocumentText]:
    """Every readable text in the bundle's reports and documents - or, when they come to more
    than `MAX_BUNDLE_TEXTS` texts or `MAX_BUNDLE_TEXT_CHARS` characters, the texts up to there,
    with the reason set in `ctx.text_refused`. Attachments are decoded up to
    `MAX_BUNDLE_DECODED_BYTES` per bundle in all, so time and memory stay bounded however many
    documents name the same Binary."""
    out: list[DocumentText] = []
    total = 0
    for entry in ctx.index.of_type("DiagnosticReport", "DocumentReference", "Composition"):
        if ctx.text_refused:
            break
        resource = entry.resource
        if string(resource.get("status")) in _SKIPPED_STATUS or not ctx.about_patient(entry):
            continue
        if entry.type == "DiagnosticReport":
            found = _report(ctx, entry)
        elif entry.type == "DocumentReference":
            found = _document(ctx, entry)
        else:
            found = _composition(entry)
        if not found:
            narrative = narrative_text((obj(resource.get("text")) or {}).get("div"))
            if narrative and (obj(resource.get("text")) or {}).get("status") != "generated":
                found = [(f"{entry.path}.text.div", narrative)]
        date = _date(entry)
        rank = _rank(entry)
        for location, text in found:
            if len(text) > MAX_TEXT_CHARS:
                ctx.warn(f"{entry.name} {location}: text of {len(text):,} characters is over "
                         f"the limit of {MAX_TEXT_CHARS:,}; not read")
                continue
            total += len(text)
            if total > MAX_BUNDLE_TEXT_CHARS or len(out) >= MAX_BUNDLE_TEXTS:
                ctx.text_refused = (
                    f"the report and document texts come to more than {MAX_BUNDLE_TEXTS:,} "
                    f"texts or {MAX_BUNDLE_TEXT_CHARS:,} characters (at {entry.name}); send the "
                    "documents that bear on the request")
                break
            short = location.removeprefix(entry.path + ".")
            out.append(DocumentText(f"{entry.name} {short}", entry, location, text, date, rank))
    return out


def _report(ctx: ReadContext, entry: Entry) -> list[tuple[str, str]]:
    resource = entry.resource
    found = []
    conclusion = string(resource.get("conclusion"))
    if conclusion:
        found.append((f"{entry.path}.conclusion", conclusion))
    for index, attachment in enumerate(objs(resource.get("presentedForm"))):
        if ctx.text_refused:
            break
        text = _attachment(ctx, entry, attachment, f"presentedForm[{index}]")
        if text:
            found.append((f"{entry.path}.presentedForm[{index}]", text))
    return found


def _document(ctx: ReadContext, entry: Entry) -> list[tuple[str, str]]:
    found = []
    for index, content in enumerate(objs(entry.resource.get("content"))):
        attachment = obj(content.get("attachment"))
        if attachment is None:
            continue
        if ctx.text_refused:
            break
        where = f"content[{index}].attachment"
        text = _attachment(ctx, entry, attachment, where)
        if text:
            found.append((f"{entry.path}.{where}", text))
    return found


def _composition(entry: Entry) -> list[tuple[str, str]]:
    found = []

    def walk(sections: object, path: str) -> None:
        for index, section in enumerate(objs(sections)):
            here = f"{path}.section[{index}]"
            body = narrative_text((obj(section.get("text")) or {}).get("div"))
            if body:
                title = string(section.get("title"))
                found.append((f"{here}.text.div", f"{title}\n{body}" if title else body))
            walk(section.get("section"), here)

    walk(entry.resource.get("section"), entry.path)
    return found


def _attachment(ctx: ReadContext, entry: Entry, attachment: JsonObj, where: str) -> str | None:
    """The text of an attachment, or None (with a warning) when it cannot be read as text."""
    content_type = (string(attachment.get("contentType")) or "").split(";")[0].strip().lower()
    data = string(attachment.get("data"))
    url = string(attachment.get("url"))
    if data is None and url is not None:
        target = ctx.index.resolve(url)
        if target is None or target.type != "Binary":
            ctx.warn(f"{entry.name} {where}: attachment url {url[:200]!r} is not a Binary in the "
                     "bundle; not fetched, skipped")
            return None
        data = string(target.resource.get("data"))
        content_type = content_type or (
            string(target.resource.get("contentType")) or "").split(";")[0].strip().lower()
    if data is None:
        return None
    if content_type and content_type not in _TEXT_TYPES:
        ctx.warn(f"{entry.name} {where}: {content_type} attachment is not text; skipped")
        return None
    size = len(data) // 4 * 3  # what the base64 decodes to, about
    if size > 4 * MAX_TEXT_CHARS:  # over the limit even at 4 bytes a character
        ctx.warn(f"{entry.name} {where}: attachment of about {size:,} bytes is over the limit "
                 f"of {MAX_TEXT_CHARS:,} characters; not decoded, skipped")
        return None
    ctx.text_bytes += size
    if ctx.text_bytes > MAX_BUNDLE_DECODED_BYTES:
        ctx.text_refused = (f"the attachments come to more than {MAX_BUNDLE_DECODED_BYTES:,} "
                            f"bytes of text (at {entry.name} {where}); send the documents that "
                            "bear on the request")
        return None
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        ctx.warn(f"{entry.name} {where}: attachment data is not valid base64; skipped")
        return None
    if b"\x00" in raw:
        ctx.warn(f"{entry.name} {where}: attachment is binary, not text; skipped")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        ctx.warn(f"{entry.name} {where}: attachment is not UTF-8 text; skipped")
        return None
    return text.strip() or None


def _date(entry: Entry) -> dt.date | None:
    resource = entry.resource
    for key in ("effectiveDateTime", "date", "issued"):
        found = parse_date(resource.get(key))
        if found:
            return found
    effective = period(resource.get("effectivePeriod")).start
    if effective:
        return effective
    context = obj(resource.get("context")) or {}
    return period(context.get("period")).start


def _rank(entry: Entry) -> Rank:
    if entry.type == "DiagnosticReport":
        return Rank.REPORT_TEXT
    concepts = [entry.resource.get("type"), *objs(entry.resource.get("category"))]
    words = " ".join(concept_words(c) for c in concepts)
    return Rank.REPORT_TEXT if _REPORT_WORDS.search(words) else Rank.LETTER_TEXT
