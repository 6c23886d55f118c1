"""Conservative treatment: the modalities given (not only planned) and whether they failed."""

from __future__ import annotations

import re

from vertebro.adapters.nlp.extract.base import _ReaderBase

_CONTINUED = re.compile(r"continu|remain on|remains on|stay on|already|currently", re.IGNORECASE)


class _Treatment(_ReaderBase):
    """Conservative treatment given, its failure, and pain resistant to analgesia."""

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
