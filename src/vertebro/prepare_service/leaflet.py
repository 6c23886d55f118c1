"""The patient leaflet: its timetable, the HTML page (Jinja) and the PDF (WeasyPrint)."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Literal

import jinja2
import markupsafe

from vertebro.core.case import UNNAMED_NOTE_CASE
from vertebro.core.pathway.plan import long_date
from vertebro.prepare_service.models import Out, PlanOut, PreparationReport, SourceOut, StepOut


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


class LeafletRow(Out):
    """One line of the leaflet's timetable: a clock time or 'Before'/'After', and the step."""

    when: str
    step: StepOut
    variant: Literal["", "last-dose"] = ""


class LeafletDay(Out):
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
