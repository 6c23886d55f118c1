"""The real sample notes (../shared/fixtures/notes): operation notes give the right procedure and
levels; unrelated notes give no procedure facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from vertebro.adapters.nlp import read_note
from vertebro.adapters.nlp.pipeline import Pipeline
from vertebro.core.levels import parse_levels

RELATED = {
    "kyphoplasty.txt",
    "vertebroplasty.txt",
    "mri-t-spine-1.txt",
    "psych-consult-depression-2.txt",
    "sleepiness-consult.txt",
    "gen-med-consult-5.txt",
    "chiropractic-ime-2.txt",
    "cardiomyopathy-hypotension-consult.txt",
    "discharge-summary-17.txt",
}


@pytest.mark.parametrize(
    ("name", "procedure", "levels"),
    [
        ("kyphoplasty.txt", "kyphoplasty", "T12, L1"),
        ("vertebroplasty.txt", "vertebroplasty", "T11"),
    ],
)
def test_operation_notes(shared_notes: Path, name: str, procedure: str, levels: str) -> None:
    text = (shared_notes / name).read_text(encoding="utf-8")
    reading = read_note(text, source=name, note_date=None)
    [request] = reading.requests
    assert request.procedure.value == procedure
    assert request.levels == tuple(parse_levels(levels))
    assert request.evidence and all(e.kind == "note" for e in request.evidence)


def test_unrelated_notes_request_nothing(shared_notes: Path, pipeline: Pipeline) -> None:
    del pipeline
    unrelated = sorted(p for p in shared_notes.glob("*.txt") if p.name not in RELATED)
    assert len(unrelated) >= 20
    for path in unrelated:
        reading = read_note(path.read_text(encoding="utf-8"), source=path.name, note_date=None)
        assert reading.requests == (), path.name
        procedure_facts = [name for name in reading.facts if name.startswith("request.")]
        assert procedure_facts == [], (path.name, procedure_facts)
        for fact in ("infection.osteomyelitis_at_site", "fracture.present", "fracture.type"):
            assert reading.facts.value(fact) is None, (path.name, fact)
