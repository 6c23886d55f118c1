"""Render reports for people: plain text with optional colour. Pure functions over report models."""

from __future__ import annotations

from collections.abc import Callable

from vertebro.report import AssessmentReport, CriterionOut, DeterminationOut, EvidenceOut

Style = Callable[[str, str], str]  # (text, role) -> styled text

_MARK = {"met": "✓", "not-met": "✗", "unknown": "?"}
_OUTCOME_ROLE = {
    "meets-criteria": "met",
    "does-not-meet-criteria": "not-met",
    "investigational": "not-met",
    "insufficient-information": "unknown",
}


def plain(text: str, role: str) -> str:  # noqa: ARG001 - the no-colour style ignores the role
    """The style that adds nothing."""
    return text


def render_assessment(report: AssessmentReport, style: Style = plain) -> str:
    """A readable report: each outcome, its criteria with evidence, and the open questions."""
    lines = [
        style(report.input, "heading") + f"  (case {report.case}, as of {report.as_of})",
        f"Policy: {report.policy.title} — {report.policy.id} {report.policy.version} "
        f"({report.policy.hash[:19]}…)",
    ]
    for det in report.determinations:
        lines.append("")
        lines.extend(_determination(det, style))
    return "\n".join(lines) + "\n"


def _determination(det: DeterminationOut, style: Style) -> list[str]:
    levels = f" at {', '.join(det.levels)}" if det.levels else " (levels not stated)"
    outcome = det.outcome.replace("-", " ").upper()
    lines = [style(f"{det.procedure.upper()}{levels}: {outcome}", _OUTCOME_ROLE[det.outcome])]
    if det.decided_by:
        title = next((c.title for c in det.criteria if c.id == det.decided_by), "")
        lines.append(f"  because: {title} [{det.decided_by}]")
    elif det.outcome != "insufficient-information":
        lines.append("  because: none of the listed criteria applies (the policy's fallback)")
    lines.append("  Criteria:")
    for criterion in det.criteria:
        lines.extend(_criterion(criterion, style))
    if det.missing:
        lines.append(style("  Questions that would settle it:", "unknown"))
        for number, missing in enumerate(det.missing, 1):
            lines.append(f"    {number}. {missing.question}  ({missing.fact})")
    if det.requirements:
        lines.append("  Also required:")
        for req in det.requirements:
            if req.applies == "not-met":
                continue
            state = "" if req.status is None else f" — {_MARK[req.status]} {req.status}"
            when = " (if it applies: not known)" if req.applies == "unknown" else ""
            lines.append(
                f"    - {req.title}{when}{state}  [{req.citation.document}, {req.citation.section}]"
            )
    return lines


def _criterion(criterion: CriterionOut, style: Style) -> list[str]:
    indent = "    " + "  " * criterion.depth
    mark = style(f"{_MARK[criterion.status]} {criterion.status:<7}", criterion.status)
    cite = criterion.citation
    lines = [f"{indent}{mark} {criterion.title}  [{criterion.id}; {cite.section}]"]
    if criterion.fact is not None:
        if not criterion.evidence:
            lines.append(f"{indent}    {criterion.fact}: not documented")
        for evidence in criterion.evidence:
            lines.append(f"{indent}    {_evidence(evidence)}")
    return lines


def _evidence(evidence: EvidenceOut) -> str:
    value = evidence.value
    shown = (
        ", ".join(value)
        if isinstance(value, list)
        else str(value).lower()
        if isinstance(value, bool)
        else value
    )
    where = evidence.source + (f" {evidence.location}" if evidence.location else "")
    quote = f' "{evidence.quote}"' if evidence.quote else ""
    lost = " (conflicting reading, overruled)" if evidence.conflict else ""
    return f"{evidence.fact} = {shown}{lost} — {where}{quote}"
