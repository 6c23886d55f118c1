"""Evaluator behaviour on the shipped policies: traces, evidence, questions, requirements."""

from __future__ import annotations

import datetime as dt

from vertebro.core.catalogue import Procedure
from vertebro.core.evaluator import ProcedureRequest, assess, determine
from vertebro.core.facts import Fact, FactSet, Provenance
from vertebro.core.levels import parse_levels
from vertebro.core.policy import Outcome, Policy
from vertebro.core.tri import Tri

AS_OF = dt.date(2026, 10, 1)
NOTE = Provenance("note", "letter.txt", "eight weeks of analgesia", (10, 34))


def facts(**values: object) -> FactSet:
    return FactSet(Fact(name.replace("__", "."), value, (NOTE,)) for name, value in values.items())  # type: ignore[arg-type]


def vertebroplasty(levels: str | None = "L1") -> ProcedureRequest:
    return ProcedureRequest(
        Procedure.VERTEBROPLASTY, tuple(parse_levels(levels)) if levels else None
    )


PATHWAY_1 = {
    "fracture__aetiology": "osteoporotic",
    "fracture__type": "compression",
    "fracture__symptomatic": True,
    "conservative_treatment__duration_weeks": 8.0,
    "conservative_treatment__failed": True,
}


def test_pathway_one_meets_with_evidence(carefirst: Policy) -> None:
    det = determine(carefirst, facts(**PATHWAY_1), vertebroplasty(), as_of=AS_OF)
    assert det.outcome is Outcome.MEETS_CRITERIA
    assert det.decided_by is not None and det.decided_by.when == "cf-medically-necessary"
    by_id = {r.node.id: r for r in det.criteria}
    assert by_id["cf-pathway-failed-conservative"].status is Tri.TRUE
    # A met conjunction carries the evidence of every child; each fact keeps its provenance.
    evidence = {f.name for f in by_id["cf-pathway-failed-conservative"].evidence}
    assert evidence == {
        "fracture.aetiology",
        "fracture.type",
        "fracture.symptomatic",
        "conservative_treatment.duration_weeks",
        "conservative_treatment.failed",
    }
    assert by_id["cf-p1-six-weeks"].evidence[0].evidence[0].span == (10, 34)
    assert det.missing == ()


def test_trace_lists_parents_before_children(carefirst: Policy) -> None:
    det = determine(carefirst, facts(**PATHWAY_1), vertebroplasty(), as_of=AS_OF)
    seen: set[str] = set()
    for result in det.criteria:
        assert result.parent is None or result.parent in seen
        seen.add(result.node.id)


def test_missing_documentation_is_unknown_not_failure(carefirst: Policy) -> None:
    values = dict(PATHWAY_1)
    del values["conservative_treatment__failed"]
    det = determine(carefirst, facts(**values), vertebroplasty(), as_of=AS_OF)
    assert det.outcome is Outcome.INSUFFICIENT_INFORMATION
    statuses = {r.node.id: r.status for r in det.criteria}
    assert statuses["cf-p1-failed"] is Tri.UNKNOWN
    asked = [m.fact for m in det.missing]
    # Pathway 3 is already not met (osteoporotic), so nothing under it is asked.
    assert "lesion.osteolytic" not in asked and "imaging.mri_marrow_oedema" not in asked
    assert asked[0] == "conservative_treatment.failed"
    assert "fracture.onset_date" in asked  # pathway 2 could still settle it


def test_six_weeks_is_a_boundary(carefirst: Policy) -> None:
    exactly_six = facts(**{**PATHWAY_1, "conservative_treatment__duration_weeks": 6.0})
    under = facts(**{**PATHWAY_1, "conservative_treatment__duration_weeks": 5.9})
    statuses = [
        {
            r.node.id: r.status
            for r in determine(carefirst, f, vertebroplasty(), as_of=AS_OF).criteria
        }
        for f in (exactly_six, under)
    ]
    assert statuses[0]["cf-p1-six-weeks"] is Tri.TRUE
    assert statuses[1]["cf-p1-six-weeks"] is Tri.FALSE


def test_fracture_age_is_measured_to_the_as_of_date(carefirst: Policy) -> None:
    onset = AS_OF - dt.timedelta(weeks=6)
    f = facts(fracture__onset_date=onset)

    def age_status(day: dt.date) -> Tri:
        det = determine(carefirst, f, vertebroplasty(), as_of=day)
        return {r.node.id: r.status for r in det.criteria}["cf-p2-under-six-weeks"]

    assert age_status(AS_OF) is Tri.FALSE
    assert age_status(AS_OF - dt.timedelta(days=1)) is Tri.TRUE


def test_sacral_level_makes_vertebroplasty_sacroplasty(carefirst: Policy) -> None:
    det = determine(carefirst, facts(**PATHWAY_1), vertebroplasty("L5, S1"), as_of=AS_OF)
    assert det.outcome is Outcome.INVESTIGATIONAL
    assert det.decided_by is not None and det.decided_by.when == "cf-sacroplasty"


def test_sacroplasty_is_settled_with_everything_unknown(carefirst: Policy, nice: Policy) -> None:
    request = ProcedureRequest(Procedure.SACROPLASTY)
    for policy in (carefirst, nice):
        det = determine(policy, FactSet(), request, as_of=AS_OF)
        assert det.outcome is Outcome.INVESTIGATIONAL and det.missing == ()


def test_unknown_levels_keep_a_pathway_one_case_open(carefirst: Policy) -> None:
    det = determine(carefirst, facts(**PATHWAY_1), vertebroplasty(None), as_of=AS_OF)
    assert det.outcome is Outcome.INSUFFICIENT_INFORMATION
    assert [m.fact for m in det.missing] == ["request.levels"]


def test_other_uses_are_investigational_and_covered_ones_do_not_meet(carefirst: Policy) -> None:
    traumatic = facts(fracture__aetiology="traumatic", fracture__type="compression")
    det = determine(carefirst, traumatic, vertebroplasty(), as_of=AS_OF)
    assert det.outcome is Outcome.INVESTIGATIONAL
    short = facts(
        **{
            **PATHWAY_1,
            "conservative_treatment__duration_weeks": 3.0,
            "fracture__onset_date": AS_OF - dt.timedelta(weeks=4),
            "hospitalisation__for_pain_control": False,
            "pain__prevents_ambulation": False,
        }
    )
    det = determine(carefirst, short, vertebroplasty(), as_of=AS_OF)
    assert det.outcome is Outcome.DOES_NOT_MEET_CRITERIA


def test_requirements_report_whether_they_apply(carefirst: Policy) -> None:
    det = determine(carefirst, facts(coverage__fep=True), vertebroplasty(), as_of=AS_OF)
    fep = next(r for r in det.requirements if r.requirement.id == "cf-fep-contract")
    assert fep.applies is Tri.TRUE and fep.status is None
    det = determine(carefirst, FactSet(), vertebroplasty(), as_of=AS_OF)
    fep = next(r for r in det.requirements if r.requirement.id == "cf-fep-contract")
    assert fep.applies is Tri.UNKNOWN


def test_nice_service_requirements_do_not_decide_the_outcome(nice: Policy) -> None:
    f = facts(
        fracture__aetiology="osteoporotic",
        fracture__type="compression",
        pain__severe=True,
        fracture__healed=False,
        conservative_treatment__failed=True,
        pain__level_confirmed_by_examination=True,
        pain__level_confirmed_by_imaging=True,
        mdt__discussed=True,
        mdt__members=frozenset({"interventional-radiologist", "spinal-surgeon"}),
        service__spinal_surgery_access=False,
    )
    det = determine(nice, f, vertebroplasty(), as_of=AS_OF)
    assert det.outcome is Outcome.MEETS_CRITERIA
    access = next(r for r in det.requirements if r.requirement.id == "nice-spinal-surgery-access")
    assert access.status is Tri.FALSE


def test_assess_covers_every_request(nice: Policy) -> None:
    requests = (
        vertebroplasty(),
        ProcedureRequest(Procedure.KYPHOPLASTY),
        ProcedureRequest(Procedure.SACROPLASTY),
    )
    result = assess(nice, FactSet(), requests, as_of=AS_OF)
    assert [d.procedure for d in result.determinations] == list(Procedure)
    assert result.policy.id == "nice" and result.as_of == AS_OF
