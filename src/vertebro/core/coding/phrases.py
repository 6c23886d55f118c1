"""Diagnosis wording: turn the words of a diagnosis (a note's diagnosis line, a Condition's text)
into typed diagnoses. Pure text rules shared by the note and FHIR readers.

Cause is read in priority order: myeloma, metastasis, primary bone malignancy, haemangioma,
osteoporosis, trauma, else "not stated" when a fracture is mentioned. Mentions that are negated
("no evidence of metastasis") are ignored; uncertain ones ("rule out", "possible") are not coded
and raise a question, as outpatient coding does not code uncertain diagnoses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from vertebro.core.coding.model import (
    Aetiology,
    Diagnosis,
    Encounter,
    Morphology,
    MyelomaStatus,
    OsteoporosisType,
    Question,
)
from vertebro.core.facts import Provenance
from vertebro.core.levels import Level, level_range

NEGATION = re.compile(
    r"\b(?:no|not|without|denies|denied|negative\s+for|absence\s+of|free\s+of|none|never|ruled\s+out)\b"
    r"(?:\s+\w+){0,6}\s*$",
    re.I,
)
UNCERTAIN = re.compile(
    r"\b(?:rule\s+out|r/o|possible|possibly|probable|suspected|suspicious\s+for|concern\s+for|"
    r"questionable|cannot\s+exclude|versus|vs\.?|likely)\b",
    re.I,
)
_CAUSES = (
    (
        Aetiology.MYELOMA,
        re.compile(r"\bmyeloma\w*|\bplasma\s+cell\s+(?:myeloma|neoplasm)|\bkahler", re.I),
    ),
    (
        Aetiology.METASTASIS,
        re.compile(r"\bmetasta\w*|\bsecondary\s+(?:malignan\w*|neoplasm|tumou?r|deposit)", re.I),
    ),
    (
        Aetiology.PRIMARY_BONE_MALIGNANCY,
        re.compile(
            r"\bchordoma|\bosteosarcoma|\bchondrosarcoma|\bewing|primary\s+(?:bone\s+)?malignan\w*",
            re.I,
        ),
    ),
    (Aetiology.HAEMANGIOMA, re.compile(r"\bha?emangiom\w*", re.I)),
    (Aetiology.OSTEOPOROSIS, re.compile(r"\bosteoporo\w*", re.I)),
    (
        Aetiology.TRAUMA,
        re.compile(
            r"\btraumatic|\btrauma\b|motor\s+vehicle|\bMVC\b|\bMVA\b|fall\s+from\s+(?:a\s+)?height",
            re.I,
        ),
    ),
)
_FRACTURE = re.compile(
    r"\bfractur\w*|\bcollaps\w*|\bcompression\b|\bwedg\w*|\bpathologic\w*|\bburst\b", re.I
)
_NO_FRACTURE = re.compile(r"\b(?:no|without)\s+(?:\w+\s+){0,2}(?:fracture|collapse)", re.I)
_OSTEO_TYPES = (
    (OsteoporosisType.POSTMENOPAUSAL, re.compile(r"post-?\s?menopaus\w*", re.I)),
    (OsteoporosisType.AGE_RELATED, re.compile(r"\bsenile|age[- ]related|involutional", re.I)),
    (
        OsteoporosisType.DRUG_INDUCED,
        re.compile(r"steroid|glucocorticoid|drug[- ]induced|medication[- ]induced", re.I),
    ),
    (OsteoporosisType.DISUSE, re.compile(r"\bdisuse", re.I)),
    (OsteoporosisType.IDIOPATHIC, re.compile(r"\bidiopathic", re.I)),
    (OsteoporosisType.POSTOOPHORECTOMY, re.compile(r"oophorectomy", re.I)),
    (OsteoporosisType.MALABSORPTION, re.compile(r"malabsorption", re.I)),
)
_PRIMARY_SITE = re.compile(
    r"\b(breast|lung|prostate|renal|kidney|thyroid|colon|colorectal|rectal|bladder|melanoma|"
    r"liver|gastric|oesophageal|esophageal|pancreatic|ovarian|endometrial|cervical)\b"
    r"(?=[^.;]{0,40}\b(?:cancer|carcinoma|adenocarcinoma|primary|malignan\w*|metasta\w*|tumou?r)\b)",
    re.I,
)
LEVEL_RE = re.compile(
    r"(?<![A-Za-z0-9])([CTLS]\s?\d{1,2})(?>(?:\s*(?:-|–|to|through|thru)\s*([CTLS]\s?\d{1,2}|\d{1,2}))?)(?!\d)"
    r"(?!\s*-?\s*(?:weighted|signal|hyperintens|hypointens|images?\b|sequence|STIR|dis[ck]|inter\w*|foram\w*|nerve|root))",
    re.I,
)
SACRUM_RE = re.compile(r"\bsacr(?:um|al)\b", re.I)


def levels_in_text(text: str) -> list[tuple[int, Level]]:
    """Every level a text names, with its offset; ranges are expanded ('T12-L2' is three)."""
    found: list[tuple[int, Level]] = []
    for m in LEVEL_RE.finditer(text):
        try:
            first = Level.parse(m.group(1).replace(" ", ""))
        except ValueError:
            continue
        span = [first]
        if m.group(2):
            last = m.group(2).replace(" ", "")
            if last[0].isdigit():
                last = first.letter + last
            try:
                span = level_range(first, Level.parse(last))
            except ValueError:
                span = [first]
        found.extend((m.start(), lv) for lv in span)
    if not any(lv.letter == "S" for _, lv in found):
        sacrum = SACRUM_RE.search(text)
        if sacrum:
            found.append((sacrum.start(), Level("S", 0)))
    return sorted(found, key=lambda hit: hit[0])


def negated_at(text: str, at: int) -> bool:
    """True when a negation cue stands in the same clause shortly before offset `at`."""
    before = re.split(r"\bbut\b|;|\.", text[:at])[-1]
    return bool(NEGATION.search(before[-70:]))


def diagnoses_from(
    items: Sequence[tuple[str, Provenance]],
) -> tuple[list[Diagnosis], list[Question]]:
    """Diagnoses from diagnosis statements, one per cause; a fracture whose cause is not stated
    joins the single stated cause when there is one (the items describe the same fracture)."""
    found: dict[Aetiology, Diagnosis] = {}
    questions: list[Question] = []
    for text, prov in items:
        dx, question = _one(text, prov)
        if question:
            questions.append(question)
        if dx is None:
            continue
        old = found.get(dx.aetiology)
        found[dx.aetiology] = dx if old is None else _merge(old, dx)
    causes = [a for a in found if a is not Aetiology.NOT_STATED]
    if Aetiology.NOT_STATED in found and len(causes) == 1:
        vague = found.pop(Aetiology.NOT_STATED)
        found[causes[0]] = _merge(found[causes[0]], vague)
    order = [a for a, _ in _CAUSES] + [Aetiology.NOT_STATED]
    neoplastic = (Aetiology.MYELOMA, Aetiology.METASTASIS, Aetiology.PRIMARY_BONE_MALIGNANCY)
    out = [found[a] for a in order if a in found]
    if any(d.aetiology in neoplastic for d in out) and Aetiology.OSTEOPOROSIS in found:
        questions.append(
            Question(
                "Both osteoporosis and a neoplasm are documented as causes.",
                "Is the treated fracture osteoporotic or due to the neoplasm (or are different "
                "levels due to different causes)?",
                tuple(p for d in out for p in d.evidence),
            )
        )
    return out, questions


def _one(text: str, prov: Provenance) -> tuple[Diagnosis | None, Question | None]:
    cause: Aetiology | None = None
    uncertain: str | None = None
    for aetiology, pattern in _CAUSES:
        for m in pattern.finditer(text):
            if negated_at(text, m.start()):
                continue
            clause = re.split(r"[;.]", text[: m.start()])[-1]
            if UNCERTAIN.search(clause) or UNCERTAIN.search(text[m.end() : m.end() + 12]):
                uncertain = uncertain or m.group(0)
                continue
            cause = aetiology
            break
        if cause:
            break
    fracture_hit = _FRACTURE.search(text)
    fracture: bool | None = None
    if fracture_hit:
        fracture = not negated_at(text, fracture_hit.start())
    if _NO_FRACTURE.search(text):
        fracture = False
    question = None
    if uncertain and cause is None:
        question = Question(
            f"The diagnosis states an uncertain cause ({uncertain!r}); uncertain diagnoses are "
            "not coded.",
            "Has the cause of the fracture been confirmed?",
            (prov,),
        )
    if cause is None:
        if not fracture:
            return None, question
        cause = Aetiology.NOT_STATED
    levels = tuple(sorted({lv for _, lv in levels_in_text(text)}))
    return (
        Diagnosis(
            aetiology=cause,
            fracture=fracture if cause is not Aetiology.OSTEOPOROSIS else True,
            levels=levels,
            osteoporosis=_osteoporosis_type(text),
            myeloma=_myeloma(text),
            morphology=_morphology(text),
            encounter=_encounter(text),
            primary_site=_primary_site(text, cause),
            evidence=(prov,),
        ),
        question,
    )


def _merge(a: Diagnosis, b: Diagnosis) -> Diagnosis:
    """One diagnosis from two statements of it; the first one's cause is kept."""
    return replace(
        a,
        fracture=True
        if (a.fracture or b.fracture)
        else (a.fracture if a.fracture is not None else b.fracture),
        levels=tuple(sorted(set(a.levels) | set(b.levels))),
        osteoporosis=a.osteoporosis
        if a.osteoporosis is not OsteoporosisType.UNSPECIFIED
        else b.osteoporosis,
        myeloma=a.myeloma if a.myeloma is not MyelomaStatus.UNSPECIFIED else b.myeloma,
        morphology=a.morphology if a.morphology is not Morphology.UNSPECIFIED else b.morphology,
        primary_site=a.primary_site or b.primary_site,
        evidence=tuple(dict.fromkeys((*a.evidence, *b.evidence))),
    )


def _encounter(text: str) -> Encounter:
    if re.search(r"\bsequela", text, re.I):
        return Encounter.SEQUELA
    if re.search(r"\bsubsequent\s+encounter", text, re.I):
        return Encounter.SUBSEQUENT
    return Encounter.INITIAL


def _osteoporosis_type(text: str) -> OsteoporosisType:
    for kind, pattern in _OSTEO_TYPES:
        if pattern.search(text):
            return kind
    return OsteoporosisType.UNSPECIFIED


def _myeloma(text: str) -> MyelomaStatus:
    if re.search(
        r"\b(?:not\s+(?:in|having\s+achieved)\s+remission|failed\s+remission)", text, re.I
    ):
        return MyelomaStatus.NOT_IN_REMISSION
    if re.search(r"\brelaps\w*", text, re.I):
        return MyelomaStatus.IN_RELAPSE
    if re.search(r"\bremission\b", text, re.I):
        return MyelomaStatus.IN_REMISSION
    return MyelomaStatus.UNSPECIFIED


def _morphology(text: str) -> Morphology:
    if re.search(r"\bunstable\s+burst", text, re.I):
        return Morphology.UNSTABLE_BURST
    if re.search(r"\bstable\s+burst", text, re.I):
        return Morphology.STABLE_BURST
    if re.search(r"\bburst\b", text, re.I):
        return Morphology.UNSPECIFIED
    if re.search(r"\bwedge|\bcompression", text, re.I):
        return Morphology.WEDGE_COMPRESSION
    return Morphology.UNSPECIFIED


def _primary_site(text: str, cause: Aetiology) -> str | None:
    if cause is not Aetiology.METASTASIS:
        return None
    m = _PRIMARY_SITE.search(text)
    return m.group(1).lower() if m else None
