"""Pain scores: LOINC 72514-3 (0-10 numeric rating) as pain.score and, when 7-10, pain.severe.

The latest score in the current episode, up to the request date, is read.

Banding: a score of 7-10 is read as severe pain. This is the common banding of the 0-10
numeric rating scale (0 none, 1-3 mild, 4-6 moderate, 7-10 severe; e.g. Palos et al.,
J Pain 2006;7(1):49-56, where community adults put severe at 7-10). Published cut points
vary (a review of cancer and non-cancer studies, Woo et al., Ann Palliat Med 2015, found the
moderate/severe boundary between 4 and 7, most often after 6; Boonstra et al., Front Psychol
2016, put severe at 8 or more in chronic musculoskeletal pain), so a score of 0-6 leaves
pain.severe unknown rather than false: one score, perhaps taken under analgesia, does not
show that the pain is not severe.
"""

from __future__ import annotations

import datetime as dt

from vertebro.adapters.fhir import codes
from vertebro.adapters.fhir.bundle import Entry
from vertebro.adapters.fhir.context import ReadContext
from vertebro.adapters.fhir.elements import codings, obj, parse_date, period, string

SEVERE_FROM = 7
SKIPPED_STATUS = {"cancelled", "entered-in-error", "registered"}


def read_observations(ctx: ReadContext) -> None:
    """pain.score (and pain.severe for 7-10) from the latest pain score in the episode."""
    latest: tuple[dt.date, Entry, float, str] | None = None
    for entry in ctx.index.of_type("Observation"):
        resource = entry.resource
        if string(resource.get("status")) in SKIPPED_STATUS or not ctx.about_patient(entry):
            continue
        if not is_pain_score(resource.get("code")):
            continue
        when = parse_date(resource.get("effectiveDateTime")) or period(
            resource.get("effectivePeriod")).start or parse_date(resource.get("issued"))
        if when is None or not ctx.in_window(when, when):
            continue
        value, path = _value(resource)
        if value is None:
            continue
        if not 0 <= value <= 10:
            ctx.warn(f"{entry.name}: pain score {value:g} is outside 0-10; ignored")
            continue
        if latest is None or when > latest[0]:
            latest = (when, entry, value, f"{entry.path}.{path}")
    if latest is None:
        return
    when, entry, value, path = latest
    quote = f"pain severity {value:g}/10 (LOINC {codes.PAIN_SCORE_LOINC}) on {when}"
    ctx.add(entry, "pain.score", value, quote=quote, location=path, when=when)
    if value >= SEVERE_FROM:
        ctx.add(entry, "pain.severe", True, quote=f"{quote}; 7-10 is severe on the 0-10 scale",
                location=path, when=when)


def is_pain_score(concept: object) -> bool:
    return any(
        codes.system_of(c.system) is codes.System.LOINC and c.code == codes.PAIN_SCORE_LOINC
        for c in codings(concept, "")
    )


def _value(resource: dict[str, object]) -> tuple[float | None, str]:
    quantity = obj(resource.get("valueQuantity"))
    if quantity is not None:
        number = quantity.get("value")
        if isinstance(number, int | float) and not isinstance(number, bool):
            return float(number), "valueQuantity.value"
    number = resource.get("valueInteger")
    if isinstance(number, int) and not isinstance(number, bool):
        return float(number), "valueInteger"
    return None, ""
