"""UK procedure coding: OPCS-4 from an operative record, as NICE IPG12's coding recommendations
set it out (NICE with the NHS England Classifications Service):

1. the procedure: V44.4 (vertebroplasty) or V44.6 (augmentation using an intravertebral implant);
2. V55.- Levels of spine in second place each time a spinal operation is coded (V55.9 when the
   levels are not specified);
3. Y53.- / Y68.- image control, one per method used (.9 when the method is not stated);
4. the Chapter Z site code.

Each procedure code is followed by its own V55, Y53 and site codes (NICE IPG387 worked example).
Codes the reference could not confirm come from the crosswalk with confidence "unconfirmed", or
as placeholders, until an official OPCS-4 release is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from vertebro.core.coding.model import Guidance, OperativeRecord, Question, Technique, TreatedLevel
from vertebro.core.coding.procedures import evidence_of, prepare
from vertebro.core.coding.result import CodeLine, CodingResult, line_from, problems_of, sequenced
from vertebro.core.coding.tables import (
    CodeSystem,
    CodeTable,
    Confidence,
    Crosswalk,
    Resolved,
    resolve,
)
from vertebro.core.levels import Region

OPCS = CodeSystem.OPCS4
_IMAGE_KEYS = {
    Guidance.FLUOROSCOPY: "image.fluoroscopy",
    Guidance.ULTRASOUND: "image.ultrasound",
    Guidance.CT: "image.ct",
    Guidance.UNSPECIFIED: "image.unspecified",
}
_IMAGE_ORDER = (Guidance.FLUOROSCOPY, Guidance.CT, Guidance.ULTRASOUND, Guidance.UNSPECIFIED)
_SITE_KEYS = {
    Region.CERVICAL: "site.cervical",
    Region.THORACIC: "site.thoracic",
    Region.LUMBAR: "site.lumbar",
    Region.SACRAL: "site.sacrum",
}
_WORDS = {1: "1", 2: "2", 3: "3"}
_RULE_NOTE = {
    "procedure.vertebroplasty": "Vertebroplasty is coded first with V44.4 (NICE IPG12).",
    "procedure.implant-augmentation": (
        "Augmentation with an intravertebral implant is coded first with V44.6 (NICE IPG12)."
    ),
    "procedure.sacroplasty": "Sacroplasty: no OPCS-4 code is confirmed.",
}


def code_opcs4(record: OperativeRecord, table: CodeTable, crosswalk: Crosswalk) -> CodingResult:
    """OPCS-4 lines in NICE order, one block per procedure code, and the questions left open."""
    if not record.augmentation:
        return CodingResult()
    prepared = prepare(record)
    groups: dict[str, list[TreatedLevel]] = {}
    for t in prepared.levels:
        groups.setdefault(_procedure_key(t), []).append(t)
    lines: list[CodeLine] = []
    resolved: list[Resolved] = []
    questions: list[Question] = []

    def use(key: str) -> Resolved:
        """Resolve a concept and remember it, so its open questions are asked."""
        r = resolve(key, table, crosswalk)
        resolved.append(r)
        return r

    for key, members in groups.items():
        lines.extend(_block(key, members, prepared.count_known, use, questions))
    if any(t.biopsy for t in prepared.levels):
        questions.append(
            Question(
                "A bone biopsy is documented; whether OPCS-4 needs an additional code for it in "
                "this operation is not confirmed in the reference.",
                "Does the National Clinical Coding Standards OPCS-4 require a separate biopsy "
                "code with vertebroplasty?",
                evidence_of([t for t in prepared.levels if t.biopsy]),
            )
        )
    questions.extend(problems_of(resolved, evidence_of(prepared.levels)))
    return CodingResult(sequenced(lines), (*prepared.questions, *questions))


def _procedure_key(t: TreatedLevel) -> str:
    if t.technique is Technique.SACROPLASTY or t.region is Region.SACRAL:
        return "procedure.sacroplasty"
    if t.implant:
        return "procedure.implant-augmentation"
    return "procedure.vertebroplasty"


def _block(
    key: str,
    members: list[TreatedLevel],
    count_known: bool,
    use: Callable[[str], Resolved],
    questions: list[Question],
) -> list[CodeLine]:
    evidence = evidence_of(members)
    named = tuple(t.level for t in members if t.level is not None)
    proc = use(key)
    notes: list[str] = [_RULE_NOTE[key]]
    if key == "procedure.vertebroplasty":
        augmented = [
            t for t in members if t.technique.is_augmentation or t.technique is Technique.UNKNOWN
        ]
        if augmented:
            notes[0] = (
                "No intravertebral implant is documented, so the augmentation is coded as "
                "vertebroplasty (NICE IPG12: V44.4, or V44.6 with an intravertebral implant)."
            )
            if any(
                t.technique is Technique.MECHANICAL_AUGMENTATION and t.implant is None
                for t in members
            ):
                questions.append(
                    Question(
                        "Mechanical augmentation is documented without saying whether an "
                        "implant was left in place.",
                        "Was a permanent intravertebral implant (stent, expandable implant) left "
                        "in the vertebral body? If so, V44.6 applies.",
                        evidence,
                    )
                )
    lines = [
        line_from(proc, OPCS, "procedure", levels=named, evidence=evidence, notes=tuple(notes))
    ]
    count = len(members)
    if not count_known or (count == 1 and not named):
        levels_key = "levels.unspecified" if not count_known else "levels.1"
    else:
        levels_key = f"levels.{_WORDS[count]}" if count in _WORDS else "levels.more"
    levels_line = line_from(
        use(levels_key),
        OPCS,
        "procedure",
        levels=named,
        evidence=evidence,
        notes=(
            f"{count if count_known else 'Unknown number of'} level(s) of spine"
            + (f": {', '.join(str(n) for n in named)}" if named else "")
            + "; V55 goes in second place after the spinal procedure code.",
        ),
    )
    if key == "procedure.sacroplasty":
        levels_line = replace(
            levels_line,
            confidence=Confidence.UNCONFIRMED,
            notes=(
                *levels_line.notes,
                "Applies only if sacroplasty is coded as a spinal operation; its OPCS-4 code is "
                "not confirmed.",
            ),
        )
    lines.append(levels_line)
    methods = {g for t in members for g in t.guidance}
    if len(methods) > 1:
        methods.discard(Guidance.UNSPECIFIED)
    for method in _IMAGE_ORDER:
        if method in methods:
            note = (
                "Image control not stated: the .9 code is assigned (NICE IPG12)."
                if method is Guidance.UNSPECIFIED
                else f"Image control: {method.value}."
            )
            lines.append(
                line_from(
                    use(_IMAGE_KEYS[method]), OPCS, "procedure", evidence=evidence, notes=(note,)
                )
            )
    if Guidance.UNSPECIFIED in methods:
        questions.append(
            Question(
                "The method of image control is not stated.",
                "Which image guidance was used: fluoroscopy, CT or ultrasound?",
                evidence,
            )
        )
    regions: list[Region | None] = list(
        dict.fromkeys(t.region for t in members if t.region is not None)
    )
    for region in regions or [None]:
        site_key = _SITE_KEYS[region] if region is not None else "site.spine"
        lines.append(
            line_from(
                use(site_key),
                OPCS,
                "procedure",
                levels=tuple(n for n in named if n.region is region),
                evidence=evidence,
                notes=("Site code from Chapter Z follows the approach code.",),
            )
        )
    return lines
