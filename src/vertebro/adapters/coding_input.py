"""A minimal FHIR R4 reader for coding: Procedure and Condition resources into an operative
record, and a Claim into the claim model the billing rules check.

Procedure: `status` (completed / in-progress count; not-done, preparation, entered-in-error do
not; stopped raises a question), `code` (CPT, OPCS-4 or text), `bodySite` and `note` (levels,
side), `complication` (cement leakage), `focalDevice` (implant), `reasonReference`.
Condition: `code` (ICD-10-CM / ICD-10 codes read through their official titles, else text),
`bodySite` (levels), `verificationStatus` (refuted / entered-in-error ignored; provisional and
differential are uncertain and not coded) and `clinicalStatus` (resolved / inactive ignored).
The general FHIR reader for policy facts lives in adapters/fhir; this one reads only what coding
needs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from vertebro.core.coding.billing import Claim, ClaimDiagnosis, ClaimItem
from vertebro.core.coding.model import (
    Guidance,
    OperativeRecord,
    Question,
    Side,
    Technique,
    TreatedLevel,
)
from vertebro.core.coding.phrases import diagnoses_from, levels_in_text
from vertebro.core.coding.tables import CodeSystem, system_of_uri
from vertebro.core.facts import Provenance
from vertebro.core.levels import Level

_CPT_TECHNIQUE = {
    "22510": Technique.VERTEBROPLASTY,
    "22511": Technique.VERTEBROPLASTY,
    "22512": Technique.VERTEBROPLASTY,
    "22513": Technique.AUGMENTATION,
    "22514": Technique.AUGMENTATION,
    "22515": Technique.AUGMENTATION,
    "0200T": Technique.SACROPLASTY,
    "0201T": Technique.SACROPLASTY,
}
_TEXT_TECHNIQUE = (
    (re.compile(r"balloon|kyphoplast", re.I), Technique.BALLOON_AUGMENTATION),
    (re.compile(r"sacroplast|sacral augmentation", re.I), Technique.SACROPLASTY),
    (re.compile(r"mechanical|cavity creation", re.I), Technique.MECHANICAL_AUGMENTATION),
    (
        re.compile(r"vertebral (?:body )?augmentation|augmentation vertebroplast", re.I),
        Technique.AUGMENTATION,
    ),
    (re.compile(r"vertebroplast", re.I), Technique.VERTEBROPLASTY),
)
_DONE = {"completed", "in-progress"}
_GUIDANCE = (
    (re.compile(r"fluorosco|c-arm", re.I), Guidance.FLUOROSCOPY),
    (re.compile(r"\bCT\b|computed tomograph", re.I), Guidance.CT),
    (re.compile(r"ultraso", re.I), Guidance.ULTRASOUND),
)
_IMPLANT = re.compile(r"stent|implant|spinejack|kiva", re.I)
_LEAK = re.compile(r"leak|extravasat", re.I)


def resources_of(bundle: Any) -> Iterator[dict[str, Any]]:
    """The resources of a Bundle (or the resource itself when it is not a Bundle)."""
    if not isinstance(bundle, dict):
        return
    if bundle.get("resourceType") == "Bundle":
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict):
                yield resource
    else:
        yield bundle


def read_bundle(bundle: Any, source: str) -> OperativeRecord:
    """An operative record from the Procedure and Condition resources of a Bundle."""
    resources = list(resources_of(bundle))
    by_ref = {f"{r.get('resourceType')}/{r.get('id')}": r for r in resources}
    questions: list[Question] = []
    levels: list[TreatedLevel] = []
    reasons: list[str] = []
    biopsy_levels: list[tuple[list[Any], Provenance]] = []
    seen_procedures = 0
    for r in resources:
        if r.get("resourceType") != "Procedure":
            continue
        seen_procedures += 1
        ref = f"Procedure/{r.get('id', '?')}"
        texts = _texts(r.get("code"))
        status = str(r.get("status") or "")
        if re.search(r"biops", " ".join(texts), re.I) and not _technique(r.get("code"), texts):
            prov = Provenance("fhir", ref, "; ".join(texts)[:200], location="Procedure.code")
            biopsy_levels.append(
                ([lv for t in _site_texts(r) for _, lv in levels_in_text(t)], prov)
            )
            continue
        technique = _technique(r.get("code"), texts)
        if technique is None:
            continue
        prov = Provenance("fhir", ref, "; ".join(texts)[:200], location="Procedure.code")
        if status not in _DONE:
            if status == "stopped":
                questions.append(
                    Question(
                        f"{ref} has status 'stopped'.",
                        "Was the procedure discontinued? A discontinued procedure is reported "
                        "differently.",
                        (prov,),
                    )
                )
            else:
                continue
        reasons.extend(
            str((x or {}).get("reference") or "") for x in r.get("reasonReference") or []
        )
        levels.extend(_levels(r, technique, texts, prov))
    if not levels:
        why = (
            "the Bundle has no completed Procedure that is a vertebroplasty, vertebral "
            "augmentation "
            "or sacroplasty"
            if seen_procedures
            else "the Bundle holds no Procedure resource"
        )
        return OperativeRecord(source, False, reason=why)
    for found, prov in biopsy_levels:
        for i, t in enumerate(levels):
            if not found or t.level in found:
                levels[i] = TreatedLevel(
                    t.level,
                    t.technique,
                    t.side,
                    t.implant,
                    t.guidance,
                    True,
                    t.cement_leak,
                    (*t.evidence, prov),
                )
    diagnoses, asked = diagnoses_from(list(_condition_items(resources, by_ref, reasons, questions)))
    return OperativeRecord(
        source, True, tuple(levels), tuple(diagnoses), questions=(*questions, *asked)
    )


def _levels(
    r: dict[str, Any], technique: Technique, texts: list[str], prov: Provenance
) -> list[TreatedLevel]:
    site_texts = _site_texts(r)
    found = list(dict.fromkeys(lv for t in site_texts for _, lv in levels_in_text(t)))
    all_text = " ".join([*texts, *site_texts, *_notes(r)])
    side = Side.UNSPECIFIED
    codes = {c for c, _ in _codings(r.get("code"))}
    if "0201T" in codes or re.search(r"\bbilateral", all_text, re.I):
        side = Side.BILATERAL
    elif "0200T" in codes or re.search(r"\bunilateral", all_text, re.I):
        side = Side.UNILATERAL
    devices = " ".join(
        t for d in r.get("focalDevice") or [] for t in _texts((d or {}).get("manipulated"))
    )
    implant = (
        True if _IMPLANT.search(devices) or re.search(r"\bV44\.6\b", " ".join(codes)) else None
    )
    guidance = frozenset(g for p, g in _GUIDANCE if p.search(all_text)) or frozenset(
        {Guidance.UNSPECIFIED}
    )
    complications = " ".join(t for c in r.get("complication") or [] for t in _texts(c))
    leak = True if _LEAK.search(complications) else None
    if technique is Technique.SACROPLASTY and not found:
        found = list(dict.fromkeys(lv for _, lv in levels_in_text("sacrum")))
    names: list[Level | None] = list(found) or [None]
    return [
        TreatedLevel(lv, technique, side, implant, guidance, False, leak, (prov,)) for lv in names
    ]


def _condition_items(
    resources: list[dict[str, Any]],
    by_ref: dict[str, dict[str, Any]],
    reasons: list[str],
    questions: list[Question],
) -> Iterator[tuple[str, Provenance]]:
    wanted = [by_ref[r] for r in reasons if r in by_ref] or [
        r for r in resources if r.get("resourceType") == "Condition"
    ]
    for c in wanted:
        if c.get("resourceType") != "Condition":
            continue
        ref = f"Condition/{c.get('id', '?')}"
        verification = _first_code(c.get("verificationStatus"))
        clinical = _first_code(c.get("clinicalStatus"))
        if verification in {"refuted", "entered-in-error"} or clinical in {"resolved", "inactive"}:
            continue
        sites = " ".join(t for b in c.get("bodySite") or [] for t in _texts(b))
        phrase = " ".join(_condition_texts(c.get("code")))
        prov = Provenance("fhir", ref, phrase[:200], location="Condition.code")
        if verification in {"provisional", "differential", "unconfirmed"}:
            questions.append(
                Question(
                    f"{ref} is {verification}; uncertain diagnoses are not coded.",
                    "Has this diagnosis been confirmed?",
                    (prov,),
                )
            )
            continue
        yield (f"{phrase} {sites}".strip(), prov)


def _condition_texts(concept: Any) -> list[str]:
    """Words for a diagnosis: the official title of each ICD code, then the text."""
    out: list[str] = []
    for code, system in _codings(concept):
        title = icd_title(code, system)
        if title:
            out.append(("traumatic " if code.startswith("S") else "") + title)
    out.extend(_texts(concept, displays=not out))
    return out


def icd_title(code: str, system: CodeSystem | None) -> str | None:
    """The official title of an ICD-10-CM or WHO ICD-10 code, or None."""
    if system is CodeSystem.ICD10CM:
        import simple_icd_10_cm as cm  # type: ignore[import-untyped]

        return cm.get_description(code) if cm.is_valid_item(code) else None
    if system is CodeSystem.ICD10:
        import simple_icd_10 as who  # type: ignore[import-untyped]

        return who.get_description(code) if who.is_valid_item(code) else None
    return None


def _technique(concept: Any, texts: list[str]) -> Technique | None:
    for code, system in _codings(concept):
        if system is CodeSystem.CPT and code in _CPT_TECHNIQUE:
            return _CPT_TECHNIQUE[code]
        if system is CodeSystem.OPCS4 and code in {"V44.4", "V44.6"}:
            return Technique.AUGMENTATION if code == "V44.6" else Technique.VERTEBROPLASTY
    joined = " ".join(texts)
    for pattern, technique in _TEXT_TECHNIQUE:
        if pattern.search(joined):
            return technique
    return None


def _codings(concept: Any) -> list[tuple[str, CodeSystem | None]]:
    if not isinstance(concept, dict):
        return []
    out = []
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("code"):
            out.append(
                (str(coding["code"]).strip(), system_of_uri(str(coding.get("system") or "")))
            )
    return out


def _texts(concept: Any, displays: bool = True) -> list[str]:
    if not isinstance(concept, dict):
        return []
    out = [str(concept["text"])] if concept.get("text") else []
    if displays:
        out.extend(
            str(c["display"])
            for c in concept.get("coding") or []
            if isinstance(c, dict) and c.get("display")
        )
    return out


def _site_texts(r: dict[str, Any]) -> list[str]:
    return [t for b in r.get("bodySite") or [] for t in _texts(b)] + _texts(r.get("code"))


def _notes(r: dict[str, Any]) -> list[str]:
    return [
        str(n.get("text")) for n in r.get("note") or [] if isinstance(n, dict) and n.get("text")
    ]


def _first_code(concept: Any) -> str | None:
    codes = _codings(concept)
    return codes[0][0] if codes else None


def read_claim(resource: dict[str, Any], source: str) -> Claim:
    """The claim model from a FHIR Claim: items, diagnoses and preauthorisation references."""
    ref = f"Claim/{resource.get('id', '?')}"
    diagnoses = []
    for d in resource.get("diagnosis") or []:
        for code, system in _codings((d or {}).get("diagnosisCodeableConcept")):
            diagnoses.append(ClaimDiagnosis(int(d.get("sequence") or 0), system, code))
    items: list[ClaimItem] = []
    for item in resource.get("item") or []:
        item = item or {}
        words = " ".join(
            [
                *_texts(item.get("productOrService")),
                *_texts(item.get("bodySite")),
                *(t for s in item.get("subSite") or [] for t in _texts(s)),
            ]
        )
        quantity = (item.get("quantity") or {}).get("value")
        modifiers = tuple(c for m in item.get("modifier") or [] for c, _ in _codings(m))
        auth = [
            str(e.get("valueString"))
            for e in item.get("extension") or []
            if isinstance(e, dict)
            and str(e.get("url", "")).endswith("authorizationNumber")
            and e.get("valueString")
        ]
        for code, system in _codings(item.get("productOrService"))[:1]:
            items.append(
                ClaimItem(
                    sequence=int(item.get("sequence") or len(items) + 1),
                    system=system,
                    code=code,
                    units=int(quantity) if isinstance(quantity, int | float) else 1,
                    modifiers=modifiers,
                    text=words,
                    preauth_refs=tuple(auth),
                )
            )
    preauth = tuple(
        str(p)
        for ins in resource.get("insurance") or []
        for p in (ins or {}).get("preAuthRef") or []
    )
    return Claim(
        ref, source, str(resource.get("use") or ""), tuple(items), tuple(diagnoses), preauth
    )
