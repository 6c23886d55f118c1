"""Fractures and uptake seen on each imaging modality (CT, X-ray, SPECT-CT, bone scan)."""

from __future__ import annotations

import re

from vertebro.adapters.nlp.extract.base import _SPINE_WORDS, _ReaderBase

_NEGATIVE_SCAN = re.compile(r"\b(?:negative|normal|unremarkable)\b", re.IGNORECASE)

_MODALITY_FACTS = {
    "ct": "imaging.ct_fracture",
    "xray": "imaging.plain_film_fracture",
    "spect_ct": "imaging.spect_ct_positive",
    "bone_scan": "imaging.bone_scan_positive",
}


class _Imaging(_ReaderBase):
    """Imaging findings per modality, in the sentence's modality or the report's."""

    # ---- imaging ----------------------------------------------------------------------------

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
