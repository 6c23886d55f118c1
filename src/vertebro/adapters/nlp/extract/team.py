"""The multidisciplinary team meeting: who took part and whether it agreed to the procedure."""

from __future__ import annotations

from vertebro.adapters.nlp.extract.base import _ReaderBase


class _Team(_ReaderBase):
    """The team meeting's members and its agreement, from the sentences about a meeting."""

    # ---- team -------------------------------------------------------------------------------

    def _team(self) -> None:
        team_sentences = self._team_sentences()
        for index in range(len(self.annotation.sentences)):
            present = self._in_sentence(index)
            roles = [f for f in present if f.group == "role" and f.status == "affirmed"]
            agreed = [
                f
                for f in present
                if f.label == "MDT_AGREED" and f.status in ("affirmed", "negated")
            ]
            if index not in team_sentences and not (agreed and len(roles) >= 2):
                continue
            for role in roles:
                self._add("mdt.members", frozenset({role.concept.attrs["role"]}), 2, self._of(role))
            procedures = [f for f in present if f.group == "procedure" and f.status is not None]
            if agreed and procedures:
                verdict = all(a.status == "affirmed" for a in agreed) and all(
                    p.status != "negated" for p in procedures
                )
                self._add("mdt.agreed", verdict, 2, self._of(agreed[0]))
            elif any(p.status == "negated" for p in procedures):
                negated = next(p for p in procedures if p.status == "negated")
                self._add("mdt.agreed", False, 2, self._of(negated))

    def _team_sentences(self) -> set[int]:
        """Sentences about a team meeting: those naming a meeting that took place, the rest of
        their paragraph, and those in a meeting section (attendees, outcome)."""
        sentences = self.annotation.sentences
        found: set[int] = set()
        for f in self.found:
            if f.label == "MDT" and f.status == "affirmed":
                index = f.mention.sentence
                found.add(index)
                while (
                    index + 1 < len(sentences)
                    and "\n\n"
                    not in self.text[sentences[index].end : sentences[index + 1].start + 1]
                    and "\n\n" not in self.text[sentences[index].start : sentences[index].end]
                ):
                    index += 1
                    found.add(index)
        for f in self.found:
            if self.rules.sections.effects.get(f.mention.section or "") == "team":
                found.add(f.mention.sentence)
        return found
