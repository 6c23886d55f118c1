"""Read a free-text clinical note into facts, each with the sentence and characters that say it.

How a note becomes facts:
  1. The pipeline (pipeline.py) finds concept mentions, their ConText cues and their sections.
  2. Each mention gets an assertion: affirmed, negated, uncertain, resolved, or set aside
     (hypothetical, about a relative, historical when the concept is not a lasting condition,
     or in a section such as allergies). Procedures are plans, so hypothetical ones still count.
  3. Mentions become readings: a value for a fact, a strength, the evidence and, for findings
     about a vertebra, the levels written next to it. Rules in targets.yaml give most readings;
     the functions below read the rest (requests, ages, scores, durations and dates, imaging,
     treatment failure, admission, walking, team meetings).
  4. Readings about levels other than the requested ones are set aside. Each fact is settled:
     - the value of its strongest readings when they agree. Strengths come from targets.yaml; a
       documented absence counts one less than a finding of the same concept (negations are
       often narrower than they look), a report's impression one more than its findings;
     - different values at the top strength, or an uncertain reading as strong as any other,
       leave it unknown, with the readings kept as conflicts; so do different values about
       different levels when no level is requested (an acute L1 and a healed T8 fracture);
     - a treatment duration is the longest course; onset dates within two weeks agree and the
       earliest wins;
     - a negated safety finding ("no cord compression") is documented absence (false); a hedged
       one ("no significant cord compression") is doubt.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from vertebro.adapters.errors import InputError
from vertebro.adapters.nlp.extract.base import (
    MAX_EVIDENCE,
    MAX_QUOTE,
    UNSURE_VALUE,
    ReadingValue,
    Status,
)
from vertebro.adapters.nlp.extract.blood_thinners import _BloodThinners
from vertebro.adapters.nlp.extract.concepts import _Concepts
from vertebro.adapters.nlp.extract.derived import _Derived
from vertebro.adapters.nlp.extract.imaging import _Imaging
from vertebro.adapters.nlp.extract.impact import _Impact
from vertebro.adapters.nlp.extract.patient import _Patient
from vertebro.adapters.nlp.extract.requests import _Requests
from vertebro.adapters.nlp.extract.scores import _Scores
from vertebro.adapters.nlp.extract.settle import REQUEST_BOUND, _Settling
from vertebro.adapters.nlp.extract.team import _Team
from vertebro.adapters.nlp.extract.timing import _Timing
from vertebro.adapters.nlp.extract.treatment import _Treatment
from vertebro.adapters.nlp.pipeline import get_pipeline
from vertebro.adapters.nlp.times import date_convention, find_dates, find_levels, to_date
from vertebro.core.case import Case
from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import FactSet

MAX_NOTE_CHARS = 200_000  # about 60 pages; longer inputs are refused rather than read slowly
# The pipeline's cost grows with the square of a sentence's length (ConText compares every cue
# with every finding in it) and of the number of sentences (spaCy and PyRuSH), and one note at
# a time holds it: a 150,000-character note with no full stop took two minutes. Real notes
# (the 75 in the fixtures) have passages of at most 355 characters between full stops or blank
# lines and at most 459 such breaks; notes far outside that are refused, not read for minutes.
MAX_PASSAGE_CHARS = 5_000
MAX_NOTE_BREAKS = 5_000
_BREAK = re.compile(r"[.!?]+|\n[ \t]*\n")
MAX_NOTE_BYTES = 4 * MAX_NOTE_CHARS


@dataclass(frozen=True, slots=True)
class NoteReading:
    """What one note says: facts with evidence, requested procedures, its date and any warnings."""

    facts: FactSet
    requests: tuple[ProcedureRequest, ...]
    note_date: dt.date | None
    warnings: tuple[str, ...] = ()


def read_note(text: str, *, source: str, note_date: dt.date | None) -> NoteReading:
    """Read one note. `note_date` anchors relative times ("three months ago"); None if unknown.

    Raises:
        InputError: the note is empty, too long or not text.
    """
    check_note_text(text, source)
    return _Reader(text, source, note_date).read()


def read_note_file(path: Path) -> Case:
    """Read a .txt note into a case for assessment; its date comes from a "Date:" line, if any.

    Raises:
        InputError: the file cannot be read, is not a UTF-8 text note, is empty or too large, or
            names no vertebroplasty, kyphoplasty or sacroplasty request.
    """
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_NOTE_BYTES:
            raise InputError(name, f"note is {size:,} bytes; the limit is {MAX_NOTE_BYTES:,}")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(name, exc.strerror or "cannot be read") from None
    if b"\x00" in data:
        raise InputError(name, "binary file, not a text note")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(name, "not UTF-8 text") from None
    check_note_text(text, name)
    note_date = note_date_from_text(text)
    reading = read_note(text, source=name, note_date=note_date)
    if not reading.requests:
        raise InputError(
            name,
            "the note requests no vertebroplasty, kyphoplasty or sacroplasty; nothing to assess",
        )
    return Case(path.stem, name, reading.requests, reading.facts, note_date)


def check_note_text(text: str, source: str) -> None:
    """Refuse what cannot be a note: empty, over the size limit, or binary.

    Raises:
        InputError: with a one-line message naming the fault.
    """
    if len(text) > MAX_NOTE_CHARS:
        raise InputError(
            source, f"note is {len(text):,} characters; the limit is {MAX_NOTE_CHARS:,}"
        )
    if not text.strip():
        raise InputError(source, "the note is empty")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f\v")
    if "\x00" in text or controls > max(8, len(text) // 100):
        raise InputError(source, "binary content, not a text note")
    breaks, previous, longest = 0, 0, 0
    for match in _BREAK.finditer(text):
        breaks += 1
        longest = max(longest, match.start() - previous)
        previous = match.end()
    longest = max(longest, len(text) - previous)
    if longest > MAX_PASSAGE_CHARS:
        raise InputError(
            source,
            f"the note has {longest:,} characters without a full stop or "
            f"blank line; the limit is {MAX_PASSAGE_CHARS:,}",
        )
    if breaks > MAX_NOTE_BREAKS:
        raise InputError(
            source, f"the note has {breaks:,} sentence breaks; the limit is {MAX_NOTE_BREAKS:,}"
        )


_DATE_LINE = re.compile(
    r"^[ \t]*(?:date(?:\s+of\s+(?:letter|report|exam|examination|clinic|visit|consultation|"
    r"referral|meeting|mdt|discharge|dictation|service|study|scan|admission))?|clinic date|"
    r"report date|letter date|exam date|meeting date|mdt date|date seen|seen on|dictated on|"
    r"dictated)"
    r"[ \t]*[:\-][ \t]*(?P<rest>[^\n]*)$",
    re.IGNORECASE | re.MULTILINE,
)


def note_date_from_text(text: str) -> dt.date | None:
    """The note's own date from a line such as "Date: 24/08/2026", or None."""
    convention = date_convention(find_dates(text), text)
    for line in _DATE_LINE.finditer(text):
        for mention in find_dates(line.group("rest")):
            day = to_date(mention, convention)
            if day is not None:
                return day
    return None


# ---- The reader ---------------------------------------------------------------------------


class _Reader(
    _Requests,
    _Concepts,
    _Patient,
    _Scores,
    _Timing,
    _Treatment,
    _Impact,
    _Imaging,
    _Team,
    _Derived,
    _BloodThinners,
    _Settling,
):
    def read(self) -> NoteReading:
        pipeline = get_pipeline()
        self.rules = pipeline.rules
        self.annotation = pipeline.annotate(self.text)
        self.levels = find_levels(self.text)
        self.convention = date_convention(find_dates(self.text), self.text)
        self._starts = [sentence.start for sentence in self.annotation.sentences]
        for group in self.levels:
            self._levels_in.setdefault(self._sentence_at(group.start), []).append(group)
        self.found = [self._find(m) for m in self.annotation.mentions]
        for found in self.found:
            self._by_sentence.setdefault(found.mention.sentence, []).append(found)
        requests = self._requests()
        for reader in (
            self._concept_readings,
            self._fracture_age,
            self._ages,
            self._sex,
            self._pain_scores,
            self._sins,
            self._times,
            self._treatments,
            self._failure,
            self._admission,
            self._walking,
            self._imaging,
            self._team,
            self._symptomatic,
            self._level_confirmation,
            self._blood_thinners,
        ):
            reader()
        facts = self._settle(requests)
        return NoteReading(
            FactSet(facts), requests, self.note_date, tuple(dict.fromkeys(self.warnings))
        )


__all__ = [
    "MAX_EVIDENCE",
    "MAX_NOTE_BREAKS",
    "MAX_NOTE_BYTES",
    "MAX_NOTE_CHARS",
    "MAX_PASSAGE_CHARS",
    "MAX_QUOTE",
    "REQUEST_BOUND",
    "UNSURE_VALUE",
    "NoteReading",
    "ReadingValue",
    "Status",
    "check_note_text",
    "note_date_from_text",
    "read_note",
    "read_note_file",
]
