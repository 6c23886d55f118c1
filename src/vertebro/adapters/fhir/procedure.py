"""Procedures: physiotherapy and bracing as conservative treatment; earlier augmentations noted.

Physiotherapy is recognised by CPT 97110 / 97161-97163 or by words ('physiotherapy',
'physical therapy', 'therapeutic exercise'); bracing by words ('brace', 'orthosis', 'TLSO').
Only completed or in-progress procedures in the current episode count. A procedure with a
performedPeriod is a course that counts towards the weeks of conservative treatment; one with a
single performedDateTime (a brace fitting, a session) shows the treatment but not for how long.
A completed vertebroplasty, kyphoplasty or sacroplasty is reported as a warning: no fact
records a previous augmentation yet.
"""

from __future__ import annotations

from vertebro.adapters.fhir import codes
from vertebro.adapters.fhir.context import Course, ReadContext
from vertebro.adapters.fhir.elements import (
    codings,
    concept_text,
    concept_words,
    parse_date,
    period,
    string,
)
from vertebro.core.facts import Provenance

COUNTED_STATUS = {"completed", "in-progress"}


def read_procedures(ctx: ReadContext) -> None:
    """Record physiotherapy and bracing in the episode; note earlier augmentations."""
    for entry in ctx.index.of_type("Procedure"):
        resource = entry.resource
        status = string(resource.get("status"))
        if status not in COUNTED_STATUS or not ctx.about_patient(entry):
            continue
        concept = resource.get("code")
        path = f"{entry.path}.code"
        words = concept_words(concept)
        name = concept_text(concept) or words
        span = period(resource.get("performedPeriod"))
        start, end = span.start, span.end
        if start is None:
            start = end = parse_date(resource.get("performedDateTime"))
        if end is None and status == "in-progress":
            end = ctx.anchor
        earlier = earlier_augmentation(concept)
        if earlier is not None:
            when = start or "date not recorded"
            ctx.warn(f"{entry.name}: a previous {earlier} ({name}, {when}); "
                     "no fact records previous augmentation")
            continue
        modality = treatment_modality(concept, words)
        if modality is None or start is None or not ctx.in_window(start, end):
            continue
        how = f"{start} to {end}" if end and end != start else f"on {start}" if end else \
            f"from {start}, end not recorded"
        quote = f"{name}; {how}"
        ctx.add(entry, "conservative_treatment.modalities", frozenset({modality}), quote=quote,
                location=path, when=start)
        if span.start is not None:  # a single date says when, not for how long: not a course
            provenance = Provenance("fhir", entry.name, quote, None, path)
            ctx.courses.append(Course(modality, start, end, provenance))


def treatment_modality(concept: object, words: str) -> str | None:
    for coding in codings(concept, ""):
        cpt = codes.system_of(coding.system) is codes.System.CPT
        if cpt and coding.code in codes.PHYSIOTHERAPY_CPT:
            return "physiotherapy"
    if codes.PHYSIOTHERAPY_WORDS.search(words):
        return "physiotherapy"
    if codes.BRACING_WORDS.search(words):
        return "bracing"
    return None


def earlier_augmentation(concept: object) -> str | None:
    for coding in codings(concept, ""):
        system = codes.system_of(coding.system)
        if system is not None and (system, coding.code.upper()) in codes.PROCEDURE_CODES:
            return codes.PROCEDURE_CODES[(system, coding.code.upper())].procedure.value
    procedure = codes.procedure_by_words(concept_words(concept))
    return procedure.value if procedure else None
