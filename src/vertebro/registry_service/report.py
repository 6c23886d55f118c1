"""The audit report and the draft device incident report: charts, findings, HTML and PDF."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from vertebro.adapters.errors import InputError
from vertebro.core.registry.audit import AuditReport, build_audit
from vertebro.core.registry.incident import (
    IncidentNotDeviceRelated,
    IncidentReport,
    Reporter,
    build_incident,
)
from vertebro.core.registry.ports import AbstractRegistryRepository
from vertebro.registry_service.benchmark_charts import chart_funnels, chart_rates
from vertebro.registry_service.chart_style import _pct, png_data
from vertebro.registry_service.outcome_charts import chart_pathways, chart_trajectory, chart_trends

# --- The audit report ---------------------------------------------------------------------------


def audit(
    repo: AbstractRegistryRepository,
    *,
    generated_on: dt.date,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
) -> AuditReport:
    """The audit of the stored procedures done in the period."""
    registry = repo.load(period_from, period_to)
    return build_audit(
        registry, generated_on=generated_on, period_from=period_from, period_to=period_to
    )


@dataclass(frozen=True, slots=True)
class Charts:
    """The report's charts as PNG data URIs."""

    rates: str
    funnels: str
    trajectory: str
    trends: str
    pathways: str


def render_charts(report: AuditReport) -> Charts:
    """Draw every chart of the report."""
    return Charts(
        rates=png_data(chart_rates(report)),
        funnels=png_data(chart_funnels(report)),
        trajectory=png_data(chart_trajectory(report)),
        trends=png_data(chart_trends(report)),
        pathways=png_data(chart_pathways(report)),
    )


def save_chart_png(fig: Any, path: Path) -> None:
    """Write one chart as a PNG file (for the README)."""
    fig.savefig(path, format="png", dpi=160, bbox_inches="tight", facecolor="white")


def findings(report: AuditReport) -> list[str]:
    """The headline sentences: each compared rate's position, and operators outside 99.8%."""
    lines = []
    for rate in report.rates:
        p = rate.proportion
        if not rate.comparisons or p.rate is None:
            continue
        parts = []
        for c in rate.comparisons:
            b = c.benchmark
            who = "NICE" if b.source == "nice-htg3" else "the Royal Berkshire leaflet"
            parts.append(f"{c.position.value if c.position else 'not compared'} {who}'s {b.figure}")
        lines.append(
            f"{rate.label}: {_pct(p.rate)} (95% CI {_pct(p.low)}–{_pct(p.high)}, "
            f"{p.events:,} of {p.n:,}) — {'; '.join(parts)}."
        )
    for funnel in report.funnels:
        for o in funnel.operators:
            if o.flag is not None and "99.8" in o.flag.value:
                side = "above" if o.flag.value.startswith("above") else "below"
                worse = (side == "above") == (funnel.kind == "harm")
                lines.append(
                    f"{o.operator} is {side} the 99.8% limit for {funnel.label.lower()} "
                    f"({'worse' if worse else 'better'} than the unit): "
                    f"{_pct(o.proportion.rate)} of {o.proportion.n:,} against the unit's "
                    f"{_pct(funnel.unit.rate)}."
                )
    return lines


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("vertebro", "registry/templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = _pct
    env.filters["num"] = lambda v, digits=1: "–" if v is None else f"{v:.{digits}f}"
    return env


def render_html(report: AuditReport, charts: Charts | None = None) -> str:
    """The audit as a standalone HTML page with its charts embedded."""
    charts = charts or render_charts(report)
    return (
        _environment()
        .get_template("audit.html.j2")
        .render(report=report, charts=charts, findings=findings(report))
    )


def render_pdf(report: AuditReport, charts: Charts | None = None) -> bytes:
    """The audit as PDF (A4), rendered from the HTML by WeasyPrint."""
    return _pdf(render_html(report, charts))


def _pdf(html: str) -> bytes:
    import weasyprint  # type: ignore[import-untyped]  # slow to load: only the PDF needs it

    pdf = weasyprint.HTML(string=html).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf


# --- Device incident ----------------------------------------------------------------------------


def incident(
    repo: AbstractRegistryRepository,
    complication_id: str,
    *,
    reporter: Reporter,
    report_date: dt.date,
) -> IncidentReport:
    """The draft device incident report for a stored complication.

    Raises:
        InputError: no such complication, or it is not recorded as device-related.
    """
    complication = repo.complication(complication_id)
    if complication is None:
        raise InputError("incident", f"no complication {complication_id!r} in the registry")
    procedure = repo.procedures([complication.procedure_id]).get(complication.procedure_id)
    if procedure is None:
        raise InputError("incident", f"procedure {complication.procedure_id!r} is not stored")
    try:
        return build_incident(complication, procedure, reporter=reporter, report_date=report_date)
    except IncidentNotDeviceRelated as exc:
        raise InputError("incident", str(exc)) from None


def render_incident_html(report: IncidentReport) -> str:
    """The draft incident report as a standalone HTML page."""
    return _environment().get_template("incident.html.j2").render(report=report)


def render_incident_pdf(report: IncidentReport) -> bytes:
    """The draft incident report as PDF (A4)."""
    return _pdf(render_incident_html(report))
