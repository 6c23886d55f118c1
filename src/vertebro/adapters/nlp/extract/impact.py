"""The pain's toll: admission to hospital (for pain control or not) and being unable to walk."""

from __future__ import annotations

import re

from vertebro.adapters.nlp.extract.base import _ReaderBase
from vertebro.core.facts import Provenance

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
_ADMISSION_REASON = re.compile(
    r"^\s*(?:(?:on\s+)?[\d/.-]{6,10}\s+)?(?:(?:twice|once|again|recently|today|yesterday|"
    r"\w+\s+times)\s+)?(?:to\s+(?:the\s+)?[\w&]+(?:\s+[\w&]+)?\s+)?"
    r"(?:for|with|because|due\s+to|following|after|"
    r"secondary\s+to|on\s+account\s+of|:)\s*(?P<reason>.{3,160})",
    re.IGNORECASE | re.DOTALL,
)


class _Impact(_ReaderBase):
    """Admission to hospital and its reason; unable to walk, and whether for pain."""

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
