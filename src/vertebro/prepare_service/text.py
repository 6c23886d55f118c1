"""The clinician's plain-text view of the report and the warnings shown beside other formats."""

from __future__ import annotations

from vertebro.core.pathway.plan import long_date
from vertebro.prepare_service.models import PreparationReport
from vertebro.report import EvidenceOut

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
