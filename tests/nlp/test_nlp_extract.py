"""What the reader takes from a note: requests and levels, numbers, times, evidence."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from vertebro.adapters.nlp import NoteReading, note_date_from_text
from vertebro.core.levels import parse_levels

Read = Callable[..., NoteReading]


@pytest.mark.parametrize(
    ("text", "procedure", "levels"),
    [
        ("Request: vertebroplasty T12-L2.", "vertebroplasty", "T12-L2"),
        ("Plan: balloon kyphoplasty at L1 and L2.", "kyphoplasty", "L1, L2"),
        ("Vertebroplasty at T7, T9 is planned.", "vertebroplasty", "T7, T9"),
        ("Referred for L2-4 vertebroplasty.", "vertebroplasty", "L2-4"),
        ("Please consider her for sacroplasty.", "sacroplasty", "sacrum"),
        ("Kyphoplasty with vertebral body stenting at L1.", "kyphoplasty", "L1"),
    ],
)
def test_request_procedure_and_levels(read: Read, text: str, procedure: str, levels: str) -> None:
    reading = read(text)
    [request] = reading.requests
    assert request.procedure.value == procedure
    assert request.levels == tuple(parse_levels(levels))
    assert reading.facts.value("request.procedure") == procedure
    assert reading.facts.value("request.levels") == tuple(parse_levels(levels))


def test_request_without_levels(read: Read) -> None:
    [request] = read("Could she be considered for vertebroplasty?").requests
    assert request.levels is None


def test_two_procedures_are_two_requests_and_no_single_procedure_fact(read: Read) -> None:
    reading = read("Options discussed: vertebroplasty at T12 or kyphoplasty at T12.")
    assert {r.procedure.value for r in reading.requests} == {"vertebroplasty", "kyphoplasty"}
    assert reading.facts.value("request.procedure") is None


def test_evidence_is_the_sentence_and_the_words(read: Read) -> None:
    text = "Dear Dr Jones,\n\nShe has had severe back pain for 8 weeks.\nNo cord compression."
    reading = read(text)
    fact = reading.facts["cord_compression.present"]
    [evidence] = fact.evidence
    assert evidence.kind == "note"
    assert evidence.source == "note.txt"
    assert evidence.quote == "No cord compression."
    assert evidence.span is not None
    assert text[evidence.span[0] : evidence.span[1]] == "cord compression"


def test_onset_from_a_relative_time(read: Read) -> None:
    reading = read("Severe back pain for 8 weeks.")
    assert reading.facts.value("fracture.onset_date") == dt.date(2026, 6, 29)
    assert read("She fell three months ago.").facts.value("fracture.onset_date") == dt.date(
        2026, 5, 24
    )


def test_onset_from_a_date(read: Read) -> None:
    reading = read("Back pain since 24/07/2026 after lifting.")
    assert reading.facts.value("fracture.onset_date") == dt.date(2026, 7, 24)
    reading = read("She fell on 15/08/2026 and has had pain since.")
    assert reading.facts.value("fracture.onset_date") == dt.date(2026, 8, 15)


def test_relative_time_without_a_note_date_stays_unknown(read: Read) -> None:
    reading = read("She fell three months ago.", note_date=None)
    assert reading.facts.value("fracture.onset_date") is None
    assert any("note's date is unknown" in w for w in reading.warnings)


def test_treatment_duration_and_failure(read: Read) -> None:
    reading = read("Pain persists despite 8 weeks of analgesia and physiotherapy.")
    facts = reading.facts
    assert facts.value("conservative_treatment.duration_weeks") == 8.0
    assert facts.value("conservative_treatment.failed") is True
    assert facts.value("pain.resistant_to_analgesia") is True
    assert facts.value("conservative_treatment.modalities") == frozenset(
        {"analgesics", "physiotherapy"}
    )


def test_treatment_since_a_date(read: Read) -> None:
    reading = read("He has been on regular analgesia since 29/06/2026 without improvement.")
    assert reading.facts.value("conservative_treatment.duration_weeks") == 8.0


def test_nearly_six_weeks_is_not_six(read: Read) -> None:
    reading = read("She has had nearly 6 weeks of physiotherapy.")
    assert reading.facts.value("conservative_treatment.duration_weeks") is None


def test_pain_controlled_is_not_failure(read: Read) -> None:
    facts = read("Her pain is well controlled with paracetamol.").facts
    assert facts.value("conservative_treatment.failed") is False
    assert facts.value("pain.resistant_to_analgesia") is False


@pytest.mark.parametrize(
    ("text", "admitted", "for_pain"),
    [
        ("She was admitted for pain control with a T12 fracture.", True, True),
        ("Admitted with uncontrolled back pain.", True, True),
        ("Admitted following a fall with an L1 fracture.", True, None),
        ("She was admitted with pneumonia.", None, False),
        ("He was not admitted and was managed as an outpatient.", False, False),
    ],
)
def test_admission_reason(
    read: Read, text: str, admitted: bool | None, for_pain: bool | None
) -> None:
    facts = read(text).facts
    assert facts.value("hospitalisation.admitted") is admitted
    assert facts.value("hospitalisation.for_pain_control") is for_pain


@pytest.mark.parametrize(
    ("text", "status", "prevents"),
    [
        ("She is unable to walk because of the pain.", "unable", True),
        ("Bedbound with back pain since the fracture.", "unable", True),
        ("He walks with a stick.", "with-aids", False),
        ("She mobilises with a Zimmer frame.", "with-aids", False),
        ("She is independently mobile.", "independent", False),
        ("He cannot walk more than a few metres.", None, None),
    ],
)
def test_walking(read: Read, text: str, status: str | None, prevents: bool | None) -> None:
    facts = read(text).facts
    assert facts.value("ambulation.status") == status
    assert facts.value("pain.prevents_ambulation") is prevents


@pytest.mark.parametrize(
    ("text", "score", "severe"),
    [
        ("Back pain 8/10.", 8.0, True),
        ("Pain score 5/10.", 5.0, False),
        ("VAS 9.", 9.0, True),
        ("Pain has improved from 9/10 to 4/10.", 4.0, False),
        ("Pain ranges from 3/10 to 6/10.", None, None),
        ("Pain 3-5/10.", None, None),
    ],
)
def test_pain_score_and_severity(
    read: Read, text: str, score: float | None, severe: bool | None
) -> None:
    facts = read(text).facts
    assert facts.value("pain.score") == score
    assert facts.value("pain.severe") is severe


@pytest.mark.parametrize(("score", "unstable"), [(14, True), (4, False), (9, None)])
def test_sins(read: Read, score: int, unstable: bool | None) -> None:
    assert read(f"SINS score {score}.").facts.value("fracture.unstable") is unstable


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        ("CT shows an acute L1 compression fracture.", "imaging.ct_fracture"),
        ("Lateral radiograph: L1 compression fracture.", "imaging.plain_film_fracture"),
        ("Bone scan: intense tracer uptake at L2.", "imaging.bone_scan_positive"),
        ("SPECT/CT confirms an L2 fracture with increased uptake.", "imaging.spect_ct_positive"),
        ("MRI: STIR hyperintensity throughout L1.", "imaging.mri_marrow_oedema"),
    ],
)
def test_imaging_modalities(read: Read, text: str, fact: str) -> None:
    assert read(text).facts.value(fact) is True


def test_aetiologies(read: Read) -> None:
    def aetiology(text: str) -> object:
        return read(text).facts.value("fracture.aetiology")

    assert aetiology("Steroid-induced osteoporosis with a T12 fracture.") == "osteoporotic"
    assert aetiology("Lytic metastasis at T10 with pathological fracture.") == "metastasis"
    assert aetiology("Multiple myeloma with an L2 lesion.") == "myeloma"
    assert aetiology("Aggressive haemangioma of T9.") == "haemangioma"
    assert aetiology("L1 burst fracture after a fall from a ladder.") == "traumatic"
    assert aetiology("Osteoporosis. Incidental typical haemangioma at L3.") == "osteoporotic"
    assert aetiology("Likely osteoporotic, but metastasis cannot be excluded.") is None
    facts = read("Steroid-induced osteoporosis with a T12 fracture.").facts
    assert facts.value("fracture.glucocorticoid_induced") is True


def test_lesion_at_another_level_is_set_aside(read: Read) -> None:
    text = "Request: vertebroplasty L1.\nAcute L1 compression fracture. Old healed T8 fracture."
    assert read(text).facts.value("fracture.healed") is False
    text = "Acute L1 compression fracture. Old healed T8 fracture."
    reading = read(text)
    assert reading.facts.value("fracture.healed") is None
    assert any("differs between levels" in w for w in reading.warnings)


def test_conflicting_readings_are_kept_as_conflicts(read: Read) -> None:
    fact = read("Pain 8/10 at rest. Pain 5/10 on walking.").facts["pain.score"]
    assert fact.value is None
    assert {c.value for c in fact.conflicts} == {8.0, 5.0}


def test_team_members_and_agreement(read: Read) -> None:
    text = (
        "Discussed at the spinal MDT on 20/08/2026.\n"
        "Present: consultant spinal surgeon, interventional radiologist, medical oncologist.\n"
        "Outcome: the MDT agreed to proceed with vertebroplasty at T10."
    )
    facts = read(text).facts
    assert facts.value("mdt.discussed") is True
    assert facts.value("mdt.members") == frozenset(
        {"spinal-surgeon", "interventional-radiologist", "medical-oncologist"}
    )
    assert facts.value("mdt.agreed") is True


def test_team_that_did_not_support(read: Read) -> None:
    facts = read("The MDT did not support vertebroplasty.").facts
    assert facts.value("mdt.agreed") is False


def test_consent(read: Read) -> None:
    facts = read("Vertebroplasty T12. Written informed consent was obtained.").facts
    assert facts.value("consent.obtained") is True
    facts = read("Informed consent was obtained for colonoscopy.").facts
    assert facts.value("consent.obtained") is None  # no vertebroplasty requested


def test_age_and_sex(read: Read) -> None:
    facts = read("Mrs Ellis is a 78-year-old lady. Her 80-year-old husband helps.").facts
    assert facts.value("patient.age") == 78.0
    assert facts.value("patient.sex") == "female"
    facts = read("Clinical details: 58M, back pain.").facts
    assert (facts.value("patient.age"), facts.value("patient.sex")) == (58.0, "male")


def test_note_date_from_text() -> None:
    assert note_date_from_text("Clinic\nDate: 24/08/2026\n") == dt.date(2026, 8, 24)
    assert note_date_from_text("DATE OF EXAMINATION : September 5, 2003") == dt.date(2003, 9, 5)
    assert note_date_from_text("DATE OF INJURY : October 4, 2000") is None
    assert note_date_from_text("Date: 03/04/2026") is None  # day or month first?
    assert note_date_from_text("Date: 03/04/2026\nMarrow oedema.") == dt.date(2026, 4, 3)


def test_windows_line_endings_read_the_same(read: Read) -> None:
    text = (
        "Referral\n\nDate: 14/09/2026\n\nShe has severe back pain despite 8 weeks of\n"
        "analgesia. MRI: marrow oedema at T12. No cord compression.\n\nPLAN:\nVertebroplasty T12.\n"
    )
    unix = read(text).facts
    windows = read(text.replace("\n", "\r\n")).facts
    assert {n: unix.value(n) for n in unix} == {n: windows.value(n) for n in windows}
    assert windows.value("conservative_treatment.duration_weeks") == 8.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She takes apixaban 5 mg twice daily.", {"apixaban"}),
        ("Medications: warfarin, clopidogrel.", {"warfarin", "clopidogrel"}),
        ("Current medications: Eliquis 5 mg BD, Plavix 75 mg OD.", {"apixaban", "clopidogrel"}),
        ("Hold apixaban for 48 hours before the procedure.", {"apixaban"}),  # hers, held
        ("Possibly on clopidogrel.", {"clopidogrel"}),  # doubt errs towards taking it
        ("To avoid bleeding, apixaban will be held for 48 hours.", {"apixaban"}),
        ("She was started on apixaban last year.", {"apixaban"}),
        ("Allergic to penicillin, takes aspirin.", {"aspirin"}),
        ("Not on warfarin. Takes aspirin 75 mg.", {"aspirin"}),
        ("On apixaban. No antiplatelets.", {"apixaban"}),
        ("She is anticoagulated for AF.", {"other"}),  # a kind without its name
        ("She is on a DOAC for atrial fibrillation.", {"other"}),
        ("On low molecular weight heparin.", {"other"}),  # the longer match, not heparin
        ("On apixaban; anticoagulation reviewed.", {"apixaban"}),
        ("Not on any blood thinners.", set()),
        ("No anticoagulants or antiplatelets.", set()),
        ("Denies taking blood thinners.", set()),
        ("No anticoagulants.", None),  # antiplatelets still unknown
        ("Allergies: aspirin.\n\nShe has back pain.", None),
        ("Allergic to aspirin.", None),
        ("Aspirin allergy.", None),
        ("Allergic to penicillin and aspirin.", None),
        ("Avoid aspirin and NSAIDs.", None),
        ("Plan: start aspirin after the procedure.", None),  # planned, not taken
        ("The risks of anticoagulation were discussed.", None),
        ("Her mother takes warfarin.", None),
        ("Past medical history: warfarin for DVT in 2010.\n\nMedications: paracetamol.", None),
    ],
)
def test_blood_thinners(read: Read, text: str, expected: set[str] | None) -> None:
    value = read(text).facts.value("medication.blood_thinners")
    assert value == (None if expected is None else frozenset(expected))


def test_blood_thinner_evidence_is_the_medicine_named(read: Read) -> None:
    text = "Regular medications: bisoprolol, apixaban 5 mg twice daily, paracetamol."
    [evidence] = read(text).facts["medication.blood_thinners"].evidence
    assert evidence.span is not None
    assert text[evidence.span[0] : evidence.span[1]] == "apixaban"
