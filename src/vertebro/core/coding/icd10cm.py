"""US diagnosis coding: ICD-10-CM (FY2026) for the conditions vertebral augmentation treats.

Rules, from the CMS FY2026 tabular (titles, inclusion terms, 7th characters) unless noted:
- osteoporotic fracture of a vertebra: M80.08X- (age-related: includes postmenopausal, senile,
  osteoporosis NOS) or M80.88X- (drug-induced, disuse, idiopathic, post-oophorectomy,
  malabsorption, other); M48.5 excludes osteoporotic fractures;
- compression fracture with no cause stated: M48.5-X- with the region as 5th character;
- fracture in neoplastic disease: M84.58X- ("vertebrae" is an inclusion term) and, as its
  "code also" note requires, the neoplasm: C79.51, C90.0-, C41.2;
- haemangioma of a vertebra: D18.09; traumatic fracture: S22.0-/S32.0-/S32.1- by level;
- 7th character A while the fracture is under active treatment (D subsequent, S sequela).
The sacral insufficiency fracture code is not confirmed (M80.08- vs M80.0B- vs M84.48-/M84.68-),
so it is left open with the question.
"""

from __future__ import annotations

from vertebro.core.coding.diagnoses import NO_DIAGNOSIS, LineBuilder, regions_of, site_levels
from vertebro.core.coding.model import (
    Aetiology,
    Diagnosis,
    Encounter,
    Morphology,
    MyelomaStatus,
    OperativeRecord,
    OsteoporosisType,
    Question,
)
from vertebro.core.coding.result import CodingResult, sequenced
from vertebro.core.coding.tables import CodeSystem, CodeTable
from vertebro.core.facts import Provenance
from vertebro.core.levels import Level, Region

CM = CodeSystem.ICD10CM
TABULAR = "ICD-10-CM FY2026 tabular (CMS)"
_SEVENTH = {Encounter.INITIAL: "A", Encounter.SUBSEQUENT: "D", Encounter.SEQUELA: "S"}
_M48_SITE = {Region.CERVICAL: "2", Region.THORACIC: "4", Region.LUMBAR: "6", Region.SACRAL: "8"}
_MYELOMA = {
    MyelomaStatus.NOT_IN_REMISSION: "C90.00",
    MyelomaStatus.UNSPECIFIED: "C90.00",
    MyelomaStatus.IN_REMISSION: "C90.01",
    MyelomaStatus.IN_RELAPSE: "C90.02",
}
_MORPHOLOGY = {
    Morphology.WEDGE_COMPRESSION: "0",
    Morphology.STABLE_BURST: "1",
    Morphology.UNSTABLE_BURST: "2",
    Morphology.OTHER: "8",
    Morphology.UNSPECIFIED: "9",
}
_AGE_RELATED = (
    OsteoporosisType.AGE_RELATED,
    OsteoporosisType.POSTMENOPAUSAL,
    OsteoporosisType.UNSPECIFIED,
)
SACRAL_QUESTION = (
    "Which ICD-10-CM code does your coding guidance (ICD-10-CM Index, AHA Coding Clinic) give "
    "for this sacral fracture: M80.08- (vertebra), M80.0B-/M80.8B- (pelvis) or M84.48-/M84.68-?"
)


def code_icd10cm(record: OperativeRecord, table: CodeTable) -> CodingResult:
    """ICD-10-CM lines for the record's diagnoses, the fracture first, then the neoplasm."""
    if not record.augmentation:
        return CodingResult()
    out = LineBuilder(CM, table)
    if not record.diagnoses:
        out.questions.append(NO_DIAGNOSIS)
    for dx in record.diagnoses:
        _diagnosis(dx, record, out)
    return CodingResult(sequenced(out.lines), tuple(out.questions))


def _diagnosis(dx: Diagnosis, record: OperativeRecord, out: LineBuilder) -> None:
    levels = site_levels(dx, record)
    regions = regions_of(levels)
    seventh = _SEVENTH[dx.encounter]
    ev = dx.evidence
    spinal = tuple(lv for lv in levels if lv.region is not Region.SACRAL)
    sacral = tuple(lv for lv in levels if lv.region is Region.SACRAL)
    a = dx.aetiology
    if a is Aetiology.OSTEOPOROSIS:
        if spinal or not sacral:
            aged = dx.osteoporosis in _AGE_RELATED
            out.add(
                f"M80.{'0' if aged else '8'}8X{seventh}",
                f"Osteoporosis ({dx.osteoporosis.value}) with current pathological fracture of "
                f"vertebra(e): M80.{'0' if aged else '8'}8X- ({TABULAR}; M48.5 Excludes1 "
                "osteoporotic fracture).",
                levels=spinal,
                evidence=ev,
            )
            if dx.osteoporosis is OsteoporosisType.DRUG_INDUCED:
                out.questions.append(
                    Question(
                        "Drug-induced osteoporosis: ICD-10-CM asks for an additional code for the "
                        "adverse effect of the drug (T36-T50, fifth or sixth character 5).",
                        "Which drug caused the osteoporosis (for example glucocorticoids, "
                        "T38.0X5-)?",
                        ev,
                    )
                )
        if sacral:
            _sacral_open(out, sacral, ev, "osteoporotic (insufficiency)")
    elif a is Aetiology.NOT_STATED:
        sites: list[Region | None] = list(regions) or [None]
        for region in sites:
            site = _M48_SITE[region] if region is not None else "0"
            out.add(
                f"M48.5{site}X{seventh}",
                f"Compression fracture of vertebra with no cause stated: M48.5- (inclusion term "
                f"'Compression fracture of vertebra NOS'; {TABULAR}), 5th character for the "
                "region.",
                levels=tuple(lv for lv in levels if lv.region is region),
                evidence=ev,
            )
        if regions:
            out.questions.append(
                Question(
                    "The fracture's cause is not stated; M48.5- excludes osteoporotic, neoplastic "
                    "and traumatic fractures.",
                    "Is the fracture osteoporotic, due to a neoplasm, traumatic, or of unknown "
                    "cause?",
                    ev,
                )
            )
    elif a in (Aetiology.METASTASIS, Aetiology.MYELOMA, Aetiology.PRIMARY_BONE_MALIGNANCY):
        _neoplastic(dx, levels, spinal, sacral, seventh, out)
    elif a is Aetiology.HAEMANGIOMA:
        out.add(
            "D18.09",
            f"Haemangioma of a vertebra: D18.09, other sites ({TABULAR}).",
            levels=levels,
            evidence=ev,
        )
        if dx.fracture:
            out.questions.append(
                Question(
                    "A fracture with a vertebral haemangioma is documented; the fracture code is "
                    "not confirmed (M84.58- in neoplastic disease or M84.68- in other disease).",
                    "Which pathological fracture code does your guidance give for a fracture "
                    "through a haemangioma?",
                    ev,
                )
            )
    else:
        _traumatic(dx, levels, seventh, out)


def _neoplastic(
    dx: Diagnosis,
    levels: tuple[Level, ...],
    spinal: tuple[Level, ...],
    sacral: tuple[Level, ...],
    seventh: str,
    out: LineBuilder,
) -> None:
    ev = dx.evidence
    if dx.fracture:
        if spinal or not sacral:
            out.add(
                f"M84.58X{seventh}",
                "Pathological fracture in neoplastic disease of the vertebrae: M84.58X- "
                f"(inclusion term 'vertebrae'; 'Code also underlying neoplasm'; {TABULAR}).",
                levels=spinal,
                evidence=ev,
                notes=(
                    "Sequenced before the neoplasm because the fracture is the focus of the "
                    "procedure; check against the ICD-10-CM Official Guidelines.",
                ),
            )
        if sacral:
            _sacral_open(out, sacral, ev, "neoplastic")
    a = dx.aetiology
    if a is Aetiology.METASTASIS:
        out.add(
            "C79.51",
            f"Secondary malignant neoplasm of bone: C79.51 ({TABULAR}).",
            levels=levels,
            evidence=ev,
        )
        site = f" ({dx.primary_site})" if dx.primary_site else ""
        out.questions.append(
            Question(
                f"Metastatic disease{site}: the primary malignancy is coded as well when known.",
                f"What is the primary cancer{site} and its ICD-10-CM code, and is it current or "
                "a history of?",
                ev,
            )
        )
    elif a is Aetiology.MYELOMA:
        code = _MYELOMA[dx.myeloma]
        note = (
            " Remission status not stated: C90.00 (inclusion term 'Multiple myeloma NOS')."
            if dx.myeloma is MyelomaStatus.UNSPECIFIED
            else ""
        )
        out.add(
            code,
            f"Multiple myeloma: C90.0- by remission status ({TABULAR}).{note}",
            levels=levels,
            evidence=ev,
        )
    else:
        code = "C41.4" if sacral and not spinal else "C41.2"
        out.add(
            code,
            f"Primary malignant neoplasm of the spine: {code} ({TABULAR}).",
            levels=levels,
            evidence=ev,
        )
    if not dx.fracture:
        stated = "no fracture is documented" if dx.fracture is False else "a fracture is not stated"
        out.questions.append(
            Question(
                f"Neoplastic lesion but {stated}; Medicare billing articles require C41.2, C79.51 "
                "or C90.00/C90.02 to be reported with M84.58XA or M84.58XS for vertebral "
                "augmentation.",
                "Is there a pathological fracture of the treated vertebra?",
                ev,
            )
        )


def _traumatic(dx: Diagnosis, levels: tuple[Level, ...], seventh: str, out: LineBuilder) -> None:
    ev = dx.evidence
    sixth = _MORPHOLOGY[dx.morphology]
    if not levels:
        out.placeholder(
            "[level not stated] traumatic vertebral fracture (S12.-, S22.0-, S32.0-, S32.1-)",
            Question(
                "Traumatic fracture without a level.",
                "Which vertebra is fractured, and what is the fracture pattern (wedge "
                "compression, stable or unstable burst)?",
                ev,
            ),
            evidence=ev,
        )
        return
    for lv in levels:
        code = _traumatic_code(lv, sixth, seventh)
        if code is None:
            out.placeholder(
                f"[not coded] traumatic fracture of {lv} (S12.-)",
                Question(
                    f"Traumatic fracture of the cervical spine ({lv}): the S12 codes are outside "
                    "these rules.",
                    f"Which S12 code applies to the fracture of {lv}?",
                    ev,
                ),
                levels=(lv,),
                evidence=ev,
            )
            continue
        out.add(
            code,
            f"Traumatic fracture by level and pattern ({dx.morphology.value}): {TABULAR}; "
            "7th character for a closed fracture.",
            levels=(lv,),
            evidence=ev,
        )
    if dx.morphology is Morphology.UNSPECIFIED:
        out.questions.append(
            Question(
                "Traumatic fracture pattern not stated (6th character 9, unspecified).",
                "Is the fracture a wedge compression, stable burst or unstable burst fracture?",
                ev,
            )
        )


def _traumatic_code(lv: Level, sixth: str, seventh: str) -> str | None:
    if lv.letter == "T":
        n = lv.number
        fifth = str(n) if n <= 4 else str(5 + (n - 5) // 2)
        return f"S22.0{fifth}{sixth}{seventh}"
    if lv.letter == "L":
        return f"S32.0{lv.number}{sixth}{seventh}"
    if lv.letter == "S":
        return f"S32.10X{seventh}"
    return None


def _sacral_open(
    out: LineBuilder, sacral: tuple[Level, ...], ev: tuple[Provenance, ...], kind: str
) -> None:
    out.placeholder(
        f"[code not confirmed] {kind} fracture of the sacrum",
        Question(
            f"The ICD-10-CM code for this {kind} sacral fracture is not confirmed in the "
            "reference.",
            SACRAL_QUESTION,
            ev,
        ),
        levels=sacral,
        evidence=ev,
    )
