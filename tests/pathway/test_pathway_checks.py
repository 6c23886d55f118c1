"""Each safety and suitability check passes, fails or stays unknown, with evidence."""

from __future__ import annotations

import datetime as dt

import pytest

from vertebro.adapters import pathway_files
from vertebro.adapters.case_files import parse_facts
from vertebro.core.facts import FactSet
from vertebro.core.pathway.checks import Readiness, readiness, run_check, run_checks
from vertebro.core.pathway.model import Check, FailAction
from vertebro.core.tri import Tri

pathway = pathway_files.shipped()


def make_facts(values: dict[str, object]) -> FactSet:
    """Facts from plain values, read as a case file reads them; None is unknown."""
    return parse_facts(values, "test")


DAY = dt.date(2026, 12, 7)
P, F, U = Tri.TRUE, Tri.FALSE, Tri.UNKNOWN

# (check id, facts, expected status): a pass, a fail and an unknown for every check, plus the
# branches that matter (CT and bone scan instead of MRI; the metastasis team).
CASES: list[tuple[str, dict[str, object], Tri]] = [
    ("fracture-confirmed-by-imaging", {"imaging.mri_marrow_oedema": True}, P),
    ("fracture-confirmed-by-imaging",
     {"imaging.mri_marrow_oedema": False, "patient.metalwork": False, "patient.pacemaker": False,
      "imaging.mri_unsuitable": False}, F),
    ("fracture-confirmed-by-imaging",
     {"patient.metalwork": True, "imaging.ct_fracture": True, "imaging.bone_scan_positive": True}, P),
    ("fracture-confirmed-by-imaging",
     {"patient.pacemaker": True, "imaging.ct_fracture": True, "imaging.bone_scan_positive": True}, P),
    ("fracture-confirmed-by-imaging",
     {"patient.metalwork": True, "imaging.ct_fracture": True, "imaging.bone_scan_positive": False,
      "imaging.mri_marrow_oedema": False}, F),
    ("fracture-confirmed-by-imaging", {"patient.metalwork": True, "imaging.ct_fracture": True}, U),
    ("fracture-confirmed-by-imaging", {}, U),
    ("fracture-not-healed", {"fracture.healed": False}, P),
    ("fracture-not-healed", {"fracture.healed": True}, F),
    ("fracture-not-healed", {}, U),
    ("right-purpose",
     {"request.prophylactic": False, "pain.herniated_disc": False, "pain.arthritic": False,
      "request.correct_curvature": False}, P),
    ("right-purpose", {"request.prophylactic": True}, F),
    ("right-purpose", {"pain.herniated_disc": True}, F),
    ("right-purpose", {"pain.arthritic": True}, F),
    ("right-purpose", {"request.correct_curvature": True}, F),
    ("right-purpose", {"request.prophylactic": False, "pain.arthritic": False}, U),
    ("no-red-flags",
     {"cord_compression.present": False, "neurological_deficit.present": False,
      "fracture.unstable": False}, P),
    ("no-red-flags", {"cord_compression.present": True}, F),
    ("no-red-flags", {"neurological_deficit.present": True}, F),
    ("no-red-flags", {"fracture.unstable": True}, F),
    ("no-red-flags", {"cord_compression.present": False, "fracture.unstable": False}, U),
    ("no-infection", {"infection.active": False, "infection.osteomyelitis_at_site": False}, P),
    ("no-infection", {"infection.active": True}, F),
    ("no-infection", {"infection.osteomyelitis_at_site": True, "infection.active": False}, F),
    ("no-infection", {"infection.active": False}, U),
    ("no-coagulopathy", {"coagulopathy.present": False}, P),
    ("no-coagulopathy", {"coagulopathy.present": True}, F),
    ("no-coagulopathy", {"coagulation.inr": 1.1}, U),
    ("no-cement-or-contrast-allergy", {"allergy.bone_cement": False, "allergy.contrast": False}, P),
    ("no-cement-or-contrast-allergy", {"allergy.contrast": True}, F),
    ("no-cement-or-contrast-allergy", {"allergy.bone_cement": True}, F),
    ("no-cement-or-contrast-allergy", {"allergy.bone_cement": False}, U),
    ("not-pregnant", {"patient.pregnant": False}, P),
    ("not-pregnant", {"patient.sex": "male"}, P),
    ("not-pregnant", {"patient.pregnant": True, "patient.sex": "female"}, F),
    ("not-pregnant", {"patient.sex": "female"}, U),
    ("can-lie-face-down", {"patient.severe_cardiorespiratory_disease": False}, P),
    ("can-lie-face-down", {"patient.severe_cardiorespiratory_disease": True}, F),
    ("can-lie-face-down", {}, U),
    ("mdt-discussion",
     {"mdt.discussed": True, "mdt.members": ["radiologist", "spinal-surgeon"],
      "fracture.aetiology": "osteoporotic"}, P),
    ("mdt-discussion",
     {"mdt.discussed": True, "fracture.aetiology": "metastasis",
      "mdt.members": ["clinical-oncologist", "interventional-radiologist", "spinal-surgeon"]}, P),
    ("mdt-discussion",
     {"mdt.discussed": True, "mdt.members": ["radiologist", "spinal-surgeon"],
      "fracture.aetiology": "metastasis"}, F),
    ("mdt-discussion",
     {"mdt.discussed": True, "mdt.members": ["radiologist", "oncologist"],
      "fracture.aetiology": "osteoporotic"}, F),
    ("mdt-discussion", {"mdt.discussed": False}, F),
    ("mdt-discussion", {"mdt.discussed": True, "mdt.members": ["radiologist", "spinal-surgeon"]}, U),
    ("spinal-surgery-access", {"service.spinal_surgery_access": True}, P),
    ("spinal-surgery-access", {"service.spinal_surgery_access": False}, F),
    ("spinal-surgery-access", {}, U),
    ("consent", {"consent.obtained": True}, P),
    ("consent", {"consent.obtained": False}, F),
    ("consent", {}, U),
]  # fmt: skip


def _check(check_id: str) -> Check:
    return next(c for c in pathway.checks if c.id == check_id)


@pytest.mark.parametrize(("check_id", "values", "expected"), CASES)
def test_check_status(check_id: str, values: dict[str, object], expected: Tri) -> None:
    result = run_check(_check(check_id), make_facts(values), as_of=DAY)
    assert result.status is expected
    if expected is Tri.UNKNOWN:
        assert result.missing, "an unknown check names the facts that would settle it"
    else:
        assert result.missing == ()
        assert result.evidence, "a settled check shows the facts that settled it"
        assert {f.name for f in result.evidence} <= set(values)


def test_every_check_has_a_pass_a_fail_and_an_unknown_case() -> None:
    covered = {(check_id, status) for check_id, _, status in CASES}
    for check in pathway.checks:
        for status in Tri:
            assert (check.id, status) in covered, f"{check.id} has no {status.value} case"


def test_healed_fracture_suggests_a_facet_joint_injection() -> None:
    check = _check("fracture-not-healed")
    assert check.fail_action is FailAction.NOT_SUITABLE
    assert "facet joint injection" in check.fail_advice.text
    assert "facet joint injection" in check.fail_advice.citations[0].words


def test_red_flags_call_for_urgent_spinal_review() -> None:
    check = _check("no-red-flags")
    assert check.fail_action is FailAction.URGENT_SPINAL_REVIEW
    assert "urgent spinal surgical review" in check.fail_advice.text


def test_heart_or_lung_disease_plans_accommodations() -> None:
    check = _check("can-lie-face-down")
    assert check.fail_action is FailAction.PLAN_ACCOMMODATIONS
    assert "special accommodations" in check.fail_advice.citations[0].words


def test_unknown_lists_the_questions_that_settle_it() -> None:
    result = run_check(_check("not-pregnant"), make_facts({"patient.sex": "female"}), as_of=DAY)
    assert [m.fact for m in result.missing] == ["patient.pregnant"]
    assert result.missing[0].question == "Is the patient pregnant?"


def test_a_passed_check_ignores_unknowns_in_branches_it_did_not_need() -> None:
    result = run_check(
        _check("fracture-confirmed-by-imaging"),
        make_facts({"imaging.mri_marrow_oedema": True}),
        as_of=DAY,
    )
    assert result.status is Tri.TRUE
    assert [f.name for f in result.evidence] == ["imaging.mri_marrow_oedema"]
    statuses = {r.node.id: r.status for r in result.trace}
    assert statuses["ct-and-bone-scan-instead"] is Tri.UNKNOWN


ALL_PASS = {
    "imaging.mri_marrow_oedema": True, "fracture.healed": False, "request.prophylactic": False,
    "pain.herniated_disc": False, "pain.arthritic": False, "request.correct_curvature": False,
    "cord_compression.present": False, "neurological_deficit.present": False,
    "fracture.unstable": False, "infection.active": False,
    "infection.osteomyelitis_at_site": False, "coagulopathy.present": False,
    "allergy.bone_cement": False, "allergy.contrast": False, "patient.sex": "male",
    "patient.severe_cardiorespiratory_disease": False, "mdt.discussed": True,
    "mdt.members": ["radiologist", "spinal-surgeon"], "fracture.aetiology": "osteoporotic",
    "service.spinal_surgery_access": True, "consent.obtained": True,
}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, Readiness.READY),
        ({"patient.severe_cardiorespiratory_disease": True}, Readiness.READY),
        ({"consent.obtained": None}, Readiness.TO_CONFIRM),
        ({"consent.obtained": False, "patient.pregnant": None}, Readiness.RESOLVE_FIRST),
        ({"fracture.healed": True, "consent.obtained": False}, Readiness.NOT_SUITABLE),
        (
            {"fracture.healed": True, "cord_compression.present": True},
            Readiness.URGENT_SPINAL_REVIEW,
        ),
    ],
)
def test_readiness_is_the_most_serious_result(
    changes: dict[str, object], expected: Readiness
) -> None:
    values = {**ALL_PASS, **changes}
    results = run_checks(pathway, make_facts(values), as_of=DAY)
    assert readiness(results) is expected
