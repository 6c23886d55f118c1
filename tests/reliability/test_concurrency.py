"""The service reads notes on many threads with one shared note-reader pipeline (found by the
load test: PyRuSH inside it keeps per-call state and raised IndexError, a 500, under two
concurrent users). Reading notes concurrently must give exactly what reading them one by one
gives."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from vertebro.adapters.fhir.notes import note_reader

NOTES = Path(__file__).resolve().parents[1] / "fixtures" / "notes"


def test_concurrent_note_reading_equals_sequential() -> None:
    read = note_reader()
    if read is None:
        pytest.skip("the note reader is not installed")
    texts = [p.read_text(encoding="utf-8") for p in sorted(NOTES.glob("*.txt"))][:8]
    assert len(texts) >= 6

    def reading(text: str) -> str:
        return repr(read(text, source="note", note_date=None))

    expected = [reading(t) for t in texts]
    with ThreadPoolExecutor(max_workers=6) as pool:
        for _round in range(2):
            assert list(pool.map(reading, texts)) == expected
