"""Conditions, and the diagnoses a request names, as fracture, aetiology and safety facts.

Which diagnosis codes mean what is in `codes`. How a Condition's statuses are read:

* verificationStatus entered-in-error: ignored. refuted: the finding is absent (false) for
  osteomyelitis and cord compression; nothing else is read from it. unconfirmed, provisional
  or differential: a *suspected* finding; osteomyelitis or cord compression become unknown with
  this evidence (so a negation elsewhere cannot settle them), anything else is not read.
* clinicalStatus inactive or resolved: a fracture, metastasis or haemangioma is not current and
  is not read; osteomyelitis or cord compression become unknown with this evidence. remission
  still counts for myeloma. A missing clinicalStatus is read as active.

A fracture code that does not give the fracture's type (M80, M84, WHO S22.0) takes it from the
words of the Condition's own text or displays ('compression', 'wedge', 'crush' or 'burst');
text that negates, or names both, gives nothing.

Where the code does not place the condition in the spine (a fracture of unstated site,
a haemangioma, osteoporosis), its fracture facts count only when the request names the
diagnosis as its reason, or the Condition's bodySite is spinal. Myeloma and bone metastases
are diseases of the patient: they give the aetiology even when not tied to the request, but a
tied diagnosis beats them (priority, see adapters.combine).
"""

from __future__ import annotations

import datetime as dt
import re

from vertebro.adapters.fhir import codes
from vertebro.adapters.fhir.bundle import Entry
from vertebro.adapters.fhir.context import ReadContext, coded_status
from vertebro.adapters.fhir.elements import (
    CodingRef,
    JsonObj,
    codings,
    concept_text,
    concept_words,
    levels_in_text,
    obj,
    objs,
    parse_date,
)
from vertebro.core.facts import FactValue

SUSPECTED = {"unconfirmed", "provisional", "differential"}
NOT_CURRENT = {"inactive", "resolved"}
_SPINAL_WORDS = re.compile(r"\bvertebra\w*|\bspine\b|\bspinal\b|\bsacrum\b", re.I)
TIED = 1  # priority of a reading tied to the request or the spine


def read_conditions(ctx: ReadContext) -> None:
    """Read every Condition about the patient, then every diagnosis a request names."""
    for entry in ctx.index.of_type("Condition"):
        if not ctx.about_patient(entry):
            ctx.warn(f"{entry.name}: about another patient; skipped")
            continue
        resource = entry.resource
        verification = coded_status(resource, "verificationStatus")
        if verification == "entered-in-error":
            continue
        linked = entry.name in ctx.linked_conditions
        onset = _onset(resource)
        _read_concept(ctx, entry, resource.get("code"), f"{entry.path}.code", linked=linked,
                      verification=verification,
                      clinical=coded_status(resource, "clinicalStatus"), onset=onset,
                      recorded=parse_date(resource.get("recordedDate")) or onset,
                      body_sites=objs(resource.get("bodySite")))
    for linked_concept in ctx.linked_concepts:
        _read_concept(ctx, linked_concept.owner, linked_concept.concept, linked_concept.path,
                      linked=True, verification=None, clinical=None, onset=None,
                      recorded=ctx.request_date, body_sites=[])
    onsets = [r.fact.value for r in ctx.readings
              if r.fact.name == "fracture.onset_date" and isinstance(r.fact.value, dt.date)]
    if onsets:
        ctx.episode_start = min(onsets)


def _onset(resource: JsonObj) -> dt.date | None:
    onset = parse_date(resource.get("onsetDateTime"))
    if onset is None:
        onset = parse_date((obj(resource.get("onsetPeriod")) or {}).get("start"))
    return onset


def _meaning(
    ctx: ReadContext, entry: Entry, concept: object, path: str
) -> tuple[codes.ConditionMeaning, CodingRef, str] | None:
    """The first coding the reader knows, with its meaning and the words to quote."""
    unknown: list[CodingRef] = []
    for coding in codings(concept, path):
        system = codes.system_of(coding.system)
        meaning = codes.condition_meaning(system, coding.code) if system else None
        if meaning is None or system is None:
            unknown.append(coding)
            continue
        title = coding.display
        if system in (codes.System.ICD10CM, codes.System.ICD10):
            official = codes.official_title(system, coding.code)
            if official is None:
                ctx.warn(f"{entry.name}: {coding.code} is not a valid {system.value} code; ignored")
                continue
            title = title or official
        return meaning, coding, f"{title or meaning.label} ({system.value} {coding.code})"
    for coding in unknown:
        ctx.unused(entry.type if entry.type == "Condition" else "Diagnosis", coding)
    return None


def _read_concept(
    ctx: ReadContext,
    entry: Entry,
    concept: object,
    path: str,
    *,
    linked: bool,
    verification: str | None,
    clinical: str | None,
    onset: dt.date | None,
    recorded: dt.date | None,
    body_sites: list[JsonObj],
) -> None:
    found = _meaning(ctx, entry, concept, path)
    if found is None:
        return
    meaning, coding, quote = found
    where = coding.path

    def add(
        name: str,
        value: FactValue | None,
        priority: int = 0,
        location: str = where,
        words: str | None = None,
    ) -> None:
        ctx.add(entry, name, value, quote=words or quote, location=location, priority=priority,
                when=recorded)

    if verification == "refuted":
        if meaning.osteomyelitis:
            add("infection.osteomyelitis_at_site", False, TIED)
        if meaning.cord_compression:
            add("cord_compression.present", False, TIED)
        return
    suspected = verification in SUSPECTED
    not_current = clinical in NOT_CURRENT
    if meaning.osteomyelitis or meaning.cord_compression:
        name = (
            "infection.osteomyelitis_at_site" if meaning.osteomyelitis
            else "cord_compression.present"
        )
        if suspected or not_current:
            add(name, None, TIED)
            return
        add(name, True, TIED)
        if meaning.osteomyelitis:
            add("infection.active", True, TIED)
        return
    if suspected:
        ctx.warn(f"{entry.name}: {quote} is {verification}; not read")
        return
    if not_current and meaning.aetiology != "myeloma":
        ctx.warn(f"{entry.name}: {quote} is {clinical}; not read as current")
        return
    spinal_site = is_spinal_site(body_sites)
    tied = linked or meaning.vertebral or spinal_site
    priority = TIED if tied else 0
    if meaning.pain:
        if linked:
            add("fracture.symptomatic", True, TIED)
        return
    if meaning.osteoporosis_only:
        if linked:
            add("fracture.aetiology", "osteoporotic", TIED)
        return
    if meaning.patient_level:
        add("fracture.aetiology", meaning.aetiology, priority)
        return
    if not tied:
        ctx.warn(f"{entry.name}: {quote} is not tied to the request and its site is not "
                 "spinal; not read as the vertebral fracture")
        return
    if meaning.fracture and seventh_character(coding) == "S":
        ctx.warn(f"{entry.name}: {quote} is a sequela; not read as a current fracture")
        return
    if meaning.aetiology is not None:
        add("fracture.aetiology", meaning.aetiology, priority)
    if not meaning.fracture:
        return
    add("fracture.present", True, priority)
    if meaning.compression:
        add("fracture.type", "compression", priority)
    elif meaning.burst:
        add("fracture.type", "burst", priority)
    else:
        text = concept_text(concept) or ""
        kind = type_from_words(text)
        if kind is not None:
            add("fracture.type", kind, priority, f"{path}.text", text)
    if meaning.unstable is not None:
        add("fracture.unstable", meaning.unstable, priority)
    if meaning.collapse:
        add("fracture.vertebral_body_collapse", True, priority)
    if seventh_character(coding) in {"G", "K"}:  # delayed healing, nonunion
        add("fracture.healed", False, priority)
    if onset is not None:
        add("fracture.onset_date", onset, priority, f"{entry.path}.onset[x]",
            f"onset {onset.isoformat()}: {quote}")


def seventh_character(coding: CodingRef) -> str | None:
    """The ICD-10-CM 7th character (encounter / healing stage) of a fracture code."""
    if codes.system_of(coding.system) is not codes.System.ICD10CM:
        return None
    key = coding.code.replace(".", "").upper()
    return key[6] if len(key) >= 7 else None


_COMPRESSION_WORDS = re.compile(r"\bcompression\b|\bwedge\b|\bcrush\b", re.I)
_BURST_WORDS = re.compile(r"\bburst\b", re.I)
_NEGATION_WORDS = re.compile(r"\b(?:no|not|without|non)\b", re.I)


def type_from_words(text: str) -> str | None:
    """'compression' or 'burst' when the coded fracture's own text says which, else None."""
    if not text or _NEGATION_WORDS.search(text):
        return None
    compression = bool(_COMPRESSION_WORDS.search(text))
    burst = bool(_BURST_WORDS.search(text))
    if compression != burst:
        return "compression" if compression else "burst"
    return None


def is_spinal_site(body_sites: list[JsonObj]) -> bool:
    for site in body_sites:
        words = concept_words(site)
        if levels_in_text(words) or _SPINAL_WORDS.search(words):
            return True
    return False
