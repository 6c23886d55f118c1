"""Coding: paste an operative note or upload FHIR Procedure/Condition JSON, and see the proposed
codes per system in reporting order, each with its confidence and evidence, and the questions
left open (what `vertebro code` prints).

Coding changes nothing on the server, so the result is the POST's own response (no redirect):
the note is patient data and must not travel in a URL. The form is shown again, filled in, so
the coder can correct the note and code it again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from vertebro import coding_service
from vertebro.adapters import code_tables
from vertebro.adapters.errors import InputError
from vertebro.api.security import Permission, Principal
from vertebro.coding_service import CodedInput, CodeOut, EvidenceOut
from vertebro.core.coding.tables import CodeSystem, system_of_uri
from vertebro.web.session import form_data, page_require
from vertebro.web.templating import render

router = APIRouter()
PASTED = "pasted text"

SYSTEM_CHOICES: dict[str, str] = {
    "uk": "UK: OPCS-4 and ICD-10 (WHO)",
    "us": "US: CPT and ICD-10-CM",
    "all": "All four: OPCS-4, ICD-10, CPT and ICD-10-CM",
}
CONFIDENCE_WORDS: dict[str, tuple[str, str]] = {  # confidence -> (words, badge class)
    "confirmed": ("confirmed", "status-met"),
    "likely": ("likely - verify before use", "status-unknown"),
    "unconfirmed": ("unconfirmed - check against the official release", "status-not-met"),
}


# --- Reading the form ---------------------------------------------------------------------------


@dataclass
class Document:
    """What the person gave: text (pasted, or an uploaded file's content) and its name."""

    text: str = ""
    name: str = PASTED
    field: Literal["text", "upload"] = "text"


async def read_form(request: Request, max_bytes: int) -> FormData:
    """The posted form with room for a large pasted document, after the CSRF check.

    Raises:
        PageError: the CSRF token is missing or wrong (403).
        InputError: a field is larger than the service reads (source "text").
    """
    try:
        # Parsed once with room for the largest input the service reads, and for the CRLF line
        # breaks browsers send (Starlette's default is 1 MB a field); form_data then checks the
        # token on this cached form.
        await request.form(max_part_size=max_bytes * 6 // 5 + 1_000)
    except StarletteHTTPException:
        raise InputError("text", "the text is too long for the form; upload it as a file") from None
    return await form_data(request)


async def read_document(form: FormData, max_bytes: int, kinds: str) -> Document:
    """The pasted text, or the uploaded file instead when one was chosen.

    Raises:
        InputError: nothing given, the file is too large or not UTF-8 text (source: the field).
    """
    upload = form.get("upload")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read(max_bytes + 1)
        if len(raw) > max_bytes:
            raise InputError("upload", f"the file is larger than the limit of {max_bytes:,} bytes")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError("upload", f"the file is not UTF-8 text ({kinds})") from None
        if not text.strip():
            raise InputError("upload", "the file is empty")
        # A browser sends a text area's line breaks as CRLF; read both kinds alike.
        return Document(text.replace("\r\n", "\n"), upload.filename.rsplit("/", 1)[-1],
                        "upload")
    pasted = form.get("text")
    if not isinstance(pasted, str) or not pasted.strip():
        raise InputError("text", f"paste {kinds}, or choose a file")
    text = pasted.replace("\r\n", "\n")
    # An uploaded file's text comes back in the text area; it keeps the file's name (for the
    # evidence and to read it as its kind) only while the text is unchanged.
    name, digest = form.get("source_name"), form.get("source_digest")
    if isinstance(name, str) and name.strip() and digest == text_digest(text):
        return Document(text, name.strip()[:200], "text")
    return Document(text, PASTED, "text")


def text_digest(text: str) -> str:
    """A short fingerprint of the text, to tell whether it was edited since it was read."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def field_message(exc: InputError, document_name: str) -> str:
    """An input error as a sentence beside its field (the field names itself)."""
    where = f"Line {exc.line}: " if exc.line is not None else ""
    if exc.source in (document_name, "text", "upload"):
        message = exc.message
    else:  # an error inside the document names the part it is about
        message = f"{exc.source}: {exc.message}"
    return where + message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


# --- The result for people ------------------------------------------------------------------


@dataclass
class Mark:
    """One highlighted evidence span of the note."""

    id: str
    start: int
    end: int


@dataclass
class NoteView:
    """The note's text cut into plain and highlighted pieces (marks link from the evidence)."""

    pieces: list[tuple[str, str | None]] = field(default_factory=list)  # (text, mark id)
    span_ids: dict[tuple[int, int], str] = field(default_factory=dict)

    @classmethod
    def build(cls, text: str, spans: list[tuple[int, int]]) -> NoteView:
        """Overlapping spans share one mark; each span keeps a link to its mark."""
        marks: list[Mark] = []
        for start, end in sorted(set(spans)):
            if not 0 <= start < end <= len(text):
                continue
            if marks and start < marks[-1].end:
                marks[-1].end = max(marks[-1].end, end)
            else:
                marks.append(Mark(f"ev-{len(marks) + 1}", start, end))
        view = cls()
        at = 0
        for mark in marks:
            view.pieces.append((text[at:mark.start], None))
            view.pieces.append((text[mark.start:mark.end], mark.id))
            at = mark.end
        view.pieces.append((text[at:], None))
        for start, end in spans:
            for mark in marks:
                if mark.start <= start and end <= mark.end:
                    view.span_ids[(start, end)] = mark.id
        return view

    def link(self, evidence: EvidenceOut) -> str | None:
        """The mark an evidence item links to, if it is a span of this note."""
        return self.span_ids.get(evidence.span) if evidence.span else None


@dataclass
class SystemBlock:
    """The codes of one system in reporting order."""

    system: CodeSystem
    lines: list[CodeOut]

    @property
    def copy_text(self) -> str:
        """What "Copy all" copies: the codes in order, one a line (codes not yet known left
        out; the page says so)."""
        return "\n".join(copy_code(line) for line in self.lines if line.code)

    @property
    def placeholders(self) -> int:
        """Lines whose code is not confirmed yet (no code to copy)."""
        return sum(1 for line in self.lines if not line.code)


def copy_code(line: CodeOut) -> str:
    """A code as a coder types it; units after it when more than one."""
    return (line.code or "") + (f" x{line.units}" if line.units > 1 else "")


def system_blocks(result: CodedInput, systems: tuple[CodeSystem, ...]) -> list[SystemBlock]:
    """One block per system asked for, in the order asked, each with its lines in sequence."""
    blocks = []
    for system in systems:
        lines = [c for c in result.codes if system_of_uri(c.system) is system]
        blocks.append(SystemBlock(system, sorted(lines, key=lambda c: c.sequence)))
    return blocks


def _code(document: Document, systems: tuple[CodeSystem, ...]) -> CodedInput:
    record = coding_service.read_record_text(document.text, document.name)
    return coding_service.code_one(record, systems, code_tables.load_codeset())


# --- Routes ---------------------------------------------------------------------------------


def _page(request: Request, user: Principal, *, status: int = 200,
          document: Document | None = None, system_choice: str = "uk",
          errors: dict[str, str] | None = None, result: CodedInput | None = None,
          systems: tuple[CodeSystem, ...] = ()) -> HTMLResponse:
    document = document or Document()
    note = None
    if result is not None and document.text and not document.name.lower().endswith(".json") \
            and not document.text.lstrip().startswith("{"):
        spans = [e.span for e in _all_evidence(result) if e.span]
        note = NoteView.build(document.text, spans)
    return render(
        request, "coding_page.html", user, status=status,
        document=document, system_choice=system_choice, system_choices=SYSTEM_CHOICES,
        errors=errors or {}, result=result,
        blocks=system_blocks(result, systems) if result is not None and result.augmentation
        else [],
        note=note, confidence_words=CONFIDENCE_WORDS, copy_code=copy_code,
        digest=text_digest(document.text) if document.name != PASTED else "",
    )


def _all_evidence(result: CodedInput) -> list[EvidenceOut]:
    found = [e for p in result.procedures for e in p.evidence]
    found += [e for d in result.diagnoses for e in d.evidence]
    found += [e for c in result.codes for e in c.evidence]
    found += [e for w in result.warnings for e in w.evidence]
    return found


@router.get("/app/coding", response_class=HTMLResponse)
async def coding_form(
    request: Request, user: Annotated[Principal, Depends(page_require(Permission.ASSESS))],
) -> Response:
    """The form: an operative note or FHIR JSON, and the code systems."""
    return _page(request, user)


@router.post("/app/coding", response_class=HTMLResponse)
async def code_document(
    request: Request, user: Annotated[Principal, Depends(page_require(Permission.ASSESS))],
) -> Response:
    """Code what was given and show the codes, their evidence and the questions."""
    max_bytes = coding_service.MAX_INPUT_BYTES
    try:
        form = await read_form(request, max_bytes)
    except InputError as exc:
        return _page(request, user, status=400, errors={"text": field_message(exc, PASTED)})
    choice = form.get("systems")
    errors: dict[str, str] = {}
    if not isinstance(choice, str) or choice not in SYSTEM_CHOICES:
        errors["systems"] = "Choose the code systems."
        choice = "uk"
    kinds = "an operative note (text) or FHIR Procedure and Condition JSON"
    document = Document()
    try:
        document = await read_document(form, max_bytes, kinds)
    except InputError as exc:
        errors[exc.source] = field_message(exc, PASTED)
    if errors:
        return _page(request, user, status=400, document=document, system_choice=choice,
                     errors=errors)
    systems = coding_service.systems_of(choice)
    try:
        result = await run_in_threadpool(_code, document, systems)
    except InputError as exc:
        return _page(request, user, status=400, document=document, system_choice=choice,
                     errors={document.field: field_message(exc, document.name)})
    # The uploaded file's text goes into the text area, so that coding again needs no upload.
    return _page(request, user, document=document, system_choice=choice, result=result,
                 systems=systems)
