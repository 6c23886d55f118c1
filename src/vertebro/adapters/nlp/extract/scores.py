"""Pain scores (the current one, not the past or a range) and the SINS stability score."""

from __future__ import annotations

import re

from vertebro.adapters.nlp.extract.base import _NUMBER, UNSURE_VALUE, ReadingValue, _ReaderBase

_SCORE_CONTEXT = re.compile(r"pain|\bVAS\b|\bNRS\b|score|rat(?:es|ed|ing)", re.IGNORECASE)
_RANGE_BEFORE = re.compile(r"(?<![/\d])\d{1,2}\s*(?:-|–|to)\s*$")  # "3-5/10", not "9/10 to 4/10"
_SCORE_CHANGE = re.compile(r"^\s*(?:to|->|→|down to|now|,? now)\s*$", re.IGNORECASE)
_SCORE_VERB = re.compile(
    r"improv|reduc|decreas|increas|worsen|fell|dropp|went|settl|eased|come down|gone", re.IGNORECASE
)


class _Scores(_ReaderBase):
    """The pain score out of 10 and the SINS score (fracture stability)."""

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
