"""US procedure coding: CPT 22510-22515, 22899 and 0200T/0201T from an operative record.

Rules (sources in the CPT crosswalk, coding_data/cpt.yaml):
- one primary code per family per operative encounter, chosen by the region of the first body
  treated; every further body is one unit of the family's add-on code, whatever its region;
- vertebroplasty (22510-22512) and augmentation (22513-22515) at different bodies are both
  reported, each family with its own primary;
- augmentation of a cervical body has no code of its own: unlisted 22899;
- sacroplasty is 0200T (unilateral) or 0201T (bilateral), once per encounter;
- imaging guidance and bone biopsy of the treated body are included, never coded separately.
"""

from __future__ import annotations

from collections.abc import Callable

from vertebro.core.coding.model import OperativeRecord, Question, Side, Technique, TreatedLevel
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
from vertebro.core.levels import Level, Region

CPT = CodeSystem.CPT
Use = Callable[[str], Resolved]
INCLUDED = (
    "Imaging guidance and bone biopsy of the treated body are included in the code "
    "(descriptor: inclusive of all imaging guidance; bone biopsy included when performed); "
    "do not report them separately."
)
ONE_PRIMARY = (
    "One primary code per operative encounter, add-on units for each further body even across "
    "regions (AAPC Orthopedic and Neurosurgery Coding Alerts)."
)


def code_cpt(record: OperativeRecord, table: CodeTable, crosswalk: Crosswalk) -> CodingResult:
    """CPT lines, in reporting order, and the questions left open."""
    if not record.augmentation:
        return CodingResult()
    prepared = prepare(record)
    levels = prepared.levels
    lines: list[CodeLine] = []
    resolved: list[Resolved] = []
    questions: list[Question] = []

    def use(key: str) -> Resolved:
        """Resolve a concept and remember it, so its open questions are asked."""
        r = resolve(key, table, crosswalk)
        resolved.append(r)
        return r

    sacral_vp = [
        t for t in levels if t.technique is Technique.VERTEBROPLASTY and t.region is Region.SACRAL
    ]
    if sacral_vp:
        questions.append(
            Question(
                "Vertebroplasty of a sacral body is reported with the lumbosacral code "
                "22511/22512, "
                "while sacroplasty is reported with 0200T/0201T; the source names a sacral level.",
                "Was this sacroplasty (sacral ala / sacral augmentation) or vertebroplasty of a "
                "sacral vertebral body?",
                evidence_of(sacral_vp),
            )
        )
    vp = [t for t in levels if t.technique is Technique.VERTEBROPLASTY]
    aug = [t for t in levels if t.technique.is_augmentation and t.region is not Region.CERVICAL]
    aug = [t for t in aug if t.region is not Region.SACRAL]
    cervical_aug = [
        t for t in levels if t.technique.is_augmentation and t.region is Region.CERVICAL
    ]
    sacro = [
        t
        for t in levels
        if t.technique is Technique.SACROPLASTY
        or (t.technique.is_augmentation and t.region is Region.SACRAL)
    ]
    families = [
        (vp, ("vp.cervicothoracic", "vp.lumbosacral", "vp.additional"), "22510 or 22511"),
        (aug, ("aug.thoracic", "aug.lumbar", "aug.additional"), "22513 or 22514"),
    ]
    families.sort(key=lambda f: levels.index(f[0][0]) if f[0] else len(levels))
    for members, keys, either in families:
        if members:
            lines.extend(
                _family(members, keys, either, prepared.count_known, use, questions, prepared.notes)
            )
    if cervical_aug:
        r = use("aug.cervical")
        lines.append(
            line_from(
                r,
                CPT,
                "procedure",
                levels=tuple(t.level for t in cervical_aug if t.level is not None),
                evidence=evidence_of(cervical_aug),
                notes=(
                    "Cervical vertebral augmentation: 22513-22515 are thoracic and lumbar only; "
                    "describe the procedure and each level in the claim narrative.",
                ),
            )
        )
    if sacro:
        lines.append(_sacroplasty(sacro, use, questions))
    for t in levels:
        if t.technique.is_augmentation and t.implant:
            questions.append(
                Question(
                    f"An intravertebral implant is documented at {t.level or 'an unnamed level'}.",
                    "Does the payer need the implant reported (HCPCS C1062 exists for "
                    "intravertebral body fracture augmentation with implant; not verified)?",
                    t.evidence,
                )
            )
            break
    questions.extend(problems_of(resolved, evidence_of(levels)))
    return CodingResult(sequenced(lines), (*prepared.questions, *questions))


def _family(
    members: list[TreatedLevel],
    keys: tuple[str, str, str],
    either: str,
    count_known: bool,
    use: Use,
    questions: list[Question],
    merge_notes: dict[Level, str],
) -> list[CodeLine]:
    primary_key, lower_key, addon_key = keys
    first_named = next((t for t in members if t.level is not None), None)
    evidence = evidence_of(members)
    notes = [INCLUDED, ONE_PRIMARY]
    notes.extend(
        merge_notes[t.level] for t in members if t.level is not None and t.level in merge_notes
    )
    lines: list[CodeLine] = []
    if first_named is None:
        lines.append(
            CodeLine(
                system=CPT,
                code=None,
                display=f"[region not stated] {either}",
                kind="procedure",
                confidence=Confidence.UNCONFIRMED,
                evidence=evidence,
                notes=("The primary code depends on the region of the first body treated.",),
            )
        )
        questions.append(
            Question(
                "The region of the treated body is not stated, so the primary code is open.",
                "Which vertebral level was treated first (cervical/thoracic or lumbar/sacral)?",
                evidence,
            )
        )
    else:
        region = first_named.region
        key = primary_key if region in (Region.CERVICAL, Region.THORACIC) else lower_key
        primary = use(key)
        extra = []
        if first_named.technique is Technique.VERTEBROPLASTY and region is Region.CERVICAL:
            extra.append(
                "Some non-Medicare payers use HCPCS S2360/S2361 for cervical vertebroplasty."
            )
        lines.append(
            line_from(
                primary,
                CPT,
                "procedure",
                levels=(first_named.level,) if first_named.level else (),
                evidence=first_named.evidence,
                notes=(f"Primary body: {first_named.level}.", *notes, *extra),
            )
        )
    others = [t for t in members if t is not first_named] if first_named else members[1:]
    if others and count_known:
        addon = use(addon_key)
        lines.append(
            line_from(
                addon,
                CPT,
                "procedure",
                units=len(others),
                levels=tuple(t.level for t in others if t.level is not None),
                evidence=evidence_of(others),
                notes=(
                    f"Add-on: {len(others)} further bod{'y' if len(others) == 1 else 'ies'} "
                    f"({', '.join(str(t.level or 'unnamed') for t in others)}).",
                ),
            )
        )
    return lines


def _sacroplasty(sacro: list[TreatedLevel], use: Use, questions: list[Question]) -> CodeLine:
    evidence = evidence_of(sacro)
    sides = {t.side for t in sacro}
    notes = [
        "Sacroplasty is reported once per encounter with the Category III code; balloon or "
        "mechanical devices, imaging guidance and bone biopsy are included in its descriptor.",
    ]
    if any(t.technique.is_augmentation for t in sacro):
        notes.append("Augmentation of the sacrum is sacral augmentation (sacroplasty).")
    if Side.BILATERAL in sides:
        r: Resolved = use("sacroplasty.bilateral")
    elif Side.UNILATERAL in sides:
        r = use("sacroplasty.unilateral")
    else:
        questions.append(
            Question(
                "Sacroplasty is coded by side (0200T unilateral, 0201T bilateral) and the side "
                "is not stated.",
                "Were the sacral injections unilateral (one side) or bilateral?",
                evidence,
            )
        )
        return CodeLine(
            system=CPT,
            code=None,
            display="[side not stated] 0200T (unilateral) or 0201T (bilateral)",
            kind="procedure",
            confidence=Confidence.UNCONFIRMED,
            evidence=evidence,
            notes=tuple(notes),
        )
    return line_from(
        r,
        CPT,
        "procedure",
        levels=tuple(t.level for t in sacro if t.level is not None),
        evidence=evidence,
        notes=tuple(notes),
    )
