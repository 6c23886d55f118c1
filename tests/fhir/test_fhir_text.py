"""Report and document text handed to the note reader, and how its readings merge with codes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vertebro.adapters.errors import InputError
from vertebro.adapters.fhir import load_fhir_file, notes, read_fhir
from vertebro.cli import main
from vertebro.core.catalogue import Procedure
from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import Fact, FactSet, FactValue, Provenance
from vertebro.core.levels import parse_levels

OWN = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"

Install = Callable[[Callable[..., Any]], None]


@pytest.fixture(autouse=True)
def _coded_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read coded data only: report and document text is not handed to the note reader (slow to
    load, and tested on its own)."""
    monkeypatch.setitem(notes._FOUND, "read_note", None)


@pytest.fixture
def use_note_reader(monkeypatch: pytest.MonkeyPatch) -> Install:
    """Install a stand-in for the note reader."""

    def install(reader: Callable[..., Any]) -> None:
        monkeypatch.setitem(notes._FOUND, "read_note", reader)

    return install


@pytest.fixture
def real_note_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real note reader, or skip when it cannot be loaded."""
    monkeypatch.delitem(notes._FOUND, "read_note", raising=False)
    if notes.note_reader() is None:
        pytest.skip("the note reader (vertebro.adapters.nlp) is not available")



@dataclass(frozen=True)
class StubReading:
    facts: FactSet
    requests: tuple[ProcedureRequest, ...] = ()


@dataclass
class Stub:
    """A note reader that finds given facts when the text contains a phrase."""

    rules: dict[str, dict[str, FactValue]]
    requests: tuple[ProcedureRequest, ...] = ()

    def __post_init__(self) -> None:
        self.calls: list[tuple[str, str, dt.date | None]] = []

    def __call__(self, text: str, *, source: str, note_date: dt.date | None) -> StubReading:
        self.calls.append((text, source, note_date))
        facts = [
            Fact(name, value, (Provenance("note", source, phrase),))
            for phrase, found in self.rules.items() if phrase in text
            for name, value in found.items()
        ]
        return StubReading(FactSet(facts), self.requests)


def test_text_of_a_letter_completes_the_case(use_note_reader: Install) -> None:
    stub = Stub({"failed to respond": {"conservative_treatment.failed": True,
                                       "conservative_treatment.duration_weeks": 8.0}})
    use_note_reader(stub)
    result = CliRunner().invoke(main, ["assess", str(OWN / "pas-kyphoplasty-t12-l1.json"),
                                       "--policy", "carefirst", "--format", "json"])
    assert result.exit_code == 0, result.output
    (determination,) = json.loads(result.output)["determinations"]
    assert determination["outcome"] == "meets-criteria"
    (text, source, note_date) = stub.calls[0]
    assert "failed to respond to eight weeks" in text  # decoded from base64
    assert source == "DocumentReference/gp-letter content[0].attachment"
    assert note_date == dt.date(2026, 9, 28)
    evidence = [e for c in determination["criteria"] for e in c["evidence"]
                if e["fact"] == "conservative_treatment.duration_weeks"]
    # The coded courses (9.1 weeks) outrank the letter's "eight weeks", which stays visible.
    assert {(e["value"], e["kind"], e["conflict"]) for e in evidence} == {
        (9.1, "fhir", False), (8, "note", True)}


def test_report_text_is_read_and_an_affirmed_safety_finding_wins(use_note_reader: Install) -> None:
    stub = Stub({
        "osteolytic": {"lesion.osteolytic": True, "imaging.mri_marrow_oedema": True,
                       "fracture.unstable": False},
        "discitis": {"infection.osteomyelitis_at_site": False},
        "myeloma MDT": {"infection.osteomyelitis_at_site": True},
    })
    use_note_reader(stub)
    reading = load_fhir_file(OWN / "myeloma-vertebroplasty-l2.json")
    sources = {call[1] for call in stub.calls}
    assert sources == {"DiagnosticReport/mri-spine conclusion",
                       "DiagnosticReport/mri-spine presentedForm[0]",
                       "DiagnosticReport/mri-spine presentedForm[1]"}
    facts = reading.case.facts
    assert facts.value("lesion.osteolytic") is True
    # The addendum (a Binary found by its relative url) affirms osteomyelitis: a stub
    # finding, to show that an affirmed safety finding beats the report's negation.
    fact = facts["infection.osteomyelitis_at_site"]
    assert fact.value is True
    assert [c.value for c in fact.conflicts] == [False]


def test_text_requests_fill_missing_levels_and_stand_in_when_nothing_is_coded(
    use_note_reader: Install,
) -> None:
    letter = Provenance("note", "letter", "kyphoplasty T12 and L1")
    use_note_reader(Stub({}, (ProcedureRequest(Procedure.KYPHOPLASTY, tuple(parse_levels("T12-L1")),
                                               (letter,)),)))
    document = {"resourceType": "DocumentReference", "id": "d", "status": "current",
                "content": [{"attachment": {"data": "UmVmZXJyYWwgbGV0dGVyLg=="}}]}
    coded = {"resourceType": "ServiceRequest", "id": "k", "status": "active", "intent": "order",
             "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "22513"}]}}
    both = read_fhir({"resourceType": "Bundle", "type": "collection",
                      "entry": [{"resource": coded}, {"resource": document}]}, "t")
    (request,) = both.case.requests
    assert request.levels == tuple(parse_levels("T12-L1"))
    assert letter in request.evidence
    text_only = read_fhir({"resourceType": "Bundle", "type": "collection",
                           "entry": [{"resource": document}]}, "t")
    assert [r.procedure for r in text_only.case.requests] == [Procedure.KYPHOPLASTY]
    assert "no coded request: the request was read from report or document text" in \
        text_only.warnings


def test_note_reader_failure_is_a_warning(use_note_reader: Install) -> None:
    def failing(text: str, *, source: str, note_date: dt.date | None) -> StubReading:
        raise InputError(source, f"the note is empty ({len(text)} characters, {note_date})")

    use_note_reader(failing)
    reading = load_fhir_file(OWN / "myeloma-vertebroplasty-l2.json")
    assert any("text not read" in w and "the note is empty" in w for w in reading.warnings)
    assert reading.case.facts.value("fracture.aetiology") == "myeloma"  # the codes stand


def test_without_a_note_reader_the_texts_are_listed_as_not_read() -> None:
    reading = load_fhir_file(OWN / "myeloma-vertebroplasty-l2.json")
    assert "3 report/document text(s) not read: the note reader (vertebro.adapters.nlp) is " \
           "not available" in reading.warnings


@pytest.mark.usefixtures("real_note_reader")
def test_real_note_reader_reads_the_mri_report() -> None:
    reading = load_fhir_file(OWN / "myeloma-vertebroplasty-l2.json")
    assert not any("not available" in w for w in reading.warnings)
    from_report = [
        name for name, fact in reading.case.facts.items()
        if any(p.kind == "note" and p.source.startswith("DiagnosticReport/mri-spine")
               for p in fact.evidence)
    ]
    assert from_report, "no fact was read from the MRI report text"
    assert reading.case.facts.value("fracture.aetiology") == "myeloma"
