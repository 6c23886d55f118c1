"""The note reader's shared state: mentions, their assertions, readings, shared judgements."""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Literal

from vertebro.adapters.nlp.pipeline import Annotation, Mention
from vertebro.adapters.nlp.rules import UNSURE, ConceptRule, Rules
from vertebro.adapters.nlp.times import Convention, LevelGroup
from vertebro.core.facts import FactValue, Provenance
from vertebro.core.levels import Level

MAX_EVIDENCE = 5  # quotes kept per fact
MAX_QUOTE = 400  # characters of a sentence kept as the quote

Status = Literal["affirmed", "negated", "uncertain", "resolved"]


class _Unsure:
    """A reading that makes a fact uncertain rather than giving it a value."""

    def __repr__(self) -> str:
        return "UNSURE"


UNSURE_VALUE = _Unsure()
ReadingValue = FactValue | _Unsure


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


_SPINE_WORDS = re.compile(
    r"vertebr|spine|spinal|thoracic|lumbar|thoracolumbar|sacr|kyphoplast|compression|wedg|"
    r"collapse|osteoporo|myeloma|metasta",
    re.IGNORECASE,
)
_QUALIFIED_ABSENCE = re.compile(
    r"\b(?:other|further|additional|new|acute|recent|significant|obvious|definite|more)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Safety findings: a hedged negation of these is doubt, not documented absence.
_SAFETY_LABELS = {"CORD_COMPRESSION", "UNSTABLE", "OSTEOMYELITIS", "DISCITIS"}
_HEDGED = re.compile(r"significant|obvious|definite|gross|major|substantial|appreciable", re.I)


@dataclass
class _ReaderBase:
    """The state every family of facts reads from (the note, its mentions with their assertions
    and levels, the readings so far) and the judgements several families share: about the spine
    or not, a report or a letter, a reading's strength, a qualified absence."""

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

    def _sentence_at(self, offset: int) -> int:
        return max(0, bisect_right(self._starts, offset) - 1)

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

    def _is_report(self) -> bool:
        """An imaging report (a findings section, or a modality in its title), not a letter."""
        if any(s.category == "findings" for s in self.annotation.sections):
            return True
        return any(f.group == "modality" and f.mention.start < 60 for f in self.found)
