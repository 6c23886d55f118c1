"""The patient's age and sex, from the text, a name line or a date of birth."""

from __future__ import annotations

import re

from vertebro.adapters.nlp.extract.base import _NUMBER, _ReaderBase
from vertebro.adapters.nlp.times import find_dates, to_date

_DOB = re.compile(r"\b(?:DOB|D\.O\.B\.?|date of birth)\s*[:\-]?\s*", re.IGNORECASE)
_NAME_AGE = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Mx)\.?\s+(?:[A-Z][a-z'-]+\s+){1,3}?[A-Z][a-z'-]+,\s*(\d{2,3})\b(?!\s*(?:mg|kg|cm|%|/))"
)
_AGE_COMMA_SEX = re.compile(r"(?<![\d/.])\b(\d{2,3}),\s*(?:female|male|woman|man)\b", re.IGNORECASE)
_YO_SEX = re.compile(r"\b\d{1,3}\s*(?:yo|y/o|y\.o\.|years?[- ]old)\s+(F|M)\b")
_AGE_SEX_TEXT = re.compile(r"(?<![\w/.])(\d{1,3})([FM])(?![\w])")


class _Patient(_ReaderBase):
    """The patient's age (mentions, "Mrs Name, 82", date of birth) and sex."""

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
