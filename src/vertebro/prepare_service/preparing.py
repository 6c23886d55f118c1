"""The use case: read a case, run the pathway checks, date the plan and build the report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from vertebro.adapters import pathway_files
from vertebro.adapters.errors import InputError
from vertebro.core.case import Case
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
)
from vertebro.core.tri import Tri
from vertebro.prepare_service.models import (
    BringOut,
    CheckOut,
    CheckStatus,
    ConsentOut,
    DrugRuleOut,
    FlagOut,
    HospitalOut,
    PathwayOut,
    PlanOut,
    PreparationReport,
    SourceOut,
    StepOut,
)
from vertebro.report import CitationOut, CriterionOut, MissingOut, evidence_out
from vertebro.services import read_case

_CHECK_STATUS: dict[Tri, CheckStatus] = {
    Tri.TRUE: "pass",
    Tri.FALSE: "fail",
    Tri.UNKNOWN: "unknown",
}


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
