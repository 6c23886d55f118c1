"""UK diagnosis coding: WHO ICD-10 (2019), the basis of the UK 5th Edition, at four characters.

Rules (titles from the WHO ICD-10 2019 data file):
- osteoporosis with pathological fracture: M80.0-M80.9 by the kind of osteoporosis (WHO M80.0 is
  postmenopausal; age-related/senile osteoporosis has no WHO code of its own, so it is left as a
  question);
- collapsed vertebra with no cause stated: M48.5;
- neoplastic disease: the neoplasm (C79.5, C90.0, C41.2 / C41.4) and, for a collapsed vertebra,
  M49.5 (asterisk code, "in diseases classified elsewhere"; the pairing is not confirmed);
- haemangioma: D18.0; traumatic fracture: S22.0 / S22.1 (several thoracic), S32.0, S32.1, T08.
The optional 5th-character site subdivision is not applied: its use in the UK 5th Edition is not
confirmed.
"""

from __future__ import annotations

from vertebro.core.coding.diagnoses import NO_DIAGNOSIS, LineBuilder, site_levels
from vertebro.core.coding.model import (
    Aetiology,
    Diagnosis,
    OperativeRecord,
    OsteoporosisType,
    Question,
)
from vertebro.core.coding.result import CodingResult, sequenced
from vertebro.core.coding.tables import CodeSystem, CodeTable, Confidence
from vertebro.core.levels import Level, Region

WHO = CodeSystem.ICD10
SOURCE = "WHO ICD-10 2019"
FIFTH = (
    "4-character code; the optional 5th-character site subdivision is not applied (its use in "
    "the UK 5th Edition is not confirmed)."
)
_OSTEOPOROSIS = {
    OsteoporosisType.POSTMENOPAUSAL: "M80.0",
    OsteoporosisType.POSTOOPHORECTOMY: "M80.1",
    OsteoporosisType.DISUSE: "M80.2",
    OsteoporosisType.MALABSORPTION: "M80.3",
    OsteoporosisType.DRUG_INDUCED: "M80.4",
    OsteoporosisType.IDIOPATHIC: "M80.5",
    OsteoporosisType.OTHER: "M80.8",
    OsteoporosisType.UNSPECIFIED: "M80.9",
}


def code_icd10(record: OperativeRecord, table: CodeTable) -> CodingResult:
    """WHO ICD-10 lines for the record's diagnoses, the main condition first."""
    if not record.augmentation:
        return CodingResult()
    out = LineBuilder(WHO, table)
    if not record.diagnoses:
        out.questions.append(NO_DIAGNOSIS)
    for dx in record.diagnoses:
        _diagnosis(dx, record, out)
    return CodingResult(sequenced(out.lines), tuple(out.questions))


def _diagnosis(dx: Diagnosis, record: OperativeRecord, out: LineBuilder) -> None:
    levels = site_levels(dx, record)
    ev = dx.evidence
    a = dx.aetiology
    if a is Aetiology.OSTEOPOROSIS:
        if dx.osteoporosis is OsteoporosisType.AGE_RELATED:
            out.placeholder(
                "[code not confirmed] age-related (senile) osteoporosis with pathological fracture",
                Question(
                    "WHO ICD-10 has no 'age-related osteoporosis' code: M80.0 is postmenopausal, "
                    "M80.8 other, M80.9 unspecified.",
                    "Is the osteoporosis postmenopausal (M80.0), or which other kind? Check the "
                    "ICD-10 alphabetical index for 'senile osteoporosis'.",
                    ev,
                ),
                levels=levels,
                evidence=ev,
            )
            return
        code = _OSTEOPOROSIS[dx.osteoporosis]
        out.add(
            code,
            f"Osteoporosis ({dx.osteoporosis.value}) with pathological fracture: {code} "
            f"({SOURCE}).",
            levels=levels,
            evidence=ev,
            notes=(FIFTH,),
        )
    elif a is Aetiology.NOT_STATED:
        out.add(
            "M48.5",
            f"Collapsed (compression) vertebra with no cause stated: M48.5 ({SOURCE}).",
            levels=levels,
            evidence=ev,
            notes=(FIFTH,),
        )
    elif a in (Aetiology.METASTASIS, Aetiology.MYELOMA, Aetiology.PRIMARY_BONE_MALIGNANCY):
        _neoplastic(dx, levels, out)
    elif a is Aetiology.HAEMANGIOMA:
        out.add("D18.0", f"Haemangioma, any site: D18.0 ({SOURCE}).", levels=levels, evidence=ev)
    else:
        _traumatic(dx, levels, out)


def _neoplastic(dx: Diagnosis, levels: tuple[Level, ...], out: LineBuilder) -> None:
    ev = dx.evidence
    sacral_only = bool(levels) and all(lv.region is Region.SACRAL for lv in levels)
    codes = {
        Aetiology.METASTASIS: ("C79.5", "Secondary malignant neoplasm of bone"),
        Aetiology.MYELOMA: ("C90.0", "Multiple myeloma"),
        Aetiology.PRIMARY_BONE_MALIGNANCY: (
            ("C41.4", "Primary malignant neoplasm of the sacrum")
            if sacral_only
            else ("C41.2", "Primary malignant neoplasm of the vertebral column")
        ),
    }
    code, what = codes[dx.aetiology]
    out.add(code, f"{what}: {code} ({SOURCE}).", levels=levels, evidence=ev)
    if dx.fracture:
        out.add(
            "M49.5",
            f"Collapsed vertebra in diseases classified elsewhere: M49.5 ({SOURCE}), an asterisk "
            "code that follows the neoplasm (dagger) code.",
            confidence=Confidence.UNCONFIRMED,
            levels=levels,
            evidence=ev,
            notes=(
                "The pairing is not confirmed: WHO also has M90.7 Fracture of bone in neoplastic "
                "disease.",
            ),
        )
        out.questions.append(
            Question(
                "The manifestation code for a vertebral fracture in neoplastic disease is not "
                "confirmed for the UK (M49.5* or M90.7*).",
                "Which asterisk code do the UK national ICD-10 coding standards require with the "
                "neoplasm code for a collapsed vertebra?",
                ev,
            )
        )


def _traumatic(dx: Diagnosis, levels: tuple[Level, ...], out: LineBuilder) -> None:
    ev = dx.evidence
    if not levels:
        out.add("T08", f"Fracture of spine, level unspecified: T08 ({SOURCE}).", evidence=ev)
        return
    thoracic = tuple(lv for lv in levels if lv.region is Region.THORACIC)
    lumbar = tuple(lv for lv in levels if lv.region is Region.LUMBAR)
    sacral = tuple(lv for lv in levels if lv.region is Region.SACRAL)
    cervical = tuple(lv for lv in levels if lv.region is Region.CERVICAL)
    if thoracic:
        code = "S22.1" if len(thoracic) > 1 else "S22.0"
        out.add(
            code,
            f"Traumatic fracture of the thoracic spine: {code} ({SOURCE}).",
            levels=thoracic,
            evidence=ev,
        )
    if lumbar:
        out.add(
            "S32.0",
            f"Traumatic fracture of lumbar vertebra: S32.0 ({SOURCE}).",
            levels=lumbar,
            evidence=ev,
        )
    if sacral:
        out.add(
            "S32.1",
            f"Traumatic fracture of the sacrum: S32.1 ({SOURCE}).",
            levels=sacral,
            evidence=ev,
        )
    if cervical:
        out.placeholder(
            "[not coded] traumatic fracture of the cervical spine (S12.-)",
            Question(
                "Traumatic cervical fracture: the S12 codes are outside these rules.",
                f"Which S12 code applies to the fracture of {', '.join(map(str, cervical))}?",
                ev,
            ),
            levels=cervical,
            evidence=ev,
        )
