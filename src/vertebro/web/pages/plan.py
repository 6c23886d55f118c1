"""Patient plan: a note, FHIR bundle or case file and the procedure date (and time) in; the
safety and suitability checks, the dated plan, the consent figures and the patient leaflet out
(what `vertebro prepare` gives), with the leaflet printable and as a PDF.

Nothing is stored. The plan is the POST's own response (patient data stays out of URLs), and
the form comes back filled in, an uploaded file's text in the text area; the PDF button posts
that same form with `format=pdf`. So the PDF is made from exactly what the page shows, needs no
draft on the server (nothing to expire, leak or lose between workers) and works without
JavaScript. The cost is sending the input again, which is small next to making a PDF.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from vertebro import prepare_service
from vertebro.adapters.errors import InputError
from vertebro.api.deps import state
from vertebro.api.security import Permission, Principal
from vertebro.core.pathway.plan import long_date
from vertebro.prepare_service import CheckOut, PreparationReport, ReadText
from vertebro.report import CitationOut, CriterionOut, EvidenceOut
from vertebro.web.pages.coding import (
    Document,
    field_message,
    read_document,
    read_form,
    text_digest,
)
from vertebro.web.session import page_require
from vertebro.web.templating import render

router = APIRouter()
KINDS = "a clinical note, a FHIR bundle or a vertebro case file"
FIELDS = ("text", "upload", "procedure_date", "procedure_time")

READINESS: dict[str, tuple[str, str, str]] = {  # readiness -> (words, badge class, sentence)
    "ready": ("ready", "status-met", "Every check passed."),
    "to-confirm": ("to confirm", "status-unknown",
                   "Some checks are not settled yet: see what would settle them below."),
    "resolve-first": ("resolve first", "status-not-met",
                      "A safety check failed: resolve it before going ahead."),
    "not-suitable": ("may not be suitable - a clinician decides", "status-not-met",
                     "A check suggests the procedure may not be the right treatment; "
                     "a clinician decides."),
    "urgent-spinal-review": ("urgent spinal review", "status-not-met",
                             "A red flag: refer for urgent spinal surgical review before "
                             "going ahead."),
}
CHECK_STATUS: dict[str, tuple[str, str]] = {
    "pass": ("pass", "status-met"),
    "fail": ("fail", "status-not-met"),
    "unknown": ("unknown", "status-unknown"),
}
CRITERION_STATUS: dict[str, tuple[str, str]] = {
    "met": ("met", "status-met"),
    "not-met": ("not met", "status-not-met"),
    "unknown": ("unknown", "status-unknown"),
}
IF_FAILED = {
    "urgent-spinal-review": "refer for urgent spinal surgical review",
    "not-suitable": "the procedure may not be suitable - a clinician decides",
    "resolve-first": "resolve before going ahead",
    "plan-accommodations": "go ahead, with arrangements made",
}
UNDATED = {"until-the-procedure": "Until the procedure", "after": "After going home"}


@dataclass
class PlanForm:
    """The form's values as given (shown again beside any error)."""

    document: Document
    procedure_date: str = ""
    procedure_time: str = ""


@dataclass
class CitedSection:
    """The words one section of a source gives for something (several quotes: one section)."""

    source: str
    document: str
    section: str
    words: list[str]


def by_section(citations: list[CitationOut]) -> list[CitedSection]:
    """Citations grouped by source and section, in order, each quote once."""
    groups: dict[tuple[str, str], CitedSection] = {}
    for c in citations:
        group = groups.setdefault((c.source, c.section),
                                  CitedSection(c.source, c.document, c.section, []))
        if c.words not in group.words:
            group.words.append(c.words)
    return list(groups.values())


def criteria_shown(check: CheckOut) -> list[CriterionOut]:
    """The criteria that explain a check: a settled check shows the facts that settled it; an
    open one also what is missing (the rule `vertebro prepare` prints by)."""
    return [
        c for c in check.criteria
        if c.fact is not None and not (c.status == "unknown" and check.status != "unknown")
    ]


def value_words(evidence: EvidenceOut) -> str:
    """A recorded value in words: yes / no, a list, or the value."""
    value = evidence.value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v).replace("-", " ") for v in value) or "none"
    return str(value).replace("-", " ") if isinstance(value, str) else str(value)


_HEADING = re.compile(r"<(/?)h([1-4])([ >])")


def leaflet_markup(report: PreparationReport) -> Markup:
    """The leaflet's own words (the same as the PDF), its headings moved under this page's."""
    body = prepare_service.leaflet_body(report)
    # The leaflet is escaped by its own autoescaping template; only its heading levels change.
    shifted = _HEADING.sub(lambda m: f"<{m.group(1)}h{int(m.group(2)) + 2}{m.group(3)}", body)
    return Markup(shifted)


def _parse_date(value: object) -> dt.date | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        return None


def _parse_time(value: str) -> dt.time | None:
    """HH:MM (24-hour clock); a browser may add seconds."""
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)(?::[0-5]\d)?", value.strip())
    if match is None:
        return None
    return dt.time(int(match.group(1)), int(match.group(2)))


def _prepare(document: Document, procedure_date: dt.date, procedure_time: dt.time | None,
             today: dt.date) -> tuple[ReadText, PreparationReport]:
    read = prepare_service.read_text(document.text, document.name, today=today)
    report = prepare_service.prepare_case(
        read.case, input_name=document.name, procedure_date=procedure_date,
        procedure_time=procedure_time, today=today)
    return read, report


def _page(request: Request, user: Principal, form: PlanForm, *, status: int = 200,
          errors: dict[str, str] | None = None, read: ReadText | None = None,
          report: PreparationReport | None = None) -> HTMLResponse:
    return render(
        request, "plan_page.html", user, status=status, form=form, errors=errors or {},
        read=read, report=report,
        leaflet=leaflet_markup(report) if report is not None else None,
        digest=text_digest(form.document.text) if form.document.name != "pasted text" else "",
        long_date=long_date, readiness_words=READINESS, check_status=CHECK_STATUS,
        criterion_status=CRITERION_STATUS, if_failed=IF_FAILED, undated=UNDATED,
        criteria_shown=criteria_shown, value_words=value_words, by_section=by_section,
        source_number={s.id: n for n, s in enumerate(report.sources, 1)} if report else {},
    )


@router.get("/app/plan", response_class=HTMLResponse)
async def plan_form(
    request: Request, user: Annotated[Principal, Depends(page_require(Permission.ASSESS))],
) -> Response:
    """The form: the patient's record and the procedure date and time."""
    return _page(request, user, PlanForm(Document()))


@router.post("/app/plan", response_class=HTMLResponse)
async def make_plan(
    request: Request, user: Annotated[Principal, Depends(page_require(Permission.ASSESS))],
) -> Response:
    """The checks, the dated plan, the consent figures and the leaflet; with `format=pdf`, the
    leaflet as a PDF download."""
    max_bytes = prepare_service.MAX_TEXT_BYTES
    try:
        posted = await read_form(request, max_bytes)
    except InputError as exc:
        return _page(request, user, PlanForm(Document()), status=400,
                     errors={"text": field_message(exc, "pasted text")})
    form = PlanForm(Document(),
                    str(posted.get("procedure_date") or "").strip()[:40],
                    str(posted.get("procedure_time") or "").strip()[:40])
    errors: dict[str, str] = {}
    try:
        form.document = await read_document(posted, max_bytes, KINDS)
    except InputError as exc:
        errors[exc.source] = field_message(exc, "pasted text")
    procedure_date = _parse_date(form.procedure_date)
    if procedure_date is None:
        errors["procedure_date"] = ("Enter the procedure date, for example 2026-12-07."
                                    if not form.procedure_date else
                                    "The procedure date is not a date: use a date such as "
                                    "2026-12-07.")
    procedure_time = None
    if form.procedure_time:
        procedure_time = _parse_time(form.procedure_time)
        if procedure_time is None:
            errors["procedure_time"] = ("The time is not a time: use the 24-hour clock, for "
                                        "example 08:30, or leave it empty.")
    if errors or procedure_date is None:
        return _page(request, user, form, status=400, errors=errors)
    today = state(request).now().date()
    try:
        read, report = await run_in_threadpool(
            _prepare, form.document, procedure_date, procedure_time, today)
    except InputError as exc:
        field = "procedure_date" if exc.source == "--procedure-date" else form.document.field
        message = (exc.message[:1].upper() + exc.message[1:] + "."
                   if field == "procedure_date" else field_message(exc, form.document.name))
        return _page(request, user, form, status=400, errors={field: message})
    if posted.get("format") == "pdf":
        pdf = await run_in_threadpool(prepare_service.render_pdf, report)
        name = f"vertebroplasty-leaflet-{procedure_date.isoformat()}.pdf"
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",  # the leaflet holds patient data
        })
    return _page(request, user, form, read=read, report=report)
