"""The procedures a note requests, with their levels; not those named only as a condition."""

from __future__ import annotations

import re

from vertebro.adapters.nlp.extract.base import MAX_EVIDENCE, _Found, _ReaderBase
from vertebro.core.catalogue import Procedure
from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import Provenance
from vertebro.core.levels import Level

_CONDITIONS = {"if", "unless", "should", "in case", "in the event"}
_IF_AFTER = re.compile(r"^[^.;]{0,40}?\b(?:if|unless|should)\b", re.IGNORECASE)
_TENTATIVE = re.compile(
    r"\b(?:consider|considered|considering|may|might|could|would|possibly)\b", re.IGNORECASE
)


class _Requests(_ReaderBase):
    """The requested procedures (vertebroplasty, kyphoplasty, sacroplasty) and their levels."""

    # ---- requests ---------------------------------------------------------------------------

    def _requests(self) -> tuple[ProcedureRequest, ...]:
        by_procedure: dict[Procedure, tuple[set[Level], list[Provenance]]] = {}
        for f in self.found:
            if f.group != "procedure" or f.status not in ("affirmed", "uncertain"):
                continue
            if self._conditional(f):
                continue
            procedure = Procedure(f.concept.attrs["procedure"])
            levels, evidence = by_procedure.setdefault(procedure, (set(), []))
            levels.update(f.levels or ())
            evidence.append(self._of(f))
        requests = []
        for procedure, (levels, evidence) in by_procedure.items():
            if procedure is Procedure.SACROPLASTY and not levels:
                levels = {Level("S", 0)}
            requests.append(
                ProcedureRequest(
                    procedure, tuple(sorted(levels)) or None, tuple(evidence[:MAX_EVIDENCE])
                )
            )
        return tuple(requests)

    def _conditional(self, f: _Found) -> bool:
        """A procedure named only as a condition is not requested: "if vertebroplasty is being
        considered", "we would consider kyphoplasty if the pain persists"."""
        if any(
            c.category == "HYPOTHETICAL" and c.text.lower() in _CONDITIONS for c in f.mention.cues
        ):
            return True
        sentence = self.annotation.sentences[f.mention.sentence]
        after = self.text[f.mention.end : sentence.end]
        before = self.text[sentence.start : f.mention.start]
        if re.search(r"\b(?:if|unless)\b", before, re.IGNORECASE) and _TENTATIVE.search(before):
            return True
        return bool(_IF_AFTER.match(after) and _TENTATIVE.search(before))
