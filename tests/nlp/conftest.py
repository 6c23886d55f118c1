"""Note reader fixtures: the spaCy pipeline is built once per test session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from vertebro.adapters.nlp import NoteReading, read_note
from vertebro.adapters.nlp.pipeline import Pipeline, get_pipeline

REPO = Path(__file__).resolve().parents[2]
NOTES = REPO / "tests" / "fixtures" / "notes"
SHARED_NOTES = REPO.parent / "shared" / "fixtures" / "notes"

Read = Callable[..., NoteReading]


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    """The vertebro pipeline (built on first use, then cached)."""
    return get_pipeline()


@pytest.fixture(scope="session")
def read(pipeline: Pipeline) -> Read:
    """Read a note text; `note_date` defaults to 24 August 2026."""
    del pipeline  # built first, so the first test does not pay for it alone

    def _read(text: str, note_date: dt.date | None = dt.date(2026, 8, 24)) -> NoteReading:
        return read_note(text, source="note.txt", note_date=note_date)

    return _read


@pytest.fixture(scope="session")
def shared_notes() -> Path:
    """The real sample notes beside the repository, or skip."""
    if not SHARED_NOTES.is_dir():
        pytest.skip("../shared/fixtures/notes is not beside the repository")
    return SHARED_NOTES
