"""The state shared by the per-resource readers while one bundle is read."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from vertebro.adapters.combine import Rank, Reading
from vertebro.adapters.fhir.bundle import BundleIndex, Entry
from vertebro.adapters.fhir.elements import (
    CodingRef,
    JsonObj,
    items,
    obj,
    reference,
    shift,
    string,
)
from vertebro.core.catalogue import CATALOGUE
from vertebro.core.facts import Fact, FactValue, Provenance

# Treatments and findings older than this before the request, when the fracture's onset is not
# known, are not counted as part of the current episode.
LOOKBACK = dt.timedelta(weeks=26)
MAX_LISTED = 8  # codes listed in one "not used" warning
# Warnings kept per reading: a hostile bundle of 40,000 odd entries must not come back as
# 40,000 lines (nor cost a quadratic search for duplicates); the rest are counted.
MAX_WARNINGS = 100


@dataclass(frozen=True, slots=True)
class Course:
    """A conservative treatment given over a span of days (end None: not known)."""

    modality: str
    start: dt.date
    end: dt.date | None
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class LinkedConcept:
    """A diagnosis that a request names as its reason (Claim.diagnosis, reasonCode)."""

    owner: Entry
    concept: JsonObj
    path: str


@dataclass
class ReadContext:
    """What the readers share: the bundle, the patient, the request date, readings and warnings."""

    index: BundleIndex
    warnings: list[str] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    patient: Entry | None = None
    request_date: dt.date | None = None
    as_of: dt.date | None = None  # the day to date things against when there is no request date
    linked_conditions: set[str] = field(default_factory=set)  # entry names
    linked_concepts: list[LinkedConcept] = field(default_factory=list)
    episode_start: dt.date | None = None  # the fracture's onset, when known
    courses: list[Course] = field(default_factory=list)
    other_requests: list[str] = field(default_factory=list)  # requested items that are not ours
    unused_codes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    text_refused: str | None = None  # why the bundle's texts are too much to read, if they are
    text_bytes: int = 0  # attachment bytes decoded so far (documents.MAX_BUNDLE_DECODED_BYTES)
    _seen: set[str] = field(default_factory=set)  # warnings and unused codes already noted
    _more_warnings: int = 0  # warnings past MAX_WARNINGS, counted only

    def __post_init__(self) -> None:
        given, self.warnings = self.warnings, []
        for message in given:
            self.warn(message)

    def warn(self, message: str) -> None:
        """Record a warning once (after `MAX_WARNINGS`, only count it)."""
        if message in self._seen:
            return
        self._seen.add(message)
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)
        else:
            self._more_warnings += 1

    def unused(self, resource_type: str, coding: CodingRef) -> None:
        """Note a code the reader does not use (reported as one warning per resource type)."""
        label = f"{coding.system or 'no system'} {coding.code}"
        if coding.display:
            label += f" {coding.display!r}"
        key = f"\x00{resource_type}\x00{label}"  # cannot clash with a warning's text
        if key not in self._seen:
            self._seen.add(key)
            self.unused_codes[resource_type].append(label)

    def finish_warnings(self) -> None:
        """Turn the lists of unused codes into warnings."""
        for rtype, labels in self.unused_codes.items():
            shown = "; ".join(labels[:MAX_LISTED])
            more = f"; and {len(labels) - MAX_LISTED} more" if len(labels) > MAX_LISTED else ""
            self.warn(f"{rtype}: {len(labels)} code(s) not used by the reader: {shown}{more}")
        if self._more_warnings:
            self.warnings.append(f"and {self._more_warnings:,} more warnings")
            self._more_warnings = 0

    def add(
        self,
        entry: Entry,
        name: str,
        value: FactValue | None,
        *,
        quote: str | None,
        location: str,
        rank: Rank = Rank.CODED,
        priority: int = 0,
        when: dt.date | None = None,
    ) -> None:
        """Add one reading of a fact, with evidence naming the resource and the element."""
        spec = CATALOGUE[name]
        if value is not None:
            try:
                spec.coerce(value if not isinstance(value, dt.date) else value.isoformat())
            except ValueError as exc:
                self.warn(f"{entry.name} {location}: {name}: {exc}; ignored")
                return
        provenance = Provenance("fhir", entry.name, quote, None, location)
        self.readings.append(Reading(Fact(name, value, (provenance,)), rank, priority, when))

    @property
    def anchor(self) -> dt.date | None:
        """The day the episode runs up to: the request date, else the as-of date."""
        return self.request_date or self.as_of

    def window_start(self) -> dt.date | None:
        """The first day of the current episode: the fracture's onset, else the look-back
        before the anchor; None when neither is known."""
        if self.episode_start is not None:
            return self.episode_start
        if self.anchor is not None:
            return shift(self.anchor, -LOOKBACK.days)
        return None

    def in_window(self, start: dt.date | None, end: dt.date | None) -> bool:
        """True when a span of days overlaps the current episode (up to the anchor).

        With neither a fracture onset nor a request or as-of date there is no episode to
        date things against, and nothing counts (a warning says so).
        """
        first = self.window_start()
        if first is None:
            self.warn("no request date and no fracture onset: admissions, treatments and pain "
                      "scores cannot be dated against the request and are not read")
            return False
        last = self.anchor
        latest_day = end or start
        if latest_day is not None and latest_day < first:
            return False
        return not (last is not None and start is not None and start > last)

    def about_patient(self, entry: Entry) -> bool:
        """False when a resource is about a patient other than the one the request is for."""
        if self.patient is None:
            return True
        resource = entry.resource
        ref = reference(resource.get("subject")) or reference(resource.get("patient"))
        if ref is None:
            return True
        target = self.index.resolve(ref)
        if target is not None:
            return target is self.patient or target.type != "Patient"
        tail = ref.rstrip("/").split("/")
        if len(tail) >= 2 and tail[-2] == "Patient" and self.patient.id:
            return tail[-1] == self.patient.id
        return True


def coded_status(resource: JsonObj, element: str) -> str | None:
    """The code of a status CodeableConcept (e.g. Condition.clinicalStatus), lower case."""
    concept = obj(resource.get(element))
    if concept is None:
        return None
    for coding in items(concept.get("coding")):
        code = string(obj(coding) and coding.get("code"))
        if code:
            return code.lower()
    text = string(concept.get("text"))
    return text.lower() if text else None
