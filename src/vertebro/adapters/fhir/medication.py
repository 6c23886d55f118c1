"""Analgesics (MedicationStatement, MedicationRequest) as conservative treatment, and how long
conservative treatment has been given.

An analgesic is recognised by its ingredient name in the medication's text or display
(`codes.ANALGESIC_WORDS`; RxNorm codes are not used). A course runs:

* MedicationStatement: effectivePeriod, or from effectiveDateTime (end not known);
* MedicationRequest: dosageInstruction.timing.repeat.boundsPeriod, else from authoredOn for
  dispenseRequest.expectedSupplyDuration times (1 + numberOfRepeatsAllowed);
* a course still active with no end runs to the request date.

Courses ending before the current episode (before the fracture's onset, else more than 26
weeks before the request) are not counted; the rest are clipped to the episode.
`conservative_treatment.duration_weeks` is the number of days covered by any counted course
(analgesics, physiotherapy, bracing), in weeks; it is not given when a counted course has no
known end, since that would understate it.

Blood thinners taken now (status active or on hold) are recorded in medication.blood_thinners
by the generic names the catalogue lists, when the catalogue has that fact.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from vertebro.adapters.combine import Rank, Reading
from vertebro.adapters.fhir import codes
from vertebro.adapters.fhir.bundle import Entry
from vertebro.adapters.fhir.context import Course, ReadContext
from vertebro.adapters.fhir.elements import (
    JsonObj,
    concept_text,
    concept_words,
    obj,
    objs,
    parse_date,
    period,
    reference,
    shift,
    string,
)
from vertebro.core.catalogue import CATALOGUE
from vertebro.core.facts import Fact, Provenance

STATEMENT_SKIPPED = {"not-taken", "entered-in-error", "intended"}
REQUEST_SKIPPED = {"cancelled", "entered-in-error", "draft"}
REQUEST_INTENTS_SKIPPED = {"proposal", "plan"}
ONGOING = {"active", "in-progress"}
UNIT_DAYS = {"d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "weeks": 7, "mo": 30, "month": 30}


_BLOOD_THINNERS = "medication.blood_thinners"
CURRENT = {"active", "on-hold"}


def blood_thinner_words() -> re.Pattern[str] | None:
    """The generic names the catalogue lists for blood thinners (None if it has no such fact)."""
    spec = CATALOGUE.get(_BLOOD_THINNERS)
    if spec is None:
        return None
    names = [c for c in spec.choices if c != "other"]
    return re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b", re.I) if names else None


def _blood_thinners(ctx: ReadContext, entry: Entry, words: str, path: str, status: str | None,
                    pattern: re.Pattern[str] | None) -> None:
    """A blood thinner the patient takes now (active or on hold), by generic name. Only the
    ones found are recorded: a medicine missing from the bundle is not evidence of none."""
    if pattern is None or status not in CURRENT:
        return
    found = frozenset(m.lower() for m in pattern.findall(words))
    if found:
        ctx.add(entry, _BLOOD_THINNERS, found, quote=words, location=path, when=ctx.anchor)


def read_medications(ctx: ReadContext) -> None:
    """Record each analgesic course in the episode as a conservative treatment, and current
    blood thinners (when the catalogue has that fact)."""
    thinners = blood_thinner_words()
    for entry in ctx.index.of_type("MedicationStatement", "MedicationRequest"):
        resource = entry.resource
        status = string(resource.get("status"))
        if entry.type == "MedicationStatement" and status in STATEMENT_SKIPPED:
            continue
        if entry.type == "MedicationRequest" and (
            status in REQUEST_SKIPPED or string(resource.get("intent")) in REQUEST_INTENTS_SKIPPED
        ):
            continue
        if not ctx.about_patient(entry):
            continue
        concept, concept_path = _medication(ctx, entry)
        words = concept_words(concept)
        _blood_thinners(ctx, entry, words, concept_path, status, thinners)
        if not codes.ANALGESIC_WORDS.search(words):
            continue
        start, end, how = _course(ctx, entry, status)
        if start is None:
            ctx.warn(f"{entry.name}: analgesic without a start date; not counted")
            continue
        if not ctx.in_window(start, end):
            continue
        name = concept_text(concept) or words
        quote = f"{name}; {how}"
        ctx.add(entry, "conservative_treatment.modalities", frozenset({"analgesics"}),
                quote=quote, location=concept_path, when=start)
        provenance = Provenance("fhir", entry.name, quote, None, concept_path)
        ctx.courses.append(Course("analgesics", start, end, provenance))


def _medication(ctx: ReadContext, entry: Entry) -> tuple[JsonObj | None, str]:
    resource = entry.resource
    if isinstance(resource.get("medicationCodeableConcept"), dict):
        return resource["medicationCodeableConcept"], f"{entry.path}.medicationCodeableConcept"
    ref = reference(resource.get("medicationReference"))
    if ref is None:
        return None, entry.path
    if ref.startswith("#"):
        inner = ctx.index.contained(entry, ref)
        return (obj(inner.get("code")) if inner else None), f"{entry.path}.contained{ref}.code"
    target = ctx.index.resolve(ref)
    if target is None:
        ctx.warn(f"{entry.name}: medication {ref} is not in the bundle")
        return None, entry.path
    return obj(target.resource.get("code")), f"{target.path}.code"


def _course(
    ctx: ReadContext, entry: Entry, status: str | None
) -> tuple[dt.date | None, dt.date | None, str]:
    """(start, end, description) of a course; end None when not known."""
    resource = entry.resource
    if entry.type == "MedicationStatement":
        span = period(resource.get("effectivePeriod"))
        start, end = span.start, span.end
        if start is None:  # a single date says when it was taken, not for how long
            start = parse_date(resource.get("effectiveDateTime"))
    else:
        start = end = None
        for dosage in objs(resource.get("dosageInstruction")):
            repeat = obj((obj(dosage.get("timing")) or {}).get("repeat")) or {}
            bounds = period(repeat.get("boundsPeriod"))
            if bounds.start:
                start, end = bounds.start, bounds.end
                break
        if start is None:
            start = parse_date(resource.get("authoredOn"))
            end = _supply_end(resource, start)
    if end is None and status in ONGOING and start is not None:
        end = ctx.anchor
        how = f"from {start} (ongoing{' to ' + str(end) if end else ''})"
    elif start is not None and end is not None:
        how = f"{start} to {end}"
    else:
        how = f"from {start}, end not recorded"
    return start, end, how


def _supply_end(resource: JsonObj, start: dt.date | None) -> dt.date | None:
    if start is None:
        return None
    dispense = obj(resource.get("dispenseRequest")) or {}
    supply = obj(dispense.get("expectedSupplyDuration")) or {}
    value = supply.get("value")
    unit = (string(supply.get("code")) or string(supply.get("unit")) or "").lower()
    if not isinstance(value, int | float) or isinstance(value, bool) or unit not in UNIT_DAYS:
        return None
    if not math.isfinite(value) or value < 0:  # JSON allows 1e999 and -5; no supply lasts so
        return None
    repeats = dispense.get("numberOfRepeatsAllowed")
    fills = 1 + (repeats if isinstance(repeats, int) and not isinstance(repeats, bool) else 0)
    days = int(value * UNIT_DAYS[unit] * fills)
    return shift(start, max(days - 1, 0))


def conservative_duration(ctx: ReadContext) -> None:
    """conservative_treatment.duration_weeks from every counted course, when all have ends."""
    if not ctx.courses:
        return
    open_ended = [c for c in ctx.courses if c.end is None]
    if open_ended:
        names = ", ".join(sorted({c.provenance.source for c in open_ended}))
        ctx.warn(f"weeks of conservative treatment not computed: no end date for {names}")
        return
    first = ctx.window_start()
    spans = []
    for course in ctx.courses:
        assert course.end is not None
        start = max(course.start, first) if first else course.start
        end = min(course.end, ctx.anchor) if ctx.anchor else course.end
        if end >= start:
            spans.append((start, end))
    days = _covered_days(spans)
    if days == 0:
        return
    weeks = round(days / 7, 1)
    evidence = tuple(dict.fromkeys(c.provenance for c in ctx.courses))
    fact = Fact("conservative_treatment.duration_weeks", weeks, evidence)
    latest = max(c.end for c in ctx.courses if c.end is not None)
    ctx.readings.append(Reading(fact, Rank.CODED, 0, latest))


def _covered_days(spans: list[tuple[dt.date, dt.date]]) -> int:
    total = 0
    current: tuple[dt.date, dt.date] | None = None
    for start, end in sorted(spans):
        if current is None or start > shift(current[1], 1):
            if current is not None:
                total += (current[1] - current[0]).days + 1
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        total += (current[1] - current[0]).days + 1
    return total
