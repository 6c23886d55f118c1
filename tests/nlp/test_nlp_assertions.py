"""Negated, uncertain, hypothetical, family, historical and resolved findings, one rule at a time.

A negated safety finding is documented absence (FALSE); an uncertain, planned or family finding
leaves the fact unknown; a historical finding counts only for lasting conditions.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vertebro.adapters.nlp import NoteReading
from vertebro.core.facts import FactValue

Read = Callable[..., NoteReading]


def value(read: Read, text: str, fact: str) -> FactValue | None:
    return read(text).facts.value(fact)


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        ("MRI: no cord compression.", "cord_compression.present"),
        ("There is no evidence of metastatic spinal cord compression.", "cord_compression.present"),
        ("Cord compression has been ruled out.", "cord_compression.present"),
        ("MRI lumbar spine: no discitis or osteomyelitis.", "infection.osteomyelitis_at_site"),
        ("The L1 fracture is mechanically stable.", "fracture.unstable"),
        ("MRI: no spinal instability.", "fracture.unstable"),
        ("L1 fracture. No retropulsion.", "fracture.retropulsion"),
        ("The T12 fracture has an intact posterior wall.", "fracture.retropulsion"),
        ("No marrow oedema at L1.", "imaging.mri_marrow_oedema"),
        ("He is neurologically intact.", "neurological_deficit.present"),
        ("Neuro: no focal neurological deficit.", "neurological_deficit.present"),
        ("The cord is not compressed.", "cord_compression.present"),
    ],
)
def test_documented_absence_is_false(read: Read, text: str, fact: str) -> None:
    assert value(read, text, fact) is False


@pytest.mark.parametrize(
    "text",
    [
        "Possible cord compression at T6.",
        "Cord compression cannot be excluded.",
        "Cord compression could not be excluded.",
        "No definite cord compression, but the thecal sac is indented.",
        "No significant cord compression at T6.",
        "Cord compression is unlikely.",
        "?Cord compression at T6.",
        "Query cord compression.",
        "Impending cord compression at T6.",
        "The tumour abuts the spinal cord.",
        "MRI to exclude cord compression.",
        "MRI to rule out cord compression.",
        "Urgent MRI requested to assess for cord compression.",
        "She was advised to return if she develops symptoms of cord compression.",
        "There is a risk of cord compression if the fracture progresses.",
    ],
)
def test_uncertain_or_planned_safety_finding_stays_unknown(read: Read, text: str) -> None:
    assert value(read, text, "cord_compression.present") is None


@pytest.mark.parametrize(
    "text",
    [
        "Possible early discitis at L2/3.",
        "Early discitis at L2/3 cannot be excluded.",
        "History of L4/5 discitis in 2015, treated with antibiotics.",
        "The previously reported discitis has resolved.",
    ],
)
def test_osteomyelitis_never_read_as_absent_from_doubt_or_history(read: Read, text: str) -> None:
    assert value(read, text, "infection.osteomyelitis_at_site") is not False


@pytest.mark.parametrize(
    "text",
    [
        "SINS score 9: potentially unstable.",
        "The fracture is stable compared with the previous radiographs.",
        "The patient is haemodynamically stable.",
        "Discharged in a stable condition.",
    ],
)
def test_stability_is_not_read_from_other_meanings(read: Read, text: str) -> None:
    assert value(read, text, "fracture.unstable") is None


@pytest.mark.parametrize(
    "text",
    [
        "Her mother and sister have osteoporosis.",
        "Family history of osteoporosis.",
        "Osteoporosis runs in the family.",
        "FAMILY HISTORY:\nMother had multiple myeloma.",
    ],
)
def test_family_history_is_not_the_patients(read: Read, text: str) -> None:
    assert value(read, text, "fracture.aetiology") is None


def test_history_of_a_lasting_condition_still_counts(read: Read) -> None:
    assert value(read, "History of osteoporosis. Acute L1 fracture.", "fracture.aetiology") == (
        "osteoporotic"
    )
    text = "PAST MEDICAL HISTORY:\nMultiple myeloma.\n\nMRI: lytic L2 lesion."
    assert value(read, text, "fracture.aetiology") == "myeloma"


def test_history_of_a_fracture_is_not_the_current_one(read: Read) -> None:
    assert value(read, "History of T8 fracture in 2019.", "fracture.present") is None


def test_previous_procedure_is_not_a_request(read: Read) -> None:
    assert read("Previous vertebroplasty at T12 in 2023.").requests == ()
    assert read("She was treated with vertebroplasty at T9 last year.").requests == ()
    assert read("Status post kyphoplasty at L1.").requests == ()


@pytest.mark.parametrize(
    ("text", "healed"),
    [
        ("There is an old healed T8 wedge fracture.", True),
        ("Chronic-appearing anterior wedging of T11.", True),
        ("The L2 fracture is chronic.", True),
        ("The T12 fracture has healed.", True),
        ("Acute L1 compression fracture.", False),
        ("New compression fracture at T12.", False),
        ("Marrow oedema in the L1 vertebral body.", False),
        ("High STIR signal at L1 in keeping with a recent fracture.", False),
        ("The marrow oedema at L1 has resolved.", True),
    ],
)
def test_healed_or_recent(read: Read, text: str, healed: bool) -> None:
    assert value(read, text, "fracture.healed") is healed


@pytest.mark.parametrize(
    "text",
    [
        "L1 compression fracture of indeterminate age.",
        "No acute fracture.",
        "Chronic back pain for years. L1 compression fracture.",
    ],
)
def test_fracture_age_unknown(read: Read, text: str) -> None:
    assert value(read, text, "fracture.healed") is None


def test_no_new_fracture_is_not_no_fracture(read: Read) -> None:
    assert (
        value(read, "Known L1 compression fracture. No new fracture.", "fracture.present") is True
    )
    assert value(read, "No other fracture is seen.", "fracture.present") is None


def test_conditional_plan_is_not_a_request(read: Read) -> None:
    text = "If the pain persists, we would consider vertebroplasty at T9."
    assert read(text).requests == ()
    assert read("Consider kyphoplasty if the pain remains uncontrolled.").requests == ()


def test_proposal_is_a_request(read: Read) -> None:
    [request] = read("Referred for consideration of vertebroplasty at L4.").requests
    assert request.procedure.value == "vertebroplasty"


@pytest.mark.parametrize(
    "text",
    [
        "Vertebroplasty is not appropriate.",
        "She is not a candidate for kyphoplasty.",
        "Kyphoplasty was offered, which she declined.",
        "No indication for vertebroplasty.",
    ],
)
def test_negated_procedure_is_not_a_request(read: Read, text: str) -> None:
    assert read(text).requests == ()


def test_planned_consent_and_meeting_stay_unknown(read: Read) -> None:
    reading = read(
        "Plan: vertebroplasty at L3. She will be discussed at the spinal MDT next week. "
        "Consent will be taken on the day."
    )
    assert reading.facts.value("mdt.discussed") is None
    assert reading.facts.value("consent.obtained") is None


def test_walking_before_the_fall_is_history(read: Read) -> None:
    reading = read("Before the fall she walked independently. She is now bedbound with pain.")
    assert reading.facts.value("ambulation.status") == "unable"
    assert reading.facts.value("pain.prevents_ambulation") is True


def test_no_longer_able_to_walk(read: Read) -> None:
    reading = read("He is no longer able to walk because of the back pain.")
    assert reading.facts.value("ambulation.status") == "unable"
    assert reading.facts.value("pain.prevents_ambulation") is True


def test_allergy_is_not_treatment(read: Read) -> None:
    reading = read("Allergies: codeine, morphine (vomiting).\n\nMedications: alendronate.")
    assert reading.facts.value("conservative_treatment.modalities") is None
