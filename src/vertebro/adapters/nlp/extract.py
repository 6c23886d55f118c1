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
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vertebro.adapters.errors import InputError
from vertebro.adapters.nlp.pipeline import Annotation, Mention, get_pipeline
from vertebro.adapters.nlp.rules import UNSURE, ConceptRule, Rules
from vertebro.adapters.nlp.times import (
    Convention,
    DateMention,
    Duration,
    LevelGroup,
    date_convention,
    find_dates,
    find_durations,
    find_levels,
    subtract,
    to_date,
)
from vertebro.core.case import Case
from vertebro.core.catalogue import CATALOGUE, Procedure
from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import Fact, FactSet, FactType, FactValue, Provenance
from vertebro.core.levels import Level

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
MAX_EVIDENCE = 5  # quotes kept per fact
MAX_QUOTE = 400  # characters of a sentence kept as the quote
# Facts about the requested procedure: a note that requests none says nothing about them
# (consent to a colonoscopy is not consent to a vertebroplasty; a ureteric stent is no implant).
REQUEST_BOUND = ("consent.obtained", "request.intravertebral_implant", "request.prophylactic")

Status = Literal["affirmed", "negated", "uncertain", "resolved"]


class _Unsure:
    """A reading that makes a fact uncertain rather than giving it a value."""

    def __repr__(self) -> str:
        return "UNSURE"


UNSURE_VALUE = _Unsure()
ReadingValue = FactValue | _Unsure


@dataclass(frozen=True, slots=True)
class NoteReading:
    """What one note says: facts with evidence, requested procedures, its date and any warnings."""

    facts: FactSet
    requests: tuple[ProcedureRequest, ...]
    note_date: dt.date | None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Reading:
    fact: str
    value: ReadingValue
    strength: int
    evidence: Provenance
    levels: tuple[Level, ...] | None = None


@dataclass(frozen=True, slots=True)
class _Found:
    """A mention with its concept, its assertion (None: set aside) and its nearest levels."""

    mention: Mention
    concept: ConceptRule
    status: Status | None
    levels: tuple[Level, ...] | None

    @property
    def label(self) -> str:
        return self.mention.label

    @property
    def group(self) -> str:
        return self.concept.group


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
        raise InputError(source, f"the note has {longest:,} characters without a full stop or "
                                 f"blank line; the limit is {MAX_PASSAGE_CHARS:,}")
    if breaks > MAX_NOTE_BREAKS:
        raise InputError(source, f"the note has {breaks:,} sentence breaks; the limit is "
                                 f"{MAX_NOTE_BREAKS:,}")


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

_SPINE_WORDS = re.compile(
    r"vertebr|spine|spinal|thoracic|lumbar|thoracolumbar|sacr|kyphoplast|compression|wedg|"
    r"collapse|osteoporo|myeloma|metasta",
    re.IGNORECASE,
)
_QUALIFIED_ABSENCE = re.compile(
    r"\b(?:other|further|additional|new|acute|recent|significant|obvious|definite|more)\b",
    re.IGNORECASE,
)
_PAIN_WORDS = re.compile(
    r"pain (?:control|management|relief)|analges|opioid|morphine|"
    r"(?:back|spinal|spine|thoracic|lumbar|vertebral|fracture) pain|"
    r"(?:uncontrolled|intractable|severe|unmanageable|excruciating) pain",
    re.IGNORECASE,
)
_FRACTURE_WORDS = re.compile(r"fractur|\bfall\b|\bfell\b|collapse", re.IGNORECASE)
_OTHER_CAUSE = re.compile(
    r"stroke|paraplegi|multiple sclerosis|\bMS\b|dementia|weakness|deconditioning|amputat|"
    r"parkinson|arthritis|neuropath",
    re.IGNORECASE,
)
_SCORE_CONTEXT = re.compile(r"pain|\bVAS\b|\bNRS\b|score|rat(?:es|ed|ing)", re.IGNORECASE)
_ONSET_ANCHOR = re.compile(
    r"pain|fractur|\bfell\b|\bfall\b|injur|trauma|accident|symptom|onset|began|started|collapse",
    re.IGNORECASE,
)
_CHRONIC_BEFORE = re.compile(r"chronic|long-?standing|for years", re.IGNORECASE)
_TREATMENT_AFTER = re.compile(r"^\s*(?:-\s*)?(?:of|on)\s+(?:[\w-]+\s+){0,3}$", re.IGNORECASE)
_TREATMENT_BEFORE = re.compile(
    r"^[^.;]{0,60}?\b(?:for|over|during|throughout)\s+(?:(?:the|a|an)\s+)?(?:(?:past|last|further)\s+)?$",
    re.IGNORECASE,
)
_DURATION_FOR = re.compile(
    r"\b(?:for|over|past|last|of)\s+(?:(?:the|a|an)\s+)?(?:(?:past|last)\s+)?$", re.IGNORECASE
)
_HISTORY_OF = re.compile(r"^\s*(?:-\s*)?(?:history|hx)\s+of\b", re.IGNORECASE)
_SINCE = re.compile(r"\bsince\s+(?:the\s+)?$", re.IGNORECASE)
_ON_DATE = re.compile(r"\b(?:on|dated)\s+(?:the\s+)?$", re.IGNORECASE)
_ADMISSION_REASON = re.compile(
    r"^\s*(?:(?:on\s+)?[\d/.-]{6,10}\s+)?(?:(?:twice|once|again|recently|today|yesterday|"
    r"\w+\s+times)\s+)?(?:to\s+(?:the\s+)?[\w&]+(?:\s+[\w&]+)?\s+)?"
    r"(?:for|with|because|due\s+to|following|after|"
    r"secondary\s+to|on\s+account\s+of|:)\s*(?P<reason>.{3,160})",
    re.IGNORECASE | re.DOTALL,
)
_NEGATIVE_SCAN = re.compile(r"\b(?:negative|normal|unremarkable)\b", re.IGNORECASE)
_AT_FRACTURE = re.compile(r"fractur|at the level|affected level|collapsed", re.IGNORECASE)
_RANGE_BEFORE = re.compile(r"(?<![/\d])\d{1,2}\s*(?:-|–|to)\s*$")  # "3-5/10", not "9/10 to 4/10"
_DOB = re.compile(r"\b(?:DOB|D\.O\.B\.?|date of birth)\s*[:\-]?\s*", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CONDITIONS = {"if", "unless", "should", "in case", "in the event"}
_IF_AFTER = re.compile(r"^[^.;]{0,40}?\b(?:if|unless|should)\b", re.IGNORECASE)
_TENTATIVE = re.compile(
    r"\b(?:consider|considered|considering|may|might|could|would|possibly)\b", re.IGNORECASE
)
_AFTER_LEAD = re.compile(r"\bafter\s+(?:(?:a|an|about|approximately|over)\s+)?$", re.IGNORECASE)
_OF_PAIN = re.compile(
    r"^\s*(?:-\s*)?(?:of|of\s+(?:[\w-]+\s+){0,4}?)(?:pain|symptoms|back\s*ache)", re.IGNORECASE
)
_OLD = re.compile(r"^\s*old\b", re.IGNORECASE)
_ONSET_VERB = re.compile(
    r"(?:\bfell\b|\bfall\b|injur|trauma|accident|sustained|occurred|onset|began|started|slipped|lifting|lifted)"
    r"[^.;]{0,40}$",
    re.IGNORECASE,
)
_SCORE_CHANGE = re.compile(r"^\s*(?:to|->|→|down to|now|,? now)\s*$", re.IGNORECASE)
_NAME_AGE = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Mx)\.?\s+(?:[A-Z][a-z'-]+\s+){1,3}?[A-Z][a-z'-]+,\s*(\d{2,3})\b(?!\s*(?:mg|kg|cm|%|/))"
)
_AGE_COMMA_SEX = re.compile(r"(?<![\d/.])\b(\d{2,3}),\s*(?:female|male|woman|man)\b", re.IGNORECASE)
_YO_SEX = re.compile(r"\b\d{1,3}\s*(?:yo|y/o|y\.o\.|years?[- ]old)\s+(F|M)\b")
_PAIN_LABELS = (
    "BACK_PAIN",
    "SEVERE_PAIN",
    "MECHANICAL_PAIN",
    "INTRACTABLE_PAIN",
    "TENDERNESS",
    "PAIN_CONTROLLED",
    "NOT_SEVERE_PAIN",
)
_OTHER_PAIN = re.compile(
    r"\b(?:joints?|hips?|knees?|shoulders?|chest|abdom\w*|head\w*|legs?|arms?|hands?|wrists?|feet|"
    r"foot|ankles?|toes?|throat|mouth|ears?|eyes?|pelvi\w*|groin|sacroiliac|neck)\b",
    re.IGNORECASE,
)
_AGE_SEX_TEXT = re.compile(r"(?<![\w/.])(\d{1,3})([FM])(?![\w])")
_SCORE_VERB = re.compile(
    r"improv|reduc|decreas|increas|worsen|fell|dropp|went|settl|eased|come down|gone", re.IGNORECASE
)
# Safety findings: a hedged negation of these is doubt, not documented absence.
_SAFETY_LABELS = {"CORD_COMPRESSION", "UNSTABLE", "OSTEOMYELITIS", "DISCITIS"}
_HEDGED = re.compile(r"significant|obvious|definite|gross|major|substantial|appreciable", re.I)
_ONSET_AFTER = re.compile(
    r"\s*,?\s*(?:after|following|when)\b[^.;]{0,30}?(?:\bfell\b|\bfall\b|injur|accident|trauma|slipped)",
    re.IGNORECASE,
)
_INJURY_FIELD = re.compile(
    r"(?:date|day) of (?:injury|fracture|fall|onset|accident)\s*[:\-]?\s*$", re.IGNORECASE
)
_SEEN_BEFORE = re.compile(
    r"(?:seen|diagnosed|found|confirmed|identified|shown|reported|imaged|demonstrated|detected)"
    r"(?:\s+on\s+(?:an?\s+)?[\w-]+)?\s*$",
    re.IGNORECASE,
)
_CONTINUED = re.compile(r"continu|remain on|remains on|stay on|already|currently", re.IGNORECASE)
_SPINAL_PAIN = re.compile(r"back|spin|thorac|lumb|neck|\bmid", re.IGNORECASE)

_BLOOD_THINNERS = "medication.blood_thinners"
_KINDS = ("anticoagulant", "antiplatelet")
# An allergy or intolerance before a medicine in its clause, unless the patient is then said to
# take something ("allergic to penicillin, takes aspirin"); or just after it ("aspirin allergy").
_ALLERGY = re.compile(
    r"(?:allerg|intoleran|sensitivity to|reaction to)(?!.*\b(?:takes|taking|on|prescribed)\b)",
    re.I,
)
_ALLERGY_AFTER = re.compile(r"\s*(?:-\s*)?(?:allergy|allergic|intolerance|sensitivity)\b", re.I)
_AVOID = re.compile(r"\bavoid\w*\s+(?:[a-z-]+\s+){0,2}$", re.I)  # "avoid aspirin"
# Words that make a medicine one to be started, not one the patient has.
_STARTED = re.compile(r"\b(?:start|starting|commence|commencing|begin|initiate|add|adding)\b", re.I)
# Words before a kind of blood thinner that say the patient takes it.
_ON = re.compile(
    r"\b(?:on|takes|taking|uses|using|prescribed|receiving|requires|needs)\s+"
    r"(?:an?\s+|any\s+|regular\s+|long-term\s+|lifelong\s+|oral\s+)*$",
    re.I,
)

_MODALITY_FACTS = {
    "ct": "imaging.ct_fracture",
    "xray": "imaging.plain_film_fracture",
    "spect_ct": "imaging.spect_ct_positive",
    "bone_scan": "imaging.bone_scan_positive",
}


@dataclass
class _Reader:
    text: str
    source: str
    note_date: dt.date | None
    rules: Rules = field(init=False)
    annotation: Annotation = field(init=False)
    found: list[_Found] = field(init=False)
    levels: list[LevelGroup] = field(init=False)
    convention: Convention | None = field(init=False)
    readings: list[_Reading] = field(init=False, default_factory=list)
    _wanted: set[Level] = field(init=False, default_factory=set)
    _starts: list[int] = field(init=False, default_factory=list)
    _levels_in: dict[int, list[LevelGroup]] = field(init=False, default_factory=dict)
    _by_sentence: dict[int, list[_Found]] = field(init=False, default_factory=dict)
    warnings: list[str] = field(init=False, default_factory=list)

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

    # ---- mentions ---------------------------------------------------------------------------

    def _find(self, mention: Mention) -> _Found:
        concept = self.rules.concepts[mention.label]
        return _Found(
            mention, concept, self._status(mention, concept), self._nearest_levels(mention)
        )

    def _status(self, mention: Mention, concept: ConceptRule) -> Status | None:
        effect = self.rules.sections.effects.get(mention.section or "")
        cats = mention.categories
        allow = set(concept.allow)
        if effect == "ignore" or "FAMILY" in cats or effect == "family":
            return None
        if ("HISTORICAL" in cats or effect == "historical") and not (
            concept.chronic or "historical" in allow
        ):
            return None
        if "HYPOTHETICAL" in cats and "hypothetical" not in allow:
            return None
        if "POSSIBLE_EXISTENCE" in cats and "uncertain" not in allow:
            return "uncertain"
        if "NEGATED_EXISTENCE" in cats:
            if mention.label in _SAFETY_LABELS and any(
                c.category == "NEGATED_EXISTENCE" and _HEDGED.search(c.text) for c in mention.cues
            ):
                return "uncertain"  # "no significant cord compression" may be mild compression
            return "negated"
        if "RESOLVED" in cats:
            return "resolved"
        return "affirmed"

    def _nearest_levels(self, mention: Mention) -> tuple[Level, ...] | None:
        sentence = self.annotation.sentences[mention.sentence]
        best: list[LevelGroup] = []
        best_gap = 10**9
        for group in self._levels_in.get(mention.sentence, ()):
            if group.start < sentence.start or group.end > sentence.end:
                continue
            if group.start < mention.end and mention.start < group.end:
                gap = 0
            else:
                gap = (
                    group.start - mention.end
                    if group.start >= mention.end
                    else mention.start - group.end
                )
            if gap < best_gap:
                best, best_gap = [group], gap
            elif gap == best_gap:
                best.append(group)
        if not best:
            return None
        return tuple(sorted({level for group in best for level in group.levels}))

    def _in_sentence(self, index: int) -> list[_Found]:
        return self._by_sentence.get(index, [])

    def _evidence(self, start: int, end: int, sentence: int) -> Provenance:
        quote = " ".join(self.annotation.sentence_text(sentence).split())
        if len(quote) > MAX_QUOTE:
            quote = quote[: MAX_QUOTE - 1] + "…"
        return Provenance("note", self.source, quote, (start, end))

    def _of(self, found: _Found) -> Provenance:
        return self._evidence(found.mention.start, found.mention.end, found.mention.sentence)

    def _add(
        self,
        fact: str,
        value: ReadingValue,
        strength: int,
        evidence: Provenance,
        levels: tuple[Level, ...] | None = None,
    ) -> None:
        if value == UNSURE:
            value = UNSURE_VALUE
        self.readings.append(_Reading(fact, value, strength, evidence, levels))

    # ---- requests ---------------------------------------------------------------------------

    def _requests(self) -> tuple[ProcedureRequest, ...]:
        by_procedure: dict[Procedure, tuple[set[Level], list[Provenance]]] = {}
        for f in self.found:
            if f.group != "procedure" or f.status not in ("affirmed", "uncertain"):
                continue
            if self._conditional(f):
                continue
            procedure = Procedure(f.concept.attrs["procedure"])
            levels, evidence = by_procedure.setdefault(procedure, (set(), []))
            levels.update(f.levels or ())
            evidence.append(self._of(f))
        requests = []
        for procedure, (levels, evidence) in by_procedure.items():
            if procedure is Procedure.SACROPLASTY and not levels:
                levels = {Level("S", 0)}
            requests.append(
                ProcedureRequest(
                    procedure, tuple(sorted(levels)) or None, tuple(evidence[:MAX_EVIDENCE])
                )
            )
        return tuple(requests)

    def _conditional(self, f: _Found) -> bool:
        """A procedure named only as a condition is not requested: "if vertebroplasty is being
        considered", "we would consider kyphoplasty if the pain persists"."""
        if any(
            c.category == "HYPOTHETICAL" and c.text.lower() in _CONDITIONS for c in f.mention.cues
        ):
            return True
        sentence = self.annotation.sentences[f.mention.sentence]
        after = self.text[f.mention.end : sentence.end]
        before = self.text[sentence.start : f.mention.start]
        if re.search(r"\b(?:if|unless)\b", before, re.IGNORECASE) and _TENTATIVE.search(before):
            return True
        return bool(_IF_AFTER.match(after) and _TENTATIVE.search(before))

    # ---- readings from the rules ------------------------------------------------------------

    def _concept_readings(self) -> None:
        for f in self.found:
            concept = f.concept
            kind = concept.attrs.get("kind")
            if f.status is None or (kind == "needs-lesion" and not self._lesion_nearby(f)):
                continue
            if kind == "needs-pain" and not any(
                o.group == "pain" and o is not f for o in self._in_sentence(f.mention.sentence)
            ):
                continue
            if kind == "needs-procedure" and not any(
                o.group == "procedure" for o in self._in_sentence(f.mention.sentence)
            ):
                continue
            if kind == "generic" and not self._spinal(f):
                if f.label == "OSTEOMYELITIS" and f.status == "affirmed":
                    # Osteomyelitis elsewhere (a foot) is not at the site, but it is an infection.
                    self._add("infection.active", True, concept.strength, self._of(f))
                continue
            if "INCIDENTAL" in f.mention.categories:
                continue
            levels = f.levels if concept.scope == "level" else None
            if f.status == "affirmed":
                values = concept.affirmed
            elif f.status == "negated":
                if f.group == "fracture" and self._qualified_absence(f):
                    continue
                values = concept.negated
            elif f.status == "resolved":
                values = concept.resolved
            else:
                values = dict.fromkeys(concept.affirmed, UNSURE)
            strength = self._strength(f)
            if f.label == "OEDEMA" and self._infection_nearby(f):
                # Marrow oedema from infection or tumour says nothing about fracture healing.
                values = {k: v for k, v in values.items() if k != "fracture.healed"}
            for name, raw in values.items():
                value: ReadingValue = UNSURE_VALUE if raw == UNSURE else CATALOGUE[name].coerce(raw)  # type: ignore[assignment]
                self._add(name, value, strength, self._of(f), levels)

    def _strength(self, f: _Found) -> int:
        """A documented absence counts for less than a documented finding of the same concept
        (negations are often narrower than they look: "did not originally observe the fracture");
        a report's impression counts for more than its findings."""
        strength = f.concept.strength
        if f.status == "negated":
            strength = max(1, strength - 1)
        if f.mention.section == "impression":
            strength += 1
        return strength

    def _infection_nearby(self, f: _Found) -> bool:
        return any(
            o.label in ("OSTEOMYELITIS", "DISCITIS", "METASTASIS", "MYELOMA", "LYTIC")
            and o.status in ("affirmed", "uncertain")
            for o in self._in_sentence(f.mention.sentence)
        )

    def _spinal(self, f: _Found, *, strict: bool = False) -> bool:
        """The mention is about the spine: a level or a spinal word in its sentence, or it is in a
        report whose title is about the spine ("MRI WHOLE SPINE")."""
        if f.levels:
            return True
        sentence = self.annotation.sentence_text(f.mention.sentence)
        if _SPINE_WORDS.search(sentence):
            return True
        if strict:
            return False
        if self._is_report() and _SPINE_WORDS.search(self.text[:120]):
            return True
        # "the fracture" in a note about a vertebral fracture, in a sentence naming no other bone
        return self._spinal_fracture_note() and not any(
            o.label == "FRACTURE_OTHER_SITE" for o in self._in_sentence(f.mention.sentence)
        )

    def _spinal_fracture_note(self) -> bool:
        """The note names a vertebral fracture specifically (compression, burst, wedge...)."""
        return any(
            o.group == "fracture"
            and o.concept.attrs.get("kind") != "generic"
            and o.status == "affirmed"
            for o in self.found
        )

    def _lesion_nearby(self, f: _Found) -> bool:
        return any(
            other.group in ("fracture", "aetiology") or other.label == "LYTIC"
            for other in self._in_sentence(f.mention.sentence)
        )

    def _qualified_absence(self, f: _Found) -> bool:
        """'No new fracture', 'no other fracture', 'no acute fracture': not an absence of any."""
        if f.mention.categories & {"RECENT", "HEALED", "AGE_UNKNOWN"}:
            return True
        for cue in f.mention.cues:
            if (
                cue.category == "NEGATED_EXISTENCE"
                and cue.end <= f.mention.start
                and _QUALIFIED_ABSENCE.search(self.text[cue.start : f.mention.start])
            ):
                return True
        return bool(_QUALIFIED_ABSENCE.search(f.mention.text))

    def _fracture_age(self) -> None:
        for f in self.found:
            if f.group != "fracture" or f.status != "affirmed":
                continue
            if f.concept.attrs.get("kind") == "generic" and not self._spinal(f):
                continue
            cats = f.mention.categories
            if "AGE_UNKNOWN" in cats or ("HEALED" in cats and "RECENT" in cats):
                self._add("fracture.healed", UNSURE_VALUE, 2, self._of(f), f.levels)
            elif "HEALED" in cats:
                self._add("fracture.healed", True, 2, self._of(f), f.levels)
            elif "RECENT" in cats:
                self._add("fracture.healed", False, 2, self._of(f), f.levels)

    # ---- numbers ----------------------------------------------------------------------------

    def _ages(self) -> None:
        first = True
        for f in self.found:
            if f.label not in ("AGE", "AGE_SEX") or "FAMILY" in f.mention.categories:
                continue
            if self.rules.sections.effects.get(f.mention.section or "") in ("family", "ignore"):
                continue
            number = _NUMBER.search(f.mention.text)
            if number is None or not 0 < float(number.group()) <= 120:
                continue
            self._add("patient.age", float(number.group()), 3 if first else 2, self._of(f))
            first = False
        for pattern in (_NAME_AGE, _AGE_COMMA_SEX, _AGE_SEX_TEXT):
            for match in pattern.finditer(self.text):
                age = float(match.group(1))
                if 0 < age <= 120:
                    evidence = self._evidence(
                        match.start(1), match.end(1), self._sentence_at(match.start())
                    )
                    self._add("patient.age", age, 3 if first else 2, evidence)
                    first = False
        if self.note_date is not None:
            for match in _DOB.finditer(self.text):
                dates = find_dates(self.text[match.end() : match.end() + 30])
                if not dates or dates[0].start != 0:
                    continue
                born = to_date(dates[0], self.convention)
                if born is None or born >= self.note_date:
                    continue
                years = (
                    self.note_date.year
                    - born.year
                    - ((self.note_date.month, self.note_date.day) < (born.month, born.day))
                )
                end = match.end() + dates[0].end
                evidence = self._evidence(match.start(), end, self._sentence_at(match.start()))
                self._add("patient.age", float(years), 2, evidence)

    def _sentence_at(self, offset: int) -> int:
        return max(0, bisect_right(self._starts, offset) - 1)

    def _sex(self) -> None:
        for f in self.found:
            if f.group != "demographic" or f.label in ("AGE",):
                continue
            if "FAMILY" in f.mention.categories:
                continue
            if self.rules.sections.effects.get(f.mention.section or "") in ("family", "ignore"):
                continue
            if f.label == "AGE_SEX":
                sex = "female" if f.mention.text.upper().endswith("F") else "male"
                self._add("patient.sex", sex, 3, self._of(f))
                continue
            if f.label.startswith("TITLE"):
                if re.match(
                    r"\.?\s+[A-Z]\.?\s+[A-Z]", self.text[f.mention.end : f.mention.end + 8]
                ):
                    continue  # "Miss L Carter": a clinician signing, not the patient
                strength = 1
            else:
                before = self.text[max(0, f.mention.start - 40) : f.mention.start]
                after_age = re.search(r"(?:old|aged \d+|\d+\s*(?:yo|y/o)|\d+,)\s*$", before)
                labelled = re.match(r"(?:sex|gender)", f.mention.text, re.IGNORECASE)
                strength = 3 if after_age or labelled else 2
            self._add("patient.sex", f.concept.attrs["sex"], strength, self._of(f))
        for pattern, group in ((_YO_SEX, 1), (_AGE_SEX_TEXT, 2)):
            for match in pattern.finditer(self.text):
                sex = "female" if match.group(group) == "F" else "male"
                evidence = self._evidence(
                    match.start(group), match.end(group), self._sentence_at(match.start())
                )
                self._add("patient.sex", sex, 3, evidence)

    def _pain_scores(self) -> None:
        previous: tuple[int, int] | None = None
        for f in self.found:
            if f.label != "PAIN_SCORE" or f.status != "affirmed":
                continue
            if not _SCORE_CONTEXT.search(self.annotation.sentence_text(f.mention.sentence)):
                continue
            numbers = _NUMBER.findall(f.mention.text)
            if not numbers:
                continue
            lowered = f.mention.text.lower()
            raw = (
                numbers[0]
                if lowered.startswith(("vas", "nrs", "pain"))
                else (
                    numbers[-2]
                    if len(numbers) >= 2 and re.search(r"/\s*10|out of", lowered)
                    else numbers[-1]
                )
            )
            before = self.text[max(0, f.mention.start - 6) : f.mention.start]
            after = self.text[f.mention.end : f.mention.end + 3]
            if (
                re.match(r"\s*/\s*\d", after)
                or re.search(r"\d\s*/\s*$", before)
                or (raw.startswith("0") and len(raw) > 1)
            ):
                continue  # part of a date such as 03/04/10
            value = float(raw)
            sentence = self.annotation.sentences[f.mention.sentence]
            changed = bool(_SCORE_VERB.search(self.text[sentence.start : f.mention.start]))
            if previous and _SCORE_CHANGE.match(self.text[previous[1] : f.mention.start]):
                # "improved from 9/10 to 4/10": the earlier score is the past. Without a verb of
                # change ("ranges from 3/10 to 6/10") both are uncertain.
                self.readings = [
                    r
                    for r in self.readings
                    if not (r.fact == "pain.score" and r.evidence.span == previous)
                ]
                if not changed:
                    self._add("pain.score", UNSURE_VALUE, 2, self._of(f))
                    previous = (f.mention.start, f.mention.end)
                    continue
            previous = (f.mention.start, f.mention.end)
            if not 0 <= value <= 10 or _RANGE_BEFORE.search(
                self.text[max(0, f.mention.start - 12) : f.mention.start]
            ):
                self._add("pain.score", UNSURE_VALUE, 2, self._of(f))
                continue
            self._add("pain.score", value, 2, self._of(f))

    def _sins(self) -> None:
        for f in self.found:
            if f.label != "SINS" or f.status != "affirmed":
                continue
            numbers = _NUMBER.findall(f.mention.text)
            if not numbers:
                continue
            score = float(numbers[-1])
            value: ReadingValue
            if score >= 13:
                value = True
            elif score <= 6:
                value = False
            else:
                value = UNSURE_VALUE  # 7-12: potentially unstable; a surgeon's judgement
            self._add("fracture.unstable", value, 3, self._of(f))

    # ---- durations and dates ----------------------------------------------------------------

    def _times(self) -> None:
        for index, sentence in enumerate(self.annotation.sentences):
            text = self.annotation.sentence_text(index)
            present = self._in_sentence(index)
            treatments = [
                f
                for f in present
                if f.group == "treatment" and f.status in ("affirmed", "resolved")
            ]
            for duration in find_durations(text):
                self._duration(duration, sentence.start, index, text, treatments, present)
            for mention in find_dates(text):
                self._dated(mention, sentence.start, index, text, treatments)

    def _duration(
        self,
        duration: Duration,
        offset: int,
        index: int,
        text: str,
        treatments: list[_Found],
        present: list[_Found],
    ) -> None:
        start, end = offset + duration.start, offset + duration.end
        evidence = self._evidence(start, end, index)
        if not duration.ago:
            for t in treatments:
                after = self.text[end : t.mention.start] if t.mention.start >= end else None
                before = self.text[t.mention.end : start] if t.mention.end <= start else None
                if (after is not None and _TREATMENT_AFTER.match(after)) or (
                    before is not None and _TREATMENT_BEFORE.match(before)
                ):
                    weeks = duration.weeks
                    value: ReadingValue = (
                        UNSURE_VALUE if weeks is None or duration.qualifier == "under" else weeks
                    )
                    self._add("conservative_treatment.duration_weeks", value, 2, evidence)
                    return
        if not _ONSET_ANCHOR.search(text):
            return
        lead = text[: duration.start]
        tail = text[duration.end :]
        if _CHRONIC_BEFORE.search(lead) or _AFTER_LEAD.search(lead) or _SEEN_BEFORE.search(lead):
            # "chronic back pain for years"; "after a week of pain" (anchored elsewhere); "seen
            # on x-ray four weeks ago" (when it was found, not when it happened)
            return
        pain_before = any(
            f.group in ("pain", "fracture") and f.mention.end <= start and f.status == "affirmed"
            for f in present
        )
        fracture_before = any(
            f.group == "fracture" and f.mention.end <= start and f.status == "affirmed"
            for f in present
        )
        is_onset = (
            duration.ago
            or (_DURATION_FOR.search(lead) is not None and pain_before)
            or _HISTORY_OF.match(tail) is not None
            or _OF_PAIN.match(tail) is not None
            or (_OLD.match(tail) is not None and fracture_before)
        )
        if not is_onset:
            return
        if self.note_date is None:
            written = text[duration.start : duration.end]
            self.warnings.append(f"{written!r} is relative, but the note's date is unknown")
            return
        onset = subtract(self.note_date, duration)
        value = UNSURE_VALUE if onset is None or duration.qualifier == "under" else onset
        self._add("fracture.onset_date", value, 2, evidence)

    def _dated(
        self, mention: DateMention, offset: int, index: int, text: str, treatments: list[_Found]
    ) -> None:
        day = to_date(mention, self.convention)
        start, end = offset + mention.start, offset + mention.end
        lead = text[: mention.start]
        if day is None:
            if mention.numeric and (_SINCE.search(lead) or _ON_DATE.search(lead)):
                written = text[mention.start : mention.end]
                self.warnings.append(f"the date {written!r} could be day/month or month/day")
            return
        evidence = self._evidence(start, end, index)
        if _SINCE.search(lead):
            if any(t.mention.end <= start for t in treatments):
                if self.note_date is not None and day <= self.note_date:
                    weeks = round((self.note_date - day).days / 7, 1)
                    self._add("conservative_treatment.duration_weeks", weeks, 2, evidence)
                return
            if _ONSET_ANCHOR.search(lead):
                self._add("fracture.onset_date", day, 2, evidence)
        elif (
            (on := _ON_DATE.search(lead))
            and (_ONSET_VERB.search(lead[: on.start()]) or _ONSET_AFTER.match(text[mention.end :]))
        ) or _INJURY_FIELD.search(lead):
            self._add("fracture.onset_date", day, 2, evidence)

    # ---- treatment ----------------------------------------------------------------------------

    def _treatments(self) -> None:
        for f in self.found:
            kind = f.concept.attrs.get("treatment")
            if f.group != "treatment" or kind in (None, "generic"):
                continue
            if f.status not in ("affirmed", "resolved"):
                continue
            if f.mention.section == "plan":
                sentence = self.annotation.sentences[f.mention.sentence]
                clause = re.split(
                    r"[;:]|\band\s+(?=start|commence|begin|add|arrange|refer|trial)",
                    self.text[sentence.start : f.mention.start],
                )[-1]
                if not _CONTINUED.search(clause):
                    continue  # planned, not yet given
            self._add("conservative_treatment.modalities", frozenset({kind}), 2, self._of(f))

    def _failure(self) -> None:
        for f in self.found:
            if f.label != "FAILURE_CUE" or f.status != "affirmed":
                continue
            treated = [
                t
                for t in self._in_sentence(f.mention.sentence)
                if t.group == "treatment" and t.status in ("affirmed", "resolved")
            ]
            if not treated:
                continue
            self._add("conservative_treatment.failed", True, 2, self._of(f))
            if any(t.concept.attrs.get("treatment") == "analgesics" for t in treated):
                self._add("pain.resistant_to_analgesia", True, 2, self._of(f))

    # ---- admission --------------------------------------------------------------------------

    def _admission(self) -> None:
        for f in self.found:
            if f.label != "ADMISSION" or f.status is None:
                continue
            if f.status == "negated":
                self._add("hospitalisation.admitted", False, 2, self._of(f))
                self._add("hospitalisation.for_pain_control", False, 2, self._of(f))
                continue
            if f.status != "affirmed":
                continue
            sentence = self.annotation.sentences[f.mention.sentence]
            rest = self.text[f.mention.end : max(sentence.end, f.mention.end + 1)]
            match = _ADMISSION_REASON.match(rest)
            if match is None:
                continue
            self._reason(match.group("reason"), self._of(f))
        for section in self.annotation.sections:
            if self.rules.sections.effects.get(section.category or "") == "admission":
                body = self.text[section.title_end : min(section.end, section.title_end + 200)]
                at = self._sentence_at(section.start)
                self._reason(body, self._evidence(section.start, section.title_end, at))

    def _reason(self, reason: str, evidence: Provenance) -> None:
        if _PAIN_WORDS.search(reason):
            self._add("hospitalisation.admitted", True, 2, evidence)
            self._add("hospitalisation.for_pain_control", True, 2, evidence)
        elif _FRACTURE_WORDS.search(reason):
            self._add("hospitalisation.admitted", True, 2, evidence)
        elif re.search(r"[A-Za-z]{3,}", reason):
            self._add("hospitalisation.for_pain_control", False, 1, evidence)

    # ---- walking ----------------------------------------------------------------------------

    def _walking(self) -> None:
        for f in self.found:
            if f.label != "UNABLE_TO_WALK" or f.status != "affirmed":
                continue
            self._add("ambulation.status", "unable", 2, self._of(f))
            sentence = self.annotation.sentence_text(f.mention.sentence)
            if _OTHER_CAUSE.search(sentence):
                continue
            if any(
                o.group in ("pain", "fracture") and o.status == "affirmed"
                for o in self._in_sentence(f.mention.sentence)
            ):
                self._add("pain.prevents_ambulation", True, 1, self._of(f))

    # ---- imaging ----------------------------------------------------------------------------

    def _report_modality(self) -> set[str]:
        """The modalities a report is about, for findings that do not name one: those in its
        examination section, else in its title, else the only one it mentions."""
        modality = [f for f in self.found if f.group == "modality" and f.status is not None]
        exam = {
            f.concept.attrs["modality"]
            for f in modality
            if self.rules.sections.effects.get(f.mention.section or "") == "exam"
        }
        if exam:
            return exam
        head = {f.concept.attrs["modality"] for f in modality if f.mention.start < 120}
        if head:
            return head
        every = {f.concept.attrs["modality"] for f in modality}
        if self._is_report() and len(every) == 1:
            return every
        return set()

    def _imaging(self) -> None:
        default = self._report_modality()
        for index in range(len(self.annotation.sentences)):
            present = self._in_sentence(index)
            modalities = {
                f.concept.attrs["modality"]
                for f in present
                if f.group == "modality" and f.status in ("affirmed", "negated")
            }
            if not modalities:
                modalities = set(default)
            if not modalities:
                continue
            for f in present:
                if (
                    f.group == "fracture"
                    and f.label != "COLLAPSE"
                    and f.status in ("affirmed", "negated")
                ):
                    if f.concept.attrs.get("kind") == "generic" and not self._spinal(f):
                        continue
                    if f.status == "negated" and self._qualified_absence(f):
                        continue
                    for modality in modalities & {"ct", "xray", "spect_ct"}:
                        self._add(
                            _MODALITY_FACTS[modality],
                            f.status == "affirmed",
                            self._strength(f),
                            self._of(f),
                            f.levels,
                        )
                if f.label == "UPTAKE" and f.status in ("affirmed", "negated"):
                    for modality in modalities & {"bone_scan", "spect_ct"}:
                        self._add(
                            _MODALITY_FACTS[modality],
                            f.status == "affirmed",
                            2,
                            self._of(f),
                            f.levels,
                        )
                if f.label == "NO_UPTAKE" and f.status == "affirmed":
                    for modality in modalities & {"bone_scan", "spect_ct"}:
                        self._add(
                            _MODALITY_FACTS[modality],
                            False,
                            f.concept.strength,
                            self._of(f),
                            f.levels,
                        )
            text = self.annotation.sentence_text(index)
            scans = [
                f
                for f in present
                if f.group == "modality"
                and f.concept.attrs["modality"] in ("bone_scan", "spect_ct")
                and f.status == "affirmed"
            ]
            spinal = _SPINE_WORDS.search(text) or any(
                g.start >= self.annotation.sentences[index].start
                and g.end <= self.annotation.sentences[index].end
                for g in self.levels
            )
            if (
                scans
                and spinal
                and not any(f.label == "UPTAKE" for f in present)
                and _NEGATIVE_SCAN.search(text)
            ):
                for scan in scans:
                    self._add(
                        _MODALITY_FACTS[scan.concept.attrs["modality"]], False, 1, self._of(scan)
                    )

    # ---- team -------------------------------------------------------------------------------

    def _team(self) -> None:
        team_sentences = self._team_sentences()
        for index in range(len(self.annotation.sentences)):
            present = self._in_sentence(index)
            roles = [f for f in present if f.group == "role" and f.status == "affirmed"]
            agreed = [
                f
                for f in present
                if f.label == "MDT_AGREED" and f.status in ("affirmed", "negated")
            ]
            if index not in team_sentences and not (agreed and len(roles) >= 2):
                continue
            for role in roles:
                self._add("mdt.members", frozenset({role.concept.attrs["role"]}), 2, self._of(role))
            procedures = [f for f in present if f.group == "procedure" and f.status is not None]
            if agreed and procedures:
                verdict = all(a.status == "affirmed" for a in agreed) and all(
                    p.status != "negated" for p in procedures
                )
                self._add("mdt.agreed", verdict, 2, self._of(agreed[0]))
            elif any(p.status == "negated" for p in procedures):
                negated = next(p for p in procedures if p.status == "negated")
                self._add("mdt.agreed", False, 2, self._of(negated))

    def _team_sentences(self) -> set[int]:
        """Sentences about a team meeting: those naming a meeting that took place, the rest of
        their paragraph, and those in a meeting section (attendees, outcome)."""
        sentences = self.annotation.sentences
        found: set[int] = set()
        for f in self.found:
            if f.label == "MDT" and f.status == "affirmed":
                index = f.mention.sentence
                found.add(index)
                while (
                    index + 1 < len(sentences)
                    and "\n\n"
                    not in self.text[sentences[index].end : sentences[index + 1].start + 1]
                    and "\n\n" not in self.text[sentences[index].start : sentences[index].end]
                ):
                    index += 1
                    found.add(index)
        for f in self.found:
            if self.rules.sections.effects.get(f.mention.section or "") == "team":
                found.add(f.mention.sentence)
        return found

    # ---- derived ----------------------------------------------------------------------------

    def _symptomatic(self) -> None:
        """A painful spine and a fracture or lesion: symptomatic (weakly). In an imaging report,
        only when one sentence says both; in a letter, anywhere in the note."""
        lesions = [
            f
            for f in self.found
            if f.status == "affirmed"
            and (
                f.group == "fracture"
                or f.label in ("LYTIC", "MYELOMA", "METASTASIS", "HAEMANGIOMA")
            )
            and not (f.concept.attrs.get("kind") == "generic" and not self._spinal(f))
        ]
        pains = [
            f
            for f in self.found
            if f.status == "affirmed"
            and f.label in _PAIN_LABELS
            and (
                _SPINAL_PAIN.search(f.mention.text)
                or self._spinal(f, strict=True)
                or not (
                    self._is_report()
                    or _OTHER_PAIN.search(self.annotation.sentence_text(f.mention.sentence))
                )
            )
        ]
        if self._is_report():
            lesion_sentences = {f.mention.sentence for f in lesions}
            pains = [f for f in pains if f.mention.sentence in lesion_sentences]
        if lesions and pains:
            self._add("fracture.symptomatic", True, 1, self._of(pains[0]))

    def _is_report(self) -> bool:
        """An imaging report (a findings section, or a modality in its title), not a letter."""
        if any(s.category == "findings" for s in self.annotation.sections):
            return True
        return any(f.group == "modality" and f.mention.start < 60 for f in self.found)

    def _level_confirmation(self) -> None:
        imaged: set[Level] = set()
        default = self._report_modality()
        for f in self.found:
            if f.status != "affirmed" or not f.levels:
                continue
            on_imaging = bool(default) or any(
                o.group == "modality" for o in self._in_sentence(f.mention.sentence)
            )
            if f.label == "OEDEMA" or (f.group == "fracture" and on_imaging):
                imaged.update(f.levels)
        for f in self.found:
            if f.label in ("TENDERNESS", "NO_TENDERNESS") and not self._spinal(f, strict=True):
                continue
            if f.label == "TENDERNESS" and f.status == "affirmed":
                if f.levels:
                    self._add("pain.level_confirmed_by_examination", True, 2, self._of(f), f.levels)
                    if imaged & set(f.levels):
                        self._add("pain.level_confirmed_by_imaging", True, 1, self._of(f), f.levels)
                elif _AT_FRACTURE.search(self.annotation.sentence_text(f.mention.sentence)):
                    self._add("pain.level_confirmed_by_examination", True, 2, self._of(f))
            elif (f.label == "TENDERNESS" and f.status == "negated") or (
                f.label == "NO_TENDERNESS" and f.status == "affirmed"
            ):
                self._add("pain.level_confirmed_by_examination", False, 1, self._of(f), f.levels)

    # ---- blood thinners ----------------------------------------------------------------------

    def _blood_thinners(self) -> None:
        """Which blood thinners the patient takes. A named medicine counts when the note says or
        suggests the patient takes it, or that it is to be stopped or restarted (it is theirs);
        not when it is denied, only planned ("start aspirin"), an allergy, past history or a
        relative's. Erring towards a medicine the patient may take is the safe side: the plan
        asks a clinician about each one. The patient takes none only when the note denies both
        kinds (anticoagulants and antiplatelets) or blood thinners as such; a kind said to be
        taken without its name is an unnamed one ("other")."""
        named: set[str] = set()
        kinds_taken: list[_Found] = []
        denied: dict[str, _Found] = {}
        for f in self.found:
            if f.group != "medicine" or f.status is None:
                continue
            drug, kind = f.concept.attrs.get("drug"), f.concept.attrs.get("drug_class", "")
            if f.status == "negated":
                if drug is None:
                    for each in _KINDS if kind == "any" else (kind,):
                        denied.setdefault(each, f)
                continue
            if f.status not in ("affirmed", "uncertain") or not self._taken(f):
                continue
            if drug is None:
                kinds_taken.append(f)
            else:
                named.add(kind)
                self._add(_BLOOD_THINNERS, frozenset({drug}), 2, self._of(f))
        for f in kinds_taken:
            kind = f.concept.attrs["drug_class"]
            if not named & (set(_KINDS) if kind == "any" else {kind}):
                self._add(_BLOOD_THINNERS, frozenset({"other"}), 2, self._of(f))
        if set(_KINDS) <= denied.keys():
            spans = {(f.mention.start, f.mention.end): f for f in denied.values()}
            for f in spans.values():
                self._add(_BLOOD_THINNERS, frozenset(), 2, self._of(f))

    def _taken(self, f: _Found) -> bool:
        """Whether a medicine's mention says the patient has it, judging by the words before it
        in its sentence: not an allergy or intolerance, not a medicine only to be started, and
        for a kind without a name, taken ("on anticoagulants", "anticoagulated")."""
        sentence = self.annotation.sentences[f.mention.sentence]
        before = self.text[sentence.start : f.mention.start]
        clause = re.split(r"[;.]", before)[-1]
        if _ALLERGY.search(clause) or _ALLERGY_AFTER.match(self.text[f.mention.end :]):
            return False
        if _AVOID.search(before):
            return False
        if _STARTED.search(re.split(r"[;,]|\band\b", before)[-1]):
            return False
        if f.concept.attrs.get("drug") is None:
            return f.mention.text.lower().endswith("ated") or bool(_ON.search(before[-40:]))
        return True

    # ---- settling ---------------------------------------------------------------------------

    def _settle(self, requests: tuple[ProcedureRequest, ...]) -> list[Fact]:
        wanted: set[Level] = {level for r in requests for level in (r.levels or ())}
        self._wanted = wanted
        grouped: dict[str, list[_Reading]] = defaultdict(list)
        for reading in self.readings:
            if wanted and reading.levels and not _overlap(wanted, reading.levels):
                continue
            grouped[reading.fact].append(reading)
        if not requests:
            for name in REQUEST_BOUND:
                grouped.pop(name, None)
        score = (
            self._settle_one("pain.score", grouped["pain.score"])
            if grouped.get("pain.score")
            else None
        )
        if score is not None and isinstance(score.value, float):
            # NRS 7-10 is severe pain; 0-6 is not. Weaker than the clinician's own words.
            grouped["pain.severe"].append(
                _Reading("pain.severe", score.value >= 7, 1, score.evidence[0])
            )
        facts = [self._settle_one(name, readings) for name, readings in grouped.items()]
        if len(requests) == 1:
            request = requests[0]
            facts.append(Fact("request.procedure", request.procedure.value, request.evidence))
            if request.levels:
                facts.append(Fact("request.levels", request.levels, request.evidence))
        return [fact for fact in facts if fact is not None]

    def _settle_one(self, name: str, readings: list[_Reading]) -> Fact:
        spec = CATALOGUE[name]
        ordered = sorted(readings, key=lambda r: r.evidence.span or (0, 0))
        definite = [(r, r.value) for r in ordered if not isinstance(r.value, _Unsure)]
        if spec.type is FactType.CHOICES:
            values: set[str] = set()
            for _, value in definite:
                if isinstance(value, frozenset):
                    values.update(value)
            return Fact(name, frozenset(values), _evidence(ordered))
        everything_definite = len(definite) == len(ordered)
        if name == "conservative_treatment.duration_weeks" and definite and everything_definite:
            # Several treatments for different lengths of time: the longest is the total course.
            weeks = [(r, v) for r, v in definite if isinstance(v, float)]
            if weeks:
                longest, value = max(weeks, key=lambda pair: pair[1])
                return Fact(name, value, _evidence([longest, *ordered]))
        if name == "fracture.onset_date" and definite and everything_definite:
            # Readings within two weeks of each other agree; the earliest is the onset.
            days = sorted(
                ((r, v) for r, v in definite if isinstance(v, dt.date)), key=lambda pair: pair[1]
            )
            if days and (days[-1][1] - days[0][1]).days <= 14:
                return Fact(name, days[0][1], _evidence([days[0][0], *ordered]))
        if not self._wanted and _levels_disagree([r for r, _ in definite]):
            shown = ", ".join(sorted({str(_display(_key(v))) for _, v in definite}))
            self.warnings.append(
                f"{name}: differs between levels ({shown}) and no level is requested; left unknown"
            )
            conflicts = tuple(Fact(name, v, (r.evidence,)) for r, v in definite)
            return Fact(name, None, _evidence(ordered), conflicts)
        strongest: dict[object, int] = {}
        for reading in ordered:
            key = _key(reading.value)
            strongest[key] = max(strongest.get(key, 0), reading.strength)
        top = max(strongest.values())
        winners = [key for key, strength in strongest.items() if strength == top]
        if len(winners) == 1 and winners[0] is not UNSURE_VALUE:
            chosen = [(r, v) for r, v in definite if _key(v) == winners[0]]
            losers = tuple(
                Fact(name, v, (r.evidence,)) for r, v in definite if _key(v) != winners[0]
            )
            return Fact(name, chosen[0][1], _evidence(r for r, _ in chosen), losers)
        shown = ", ".join(sorted(str(_display(k)) for k in strongest))
        self.warnings.append(f"{name}: the note is not clear ({shown}); left unknown")
        conflicts = tuple(Fact(name, v, (r.evidence,)) for r, v in definite)
        return Fact(name, None, _evidence(ordered), conflicts)


def _key(value: ReadingValue) -> object:
    if isinstance(value, tuple):
        return tuple(str(v) for v in value)
    return value


def _display(value: object) -> object:
    return "uncertain" if value is UNSURE_VALUE else value


def _evidence(readings: Iterable[_Reading]) -> tuple[Provenance, ...]:
    seen: dict[tuple[int, int] | None, Provenance] = {}
    for reading in readings:
        seen.setdefault(reading.evidence.span, reading.evidence)
        if len(seen) >= MAX_EVIDENCE:
            break
    return tuple(seen.values())


def _levels_disagree(readings: list[_Reading]) -> bool:
    """Two readings with different values about different levels (an acute L1 fracture and a
    healed T8 one): which one matters depends on the level to be treated. Weak readings (a
    negated finding, "no uptake at L4") do not count against a finding at another level."""
    scoped = [r for r in readings if r.levels and r.strength >= 2]
    for index, first in enumerate(scoped):
        for second in scoped[index + 1 :]:
            if _key(first.value) != _key(second.value) and not _overlap(
                set(first.levels or ()), second.levels or ()
            ):
                return True
    return False


def _overlap(wanted: set[Level], levels: tuple[Level, ...]) -> bool:
    for level in levels:
        if level in wanted:
            return True
        if level.letter == "S" and any(
            w.letter == "S" and 0 in (w.number, level.number) for w in wanted
        ):
            return True
    return False
