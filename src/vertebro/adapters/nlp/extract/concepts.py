"""Readings the rules in targets.yaml give for each mention, and whether a fracture is healed."""

from __future__ import annotations

from vertebro.adapters.nlp.extract.base import UNSURE_VALUE, ReadingValue, _Found, _ReaderBase
from vertebro.adapters.nlp.rules import UNSURE
from vertebro.core.catalogue import CATALOGUE


class _Concepts(_ReaderBase):
    """Readings from the rules: each concept's values by its assertion; a fracture's age."""

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

    def _infection_nearby(self, f: _Found) -> bool:
        return any(
            o.label in ("OSTEOMYELITIS", "DISCITIS", "METASTASIS", "MYELOMA", "LYTIC")
            and o.status in ("affirmed", "uncertain")
            for o in self._in_sentence(f.mention.sentence)
        )

    def _lesion_nearby(self, f: _Found) -> bool:
        return any(
            other.group in ("fracture", "aetiology") or other.label == "LYTIC"
            for other in self._in_sentence(f.mention.sentence)
        )

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
