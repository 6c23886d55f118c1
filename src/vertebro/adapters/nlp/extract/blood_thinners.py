"""The blood thinners the patient takes (anticoagulants, antiplatelets), or none."""

from __future__ import annotations

import re

from vertebro.adapters.nlp.extract.base import _Found, _ReaderBase

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


class _BloodThinners(_ReaderBase):
    """The blood thinners the patient takes, by name or kind; none when both are denied."""

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
