"""New assessment: paste a clinical note or upload a FHIR bundle / vertebro case file, see the
outcome per requested procedure with the criteria tree, every conclusion's evidence and
citation, answer the open questions, and (requesters) submit it for prior authorisation.

The round trip keeps no server-side store. The input, the chosen policy, the as-of date and the
answers so far travel in one hidden form field, a *draft*: compressed JSON with an HMAC bound
to the signed-in session. So nothing about an assessment that is never submitted is kept on the
server (no patient data to expire or protect), any server process can continue it, and the
server only ever decompresses what it produced itself (no decompression bombs, no other
session's draft). Every step reads the input again and assesses it afresh; nothing is trusted
from the browser but the person's own input and answers, which are validated as on first entry.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from vertebro import case_service
from vertebro.adapters import fhir, policy_files, yaml_lines
from vertebro.adapters.case_files import MAX_CASE_BYTES
from vertebro.adapters.errors import InputError
from vertebro.api.deps import AppState, state
from vertebro.api.schemas import case_out
from vertebro.api.security import Permission, Principal
from vertebro.core.cases import Priority
from vertebro.core.catalogue import CATALOGUE
from vertebro.core.facts import FactSpec, FactType
from vertebro.report import (
    AssessmentReport,
    CitationOut,
    CriterionOut,
    DeterminationOut,
    EvidenceOut,
    JsonValue,
    json_value,
)
from vertebro.web.pages.policies import OUTCOME_CLASS, OUTCOME_WORDS, STATUS_WORDS
from vertebro.web.session import PageError, form_data, page_require, session_token
from vertebro.web.templating import FLASH_MESSAGES, render

router = APIRouter()

FLASH_MESSAGES.update({
    "case-submitted": "Submitted for prior authorisation. This is the case it created.",
    "case-resubmitted": "This assessment had already been submitted: this is the case it "
                        "created (no second case).",
})

NOTE_SOURCE = "the pasted note"
MAX_NAME_CHARS = 120
MAX_DRAFT_CHARS = 3_000_000  # the hidden field; a 5 MB bundle compresses to well under this
MAX_DRAFT_BYTES = 25_000_000  # decompressed: above the largest input any reader accepts
NONE_OF_THESE = "__none__"  # the checkbox that answers a list question with "none"
_DRAFT_CONTEXT = b"vertebro-assessment-draft\x00"

InputKind = Literal["note", "json", "yaml"]


class Draft(BaseModel):
    """What an assessment is made of, carried between its steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: InputKind
    name: str = Field(max_length=MAX_NAME_CHARS)
    text: str
    policy: str = Field(max_length=200)  # "carefirst", or "carefirst@2022" for one version
    as_of: dt.date | None = None
    answers: dict[str, JsonValue] = {}


class DraftExpired(Exception):
    """The draft does not belong to this session, or was altered."""


def encode_draft(request: Request, draft: Draft) -> str:
    """The draft as a hidden-field value: compressed JSON and its HMAC for this session."""
    raw = zlib.compress(draft.model_dump_json().encode("utf-8"), 6)
    blob = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
    return f"{blob}.{_signature(request, blob)}"


def decode_draft(request: Request, value: object) -> Draft:
    """The draft from a hidden field.

    Raises:
        DraftExpired: missing, altered, too large, or signed for another session.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_DRAFT_CHARS + 100:
        raise DraftExpired
    blob, _, signature = value.rpartition(".")
    if not blob or not hmac.compare_digest(signature, _signature(request, blob)):
        raise DraftExpired
    try:
        raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        inflater = zlib.decompressobj()
        payload = inflater.decompress(raw, MAX_DRAFT_BYTES)
        if inflater.unconsumed_tail:
            raise DraftExpired
        return Draft.model_validate_json(payload)
    except (ValueError, zlib.error, ValidationError):
        raise DraftExpired from None


def _signature(request: Request, blob: str) -> str:
    token = session_token(request) or ""
    key = state(request).settings.jwt_secret.encode("utf-8")
    message = _DRAFT_CONTEXT + token.encode("utf-8") + b"\x00" + blob.encode("ascii")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


# --- Policies to choose from -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyChoice:
    """An option of the policy list."""

    value: str
    label: str


def policy_choices() -> list[tuple[str, list[PolicyChoice]]]:
    """Per shipped policy: the version in effect on the date, then each version by name."""
    groups = []
    for policy_id in policy_files.known_ids():
        versions = [v.policy for v in policy_files.versions_of(policy_id)]
        options = [PolicyChoice(policy_id, f"{policy_id}: the version in effect on the date")]
        for p in reversed(versions):
            until = f" to {p.effective_to}" if p.effective_to else ""
            options.append(PolicyChoice(f"{policy_id}@{p.version}",
                                        f"{policy_id} version {p.version} only (in effect from "
                                        f"{p.effective_from}{until})"))
        groups.append((versions[-1].title, options))
    return groups


def split_policy(value: str) -> tuple[str, str | None]:
    """'carefirst@2022' -> ('carefirst', '2022'); 'carefirst' -> ('carefirst', None)."""
    policy_id, _, version = value.partition("@")
    return policy_id, version or None


# --- Reading and assessing -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assessed:
    """A draft read and assessed."""

    read: case_service.ReadResult
    report: AssessmentReport
    data: Any  # the parsed document (None for a note)


def read_draft(draft: Draft, today: dt.date) -> tuple[case_service.ReadResult, Any]:
    """Read the draft's input as `vertebro assess` and POST /assessments would.

    Raises:
        InputError: the input cannot be read.
    """
    if draft.kind == "note":
        note_date = draft.as_of or case_service.note_date(draft.text)
        return case_service.read_note_text(draft.text, draft.name, note_date=note_date), None
    if draft.kind == "json":
        data = fhir.parse_json(draft.text.encode("utf-8"), draft.name)
    else:
        if len(draft.text.encode("utf-8")) > MAX_CASE_BYTES:
            raise InputError(draft.name, f"file is over the limit of {MAX_CASE_BYTES:,} bytes "
                                         "for a case file")
        try:
            data = yaml_lines.load(draft.text)
        except yaml_lines.YamlError as exc:
            raise InputError(draft.name, exc.message, exc.line) from None
    read = case_service.read_json_document(data, draft.name, as_of=draft.as_of or today)
    return read, data


def assess_draft(draft: Draft, user: Principal, today: dt.date) -> Assessed:
    """Read the input, lay the answers over its facts, and assess it.

    Raises:
        InputError: the input cannot be read or assessed, or the policy cannot be applied.
    """
    read, data = read_draft(draft, today)
    if draft.answers:
        answers = case_service.answered_facts(
            dict(draft.answers), answered_by=user.name,
            how=f"answered on the assessment page by {user.id}",
            kind=case_service.answer_kind(user.actor()))
        facts = case_service.merge_answers(read.case.facts, answers)
        read = dataclasses.replace(read, case=dataclasses.replace(read.case, facts=facts))
    policy_id, version = split_policy(draft.policy)
    report = case_service.assess_document(read, policy_id, as_of=draft.as_of, today=today,
                                          version=version)
    return Assessed(read, report, data)


# --- What the result page shows --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvidenceView:
    """One piece of evidence as shown."""

    fact: str
    value: str
    kind: str
    source: str  # where it comes from, in words ("from FHIR Condition/1", "attested by ...")
    location: str | None
    quote: str | None
    mark: str | None  # the id of the highlighted span in the note
    conflict: bool


@dataclass(frozen=True, slots=True)
class CriterionView:
    """A criterion of the assessed tree as shown."""

    dom_id: str
    id: str
    title: str
    status: str
    status_word: str
    citation: CitationOut
    also_cited: list[CitationOut]
    evidence: list[EvidenceView]
    undocumented: str | None  # the fact's title when a test on it found no evidence
    note: str | None
    children: list[CriterionView]


@dataclass(frozen=True, slots=True)
class RequirementView:
    """A requirement beside the criteria, as shown."""

    title: str
    applies: str
    status: str | None
    citation: CitationOut
    evidence: list[EvidenceView]


@dataclass(frozen=True, slots=True)
class DeterminationView:
    """One requested procedure's result."""

    index: int
    heading: str
    outcome: str
    outcome_word: str
    outcome_class: str
    because: str
    because_link: str | None
    tree: list[CriterionView]
    requirements: list[RequirementView]
    questions: int


@dataclass(frozen=True, slots=True)
class QuestionView:
    """A question to answer (or an earlier answer to change), with its input."""

    fact: str
    field: str  # the input's name
    dom_id: str
    question: str
    title: str
    type: str
    choices: list[tuple[str, str]]  # (value, words)
    unit: str | None
    minimum: float | None
    maximum: float | None
    value: str  # the current answer for single inputs ("" when none)
    checked: list[str]  # the current answer for checkboxes
    procedures: str  # which requested procedures it matters for ("" for an earlier answer)
    error: str | None


def value_words(value: JsonValue) -> str:
    """A fact's value in words."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v).replace("-", " ") for v in value) or "none"
    if isinstance(value, float | int):
        return f"{value:g}"
    if value is None:
        return "not known"
    return str(value).replace("-", " ") if not _looks_like_date(value) else value


def _looks_like_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def fact_title(name: str) -> str:
    """A fact's title from the catalogue (its name when not catalogued)."""
    spec = CATALOGUE.get(name)
    return spec.title if spec is not None else name


def note_marks(report: AssessmentReport, text: str, source: str) -> tuple[Markup, dict[
        tuple[int, int], str]]:
    """The note as HTML with every evidence span in a `<mark class="evidence">`, and the mark id
    of each span (overlapping spans share one mark)."""
    spans = sorted({
        e.span for e in _all_evidence(report)
        if e.kind == "note" and e.source == source and e.span is not None
        and 0 <= e.span[0] < e.span[1] <= len(text)
    })
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    ids: dict[tuple[int, int], str] = {}
    for start, end in spans:
        outer = next(m for m in merged if m[0] <= start and end <= m[1])
        ids[(start, end)] = f"ev-{outer[0]}-{outer[1]}"
    titles: dict[str, set[str]] = {}
    for e in _all_evidence(report):
        if e.span in ids and e.kind == "note" and e.source == source:
            titles.setdefault(ids[e.span], set()).add(fact_title(e.fact))
    parts: list[Markup] = []
    at = 0
    for start, end in merged:
        mark_id = f"ev-{start}-{end}"
        parts.append(escape(text[at:start]))
        parts.append(Markup('<mark class="evidence" id="{}" title="{}">{}</mark>').format(
            mark_id, "Evidence for: " + "; ".join(sorted(titles.get(mark_id, ()))),
            text[start:end]))
        at = end
    parts.append(escape(text[at:]))
    return Markup("").join(parts), ids


def _all_evidence(report: AssessmentReport) -> Iterable[EvidenceOut]:
    for det in report.determinations:
        for criterion in det.criteria:
            yield from criterion.evidence
        for requirement in det.requirements:
            yield from requirement.evidence


def evidence_views(evidence: list[EvidenceOut], marks: dict[tuple[int, int], str],
                   source: str | None) -> list[EvidenceView]:
    """Evidence as shown; note spans link to their mark. Repeats of one reading are dropped."""
    out: list[EvidenceView] = []
    seen: set[tuple[Any, ...]] = set()
    for e in evidence:
        key = (e.fact, e.source, e.quote, e.span, e.location, e.conflict)
        if key in seen:
            continue
        seen.add(key)
        mark = marks.get(e.span) if (e.span is not None and e.source == source) else None
        where = {
            "answer": f"answered by {e.source}",
            "attestation": f"attested by {e.source}",
            "note": "the note" if mark is not None else f"from the text of {e.source}",
            "fhir": f"from FHIR {e.source}",
        }.get(e.kind, f"from {e.source}")
        out.append(EvidenceView(fact_title(e.fact), value_words(e.value), e.kind, where,
                                e.location if e.kind not in ("answer", "attestation") else None,
                                e.quote, mark,
                                e.conflict))
    return out


def determination_views(report: AssessmentReport, marks: dict[tuple[int, int], str],
                        source: str | None) -> list[DeterminationView]:
    """Each requested procedure's outcome, reason, criteria tree and requirements."""
    views = []
    for index, det in enumerate(report.determinations, 1):
        prefix = f"d{index}"
        views.append(DeterminationView(
            index=index,
            heading=_heading(det),
            outcome=det.outcome,
            outcome_word=OUTCOME_WORDS[det.outcome],
            outcome_class=OUTCOME_CLASS[det.outcome],
            because=_because(det),
            because_link=(f"#{prefix}-{det.decided_by}"
                          if det.decided_by and det.decided_by != "otherwise" else None),
            tree=_tree(det.criteria, prefix, marks, source),
            requirements=[
                RequirementView(r.title, r.applies, r.status, r.citation,
                                evidence_views(r.evidence, marks, source))
                for r in det.requirements if r.applies != "not-met"
            ],
            questions=len(det.missing),
        ))
    return views


def _heading(det: DeterminationOut) -> str:
    levels = f" at {', '.join(det.levels)}" if det.levels else " (levels not stated)"
    return f"{det.procedure.capitalize()}{levels}"


def _because(det: DeterminationOut) -> str:
    if det.decided_by == "otherwise":
        return "None of the policy's listed criteria applies, so its fallback rule gives this."
    if det.decided_by:
        title = next((c.title for c in det.criteria if c.id == det.decided_by), det.decided_by)
        return f"Decided by the rule “{title}”, whose criteria are met."
    return ("Not settled: criteria that could change the outcome are unknown. The questions "
            "below would settle it.")


def _tree(criteria: list[CriterionOut], prefix: str, marks: dict[tuple[int, int], str],
          source: str | None) -> list[CriterionView]:
    by_parent: dict[str | None, list[CriterionOut]] = {}
    for c in criteria:
        by_parent.setdefault(c.parent, []).append(c)

    def build(c: CriterionOut, seen: frozenset[str]) -> CriterionView:
        evidence = evidence_views(c.evidence, marks, source)
        kids = [build(k, seen | {c.id}) for k in by_parent.get(c.id, []) if k.id not in seen]
        return CriterionView(
            dom_id=f"{prefix}-{c.id}", id=c.id, title=c.title, status=c.status,
            status_word=STATUS_WORDS[c.status], citation=c.citation, also_cited=c.also_cited,
            evidence=evidence,
            undocumented=fact_title(c.fact) if c.fact is not None and not evidence else None,
            note=c.note, children=kids,
        )

    return [build(c, frozenset()) for c in by_parent.get(None, [])]


def question_views(report: AssessmentReport, draft: Draft,
                   errors: dict[str, str], posted: FormData | None) -> list[QuestionView]:
    """The open questions across the requested procedures, then the earlier answers (so that
    they can be changed), each with the input its fact's type needs."""
    wanted: dict[str, tuple[str, list[str]]] = {}
    for det in report.determinations:
        for missing in det.missing:
            question, procedures = wanted.setdefault(missing.fact, (missing.question, []))
            procedures.append(det.procedure)
    facts = list(wanted) + [f for f in draft.answers if f not in wanted]
    views = []
    for fact in facts:
        spec = CATALOGUE.get(fact)
        if spec is None:
            continue
        question, procedures = wanted.get(fact, (spec.question, []))
        if posted is not None:
            raw = [str(v) for v in posted.getlist(field_name(fact))]
        else:
            raw = _raw_answer(spec, draft.answers.get(fact))
        views.append(QuestionView(
            fact=fact, field=field_name(fact), dom_id="q-" + fact.replace(".", "-"),
            question=question, title=spec.title, type=spec.type.value,
            choices=[(c, c.replace("-", " ")) for c in spec.choices], unit=spec.unit,
            minimum=spec.minimum, maximum=spec.maximum,
            value=raw[0] if raw else "", checked=raw,
            procedures=", ".join(dict.fromkeys(procedures)), error=errors.get(fact),
        ))
    return views


def field_name(fact: str) -> str:
    """The form field of a fact's answer."""
    return f"answer.{fact}"


def _raw_answer(spec: FactSpec, value: JsonValue) -> list[str]:
    """An earlier answer as the values of its inputs."""
    if value is None:
        return []
    if isinstance(value, bool):
        return ["yes" if value else "no"]
    if isinstance(value, list):
        if spec.type is FactType.LEVELS:
            return [", ".join(value)]
        return list(value) or [NONE_OF_THESE]
    if isinstance(value, float | int):
        return [f"{value:g}"]
    return [str(value)]


def coerce_answer(spec: FactSpec, raw: list[str]) -> JsonValue:
    """One question's inputs as the fact's value (None: not answered, stays unknown).

    Raises:
        ValueError: the inputs do not fit the fact, with a sentence for the person.
    """
    values = [r.strip() for r in raw if r.strip()]
    if spec.type is FactType.CHOICES:
        if NONE_OF_THESE in values:
            if len(values) > 1:
                raise ValueError("Choose “none of these” or some of the others, not both.")
            return []
        if not values:
            return None
        return json_value(spec.coerce(values))
    if len(values) > 1:
        raise ValueError("Give one answer.")
    if not values:
        return None
    try:
        return json_value(spec.coerce(values[0]))
    except ValueError as exc:
        message = str(exc)
        raise ValueError(message[0].upper() + message[1:] + ".") from None


# --- Pages -----------------------------------------------------------------------------------


def _today(request: Request) -> dt.date:
    return state(request).now().date()


def _form_page(request: Request, user: Principal, *, status: int = 200,
               errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
               ) -> Response:
    app = state(request)
    chosen = dict(values or {})
    chosen.setdefault("policy", app.settings.default_policy)
    return render(request, "assess_form.html", user, status=status, errors=errors or {},
                  values=chosen, policies=policy_choices(), today=_today(request))


@router.get("/app/assess", response_class=HTMLResponse)
async def assess_form(
    request: Request, user: Annotated[Principal, Depends(page_require(Permission.ASSESS))],
) -> Response:
    """The form: a note or a file, the policy and an optional as-of date."""
    return _form_page(request, user)


@router.post("/app/assess", response_class=HTMLResponse)
async def assess_new(
    request: Request, user: Annotated[Principal, Depends(page_require(Permission.ASSESS))],
) -> Response:
    """Read and assess what was pasted or uploaded; show the result, or the form with what to
    correct beside each field."""
    try:
        form = await form_data(request)
    except StarletteHTTPException:  # the form parser refuses a text field over 1 MB
        return _form_page(request, user, status=400, errors={
            "note": "The note is far too long (over 1 MB). Paste the relevant letter or "
                    "report only."})
    note = str(form.get("note") or "").replace("\r\n", "\n")
    upload = form.get("document")
    policy = str(form.get("policy") or "")
    as_of_text = str(form.get("as_of") or "").strip()
    values = {"note": note, "policy": policy, "as_of": as_of_text}
    errors: dict[str, str] = {}

    valid = {c.value for _, options in policy_choices() for c in options}
    if policy not in valid:
        errors["policy"] = "Choose a policy from the list."
    as_of = None
    if as_of_text:
        try:
            as_of = dt.date.fromisoformat(as_of_text)
        except ValueError:
            errors["as_of"] = "Enter the date as year-month-day, for example 2026-10-06."
    file_name = ""
    raw = b""
    if isinstance(upload, UploadFile) and upload.filename:
        file_name = PurePath(upload.filename.replace("\\", "/")).name[:MAX_NAME_CHARS] or "file"
        raw = await upload.read()
    has_note = bool(note.strip())
    if has_note and file_name:
        errors["note"] = ("Give a note or a file, not both: clear the note or remove the "
                          "file.")
    elif not has_note and not file_name:
        errors["note"] = "Paste a clinical note here, or choose a file below."
    draft = None
    if not errors:
        try:
            draft = _new_draft(note, file_name, raw, policy, as_of)
        except InputError as exc:
            errors["note" if has_note else "document"] = _sentence(exc, named=not has_note)
    if draft is None:
        return _form_page(request, user, status=400, errors=errors, values=values)
    try:
        assessed = await run_in_threadpool(assess_draft, draft, user, _today(request))
    except InputError as exc:
        field = "policy" if _is_policy_error(exc) else "note" if has_note else "document"
        errors[field] = _sentence(exc, named=field == "document")
        return _form_page(request, user, status=400, errors=errors, values=values)
    return _result_page(request, user, draft, assessed)


def _new_draft(note: str, file_name: str, raw: bytes, policy: str,
               as_of: dt.date | None) -> Draft:
    """The draft for a new input; a file's kind from its name (.json, .yaml/.yml, .txt).

    Raises:
        InputError: the file is not text, or of a kind the page does not read.
    """
    if not file_name:
        return Draft(kind="note", name=NOTE_SOURCE, text=note, policy=policy, as_of=as_of)
    suffix = PurePath(file_name).suffix.lower()
    kinds: dict[str, InputKind] = {".json": "json", ".yaml": "yaml", ".yml": "yaml",
                                   ".txt": "note"}
    kind = kinds.get(suffix)
    if kind is None:
        stripped = raw.lstrip()
        if not stripped.startswith((b"{", b"[")):
            raise InputError(file_name, "choose a FHIR bundle or vertebro case file (.json, "
                                        ".yaml or .yml) or a note (.txt)")
        kind = "json"
    if b"\x00" in raw:
        raise InputError(file_name, "binary file, not text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(file_name, "not UTF-8 text") from None
    if not text.strip():
        raise InputError(file_name, "the file is empty")
    if kind == "note":
        text = text.replace("\r\n", "\n")
    return Draft(kind=kind, name=file_name, text=text, policy=policy, as_of=as_of)


def _is_policy_error(exc: InputError) -> bool:
    return exc.source in ("--policy", "policy")


def _sentence(exc: InputError, *, named: bool = False) -> str:
    """An input error as a sentence beside a field (`named`: starting with the file's name)."""
    where = f"line {exc.line}: " if exc.line is not None else ""
    if named:
        where = f"{exc.source}, {where}" if where else f"{exc.source}: "
    message = exc.message[0].upper() + exc.message[1:] if exc.message else "Cannot be read"
    return (where[0].upper() + where[1:] if where and not named else where) + (
        message.rstrip(".") + ".")


def _draft_or_error(request: Request, form: FormData) -> Draft:
    try:
        return decode_draft(request, form.get("draft"))
    except DraftExpired:
        raise PageError(400, "This assessment cannot be continued: it was started in an "
                             "earlier session or the page was changed. Start a new "
                             "assessment.") from None


@router.post("/app/assess/answers", response_class=HTMLResponse)
async def assess_answers(
    request: Request, user: Annotated[Principal, Depends(page_require(Permission.ASSESS))],
) -> Response:
    """Lay the answers over the facts and assess again."""
    form = await form_data(request)
    draft = _draft_or_error(request, form)
    asked = [str(f) for f in form.getlist("asked")]
    unknown = [f for f in asked if f not in CATALOGUE]
    if unknown:
        raise PageError(400, "The form asked about something vertebro does not know; start a "
                             "new assessment.")
    answers = {f: v for f, v in draft.answers.items() if f not in asked}
    errors: dict[str, str] = {}
    for fact in dict.fromkeys(asked):
        try:
            value = coerce_answer(CATALOGUE[fact], [str(v) for v in form.getlist(
                field_name(fact))])
        except ValueError as exc:
            errors[fact] = str(exc)
            continue
        if value is not None:
            answers[fact] = value
    if errors:
        assessed = await _assess_or_error(draft, user, request)
        return _result_page(request, user, draft, assessed, status=400, answer_errors=errors,
                            posted=form)
    updated = draft.model_copy(update={"answers": answers})
    assessed = await _assess_or_error(updated, user, request)
    return _result_page(request, user, updated, assessed)


async def _assess_or_error(draft: Draft, user: Principal, request: Request) -> Assessed:
    try:
        return await run_in_threadpool(assess_draft, draft, user, _today(request))
    except InputError as exc:
        # The input was read before; only a policy change since (or an edited page) gets here.
        raise PageError(400, f"This assessment can no longer be made: {exc.message}. Start a "
                             "new assessment.") from None


@router.post("/app/assess/submit")
async def assess_submit(
    request: Request, user: Annotated[Principal, Depends(page_require(Permission.SUBMIT))],
) -> Response:
    """Turn the assessment into a prior-authorisation case, as POST /cases does, and go to it."""
    form = await form_data(request)
    draft = _draft_or_error(request, form)
    priority = str(form.get("priority") or "standard")
    identifier = str(form.get("identifier") or "").strip()
    assessed = await _assess_or_error(draft, user, request)
    if priority not in ("standard", "expedited") or not 0 < len(identifier) <= 500:
        return _result_page(request, user, draft, assessed, status=400,
                            submit_error="Choose standard or expedited, and submit the form "
                                         "as the page gave it.")
    app = state(request)
    try:
        outcome = await run_in_threadpool(_submit, app, user, draft, assessed, identifier,
                                          Priority(priority))
    except InputError as exc:
        return _result_page(request, user, draft, assessed, status=400,
                            submit_error=_sentence(exc))
    except case_service.Conflict as exc:
        raise PageError(409, f"The request was not submitted: {exc}.") from None
    done = "case-resubmitted" if outcome.replayed else "case-submitted"
    return RedirectResponse(f"/app/cases/{outcome.stored.case.id}?done={done}", status_code=303)


def _submit(app: AppState, user: Principal, draft: Draft, assessed: Assessed, identifier: str,
            priority: Priority) -> case_service.SubmitOutcome:
    now = app.now()
    policy_id, _ = split_policy(draft.policy)
    inner = {"note": draft.text} if draft.kind == "note" else _plain_json(assessed.data)
    # Stored as POST /cases stores its body, with the page's answers beside the document.
    document: dict[str, Any] = {"identifier": identifier, "priority": priority.value,
                                "policy": policy_id, "document": inner}
    if draft.answers:
        document["answers"] = dict(draft.answers)
    sub = case_service.Submission(
        key=identifier, priority=priority, channel="web", document=document,
        items=case_service.requested_items(assessed.read.case), case=assessed.read.case,
        policy_name=policy_id,
    )
    return case_service.submit(app.db, user.actor(), sub, now=now,
                               respond=lambda stored: case_out(stored, now).model_dump(
                                   mode="json"))


def _plain_json(data: Any) -> Any:
    """A parsed YAML or JSON document as plain JSON (YAML dates become ISO strings)."""
    return json.loads(json.dumps(data, default=str))


def _result_page(request: Request, user: Principal, draft: Draft, assessed: Assessed, *,
                 status: int = 200, answer_errors: dict[str, str] | None = None,
                 posted: FormData | None = None, submit_error: str | None = None) -> Response:
    report = assessed.report
    note_html = None
    marks: dict[tuple[int, int], str] = {}
    source = None
    if draft.kind == "note":
        source = draft.name
        note_html, marks = note_marks(report, draft.text, source)
    token = encode_draft(request, draft)
    policy_id, version = split_policy(draft.policy)
    return render(
        request, "assess_result.html", user, status=status, report=report, draft=draft,
        draft_token=token if len(token) <= MAX_DRAFT_CHARS else None,
        kind_words={"note": "clinical note", "json": assessed.read.kind,
                    "yaml": assessed.read.kind}[draft.kind],
        warnings=list(assessed.read.warnings),
        determinations=determination_views(report, marks, source),
        questions=question_views(report, draft, answer_errors or {}, posted),
        answer_errors=answer_errors or {},
        note_html=note_html, none_of_these=NONE_OF_THESE,
        may_submit=user.may(Permission.SUBMIT), submit_error=submit_error,
        identifier=f"web-{uuid.uuid4()}", chosen_version=version, policy_id=policy_id,
    )
