"""Sentences and cue words of clinical text: sections by heading, sentences with offsets, and the
ConText-style cues (negation, history, intent) that say a mention is not a finding. Pure text
rules used by the operative-note reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vertebro.core.coding.phrases import NEGATION
from vertebro.core.facts import Provenance

TITLE, DIAGNOSIS, NARRATIVE, HISTORY, OTHER = "title", "diagnosis", "narrative", "history", "other"
HEADINGS = {
    TITLE: (
        "procedure", "procedures", "procedure performed", "procedures performed", "operation",
        "operations", "operation performed", "operations performed", "name of procedure",
        "title of procedure", "title of operation", "surgery performed", "procedure name",
        "procedure(s)", "procedure(s) performed", "name of operation", "surgical procedure",
    ),
    DIAGNOSIS: (
        "postoperative diagnosis", "postoperative diagnoses", "post procedure diagnosis",
        "preoperative diagnosis", "preoperative diagnoses", "pre procedure diagnosis",
        "diagnosis", "diagnoses", "indication", "indications", "indication for procedure",
        "indications for procedure", "reason for procedure", "clinical indication",
    ),
    NARRATIVE: (
        "description of procedure", "procedure details", "procedure in detail",
        "details of procedure",
        "technique", "summary", "operative procedure", "findings", "operative findings",
        "description of operation", "procedure description", "operative technique", "narrative",
        "details", "description", "procedure note", "operative note", "intraoperative findings",
    ),
    HISTORY: (
        "history", "hpi", "history of present illness", "past medical history",
        "past surgical history",
        "surgical history", "reason for consult", "reason for consultation", "chief complaint",
        "social history", "family history", "medications", "allergies", "review of systems",
        "physical examination", "exam", "impression", "assessment", "plan", "assessment and plan",
        "recommendation", "recommendations", "course", "hospital course", "subjective", "objective",
    ),
}  # fmt: skip
KIND_OF = {name: kind for kind, names in HEADINGS.items() for name in names}
HEADING_RE = re.compile(r"^[ \t]*([A-Za-z][A-Za-z /&()'-]{1,60}?)[ \t]*:", re.M)
LONG_TITLE = 400  # a "PROCEDURE:" section longer than this is the operative narrative

INNER_NEG_RE = re.compile(r"\b(?:no|not|without|never)\b", re.I)
_AFTER_NEG_RE = re.compile(
    r"^[^.;]{0,40}?\b(?:was|were|is|are)\s+(?:not|never)\b|^\W*(?::|-)?\s*(?:none|no|negative)\b",
    re.I,
)
_HISTORY_RE = re.compile(
    r"\b(?:history\s+of|h/o|status\s+post|s/p|previous(?:ly)?|prior|years?\s+ago|months?\s+ago|in\s+(?:19|20)\d\d)\b",
    re.I,
)
_INTENT_RE = re.compile(
    r"\b(?:plan(?:ned|s)?|will\s+(?:undergo|have|be)|to\s+be\s+scheduled|schedul\w+|consider\w*|candidate\s+for"
    r"|recommend\w*|refer\w*\s+for|discuss\w*|may\s+(?:benefit|require|need)|would\s+(?:benefit|consider)"
    r"|options?\b|decided\s+to|risks?\s+(?:and|,)|consent\w*|offer\w*|declin\w*|refus\w*"
    r"|referr\w*|consideration|contraindicat\w*|would\s+be\s+helpful|assess\w*|request\w*"
    r"|suitab\w*|eligib\w*)\b",
    re.I,
)


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence (or numbered item) of one section, with its offsets in the note."""

    start: int
    end: int
    text: str
    kind: str
    heading: str = ""

    def quote(self, source: str) -> Provenance:
        """The sentence as evidence."""
        words = " ".join(self.text.split())
        return Provenance("note", source, words[:300], (self.start, self.end))


def split_sentences(text: str) -> list[Sentence]:
    """Sentences, each with the kind of section it is in (title, diagnosis, narrative, ...)."""
    heads = []
    for m in HEADING_RE.finditer(text):
        name = " ".join(m.group(1).lower().replace("-", " ").split())
        name = name.replace("pre op ", "preoperative ").replace("post op ", "postoperative ")
        name = name.replace("pre operative", "preoperative").replace(
            "post operative", "postoperative"
        )
        kind = KIND_OF.get(name)
        if kind is None and m.group(1).isupper() and len(m.group(1)) > 2:
            kind = OTHER
        if kind is not None:
            heads.append((m.start(), m.end(), kind, name))
    if not heads:
        return _sentences(text, 0, len(text), NARRATIVE, "")
    out = _sentences(text, 0, heads[0][0], OTHER, "") if text[: heads[0][0]].strip() else []
    for i, (_start, body, kind, name) in enumerate(heads):
        end = heads[i + 1][0] if i + 1 < len(heads) else len(text)
        if kind == TITLE and len(text[body:end].strip()) > LONG_TITLE:
            kind = NARRATIVE
        out.extend(_sentences(text, body, end, kind, name))
    return out


_SPLIT_RE = re.compile(r"(?<=[.;!?])\s+(?=[A-Z0-9(])|\n\s*\n|\n(?=\s*\d+[.)]\s)")


def _sentences(text: str, start: int, end: int, kind: str, heading: str) -> list[Sentence]:
    out = []
    pos = start
    chunk = text[start:end]
    for m in [*_SPLIT_RE.finditer(chunk), None]:
        stop = start + (m.start() if m else len(chunk))
        piece = text[pos:stop]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            out.append(Sentence(pos + lead, stop, piece.strip(), kind, heading))
        pos = start + m.end() if m else stop
    return out


def negated(text: str, at: int, end: int | None = None) -> bool:
    """A negation cue in the same clause before `at`, or a "was not" just after the mention."""
    before = re.split(r"\bbut\b|;|,\s*(?:and|then)\b", text[:at])[-1]
    if NEGATION.search(before[-70:]):
        return True
    after = text[end if end is not None else at :]
    return bool(_AFTER_NEG_RE.search(after[:50]))


def discounted(text: str, at: int) -> bool:
    """True when the mention at `at` is negated, historical or only intended."""
    before = re.split(r"\bbut\b|[;,.]", text[:at])[-1]
    after = re.split(r"\bbut\b|[;,.]", text[at:])[0]
    return (
        negated(text, at)
        or bool(_HISTORY_RE.search(before) or _PAST_AFTER_RE.search(after))
        or bool(_INTENT_RE.search(before))
    )


_PAST_AFTER_RE = re.compile(r"\b(?:in\s+(?:19|20)\d\d|years?\s+ago|months?\s+ago)\b", re.I)


def find(pattern: re.Pattern[str], scope: list[Sentence]) -> tuple[bool, Sentence | None] | None:
    """(True, sentence) for a mention that is not negated, (False, sentence) when every mention
    is negated, None when nothing is mentioned."""
    refuted: Sentence | None = None
    for s in scope:
        for m in pattern.finditer(s.text):
            if negated(s.text, m.start(), m.end()) or INNER_NEG_RE.search(m.group(0)):
                refuted = refuted or s
            else:
                return True, s
    return (False, refuted) if refuted else None
