"""Render reports for people: plain text with optional colour. Pure functions over report models."""

from __future__ import annotations

from collections.abc import Callable

from vertebro.core.criteria import (
    AllOf,
    AnyOf,
    Citation,
    Criterion,
    Not,
    Predicate,
    children,
    test_operator,
)
from vertebro.core.policy import Policy
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


def render_summary(reports: list[AssessmentReport], style: Style = plain) -> str:
    """One line per input and procedure: the outcome and, when open, how many questions remain."""
    if not reports:
        return ""
    policy = reports[0].policy
    lines = [style(f"Summary under {policy.id} {policy.version}", "heading")]
    width = max(len(r.input) for r in reports)
    for report in reports:
        for det in report.determinations:
            outcome = style(det.outcome, _OUTCOME_ROLE[det.outcome])
            pad = " " * (24 - len(det.outcome))
            questions = f"{pad}  ({len(det.missing)} questions)" if det.missing else ""
            lines.append(f"  {report.input:<{width}}  {det.procedure:<14} {outcome}{questions}")
    return "\n".join(lines) + "\n"


def _determination(det: DeterminationOut, style: Style) -> list[str]:
    levels = f" at {', '.join(det.levels)}" if det.levels else " (levels not stated)"
    outcome = det.outcome.replace("-", " ").upper()
    lines = [style(f"{det.procedure.upper()}{levels}: {outcome}", _OUTCOME_ROLE[det.outcome])]
    if det.decided_by == "otherwise":
        lines.append("  because: none of the listed criteria applies (the policy's fallback)")
    elif det.decided_by:
        title = next((c.title for c in det.criteria if c.id == det.decided_by), "")
        lines.append(f"  because: {title} [{det.decided_by}]")
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


def render_policy(policy: Policy) -> str:
    """A policy as a readable, cited Markdown document for clinical review."""
    lines = [
        f"# {policy.title}",
        "",
        f"- **Policy id / version:** `{policy.id}` {policy.version} (`{policy.content_hash}`)",
        f"- **Jurisdiction:** {policy.jurisdiction}",
        f"- **In effect:** from {policy.effective_from}"
        + (f" to {policy.effective_to}" if policy.effective_to else " (open-ended)"),
    ]
    if policy.effective_note:
        lines.append(f"- **Note on dates:** {policy.effective_note}")
    lines += ["", "## Sources", ""]
    for source in policy.sources.values():
        where = f" <{source.url}>" if source.url else ""
        lines.append(
            f"- `{source.id}`: *{source.title}*, {source.publisher}"
            f"{', ' + source.published if source.published else ''}.{where} "
            f"Verification: {source.confidence.value}." + (f" {source.note}" if source.note else "")
        )
    lines += ["", "## How the outcome is decided", ""]
    for procedure, rules in policy.rules.items():
        steps = []
        for rule in rules:
            if rule.when is None:
                steps.append(f"otherwise **{rule.outcome.value}**")
            else:
                title = policy.criteria[rule.when].title
                steps.append(f"if *{title}* (`{rule.when}`) → **{rule.outcome.value}**")
        lines.append(f"- **{procedure.value}**: " + "; ".join(steps) + ".")
    lines += [
        "",
        "Rules are tried in order. A criterion that cannot be settled from the record is",
        "*unknown*; an unknown rule before the deciding one makes the outcome",
        "*insufficient-information* unless every possibility gives the same outcome, and the",
        "open questions are listed.",
        "",
        "## Criteria",
    ]
    for tree in policy.criteria.values():
        lines += ["", f"### `{tree.id}`", ""]
        lines += _policy_node(tree, policy, 0)
    if policy.requirements:
        lines += ["", "## Requirements that do not decide the outcome", ""]
        for req in policy.requirements:
            procedures = ", ".join(p.value for p in req.procedures)
            lines.append(f"- **{req.title}** (`{req.id}`, {req.kind.value}; {procedures})")
            lines += [f"  {_quote(c, policy)}" for c in req.citations]
            for label, condition in (
                ("Applies when", req.applies_when),
                ("Confirmed by", req.confirm),
            ):
                if condition is not None:
                    lines.append(f"  {label}: {condition.title} ({_test_text(condition)})")
    if policy.history:
        lines += ["", "## Source history", ""]
        lines += [f"- **{h.date}**: {h.summary}" for h in policy.history]
    return "\n".join(lines) + "\n"


def _policy_node(node: Criterion, policy: Policy, depth: int) -> list[str]:
    pad = "  " * depth
    kind = {AllOf: "all of", AnyOf: "any of", Not: "not"}.get(type(node), _test_text(node))
    lines = [f"{pad}- **{node.title}** — `{node.id}` ({kind})"]
    lines += [f"{pad}  {_quote(c, policy)}" for c in node.citations]
    if node.note:
        lines.append(f"{pad}  *Encoding note:* {node.note}")
    for child in children(node):
        lines += _policy_node(child, policy, depth + 1)
    return lines


def _quote(citation: Citation, policy: Policy) -> str:
    return f"> “{citation.words}” — {policy.sources[citation.source].title}, {citation.section}"


def _test_text(node: Criterion) -> str:
    if not isinstance(node, Predicate):
        return "combination"
    test = node.test
    operator = test_operator(test)
    value = getattr(test, operator)
    if isinstance(value, tuple):
        value = ", ".join(str(v) for v in value)
    words = {
        "is_": "is",
        "in_": "is one of",
        "includes": "includes",
        "at_least": "≥",
        "less_than": "<",
        "weeks_at_least": "weeks ago ≥",
        "weeks_less_than": "weeks ago <",
        "regions_all": "all levels in",
        "regions_any": "some level in",
    }[operator]
    if isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, float):
        value = f"{value:g}"
    return f"fact `{node.fact}` {words} {value}"
