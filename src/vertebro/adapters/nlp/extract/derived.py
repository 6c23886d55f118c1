"""Facts from findings together: a symptomatic fracture; the painful level confirmed."""

from __future__ import annotations

import re

from vertebro.adapters.nlp.extract.base import _ReaderBase
from vertebro.core.levels import Level

_AT_FRACTURE = re.compile(r"fractur|at the level|affected level|collapsed", re.IGNORECASE)
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
_SPINAL_PAIN = re.compile(r"back|spin|thorac|lumb|neck|\bmid", re.IGNORECASE)


class _Derived(_ReaderBase):
    """A symptomatic fracture, and the painful level confirmed by examination or imaging."""

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
