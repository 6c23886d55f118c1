"""The result page's view model: outcomes, criteria trees, evidence and the marked-up note."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from vertebro.core.catalogue import CATALOGUE
from vertebro.report import (
    AssessmentReport,
    CitationOut,
    CriterionOut,
    DeterminationOut,
    EvidenceOut,
    JsonValue,
)
from vertebro.web.pages.policies import OUTCOME_CLASS, OUTCOME_WORDS, STATUS_WORDS

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


def note_marks(
    report: AssessmentReport, text: str, source: str
) -> tuple[Markup, dict[tuple[int, int], str]]:
    """The note as HTML with every evidence span in a `<mark class="evidence">`, and the mark id
    of each span (overlapping spans share one mark)."""
    spans = sorted(
        {
            e.span
            for e in _all_evidence(report)
            if e.kind == "note"
            and e.source == source
            and e.span is not None
            and 0 <= e.span[0] < e.span[1] <= len(text)
        }
    )
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
        parts.append(
            Markup('<mark class="evidence" id="{}" title="{}">{}</mark>').format(
                mark_id,
                "Evidence for: " + "; ".join(sorted(titles.get(mark_id, ()))),
                text[start:end],
            )
        )
        at = end
    parts.append(escape(text[at:]))
    return Markup("").join(parts), ids


def _all_evidence(report: AssessmentReport) -> Iterable[EvidenceOut]:
    for det in report.determinations:
        for criterion in det.criteria:
            yield from criterion.evidence
        for requirement in det.requirements:
            yield from requirement.evidence


def evidence_views(
    evidence: list[EvidenceOut], marks: dict[tuple[int, int], str], source: str | None
) -> list[EvidenceView]:
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
        out.append(
            EvidenceView(
                fact_title(e.fact),
                value_words(e.value),
                e.kind,
                where,
                e.location if e.kind not in ("answer", "attestation") else None,
                e.quote,
                mark,
                e.conflict,
            )
        )
    return out


def determination_views(
    report: AssessmentReport, marks: dict[tuple[int, int], str], source: str | None
) -> list[DeterminationView]:
    """Each requested procedure's outcome, reason, criteria tree and requirements."""
    views = []
    for index, det in enumerate(report.determinations, 1):
        prefix = f"d{index}"
        views.append(
            DeterminationView(
                index=index,
                heading=_heading(det),
                outcome=det.outcome,
                outcome_word=OUTCOME_WORDS[det.outcome],
                outcome_class=OUTCOME_CLASS[det.outcome],
                because=_because(det),
                because_link=(
                    f"#{prefix}-{det.decided_by}"
                    if det.decided_by and det.decided_by != "otherwise"
                    else None
                ),
                tree=_tree(det.criteria, prefix, marks, source),
                requirements=[
                    RequirementView(
                        r.title,
                        r.applies,
                        r.status,
                        r.citation,
                        evidence_views(r.evidence, marks, source),
                    )
                    for r in det.requirements
                    if r.applies != "not-met"
                ],
                questions=len(det.missing),
            )
        )
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
    return (
        "Not settled: criteria that could change the outcome are unknown. The questions "
        "below would settle it."
    )


def _tree(
    criteria: list[CriterionOut], prefix: str, marks: dict[tuple[int, int], str], source: str | None
) -> list[CriterionView]:
    by_parent: dict[str | None, list[CriterionOut]] = {}
    for c in criteria:
        by_parent.setdefault(c.parent, []).append(c)

    def build(c: CriterionOut, seen: frozenset[str]) -> CriterionView:
        evidence = evidence_views(c.evidence, marks, source)
        kids = [build(k, seen | {c.id}) for k in by_parent.get(c.id, []) if k.id not in seen]
        return CriterionView(
            dom_id=f"{prefix}-{c.id}",
            id=c.id,
            title=c.title,
            status=c.status,
            status_word=STATUS_WORDS[c.status],
            citation=c.citation,
            also_cited=c.also_cited,
            evidence=evidence,
            undocumented=fact_title(c.fact) if c.fact is not None and not evidence else None,
            note=c.note,
            children=kids,
        )

    return [build(c, frozenset()) for c in by_parent.get(None, [])]
