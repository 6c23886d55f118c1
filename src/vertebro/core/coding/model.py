"""What was done and why: the typed record that the coding rules read.

A record comes from an operative note, FHIR Procedure/Condition resources or a test. Every
attribute that a source did not state is None (unknown) or the explicit UNSPECIFIED member, so
the rules can ask instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vertebro.core.facts import Provenance
from vertebro.core.levels import Level, Region


class Technique(StrEnum):
    """How the vertebral body was treated. Cavity creation decides augmentation."""

    VERTEBROPLASTY = "vertebroplasty"  # cement injected, no cavity created
    BALLOON_AUGMENTATION = "balloon-augmentation"  # balloon / inflatable bone tamp (kyphoplasty)
    MECHANICAL_AUGMENTATION = "mechanical-augmentation"  # cavity created with a mechanical device
    AUGMENTATION = (
        "augmentation"  # cavity creation recorded (e.g. by its CPT code), device not named
    )
    SACROPLASTY = "sacroplasty"  # percutaneous sacral augmentation
    UNKNOWN = "unknown"  # augmentation is described but the technique is not clear

    @property
    def is_augmentation(self) -> bool:
        """True for vertebral augmentation with cavity creation (balloon or mechanical)."""
        return self in (
            Technique.BALLOON_AUGMENTATION,
            Technique.MECHANICAL_AUGMENTATION,
            Technique.AUGMENTATION,
        )


class Side(StrEnum):
    """Unilateral (one pedicle, one needle) or bilateral access."""

    UNILATERAL = "unilateral"
    BILATERAL = "bilateral"
    UNSPECIFIED = "unspecified"


class Guidance(StrEnum):
    """The image guidance used."""

    FLUOROSCOPY = "fluoroscopy"
    CT = "ct"
    ULTRASOUND = "ultrasound"
    UNSPECIFIED = "unspecified"  # image control not stated, or stated without the method


@dataclass(frozen=True, slots=True)
class TreatedLevel:
    """One vertebral body (or the sacrum) treated in the operative encounter.

    `level` is None when the source gives a count of levels without naming them.
    `implant` is True for a permanent intravertebral implant (stent, expandable implant), False
    when the source says none was used or describes a technique that leaves none, None if unknown.
    """

    level: Level | None
    technique: Technique
    side: Side = Side.UNSPECIFIED
    implant: bool | None = None
    guidance: frozenset[Guidance] = frozenset({Guidance.UNSPECIFIED})
    biopsy: bool = False
    cement_leak: bool | None = None
    evidence: tuple[Provenance, ...] = ()

    @property
    def region(self) -> Region | None:
        """The region of the spine, when the level is named."""
        return None if self.level is None else self.level.region


class Aetiology(StrEnum):
    """The cause of the fracture or lesion treated."""

    OSTEOPOROSIS = "osteoporosis"
    METASTASIS = "metastasis"
    MYELOMA = "myeloma"
    PRIMARY_BONE_MALIGNANCY = "primary-bone-malignancy"  # malignant neoplasm of the spine itself
    HAEMANGIOMA = "haemangioma"
    TRAUMA = "trauma"
    NOT_STATED = "not-stated"  # e.g. "compression fracture" with no cause given


class OsteoporosisType(StrEnum):
    """The kind of osteoporosis, as the ICD classifications distinguish it."""

    POSTMENOPAUSAL = "postmenopausal"
    AGE_RELATED = "age-related"  # also senile, involutional
    DRUG_INDUCED = "drug-induced"  # glucocorticoid / steroid induced
    DISUSE = "disuse"
    IDIOPATHIC = "idiopathic"
    POSTOOPHORECTOMY = "postoophorectomy"
    MALABSORPTION = "malabsorption"
    OTHER = "other"
    UNSPECIFIED = "unspecified"


class MyelomaStatus(StrEnum):
    """Remission status of multiple myeloma (ICD-10-CM fifth character)."""

    NOT_IN_REMISSION = "not-in-remission"
    IN_REMISSION = "in-remission"
    IN_RELAPSE = "in-relapse"
    UNSPECIFIED = "unspecified"


class Encounter(StrEnum):
    """The ICD-10-CM seventh character for fractures: active treatment, later care or sequela."""

    INITIAL = "initial"
    SUBSEQUENT = "subsequent"
    SEQUELA = "sequela"


class Morphology(StrEnum):
    """The fracture pattern, used by the traumatic fracture codes."""

    WEDGE_COMPRESSION = "wedge-compression"
    STABLE_BURST = "stable-burst"
    UNSTABLE_BURST = "unstable-burst"
    OTHER = "other"
    UNSPECIFIED = "unspecified"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """The condition the procedure treated.

    `fracture` is True when a fracture or collapse is documented, False when the source says
    there is none (a painful lesion without fracture), None when not stated.
    `levels` are the levels of the fracture or lesion when the source names them.
    """

    aetiology: Aetiology
    fracture: bool | None = True
    levels: tuple[Level, ...] = ()
    osteoporosis: OsteoporosisType = OsteoporosisType.UNSPECIFIED
    myeloma: MyelomaStatus = MyelomaStatus.UNSPECIFIED
    morphology: Morphology = Morphology.UNSPECIFIED
    encounter: Encounter = Encounter.INITIAL
    primary_site: str | None = None  # for metastasis: the primary cancer named, e.g. "breast"
    evidence: tuple[Provenance, ...] = ()


@dataclass(frozen=True, slots=True)
class Question:
    """Something the source left open: what is missing, and the question that settles it."""

    message: str
    question: str
    evidence: tuple[Provenance, ...] = ()


@dataclass(frozen=True, slots=True)
class OperativeRecord:
    """Everything coding needs about one operative encounter.

    `augmentation` is False when the source does not describe a vertebral augmentation at all;
    `reason` then says why. `stated_level_count` is a count the source gives in words ("two
    levels"), checked against the levels named. `count_unknown` means the source gives neither
    the levels nor their number: `levels` then holds one unnamed entry per technique described.
    `questions` are ambiguities the reader found.
    """

    source: str
    augmentation: bool
    levels: tuple[TreatedLevel, ...] = ()
    diagnoses: tuple[Diagnosis, ...] = ()
    stated_level_count: int | None = None
    count_unknown: bool = False
    questions: tuple[Question, ...] = ()
    reason: str | None = None
