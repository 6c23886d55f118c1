"""Read an operative note (plain text) into the record the coding rules need.

What it reads, with the sentence behind each finding:
- whether a vertebroplasty, kyphoplasty / vertebral augmentation or sacroplasty was *performed*
  in this note (a procedure heading or the operative narrative), not merely mentioned in the
  history, planned, or negated;
- the levels treated (the procedure heading first; the narrative when the heading names none),
  a count in words ("two-level"), and the technique at each level, with balloon / mechanical
  cavity creation deciding augmentation;
- side, intravertebral implant, image guidance, bone biopsy and cement leakage, per level where
  the narrative says which level it is describing;
- the diagnosis from the post-/pre-operative diagnosis or indication sections.

Negation, history and intent are found with cue words in the same sentence (a small ConText-style
rule set): medspaCy's pipeline was not used because its default rules missed "biopsy was not
performed" and it logs to stderr on every call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from vertebro.core.coding.model import (
    Diagnosis,
    Guidance,
    OperativeRecord,
    Question,
    Side,
    Technique,
    TreatedLevel,
)
from vertebro.core.coding.phrases import diagnoses_from, levels_in_text
from vertebro.core.coding.sentences import (
    DIAGNOSIS,
    NARRATIVE,
    TITLE,
    Sentence,
    discounted,
    find,
    negated,
    split_sentences,
)
from vertebro.core.levels import Level

_LEVEL = r"[CTLS]\s?\d{1,2}"
_COUNT_RE = re.compile(
    r"\b(one|two|three|four|five|six|single|1|2|3|4|5|6)[- ]?(?:vertebral[- ])?"
    r"(?:levels?|bod(?:y|ies))\b"
    r"|\b(multi(?:ple)?[- ]?levels?)\b",
    re.I,
)
_NUMBERS = {"one": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_TECHNIQUES = (
    (re.compile(r"balloon[- ](?:assisted|aided)\s+vertebroplast\w*", re.I), "balloon"),
    (re.compile(r"\bkyphoplast\w*", re.I), "kyphoplasty"),
    (re.compile(r"\bsacroplast\w*|\bsacral\s+augmentation", re.I), "sacroplasty"),
    (re.compile(r"\bvertebral\s+body\s+stent\w*|\bstentoplast\w*", re.I), "augmentation"),
    (
        re.compile(
            r"\bvertebral\s+(?:body\s+)?augmentation|\baugmentation\s+of\s+the\s+\w+\s+vertebral",
            re.I,
        ),
        "augmentation",
    ),
    (re.compile(r"\bvertebroplast\w*", re.I), "vertebroplasty"),
)
_ACTION_RE = re.compile(
    r"(?:cement|pmma|polymethylmethacrylate|methylmethacrylate)\b[^.]{0,80}\b(?:inject|instill|deliver|deposit|fill)\w*"
    r"|\b(?:inject|instill|deliver)\w*[^.]{0,60}\b(?:cement|pmma|polymethylmethacrylate)",
    re.I,
)
_DONE_RE = re.compile(
    r"\b(?:performed|underwent|undergone|carried\s+out|proceeded|completed|undertaken"
    r"|(?:was|were)\s+(?:done|treated|augmented))\b",
    re.I,
)
_CEMENT_RE = re.compile(r"\bcement\b|\bpmma\b|methylmethacrylate", re.I)
_BALLOON_RE = re.compile(
    r"\bballoons?\b|inflatable\s+(?:bone\s+)?tamps?|\bbone\s+tamps?\b|\btamps?\s+(?:was|were)\s+inflated",
    re.I,
)
_MECHANICAL_RE = re.compile(
    r"cavity\s+(?:creation|was\s+created|created)|creat\w*\s+(?:a|the)\s+cavity|\bcurette\w*|\bosteotome\b"
    r"|mechanical\s+(?:cavity|device)|\bkiva\b|spinejack|radiofrequency\s+kyphoplasty",
    re.I,
)
_IMPLANT_RE = re.compile(
    r"\bstent(?:s|ing)?\b|spinejack|\bkiva\b|intravertebral\s+implant|expandable\s+(?:\w+\s+)?implant"
    r"|osseofix|\bstaxx\b|\bimplants?\s+(?:was|were)\s+(?:deployed|placed|expanded|left)",
    re.I,
)
_BILATERAL_RE = re.compile(
    r"\bbilateral(?:ly)?\b|\bbipedicular\b|both\s+pedicles|both\s+sides", re.I
)
_UNILATERAL_RE = re.compile(
    r"\bunilateral(?:ly)?\b|\bunipedicular\b|single\s+pedicle|one\s+pedicle", re.I
)
_SIDE_WORD_RE = re.compile(
    r"\b(left|right)\b[^.]{0,40}\b(pedicle|side)\b|\b(pedicle|side)\b[^.]{0,10}\b(left|right)\b",
    re.I,
)
_GUIDANCE = (
    (
        re.compile(r"fluorosco\w*|\bc-?\s?arm\b|image\s+intensifier|biplan\w+|\bfluoro\b", re.I),
        Guidance.FLUOROSCOPY,
    ),
    (
        re.compile(
            r"\b(?:CT|computed\s+tomograph\w*)[- ](?:guid\w*|fluoroscop\w*|control\w*|navigat\w*)"
            r"|under\s+(?:CT|computed\s+tomograph\w*)|cone[- ]beam\s+CT|\bO-arm\b",
            re.I,
        ),
        Guidance.CT,
    ),
    (
        re.compile(
            r"ultraso\w+[- ]guid\w*|under\s+ultraso\w+|ultraso\w+\s+guidance|ultrasonic", re.I
        ),
        Guidance.ULTRASOUND,
    ),
)
_BIOPSY_RE = re.compile(r"\bbiops(?:y|ies|ied)\b", re.I)
_LEAK_RE = re.compile(
    r"(?:cement|pmma|polymethylmethacrylate)\b[^.]{0,80}?\b(?:leak\w*|extravasat\w*|escap\w*|exit\w*)"
    r"|\b(?:leak\w*|extravasat\w*)\b[^.]{0,30}\b(?:cement|pmma)|\bcement\s+leak\w*|\bextravasat\w*",
    re.I,
)
_ABORT_RE = re.compile(r"\b(?:abort\w*|discontinu\w*|terminat\w*|cancel\w*)\b", re.I)


@dataclass
class _Mention:
    start: int
    end: int
    kind: str
    sentence: Sentence


@dataclass
class _Level:
    level: Level
    start: int
    sentence: Sentence


@dataclass
class _Found:
    technique: str
    sentences: list[Sentence] = field(default_factory=list)


def read_operative_note(text: str, source: str) -> OperativeRecord:
    """Read an operative note. A note that does not describe an augmentation performed in it
    gives a record with `augmentation` False and the reason."""
    sentences = split_sentences(text)
    mentions = [m for m in _technique_mentions(sentences) if m.sentence.kind in (TITLE, NARRATIVE)]
    live = [m for m in mentions if not discounted(m.sentence.text, m.start - m.sentence.start)]
    performed = [
        m
        for m in live
        if m.sentence.kind == TITLE
        or _DONE_RE.search(m.sentence.text)
        or _ACTION_RE.search(m.sentence.text)
    ]
    actions = [
        s
        for s in sentences
        if s.kind == NARRATIVE
        and _ACTION_RE.search(s.text)
        and _levels_in(s)
        and not discounted(s.text, len(s.text))
    ]
    if not performed and not (actions and not any(s.kind == TITLE for s in sentences)):
        return OperativeRecord(source, False, reason=_why_not(sentences, mentions))
    questions: list[Question] = []
    levels = _treated_levels(sentences, live, actions, source, questions)
    diagnoses, dx_questions = _diagnoses(sentences, source)
    questions.extend(dx_questions)
    count = _stated_count(sentences)
    count_unknown = False
    if not levels:
        kinds = list(dict.fromkeys(_technique_of(m.kind) for m in live)) or [
            Technique.VERTEBROPLASTY
        ]
        n = count or 0
        if kinds == [Technique.SACROPLASTY]:
            levels = [
                TreatedLevel(
                    Level("S", 0),
                    Technique.SACROPLASTY,
                    evidence=tuple(m.sentence.quote(source) for m in live[:2]),
                )
            ]
        elif n:
            levels = [
                TreatedLevel(
                    None, kinds[0], evidence=tuple(m.sentence.quote(source) for m in live[:2])
                )
                for _ in range(n)
            ]
        else:
            count_unknown = True
            levels = [
                TreatedLevel(None, k, evidence=tuple(m.sentence.quote(source) for m in live[:2]))
                for k in kinds
            ]
    levels = _attributes(levels, sentences, source, questions)
    for s in sentences:
        if s.kind in (TITLE, NARRATIVE) and _ABORT_RE.search(s.text) and not negated(s.text, 0):
            questions.append(
                Question(
                    "The note may describe a discontinued or aborted procedure.",
                    "Was the procedure completed at every level? A discontinued procedure is "
                    "reported differently (reduced or discontinued service).",
                    (s.quote(source),),
                )
            )
            break
    return OperativeRecord(
        source=source,
        augmentation=True,
        levels=tuple(levels),
        diagnoses=tuple(diagnoses),
        stated_level_count=count if levels and not count_unknown else None,
        count_unknown=count_unknown,
        questions=tuple(questions),
    )


_DX_TIERS = (
    ("postoperative", "post procedure"),
    ("preoperative", "pre procedure"),
    ("diagnos",),
    ("indication", "reason"),
)


def _diagnoses(sentences: list[Sentence], source: str) -> tuple[list[Diagnosis], list[Question]]:
    """Diagnoses from the best diagnosis section: post-operative, pre-operative, any diagnosis,
    indications, then the procedure heading."""
    tiers: list[list[Sentence]] = [
        [s for s in sentences if s.kind == DIAGNOSIS and any(w in s.heading for w in words)]
        for words in _DX_TIERS
    ]
    tiers.append([s for s in sentences if s.kind == TITLE])
    if all(not s.heading for s in sentences):
        tiers.append(sentences)
    questions: list[Question] = []
    for tier in tiers:
        if not tier:
            continue
        found, asked = diagnoses_from([(s.text, s.quote(source)) for s in tier])
        questions.extend(asked)
        if found:
            return found, questions
    return [], questions


# --- cues -------------------------------------------------------------------------------------


def _technique_mentions(sentences: list[Sentence]) -> list[_Mention]:
    out = []
    for s in sentences:
        taken: list[tuple[int, int]] = []
        for pattern, kind in _TECHNIQUES:
            for m in pattern.finditer(s.text):
                if any(a <= m.start() < b for a, b in taken):
                    continue
                taken.append((m.start(), m.end()))
                out.append(_Mention(s.start + m.start(), s.start + m.end(), kind, s))
    return sorted(out, key=lambda m: m.start)


def _why_not(sentences: list[Sentence], performed: list[_Mention]) -> str:
    if performed:
        return (
            "the procedure is mentioned but not described as performed in this note (it is "
            "negated, planned, offered, declined, contraindicated or past, or named without an "
            "operative description) "
            f"({_short(performed[0].sentence.text)!r})"
        )
    elsewhere = _technique_mentions([s for s in sentences if s.kind not in (TITLE, NARRATIVE)])
    if elsewhere:
        return (
            "the procedure is mentioned only in the history or assessment "
            f"({_short(elsewhere[0].sentence.text)!r}), not as performed in this note"
        )
    return (
        "the note does not describe a vertebroplasty, kyphoplasty, vertebral augmentation or "
        "sacroplasty"
    )


def _short(text: str) -> str:
    words = " ".join(text.split())
    return words if len(words) <= 90 else words[:87] + "..."


def _technique_of(kind: str) -> Technique:
    return {
        "balloon": Technique.BALLOON_AUGMENTATION,
        "kyphoplasty": Technique.BALLOON_AUGMENTATION,
        "sacroplasty": Technique.SACROPLASTY,
        "augmentation": Technique.UNKNOWN,
        "vertebroplasty": Technique.VERTEBROPLASTY,
    }[kind]


# --- levels -----------------------------------------------------------------------------------


def _levels_in(s: Sentence) -> list[_Level]:
    return [_Level(lv, s.start + at, s) for at, lv in levels_in_text(s.text)]


_LEVEL_TOKEN_RE = re.compile(rf"(?<![A-Za-z0-9]){_LEVEL}(?!\d)|\bsacr(?:um|al)\b", re.I)
_GAP_RE = re.compile(
    rf"^(?:[\s,&]|and|levels?|vertebra[el]?|vertebral|bod(?:y|ies)|{_LEVEL}|-|to|percutaneous|balloon|"
    r"transpedicular|unilateral|bilateral|bipedicular|unipedicular|kyphon|left|right|sided)*$",
    re.I,
)


def _treated_levels(
    sentences: list[Sentence],
    live: list[_Mention],
    actions: list[Sentence],
    source: str,
    questions: list[Question],
) -> list[TreatedLevel]:
    """Levels from the procedure heading, else from the narrative's action sentences."""
    chosen: dict[Level, _Found] = {}
    title = [s for s in sentences if s.kind == TITLE]
    for s in title:
        mentions = [m for m in live if m.sentence is s]
        if not mentions and not _CEMENT_RE.search(s.text):
            continue
        for hit in _levels_in(s):
            kind = _assign(hit, mentions, s) or (
                live[0].kind if len({m.kind for m in live}) == 1 else None
            )
            chosen.setdefault(hit.level, _Found(kind or "augmentation")).sentences.append(s)
    narrative_hits: dict[Level, _Found] = {}
    for s in sentences:
        if s.kind != NARRATIVE:
            continue
        mentions = [m for m in live if m.sentence is s]
        if not mentions and s not in actions:
            continue
        for hit in _levels_in(s):
            kind = _assign(hit, mentions, s) or (live[0].kind if live else "vertebroplasty")
            narrative_hits.setdefault(hit.level, _Found(kind)).sentences.append(s)
    if not chosen:
        chosen = narrative_hits
    else:
        extra = [lv for lv in narrative_hits if lv not in chosen]
        if extra:
            names = ", ".join(str(lv) for lv in extra)
            questions.append(
                Question(
                    f"The narrative describes treatment at {names}, which the procedure heading "
                    "does not list.",
                    f"Was {names} treated as well as {', '.join(str(lv) for lv in chosen)}?",
                    tuple(narrative_hits[lv].sentences[0].quote(source) for lv in extra),
                )
            )
    out = []
    for lv, found in chosen.items():
        technique = _technique_of(found.technique)
        out.append(
            TreatedLevel(
                lv,
                technique,
                evidence=tuple(dict.fromkeys(s.quote(source) for s in found.sentences)),
            )
        )
    return out


def _assign(lv: _Level, mentions: list[_Mention], s: Sentence) -> str | None:
    """The technique a level belongs to: the mention it directly precedes, else the nearest
    mention before it, else the nearest after it."""
    if not mentions:
        return None
    for m in mentions:
        if m.start > lv.start:
            gap = s.text[lv.start - s.start : m.start - s.start]
            gap = _LEVEL_TOKEN_RE.sub(" ", gap)
            if _GAP_RE.match(gap):
                return m.kind
    before = [m for m in mentions if m.start < lv.start]
    if before:
        return before[-1].kind
    return mentions[0].kind


def _stated_count(sentences: list[Sentence]) -> int | None:
    for s in sentences:
        if s.kind != TITLE:
            continue
        m = _COUNT_RE.search(s.text)
        if m and m.group(1):
            word = m.group(1).lower()
            return int(word) if word.isdigit() else _NUMBERS[word]
    return None


# --- attributes per level ---------------------------------------------------------------------


def _attributes(
    levels: list[TreatedLevel], sentences: list[Sentence], source: str, questions: list[Question]
) -> list[TreatedLevel]:
    """Side, implant, guidance, biopsy and leaks, from the sentences about each level."""
    named: set[Level | None] = {t.level for t in levels if t.level is not None}
    context: dict[Level | None, list[Sentence]] = {key: [] for key in [*named, None]}
    current: set[Level | None] = set()
    for s in sentences:
        if s.kind not in (TITLE, NARRATIVE):
            continue
        mentioned: set[Level | None] = {x.level for x in _levels_in(s)}
        here = mentioned & named
        if mentioned and not here:
            continue  # about a level that was not treated
        if here:
            current = here if s.kind == NARRATIVE else current
        for key in here or current or {None}:
            context[key].append(s)
    procedural = [s for s in sentences if s.kind in (TITLE, NARRATIVE)]
    guidance = _guidance(procedural)
    out = []
    for t in levels:
        own = context.get(t.level, []) if t.level is not None else []
        scope = own + context[None] if own else procedural
        single = [x for x in scope if len({h.level for h in _levels_in(x)} & named) <= 1]
        technique = _refine(t.technique, single, t, source, questions)
        ev = list(t.evidence)
        leak = find(_LEAK_RE, scope)
        biopsy = find(_BIOPSY_RE, own) if own else None
        if biopsy is None and len(levels) == 1:
            biopsy = find(_BIOPSY_RE, [x for x in procedural if not _elsewhere(x, named)])
        for hit in (leak, biopsy):
            if hit and hit[1]:
                ev.append(hit[1].quote(source))
        out.append(
            replace(
                t,
                technique=technique,
                side=_side(own or procedural, procedural, technique),
                implant=_implant(scope),
                guidance=guidance,
                biopsy=bool(biopsy and biopsy[0]),
                cement_leak=None if leak is None else leak[0],
                evidence=tuple(dict.fromkeys(ev)),
            )
        )
    _biopsy_question(out, procedural, source, questions)
    return out


def _refine(
    technique: Technique,
    scope: list[Sentence],
    t: TreatedLevel,
    source: str,
    questions: list[Question],
) -> Technique:
    balloon = find(_BALLOON_RE, scope)
    mechanical = find(_MECHANICAL_RE, scope)
    has_balloon = bool(balloon and balloon[0])
    has_mech = bool(mechanical and mechanical[0])
    if technique is Technique.SACROPLASTY:
        return technique
    if technique is Technique.VERTEBROPLASTY:
        return (
            Technique.BALLOON_AUGMENTATION
            if has_balloon
            else Technique.MECHANICAL_AUGMENTATION
            if has_mech
            else technique
        )
    if technique is Technique.BALLOON_AUGMENTATION:
        if has_mech and not has_balloon:
            return Technique.MECHANICAL_AUGMENTATION
        if not has_balloon:
            questions.append(
                Question(
                    f"Kyphoplasty is named at {t.level or 'the treated level'} but no balloon or "
                    "mechanical cavity creation is described.",
                    "Was a cavity created with a balloon or mechanical device? Augmentation codes "
                    "need documented cavity creation.",
                    t.evidence or tuple(s.quote(source) for s in scope[:1]),
                )
            )
        return technique
    if has_balloon:
        return Technique.BALLOON_AUGMENTATION
    if has_mech or find(_IMPLANT_RE, scope):
        return Technique.MECHANICAL_AUGMENTATION
    return Technique.UNKNOWN


def _side(own: list[Sentence], procedural: list[Sentence], technique: Technique) -> Side:
    for scope in (own, procedural):
        bilateral = find(_BILATERAL_RE, scope)
        unilateral = find(_UNILATERAL_RE, scope)
        if bilateral and bilateral[0] and not (unilateral and unilateral[0]):
            return Side.BILATERAL
        if unilateral and unilateral[0] and not (bilateral and bilateral[0]):
            return Side.UNILATERAL
        sides = {m.group(1) or m.group(4) for s in scope for m in _SIDE_WORD_RE.finditer(s.text)}
        sides = {x.lower() for x in sides if x}
        if sides == {"left", "right"}:
            return Side.BILATERAL
        if len(sides) == 1 and technique is not Technique.SACROPLASTY and scope is own:
            return Side.UNILATERAL
    return Side.UNSPECIFIED


def _implant(scope: list[Sentence]) -> bool | None:
    hit = find(_IMPLANT_RE, scope)
    return None if hit is None else hit[0]


def _guidance(procedural: list[Sentence]) -> frozenset[Guidance]:
    found = set()
    for pattern, kind in _GUIDANCE:
        hit = find(pattern, procedural)
        if hit and hit[0]:
            found.add(kind)
    return frozenset(found or {Guidance.UNSPECIFIED})


def _elsewhere(s: Sentence, named: set[Level | None]) -> bool:
    """True when the sentence names a level that was not treated."""
    return bool({x.level for x in _levels_in(s)} - named)


def _biopsy_question(
    levels: list[TreatedLevel], procedural: list[Sentence], source: str, questions: list[Question]
) -> None:
    named: set[Level | None] = {t.level for t in levels if t.level is not None}
    for s in procedural:
        hit = find(_BIOPSY_RE, [s])
        if not hit or not hit[0]:
            continue
        if _elsewhere(s, named):
            others = sorted({x.level for x in _levels_in(s) if x.level not in named})
            other = ", ".join(str(lv) for lv in others)
            questions.append(
                Question(
                    f"A bone biopsy at {other}, which was not treated, is documented.",
                    f"Was the biopsy of {other} a separate site? Biopsy of a treated body is "
                    "included in the augmentation code; a biopsy elsewhere may be reported "
                    "separately.",
                    (s.quote(source),),
                )
            )
            return
    if any(t.biopsy for t in levels):
        return
    hit = find(_BIOPSY_RE, [s for s in procedural if not _elsewhere(s, named)])
    if not hit or not hit[0] or hit[1] is None:
        return
    for i, t in enumerate(levels):
        levels[i] = replace(t, biopsy=True, evidence=(*t.evidence, hit[1].quote(source)))
    if len(levels) > 1:
        questions.append(
            Question(
                "A bone biopsy is documented without its level.",
                "Which vertebral body was biopsied? Biopsy of a treated body is included in "
                "the code; a biopsy elsewhere may be reported separately.",
                (hit[1].quote(source),),
            )
        )
