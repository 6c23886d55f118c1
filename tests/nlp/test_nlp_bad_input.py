"""Bad input: empty, binary, non-UTF-8 and oversized notes give one-line errors; other inputs are
still assessed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from vertebro.adapters.errors import InputError
from vertebro.adapters.nlp import MAX_NOTE_BYTES, MAX_NOTE_CHARS, read_note, read_note_file
from vertebro.adapters.nlp.pipeline import Pipeline
from vertebro.services import assess_inputs, read_input

GOOD = (
    "Date: 14/09/2026\n\nReferral for vertebroplasty at T12. Osteoporotic compression fracture "
    "with marrow oedema; pain despite 8 weeks of analgesia.\n"
)


def one_line(error: InputError) -> str:
    message = str(error)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("text", ["", "   \n\t\n"])
def test_empty_note(text: str) -> None:
    with pytest.raises(InputError) as caught:
        read_note(text, source="empty.txt", note_date=None)
    assert one_line(caught.value) == "empty.txt: the note is empty"


def test_binary_text() -> None:
    with pytest.raises(InputError, match="binary"):
        read_note("PNG\x00\x01\x02" * 10, source="x.txt", note_date=None)


def test_huge_note_names_the_limit() -> None:
    with pytest.raises(InputError) as caught:
        read_note("back pain. " * (MAX_NOTE_CHARS // 10), source="big.txt", note_date=None)
    assert f"the limit is {MAX_NOTE_CHARS:,}" in one_line(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the note is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file, not a text note"),
        ("Dr M\u00fcller: vertebroplasty T12".encode("latin-1"), "not UTF-8 text"),
        (b"A note about a colonoscopy. Informed consent obtained.", "requests no vertebroplasty"),
    ],
)
def test_bad_note_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        read_note_file(path)
    assert one_line(caught.value).startswith(str(path))


def test_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"a" * (MAX_NOTE_BYTES + 1))
    with pytest.raises(InputError, match="the limit is"):
        read_note_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        read_note_file(tmp_path / "absent.txt")


def test_note_file_becomes_a_case(tmp_path: Path, pipeline: Pipeline) -> None:
    del pipeline
    path = tmp_path / "referral.txt"
    path.write_text(GOOD, encoding="utf-8")
    case = read_note_file(path)
    assert case.id == "referral"
    assert case.request_date == dt.date(2026, 9, 14)
    [request] = case.requests
    assert request.procedure.value == "vertebroplasty"
    assert case.facts.value("conservative_treatment.duration_weeks") == 8.0
    assert read_input(path).case.requests == case.requests


def test_bad_note_does_not_stop_the_others(tmp_path: Path, pipeline: Pipeline) -> None:
    del pipeline
    (tmp_path / "a-good.txt").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b-empty.txt").write_text("", encoding="utf-8")
    (tmp_path / "c-binary.txt").write_bytes(b"\x00\x01\x02\x03")
    results = list(assess_inputs([tmp_path], "nice", as_of=None, today=dt.date(2026, 9, 14)))
    assert [Path(r.input).name for r in results] == ["a-good.txt", "b-empty.txt", "c-binary.txt"]
    assert results[0].report is not None and results[0].error is None
    assert [r.error is not None for r in results[1:]] == [True, True]
