"""Prepare a patient for the procedure: checks, a dated plan and consent figures, as text, JSON,
an HTML leaflet or a PDF leaflet.

The report models are the JSON shape; the text, HTML and PDF renderers only read them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import jinja2
import markupsafe
from pydantic import BaseModel, ConfigDict

from vertebro.adapters import pathway_files
from vertebro.adapters.errors import InputError
from vertebro.core.case import UNNAMED_NOTE_CASE, Case
from vertebro.core.criteria import Citation
from vertebro.core.evaluator import CriterionResult
from vertebro.core.pathway.checks import CheckResult, readiness, run_checks
from vertebro.core.pathway.model import Pathway
from vertebro.core.pathway.plan import (
    Flag,
    Plan,
    PlanInputError,
    Step,
    build_plan,
    clock,
    long_date,
)
from vertebro.core.tri import Tri
from vertebro.report import CitationOut, CriterionOut, EvidenceOut, MissingOut, evidence_out
from vertebro.services import read_case

CheckStatus = Literal["pass", "fail", "unknown"]
_CHECK_STATUS: dict[Tri, CheckStatus] = {
    Tri.TRUE: "pass",
    Tri.FALSE: "fail",
    Tri.UNKNOWN: "unknown",
}


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class PathwayOut(_Out):
    """The identity of the exact pathway text used."""

    id: str
    title: str
    version: str
    hash: str


class SourceOut(_Out):
    """A document the pathway cites."""

    id: str
    title: str
    publisher: str
    published: str | None
    url: str | None
    confidence: str
    note: str | None


class HospitalOut(_Out):
    """Who the patient calls and where the procedure happens."""

    name: str
    department: str
    phone: str
    website: str | None
    location: str
    working_days: list[str]
    citations: list[CitationOut]


class CheckOut(_Out):
    """One safety or suitability check with its verdict, evidence and what to do."""

    id: str
    title: str
    group: str
    status: CheckStatus
    if_failed: str  # the action a failure calls for
    advice: str | None  # what to do now: the failure's advice, or how to settle an unknown
    advice_citations: list[CitationOut]
    citation: CitationOut
    also_cited: list[CitationOut]
    evidence: list[EvidenceOut]
    criteria: list[CriterionOut]
    missing: list[MissingOut]
    note: str | None


class StepOut(_Out):
    """One dated instruction of the plan."""

    kind: str
    phase: str
    date: dt.date | None
    time: str | None  # HH:MM
    summary: str
    drug: str | None
    last_dose: dt.date | None
    hours: float | None
    needs_clinician: bool
    citations: list[CitationOut]
    evidence: list[EvidenceOut]


class FlagOut(_Out):
    """Something for a clinician to decide or confirm."""

    code: str
    message: str
    drug: str | None
    citations: list[CitationOut]
    evidence: list[EvidenceOut]


class DrugRuleOut(_Out):
    """What the pathway says about one blood thinner."""

    drug: str
    drug_class: str
    action: str
    stop_days_before: int | None
    citations: list[CitationOut]


class PlanOut(_Out):
    """The dated plan, and the numbers its wording uses."""

    procedure_date: dt.date
    procedure_time: str | None
    review_by: dt.date | None
    food_hours_before: float
    drinks_hours_before: float
    bed_rest_hours: tuple[float, float]  # at least, at most
    toilet_after_hours: float
    steps: list[StepOut]
    flags: list[FlagOut]
    blood_thinner_rules: list[DrugRuleOut]


class ConsentOut(_Out):
    """A benefit, risk or limitation with its figure and the source of the figure."""

    id: str
    kind: str
    figure: str | None
    statement: str
    in_leaflet: bool
    note: str | None
    citations: list[CitationOut]


class BringOut(_Out):
    """Something to bring; `local` when it is the hospital's own practice, not from a source."""

    text: str
    local: bool
    citations: list[CitationOut]


class PreparationReport(_Out):
    """Everything `vertebro prepare` says about one patient, in the shape of its JSON."""

    input: str
    case: str
    procedures: list[str]
    prepared_on: dt.date
    pathway: PathwayOut
    hospital: HospitalOut
    readiness: str
    checks: list[CheckOut]
    plan: PlanOut
    what_to_bring: list[BringOut]
    consent: list[ConsentOut]
    sources: list[SourceOut]


def prepare(
    path: Path,
    *,
    procedure_date: dt.date,
    procedure_time: dt.time | None,
    today: dt.date,
    pathway: str | None = None,
) -> PreparationReport:
    """Read a case (any input `read_case` supports), run the checks and date the plan.

    Raises:
        InputError: the input or pathway cannot be read, or the procedure date is in the past.
    """
    chosen = pathway_files.resolve(pathway)
    case = read_case(path)
    return prepare_case(
        case,
        input_name=str(path),
        procedure_date=procedure_date,
        procedure_time=procedure_time,
        today=today,
        pathway=chosen,
    )


def prepare_case(
    case: Case,
    *,
    input_name: str,
    procedure_date: dt.date,
    procedure_time: dt.time | None,
    today: dt.date,
    pathway: Pathway | None = None,
) -> PreparationReport:
    """`prepare` for a case already read (the web page reads pasted text and uploads).

    Raises:
        InputError: the procedure date is in the past (source "--procedure-date").
    """
    chosen = pathway if pathway is not None else pathway_files.resolve(None)
    procedures = tuple(request.procedure for request in case.requests)
    try:
        plan = build_plan(
            chosen,
            case.facts,
            procedure_date=procedure_date,
            procedure_time=procedure_time,
            today=today,
            procedures=procedures,
        )
    except PlanInputError as exc:
        raise InputError("--procedure-date", str(exc)) from None
    results = run_checks(chosen, case.facts, as_of=procedure_date)
    return build_report(
        chosen,
        results,
        plan,
        input_name=input_name,
        case_id=case.id,
        procedures=[p.value for p in procedures],
        prepared_on=today,
    )


@dataclass(frozen=True, slots=True)
class ReadText:
    """A case read from pasted or uploaded text, what kind of input it was, and the reader's
    warnings (FHIR input: what was skipped or doubted)."""

    case: Case
    kind: Literal["clinical note", "FHIR", "vertebro case"]
    warnings: tuple[str, ...] = ()


MAX_TEXT_BYTES = 5_000_000


def read_text(text: str, name: str, *, today: dt.date) -> ReadText:
    """Read what `vertebro prepare` reads from a file, from text (the web page's input).

    JSON (`name` ends in .json, or the text is a JSON object) is FHIR R4 or a vertebro case;
    `name` ending in .yaml/.yml, or pasted YAML with `requests` or `facts`, is a case file;
    anything else is a clinical note, dated by its "Date:" line when it has one.

    Raises:
        InputError: empty, too long, unreadable as its kind, or holding no vertebroplasty,
            kyphoplasty or sacroplasty request.
    """
    # Imported here: the CLI's `prepare` never needs the service's readers (or their imports).
    from vertebro import case_service
    from vertebro.adapters import yaml_lines
    from vertebro.adapters.case_files import parse_case
    from vertebro.adapters.fhir.notes import nlp_function

    if not text.strip():
        raise InputError(name, "there is no text")
    size = len(text.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise InputError(name, f"the text is {size:,} bytes; the limit is {MAX_TEXT_BYTES:,}")
    lower = name.lower()
    stem = Path(name).stem or "case"
    read: ReadText | None = None
    if lower.endswith(".json") or text.lstrip().startswith("{"):
        from vertebro.adapters.fhir import parse_json

        result = case_service.read_json_document(
            parse_json(text.encode("utf-8"), name), name, as_of=today
        )
        kind: Literal["FHIR", "vertebro case"] = (
            "vertebro case" if result.kind == "vertebro case" else "FHIR"
        )
        read = ReadText(case=result.case, kind=kind, warnings=result.warnings)
    elif not lower.endswith(".txt"):
        try:
            data = yaml_lines.load(text)
        except yaml_lines.YamlError as exc:
            if lower.endswith((".yaml", ".yml")):
                raise InputError(name, exc.message, exc.line) from None
            data = None  # not YAML: a note
        if lower.endswith((".yaml", ".yml")) or (
            isinstance(data, dict) and ("requests" in data or "facts" in data)
        ):
            read = ReadText(case=parse_case(data, name, default_id=stem), kind="vertebro case")
    if read is None:
        dated = nlp_function("note_date_from_text")
        note_date = dated(text) if dated is not None else None
        result = case_service.read_note_text(
            text, name, note_date=note_date if isinstance(note_date, dt.date) else None
        )
        read = ReadText(case=result.case, kind="clinical note", warnings=result.warnings)
    if not read.case.requests:
        raise InputError(
            name,
            f"the {'FHIR input' if read.kind == 'FHIR' else read.kind} names no "
            "vertebroplasty, kyphoplasty or sacroplasty request to prepare for",
        )
    return read


def build_report(
    pathway: Pathway,
    results: Iterable[CheckResult],
    plan: Plan,
    *,
    input_name: str,
    case_id: str,
    procedures: list[str],
    prepared_on: dt.date,
) -> PreparationReport:
    """Turn the checks and the plan into the report every format shows."""
    results = tuple(results)
    cite = _Citer(pathway)
    hospital = pathway.hospital
    rules = pathway.plan
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    return PreparationReport(
        input=input_name,
        case=case_id,
        procedures=procedures,
        prepared_on=prepared_on,
        pathway=PathwayOut(
            id=pathway.id, title=pathway.title, version=pathway.version, hash=pathway.content_hash
        ),
        hospital=HospitalOut(
            name=hospital.name,
            department=hospital.department,
            phone=hospital.phone,
            website=hospital.website,
            location=hospital.location,
            working_days=[days[d] for d in sorted(hospital.working_days)],
            citations=cite.all(hospital.citations),
        ),
        readiness=readiness(results).value,
        checks=[_check(result, cite) for result in results],
        plan=PlanOut(
            procedure_date=plan.procedure_date,
            procedure_time=clock(plan.procedure_time) if plan.procedure_time else None,
            review_by=plan.review_by,
            food_hours_before=rules.fasting.food_hours_before,
            drinks_hours_before=rules.fasting.drinks_hours_before,
            bed_rest_hours=(rules.bed_rest.min_hours, rules.bed_rest.max_hours),
            toilet_after_hours=rules.bed_rest.toilet_after_hours,
            steps=[_step(step, cite) for step in plan.steps],
            flags=[_flag(flag, cite) for flag in plan.flags],
            blood_thinner_rules=[
                DrugRuleOut(
                    drug=rule.drug,
                    drug_class=rule.drug_class.value,
                    action=rule.action.value,
                    stop_days_before=rule.stop_days_before,
                    citations=cite.all(rule.citations),
                )
                for rule in pathway.plan.drugs.values()
            ],
        ),
        what_to_bring=[
            BringOut(text=item.text, local=not item.citations, citations=cite.all(item.citations))
            for item in pathway.what_to_bring
        ],
        consent=[
            ConsentOut(
                id=item.id,
                kind=item.kind.value,
                figure=item.figure,
                statement=item.statement,
                in_leaflet=item.in_leaflet,
                note=item.note,
                citations=cite.all(item.citations),
            )
            for item in pathway.consent
        ],
        sources=[
            SourceOut(
                id=s.id,
                title=s.title,
                publisher=s.publisher,
                published=s.published,
                url=s.url,
                confidence=s.confidence.value,
                note=s.note,
            )
            for s in pathway.sources.values()
        ],
    )


class _Citer:
    def __init__(self, pathway: Pathway) -> None:
        self.sources = pathway.sources

    def one(self, citation: Citation) -> CitationOut:
        return CitationOut(
            source=citation.source,
            document=self.sources[citation.source].title,
            section=citation.section,
            words=citation.words,
        )

    def all(self, citations: Iterable[Citation]) -> list[CitationOut]:
        return [self.one(c) for c in citations]


def _check(result: CheckResult, cite: _Citer) -> CheckOut:
    check = result.check
    status = _CHECK_STATUS[result.status]
    advice, advice_citations = None, []
    if result.status is Tri.FALSE:
        advice, advice_citations = check.fail_advice.text, cite.all(check.fail_advice.citations)
    elif result.status is Tri.UNKNOWN:
        advice = check.unknown_advice
    return CheckOut(
        id=check.id,
        title=check.title,
        group=check.group.value,
        status=status,
        if_failed=check.fail_action.value,
        advice=advice,
        advice_citations=advice_citations,
        citation=cite.one(check.citations[0]),
        also_cited=cite.all(check.citations[1:]),
        evidence=evidence_out(result.evidence),
        criteria=[_criterion(r, cite) for r in result.trace],
        missing=[
            MissingOut(fact=m.fact, question=m.question, criteria=list(m.criteria))
            for m in result.missing
        ],
        note=check.note,
    )


def _criterion(result: CriterionResult, cite: _Citer) -> CriterionOut:
    node = result.node
    return CriterionOut(
        id=node.id,
        title=node.title,
        status=result.status.value,
        citation=cite.one(node.citations[0]),
        also_cited=cite.all(node.citations[1:]),
        evidence=evidence_out(result.evidence),
        parent=result.parent,
        depth=result.depth,
        fact=getattr(node, "fact", None),
        note=node.note,
    )


def _step(step: Step, cite: _Citer) -> StepOut:
    return StepOut(
        kind=step.kind.value,
        phase=step.phase.value,
        date=step.day,
        time=clock(step.time) if step.time else None,
        summary=step.summary,
        drug=step.drug,
        last_dose=step.last_dose,
        hours=step.hours,
        needs_clinician=step.needs_clinician,
        citations=cite.all(step.citations),
        evidence=evidence_out(step.evidence),
    )


def _flag(flag: Flag, cite: _Citer) -> FlagOut:
    return FlagOut(
        code=flag.code.value,
        message=flag.message,
        drug=flag.drug,
        citations=cite.all(flag.citations),
        evidence=evidence_out(flag.evidence),
    )


# Rendering -------------------------------------------------------------------------------------

_UNDATED = {"until-the-procedure": "until the procedure", "after": "after going home"}
_MARK = {"pass": "✓", "fail": "✗", "unknown": "?", "met": "✓", "not-met": "✗"}


def render_text(report: PreparationReport) -> str:
    """The clinician's view: readiness, each check with evidence, flags, the plan and consent."""
    plan = report.plan
    when = long_date(plan.procedure_date) + (
        f" at {plan.procedure_time}" if plan.procedure_time else " (time not given)"
    )
    lines = [
        f"{report.input}  (case {report.case}) — {', '.join(report.procedures)} on {when}",
        f"Pathway: {report.pathway.title} — {report.pathway.id} {report.pathway.version} "
        f"({report.pathway.hash[:19]}…)",
        f"Readiness: {report.readiness.replace('-', ' ').upper()}",
        "",
        "Safety and suitability checks",
    ]
    for check in report.checks:
        lines.append(
            f"  {_MARK[check.status]} {check.status:<7} {check.title}  "
            f"[{check.id}; {check.citation.source}, {check.citation.section}]"
        )
        for criterion in check.criteria:
            # A settled check shows the facts that settled it; an open one also what is missing.
            if criterion.fact is None or (
                criterion.status == "unknown" and check.status != "unknown"
            ):
                continue
            readings = dict.fromkeys(_evidence_text(e) for e in criterion.evidence)
            shown = ", ".join(readings) or "not documented"
            lines.append(f"      {_MARK[criterion.status]} {criterion.title}: {shown}")
        if check.advice:
            label = "→ " + ("action" if check.status == "fail" else "to settle")
            lines.append(f"      {label}: {check.advice}")
    if plan.flags:
        lines += ["", "For the clinician"]
        lines += [f"  ! {flag.message}  [{flag.code}]" for flag in plan.flags]
    lines += ["", "Personal plan"]
    for step in plan.steps:
        day = long_date(step.date) if step.date else _UNDATED[step.phase]
        at = f" {step.time}" if step.time else ""
        mark = "!" if step.needs_clinician else " "
        source = f"  [{step.citations[0].source}]" if step.citations else ""
        lines.append(f"  {mark} {day + at:<34} {step.summary}{source}")
    lines += ["", "Consent information (figure — what it means — source)"]
    for item in report.consent:
        figure = item.figure or "—"
        first = item.citations[0]
        leaflet = "" if item.in_leaflet else " (not in the patient leaflet)"
        lines.append(
            f"  {item.kind:<10} {figure:<13} {item.statement}{leaflet}  "
            f"[{first.source}, {first.section}]"
        )
    hospital = report.hospital
    lines += ["", f"Contact: {hospital.department}, {hospital.name}, {hospital.phone}"]
    return "\n".join(lines) + "\n"


def _evidence_text(evidence: EvidenceOut) -> str:
    value = evidence.value
    shown = (
        ", ".join(value) or "none"
        if isinstance(value, list)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )
    where = evidence.source + (f" {evidence.location}" if evidence.location else "")
    return f"{evidence.fact} = {shown} ({where})"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("vertebro", "pathway/templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["long_date"] = long_date
    env.filters["css_string"] = css_string
    return env


def css_string(text: str) -> markupsafe.Markup:
    """Text as a quoted CSS string, safe inside <style> (where HTML escapes do not apply)."""
    escaped = "".join(f"\\{ord(ch):x} " if ch in '\\"<>&\n' else ch for ch in text)
    return markupsafe.Markup(f'"{escaped}"')


def render_html(report: PreparationReport) -> str:
    """The patient leaflet as a standalone HTML page (plain English, large type)."""
    template = _environment().get_template("leaflet.html.j2")
    sources = _leaflet_sources(report)
    return template.render(
        report=report,
        plan=report.plan,
        hospital=report.hospital,
        sources=sources,
        source_number={source.id: number for number, source in enumerate(sources, 1)},
        days=leaflet_days(report.plan),
        made_for=None if report.case == UNNAMED_NOTE_CASE else report.case,
    )


def leaflet_body(report: PreparationReport) -> str:
    """The leaflet's content without its page (no <html>, <head> or <style>), for showing it
    inside another page: the words are exactly those of the HTML and PDF leaflet."""
    page = render_html(report)
    start, end = page.index("<body>") + len("<body>"), page.rindex("</body>")
    return page[start:end].strip()


class LeafletRow(_Out):
    """One line of the leaflet's timetable: a clock time or 'Before'/'After', and the step."""

    when: str
    step: StepOut
    variant: Literal["", "last-dose"] = ""


class LeafletDay(_Out):
    """A day of the leaflet's timetable (no date: after going home)."""

    date: dt.date | None
    procedure_day: bool
    rows: list[LeafletRow]


_BEFORE_PROCEDURE = {"no-food", "no-drinks", "clotting-check", "antibiotics"}


def leaflet_days(plan: PlanOut) -> list[LeafletDay]:
    """The dated steps grouped by day in time order; a drug's last dose gets a row of its own."""
    rows: list[tuple[dt.date | None, int, LeafletRow]] = []
    for order, step in enumerate(plan.steps):
        if step.phase == "until-the-procedure":
            continue
        if step.kind == "stop-drug" and step.last_dose is not None:
            rows.append(
                (step.last_dose, order, LeafletRow(when="", step=step, variant="last-dose"))
            )
        when = step.time or ""
        if not when and step.date == plan.procedure_date and step.kind != "procedure":
            when = "Before" if step.kind in _BEFORE_PROCEDURE else "After"
        rows.append((step.date, order, LeafletRow(when=when, step=step)))
    rows.sort(key=lambda r: (r[0] is None, r[0] or plan.procedure_date, r[1]))
    days: list[LeafletDay] = []
    for day, _, row in rows:
        if not days or days[-1].date != day:
            days.append(LeafletDay(date=day, procedure_day=day == plan.procedure_date, rows=[]))
        days[-1].rows.append(row)
    return days


def _leaflet_sources(report: PreparationReport) -> list[SourceOut]:
    """The sources behind what the leaflet shows: the plan, the hospital and its figures."""
    used = {c.source for c in report.hospital.citations}
    used.update(c.source for step in report.plan.steps for c in step.citations)
    used.update(c.source for item in report.consent if item.in_leaflet for c in item.citations)
    used.update(c.source for item in report.what_to_bring for c in item.citations)
    return [source for source in report.sources if source.id in used]


def render_pdf(report: PreparationReport) -> bytes:
    """The patient leaflet as PDF (A4), rendered from the HTML by WeasyPrint."""
    # Imported here: it is slow to load and only the PDF needs it. It ships no type information.
    import weasyprint  # type: ignore[import-untyped]

    pdf = weasyprint.HTML(string=render_html(report)).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf


def warnings(report: PreparationReport) -> list[str]:
    """One line for each thing a clinician must look at before the plan reaches the patient."""
    lines = [flag.message for flag in report.plan.flags]
    failed = [c.id for c in report.checks if c.status == "fail"]
    unknown = [c.id for c in report.checks if c.status == "unknown"]
    if failed:
        lines.append(f"checks failed: {', '.join(failed)} (readiness: {report.readiness})")
    if unknown:
        lines.append(f"checks not yet settled: {', '.join(unknown)}")
    return lines
