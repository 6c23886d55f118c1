"""The merge rule of adapters.combine: agreement, rank, priority, recency, safety and sets."""

from __future__ import annotations

import datetime as dt

from vertebro.adapters.combine import Rank, Reading, combine, combine_sets, default_rank
from vertebro.core.facts import Fact, FactSet, FactValue, Provenance

D1, D2 = dt.date(2026, 8, 1), dt.date(2026, 9, 1)


def reading(
    name: str,
    value: FactValue | None,
    rank: Rank,
    source: str,
    *,
    priority: int = 0,
    when: dt.date | None = None,
) -> Reading:
    kind = {Rank.ANSWER: "answer", Rank.ATTESTATION: "attestation",
            Rank.CODED: "fhir"}.get(rank, "note")
    provenance = Provenance(kind, source, f"{source} says {value}")  # type: ignore[arg-type]
    return Reading(Fact(name, value, (provenance,)), rank, priority, when)


def sources(fact: Fact) -> list[str]:
    return [p.source for p in fact.evidence]


def conflict_values(fact: Fact) -> list[FactValue | None]:
    return [c.value for c in fact.conflicts]


def test_agreeing_readings_keep_all_evidence_strongest_first() -> None:
    facts = combine([
        reading("fracture.aetiology", "osteoporotic", Rank.LETTER_TEXT, "letter"),
        reading("fracture.aetiology", "osteoporotic", Rank.CODED, "Condition/1"),
    ])
    fact = facts["fracture.aetiology"]
    assert fact.value == "osteoporotic"
    assert sources(fact) == ["Condition/1", "letter"]
    assert fact.conflicts == ()


def test_stronger_source_wins_and_loser_is_a_conflict() -> None:
    fact = combine([
        reading("fracture.type", "burst", Rank.LETTER_TEXT, "letter"),
        reading("fracture.type", "compression", Rank.REPORT_TEXT, "MRI report"),
    ])["fracture.type"]
    assert fact.value == "compression"
    assert sources(fact) == ["MRI report"]
    assert conflict_values(fact) == ["burst"]


def test_reviewer_answer_beats_coded_data() -> None:
    fact = combine([
        reading("pain.prevents_ambulation", False, Rank.CODED, "Observation/1"),
        reading("pain.prevents_ambulation", True, Rank.ANSWER, "Dr Reviewer"),
    ])["pain.prevents_ambulation"]
    assert fact.value is True
    assert conflict_values(fact) == [False]


def test_within_a_rank_the_reading_tied_to_the_request_wins() -> None:
    fact = combine([
        reading("fracture.aetiology", "metastasis", Rank.CODED, "Condition/mets", when=D2),
        reading("fracture.aetiology", "osteoporotic", Rank.CODED, "Claim/1", priority=1, when=D1),
    ])["fracture.aetiology"]
    assert fact.value == "osteoporotic"
    assert conflict_values(fact) == ["metastasis"]


def test_within_a_rank_the_more_recent_reading_wins_for_changing_facts() -> None:
    fact = combine([
        reading("pain.score", 8.0, Rank.CODED, "Observation/old", when=D1),
        reading("pain.score", 5.0, Rank.CODED, "Observation/new", when=D2),
    ])["pain.score"]
    assert fact.value == 5.0
    assert conflict_values(fact) == [8.0]


def test_recency_does_not_settle_what_a_fracture_is() -> None:
    fact = combine([
        reading("fracture.aetiology", "osteoporotic", Rank.CODED, "Condition/1", when=D1),
        reading("fracture.aetiology", "metastasis", Rank.CODED, "Condition/2", when=D2),
    ])["fracture.aetiology"]
    assert fact.value is None
    assert sorted(str(v) for v in conflict_values(fact)) == ["metastasis", "osteoporotic"]


def test_undated_disagreement_at_the_same_rank_stays_unknown() -> None:
    fact = combine([
        reading("pain.score", 8.0, Rank.LETTER_TEXT, "letter A"),
        reading("pain.score", 4.0, Rank.LETTER_TEXT, "letter B"),
    ])["pain.score"]
    assert fact.value is None
    assert len(fact.conflicts) == 2


def test_affirmed_safety_finding_beats_a_stronger_negation() -> None:
    fact = combine([
        reading("infection.osteomyelitis_at_site", False, Rank.CODED, "Condition/refuted"),
        reading("infection.osteomyelitis_at_site", True, Rank.LETTER_TEXT, "GP letter"),
    ])["infection.osteomyelitis_at_site"]
    assert fact.value is True
    assert conflict_values(fact) == [False]


def test_suspected_safety_finding_keeps_a_negation_from_settling_it() -> None:
    fact = combine([
        reading("cord_compression.present", False, Rank.REPORT_TEXT, "MRI report"),
        reading("cord_compression.present", None, Rank.CODED, "Condition/provisional"),
    ])["cord_compression.present"]
    assert fact.value is None
    assert {c.value for c in fact.conflicts} == {False, None}


def test_a_safety_negation_alone_is_read() -> None:
    fact = combine([
        reading("fracture.unstable", False, Rank.REPORT_TEXT, "MRI report"),
        reading("fracture.unstable", False, Rank.CODED, "Condition/stable-burst"),
    ])["fracture.unstable"]
    assert fact.value is False
    assert fact.conflicts == ()


def test_only_a_reviewer_settles_a_safety_conflict() -> None:
    fact = combine([
        reading("fracture.unstable", True, Rank.LETTER_TEXT, "letter"),
        reading("fracture.unstable", False, Rank.ANSWER, "Dr Reviewer"),
    ])["fracture.unstable"]
    assert fact.value is False
    assert conflict_values(fact) == [True]


def test_the_requesters_attestation_does_not_settle_a_safety_conflict() -> None:
    fact = combine([
        reading("fracture.unstable", True, Rank.REPORT_TEXT, "MRI report"),
        reading("fracture.unstable", False, Rank.ATTESTATION, "Demo Hospital EHR"),
    ])["fracture.unstable"]
    assert fact.value is True
    assert conflict_values(fact) == [False]


def test_a_reviewers_answer_outranks_the_requesters_attestation_which_outranks_coded_data(
) -> None:
    attested = combine([
        reading("conservative_treatment.failed", False, Rank.CODED, "Condition/1"),
        reading("conservative_treatment.failed", True, Rank.ATTESTATION, "Demo Hospital EHR"),
    ])["conservative_treatment.failed"]
    assert attested.value is True
    reviewed = combine([
        reading("conservative_treatment.failed", True, Rank.ATTESTATION, "Demo Hospital EHR"),
        reading("conservative_treatment.failed", False, Rank.ANSWER, "Dr Reviewer"),
    ])["conservative_treatment.failed"]
    assert reviewed.value is False
    assert sources(reviewed) == ["Dr Reviewer"]
    assert conflict_values(reviewed) == [True]


def test_sets_accumulate_across_sources() -> None:
    fact = combine([
        reading("conservative_treatment.modalities", frozenset({"analgesics"}), Rank.CODED, "Med/1"),
        reading("conservative_treatment.modalities", frozenset({"physiotherapy"}), Rank.LETTER_TEXT,
                "letter"),
    ])["conservative_treatment.modalities"]
    assert fact.value == frozenset({"analgesics", "physiotherapy"})
    assert sources(fact) == ["Med/1", "letter"]


def test_unknown_readings_decide_nothing_but_keep_their_evidence_when_alone() -> None:
    facts = combine([
        reading("pain.severe", None, Rank.LETTER_TEXT, "letter"),
        reading("pain.score", None, Rank.LETTER_TEXT, "letter"),
        reading("pain.score", 7.0, Rank.LETTER_TEXT, "letter 2"),
    ])
    assert facts["pain.severe"].value is None
    assert sources(facts["pain.severe"]) == ["letter"]
    assert facts["pain.score"].value == 7.0


def test_earlier_conflicts_are_carried_forward() -> None:
    first = combine([
        reading("pain.score", 8.0, Rank.CODED, "Observation/old", when=D1),
        reading("pain.score", 5.0, Rank.CODED, "Observation/new", when=D2),
    ])
    answer = FactSet([Fact("pain.score", 6.0, (Provenance("answer", "Dr Reviewer"),))])
    fact = combine_sets((first, Rank.CODED), (answer, Rank.ANSWER))["pain.score"]
    assert fact.value == 6.0
    assert sorted(v for v in conflict_values(fact) if isinstance(v, float)) == [5.0, 8.0]
    assert all(c.conflicts == () for c in fact.conflicts)


def test_default_rank_by_kind_of_evidence() -> None:
    assert default_rank(Provenance("answer", "x")) is Rank.ANSWER
    assert default_rank(Provenance("attestation", "x")) is Rank.ATTESTATION
    assert default_rank(Provenance("note", "x")) is Rank.LETTER_TEXT
    assert default_rank(Provenance("fhir", "x")) is Rank.CODED
    assert default_rank(Provenance("case-file", "x")) is Rank.CODED
