"""The assessment report: the typed, JSON-ready shape shared by the CLI, the API and the UI."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

from vertebro.core.case import Case
from vertebro.core.criteria import Citation
from vertebro.core.evaluator import Assessment, CriterionResult, Determination, RequirementResult
from vertebro.core.facts import Fact, FactValue
from vertebro.core.policy import Policy
from vertebro.core.tri import Tri

JsonValue = bool | float | int | str | list[str] | None
Status = Literal["met", "not-met", "unknown"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class CitationOut(_Out):
    source: str
    document: str
    section: str
    words: str


class EvidenceOut(_Out):
    fact: str
    value: JsonValue
    kind: str
    source: str
    quote: str | None = None
    span: tuple[int, int] | None = None
    location: str | None = None
    conflict: bool = False  # a reading that lost to a stronger source


class CriterionOut(_Out):
    id: str
    title: str
    status: Status
    citation: CitationOut
    also_cited: list[CitationOut] = []
    evidence: list[EvidenceOut]
    parent: str | None
    depth: int
    fact: str | None = None  # for a test on one fact
    note: str | None = None


class MissingOut(_Out):
    fact: str
    question: str
    criteria: list[str]


class RequirementOut(_Out):
    id: str
    kind: str
    title: str
    citation: CitationOut
    applies: Status
    status: Status | None
    evidence: list[EvidenceOut]


class DeterminationOut(_Out):
    procedure: Literal["vertebroplasty", "kyphoplasty", "sacroplasty"]
    levels: list[str] | None
    outcome: Literal[
        "meets-criteria", "does-not-meet-criteria", "investigational", "insufficient-information"
    ]
    decided_by: str | None  # a criterion id, "otherwise" for the fallback rule, None when open
    criteria: list[CriterionOut]
    missing: list[MissingOut]
    requirements: list[RequirementOut]


class PolicyOut(_Out):
    id: str
    version: str
    hash: str
    title: str


class AssessmentReport(_Out):
    input: str
    case: str
    as_of: dt.date
    policy: PolicyOut
    determinations: list[DeterminationOut]


def json_value(value: FactValue | None) -> JsonValue:
    """A fact value as plain JSON."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, frozenset):
        return sorted(value)
    return [str(level) for level in value]


def build_report(
    assessment: Assessment, policy: Policy, case: Case, input_name: str
) -> AssessmentReport:
    """Turn an assessment into the report every interface shows."""
    return AssessmentReport(
        input=input_name,
        case=case.id,
        as_of=assessment.as_of,
        policy=PolicyOut(
            id=policy.id, version=policy.version, hash=policy.content_hash, title=policy.title
        ),
        determinations=[_determination(d, policy) for d in assessment.determinations],
    )


def _determination(det: Determination, policy: Policy) -> DeterminationOut:
    levels = det.request.levels
    return DeterminationOut(
        procedure=det.procedure.value,
        levels=[str(level) for level in levels] if levels else None,
        outcome=det.outcome.value,
        decided_by=_decided_by(det),
        criteria=[_criterion(result, policy) for result in det.criteria],
        missing=[
            MissingOut(fact=m.fact, question=m.question, criteria=list(m.criteria))
            for m in det.missing
        ],
        requirements=[_requirement(r, policy) for r in det.requirements],
    )


def _decided_by(det: Determination) -> str | None:
    """The id of the criterion whose rule decided, 'otherwise' for the fallback, None if open."""
    if det.decided_by is None:
        return None
    return det.decided_by.when or "otherwise"


def _citation(citation: Citation, policy: Policy) -> CitationOut:
    return CitationOut(
        source=citation.source,
        document=policy.sources[citation.source].title,
        section=citation.section,
        words=citation.words,
    )


def evidence_out(facts: tuple[Fact, ...]) -> list[EvidenceOut]:
    """Every piece of evidence behind the facts, the losing readings marked as conflicts."""
    out = []
    for fact in facts:
        for reading, conflict in ((fact, False), *((c, True) for c in fact.conflicts)):
            for prov in reading.evidence:
                out.append(
                    EvidenceOut(
                        fact=fact.name,
                        value=json_value(reading.value),
                        kind=prov.kind,
                        source=prov.source,
                        quote=prov.quote,
                        span=prov.span,
                        location=prov.location,
                        conflict=conflict,
                    )
                )
    return out


def _criterion(result: CriterionResult, policy: Policy) -> CriterionOut:
    node = result.node
    return CriterionOut(
        id=node.id,
        title=node.title,
        status=result.status.value,
        citation=_citation(node.citations[0], policy),
        also_cited=[_citation(c, policy) for c in node.citations[1:]],
        evidence=evidence_out(result.evidence),
        parent=result.parent,
        depth=result.depth,
        fact=getattr(node, "fact", None),
        note=node.note,
    )


def _requirement(result: RequirementResult, policy: Policy) -> RequirementOut:
    req = result.requirement
    return RequirementOut(
        id=req.id,
        kind=req.kind.value,
        title=req.title,
        citation=_citation(req.citations[0], policy),
        applies=result.applies.value,
        status=result.status.value if result.status is not None else None,
        evidence=evidence_out(result.evidence),
    )


def status_of(tri: Tri) -> Status:
    """The JSON spelling of a three-valued status."""
    return tri.value
