"""Inpatient admissions and their reasons: hospitalisation.admitted and .for_pain_control.

An encounter is an admission when its class is inpatient (v3-ActCode IMP, ACUTE or NONAC).
Only admissions in the current episode count: from two weeks before the fracture's onset
(a fracture is often dated on the day it is diagnosed, during the admission) up to the request
date, or the 26 weeks before the request when the onset is not known.

Its reasons are Encounter.reasonCode, the Conditions in reasonReference, and the diagnoses in
Encounter.diagnosis marked as admission diagnosis or chief complaint (or not marked). Across
the admissions in the episode:

* any admission for pain (ICD-10 M54 dorsalgia, G89 / R52 pain, or a reason whose words say
  pain or analgesia) gives admitted = true and for_pain_control = true;
* else any admission for the vertebral fracture gives admitted = true; for_pain_control stays
  unknown (the fracture may have been admitted for something other than pain);
* else admissions whose reasons are all documented and are neither pain nor the fracture give
  for_pain_control = false (admitted stays unknown: another admission may be missing);
* an admission with no documented reason gives nothing, with a warning.
"""

from __future__ import annotations

import datetime as dt
import re

from vertebro.adapters.fhir import codes
from vertebro.adapters.fhir.bundle import Entry
from vertebro.adapters.fhir.context import ReadContext
from vertebro.adapters.fhir.elements import (
    JsonObj,
    codings,
    concept_text,
    concept_words,
    obj,
    objs,
    period,
    reference,
    shift,
    string,
)

ADMISSION_ROLES = {"AD", "CC"}
SKIPPED_STATUS = {"planned", "cancelled", "entered-in-error"}
_FRACTURE_WORDS = re.compile(
    r"\b(?:vertebra\w*|spin\w*|compression)\b.*\bfracture|\bfracture\b.*\b(?:vertebra\w*|spin\w*)",
    re.I,
)
EARLY = dt.timedelta(weeks=2)


def read_encounters(ctx: ReadContext) -> None:
    """Read admissions in the episode into the two hospitalisation facts."""
    pain: list[tuple[Entry, str, str]] = []
    fracture: list[tuple[Entry, str, str]] = []
    other: list[tuple[Entry, str, str]] = []
    for entry in ctx.index.of_type("Encounter"):
        resource = entry.resource
        if not is_inpatient(resource) or string(resource.get("status")) in SKIPPED_STATUS:
            continue
        if not ctx.about_patient(entry):
            continue
        span = period(resource.get("period"))
        if not _in_episode(ctx, span.start, span.end):
            continue
        reasons = list(_reasons(ctx, entry))
        if not reasons:
            ctx.warn(f"{entry.name}: inpatient admission with no documented reason; not read")
            continue
        kinds = [(reason_kind(concept), words, path) for concept, words, path in reasons]
        pain += [(entry, w, p) for k, w, p in kinds if k == "pain"]
        fracture += [(entry, w, p) for k, w, p in kinds if k == "fracture"]
        if all(k == "other" for k, _, _ in kinds):
            other += [(entry, w, p) for _, w, p in kinds]
    if pain:
        for entry, words, path in pain:
            quote = f"inpatient admission; reason: {words}"
            ctx.add(entry, "hospitalisation.admitted", True, quote=quote, location=path)
            ctx.add(entry, "hospitalisation.for_pain_control", True, quote=quote, location=path)
    elif fracture:
        for entry, words, path in fracture:
            ctx.add(entry, "hospitalisation.admitted", True,
                    quote=f"inpatient admission; reason: {words}", location=path)
    elif other:
        for entry, words, path in other:
            ctx.add(entry, "hospitalisation.for_pain_control", False,
                    quote=f"inpatient admission; documented reason: {words}", location=path)


def is_inpatient(resource: JsonObj) -> bool:
    klass = obj(resource.get("class"))
    if klass is None:
        return False
    code = (string(klass.get("code")) or "").upper()
    display = (string(klass.get("display")) or "").lower()
    return code in codes.INPATIENT_CLASSES or display.startswith("inpatient")


def _in_episode(ctx: ReadContext, start: dt.date | None, end: dt.date | None) -> bool:
    if ctx.episode_start is not None:
        latest_day = end or start
        if latest_day is not None and latest_day < shift(ctx.episode_start, -EARLY.days):
            return False
        return not (ctx.anchor and start and start > ctx.anchor)
    return ctx.in_window(start, end)


def _reasons(ctx: ReadContext, entry: Entry) -> list[tuple[JsonObj, str, str]]:
    """(concept, words, path) for every documented reason of an encounter."""
    resource = entry.resource
    out: list[tuple[JsonObj, str, str]] = []
    for index, concept in enumerate(objs(resource.get("reasonCode"))):
        words = concept_text(concept)
        if words:
            out.append((concept, words, f"{entry.path}.reasonCode[{index}]"))
    refs = [(f"{entry.path}.reasonReference[{i}]", reference(r))
            for i, r in enumerate(objs(resource.get("reasonReference")))]
    for index, diagnosis in enumerate(objs(resource.get("diagnosis"))):
        roles = {c.code.upper() for c in codings(diagnosis.get("use"), "")}
        if not roles or roles & ADMISSION_ROLES:
            refs.append((f"{entry.path}.diagnosis[{index}].condition",
                         reference(diagnosis.get("condition"))))
    for path, ref in refs:
        target = ctx.index.resolve(ref)
        if target is None:
            if ref:
                ctx.warn(f"{entry.name}: reason {ref} is not in the bundle")
            continue
        target_concept = obj(target.resource.get("code"))
        words = concept_text(target_concept)
        if target_concept is not None and words:
            out.append((target_concept, words, f"{path} -> {target.name}"))
    return out


def reason_kind(concept: JsonObj) -> str:
    """'pain', 'fracture' or 'other' for one reason."""
    for coding in codings(concept, ""):
        system = codes.system_of(coding.system)
        meaning = codes.condition_meaning(system, coding.code) if system else None
        if meaning is not None and meaning.pain:
            return "pain"
        if meaning is not None and meaning.fracture and meaning.vertebral:
            return "fracture"
    words = concept_words(concept)
    if codes.PAIN_REASON_WORDS.search(words):
        return "pain"
    if _FRACTURE_WORDS.search(words):
        return "fracture"
    return "other"
