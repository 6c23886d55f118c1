"""Durations and dates: when the fracture or pain began, and how long treatment has gone on."""

from __future__ import annotations

import re

from vertebro.adapters.nlp.extract.base import UNSURE_VALUE, ReadingValue, _Found, _ReaderBase
from vertebro.adapters.nlp.times import (
    DateMention,
    Duration,
    find_dates,
    find_durations,
    subtract,
    to_date,
)

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


class _Timing(_ReaderBase):
    """The onset date and the duration of conservative treatment, from durations and dates."""

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
