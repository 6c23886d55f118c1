"""Rules shared by every procedure classification: one entry per vertebral body, and the
questions an incomplete record raises before any code is chosen."""

from __future__ import annotations

from dataclasses import dataclass

from vertebro.core.coding.model import (
    Guidance,
    OperativeRecord,
    Question,
    Side,
    Technique,
    TreatedLevel,
)
from vertebro.core.facts import Provenance
from vertebro.core.levels import Level

BALLOON_RULE = (
    "Cavity creation decides augmentation: balloon-assisted vertebroplasty is coded as "
    "augmentation (AAPC Neurosurgery Coding Alert, reader question on balloon-aided vertebroplasty)"
)
TECHNIQUE_QUESTION = (
    "Was a cavity created with a balloon or a mechanical device before the cement was injected "
    "(vertebral augmentation), or was the cement injected directly (vertebroplasty)?"
)


@dataclass(frozen=True, slots=True)
class Prepared:
    """The treated levels with duplicates merged, in the order the source gives them."""

    levels: tuple[TreatedLevel, ...]
    count_known: bool
    questions: tuple[Question, ...]
    notes: dict[Level, str]  # how a merged level's technique was settled

    @property
    def named(self) -> tuple[TreatedLevel, ...]:
        """Levels with a name."""
        return tuple(t for t in self.levels if t.level is not None)


def prepare(record: OperativeRecord) -> Prepared:
    """Merge entries for the same body and collect the questions the record leaves open."""
    merged: dict[Level, list[TreatedLevel]] = {}
    order: list[Level | None] = []
    unnamed: list[TreatedLevel] = []
    for item in record.levels:
        if item.level is None:
            unnamed.append(item)
            order.append(None)
        else:
            if item.level not in merged:
                order.append(item.level)
            merged.setdefault(item.level, []).append(item)
    questions = list(record.questions)
    notes: dict[Level, str] = {}
    levels: list[TreatedLevel] = []
    unnamed_iter = iter(unnamed)
    for key in order:
        if key is None:
            levels.append(next(unnamed_iter))
            continue
        level, note, question = _merge(key, merged[key])
        levels.append(level)
        if note:
            notes[key] = note
        if question:
            questions.append(question)
    questions.extend(_open_questions(record, levels))
    count_known = not record.count_unknown
    return Prepared(tuple(levels), count_known, tuple(questions), notes)


def _merge(
    key: Level, items: list[TreatedLevel]
) -> tuple[TreatedLevel, str | None, Question | None]:
    evidence = tuple(dict.fromkeys(p for item in items for p in item.evidence))
    known = [i.technique for i in items if i.technique is not Technique.UNKNOWN]
    kinds = list(dict.fromkeys(known))
    note = question = None
    if not kinds:
        technique = Technique.UNKNOWN
    elif len(kinds) == 1:
        technique = kinds[0]
    elif any(k.is_augmentation for k in kinds) and Technique.SACROPLASTY not in kinds:
        technique = next(k for k in kinds if k.is_augmentation)
        note = f"{key} is recorded as {' and '.join(k.value for k in kinds)}; {BALLOON_RULE}"
    else:
        technique = Technique.UNKNOWN
        question = Question(
            f"{key} is recorded as {' and '.join(k.value for k in kinds)}.",
            f"Which procedure was performed at {key}? " + TECHNIQUE_QUESTION,
            evidence,
        )
    sides = {i.side for i in items}
    side = (
        Side.BILATERAL
        if Side.BILATERAL in sides
        else Side.UNILATERAL
        if Side.UNILATERAL in sides
        else Side.UNSPECIFIED
    )
    implants = [i.implant for i in items if i.implant is not None]
    implant = True if True in implants else (False if implants else None)
    guidance = frozenset(g for i in items for g in i.guidance)
    if len(guidance) > 1:
        guidance = guidance - {Guidance.UNSPECIFIED}
    leaks = [i.cement_leak for i in items if i.cement_leak is not None]
    merged = TreatedLevel(
        level=key,
        technique=technique,
        side=side,
        implant=implant,
        guidance=guidance,
        biopsy=any(i.biopsy for i in items),
        cement_leak=(True in leaks) if leaks else None,
        evidence=evidence,
    )
    return merged, note, question


def _open_questions(record: OperativeRecord, levels: list[TreatedLevel]) -> list[Question]:
    out: list[Question] = []
    named = [t for t in levels if t.level is not None]
    evidence = _evidence(levels)
    if record.count_unknown:
        out.append(
            Question(
                "The number of levels treated is not stated.",
                "How many vertebral levels were treated, and which ones?",
                evidence,
            )
        )
    elif len(named) < len(levels):
        out.append(
            Question(
                f"{len(levels)} level(s) treated but only {len(named)} named.",
                "Which vertebral levels were treated (for example T12 and L1)?",
                evidence,
            )
        )
    stated = record.stated_level_count
    if stated is not None and not record.count_unknown and stated != len(levels):
        names = ", ".join(str(t.level) for t in named) or "none"
        out.append(
            Question(
                f"The source states {stated} level(s) but describes {len(levels)} ({names}).",
                "How many vertebral levels were treated, and which ones?",
                evidence,
            )
        )
    leaks = [t for t in levels if t.cement_leak]
    if leaks:
        where = ", ".join(str(t.level or "an unnamed level") for t in leaks)
        out.append(
            Question(
                f"Cement leakage is documented at {where}; no complication code is assigned.",
                "Did the cement leakage cause a clinical complication (for example nerve "
                "compression, embolism) that should be coded?",
                _evidence(leaks),
            )
        )
    for t in levels:
        if t.technique is Technique.UNKNOWN:
            where = str(t.level) if t.level is not None else "an unnamed level"
            out.append(
                Question(
                    f"The technique at {where} is not clear from the source.",
                    TECHNIQUE_QUESTION,
                    t.evidence,
                )
            )
    return out


def _evidence(levels: list[TreatedLevel]) -> tuple[Provenance, ...]:
    return tuple(dict.fromkeys(p for t in levels for p in t.evidence))


def evidence_of(levels: list[TreatedLevel] | tuple[TreatedLevel, ...]) -> tuple[Provenance, ...]:
    """The evidence of several treated levels, without repeats, in order."""
    return _evidence(list(levels))
