"""Code tables and crosswalks as plain data: every entry carries its source and confidence.

A *table* lists the codes of one system with their titles (shipped, or loaded by the user from an
official release). A *crosswalk* maps the rules' concepts ("vertebroplasty", "two levels of
spine", "fluoroscopic control") to codes, with the evidence for each mapping. A concept whose code
is not confirmed has no code: with an official table loaded it is looked up by title instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Literal


class CodeSystem(StrEnum):
    """A code system the rules can produce, with its FHIR code-system URI."""

    OPCS4 = "opcs4"
    ICD10 = "icd10"
    CPT = "cpt"
    ICD10CM = "icd10cm"

    @property
    def uri(self) -> str:
        """The FHIR `Coding.system` for this code system."""
        return SYSTEM_URIS[self]

    @property
    def label(self) -> str:
        """A readable name."""
        return _TITLES[self]


# OPCS-4 has no HL7 UK Core NamingSystem; https://fhir.nhs.uk/Id/opcs-4 is the URI NHS-connected
# FHIR services use for it (for example the FHIRfly OPCS-4 API's `fhir_coding.system`).
SYSTEM_URIS: Mapping[CodeSystem, str] = MappingProxyType(
    {
        CodeSystem.OPCS4: "https://fhir.nhs.uk/Id/opcs-4",
        CodeSystem.ICD10: "http://hl7.org/fhir/sid/icd-10",
        CodeSystem.CPT: "http://www.ama-assn.org/go/cpt",
        CodeSystem.ICD10CM: "http://hl7.org/fhir/sid/icd-10-cm",
    }
)
_TITLES = {
    CodeSystem.OPCS4: "OPCS-4",
    CodeSystem.ICD10: "ICD-10 (WHO)",
    CodeSystem.CPT: "CPT",
    CodeSystem.ICD10CM: "ICD-10-CM",
}


def system_of_uri(uri: str) -> CodeSystem | None:
    """The code system a FHIR `Coding.system` names, tolerating http/https and a trailing slash."""
    wanted = _uri_key(uri)
    for system, known in SYSTEM_URIS.items():
        if _uri_key(known) == wanted:
            return system
    return None


def _uri_key(uri: str) -> str:
    return re.sub(r"^https?://", "", uri.strip().rstrip("/").lower())


class Confidence(StrEnum):
    """How far an entry is verified: in an authoritative source, a secondary one, or neither."""

    CONFIRMED = "confirmed"
    LIKELY = "likely"
    UNCONFIRMED = "unconfirmed"

    @property
    def rank(self) -> int:
        """2 for confirmed, 1 for likely, 0 for unconfirmed."""
        return {"confirmed": 2, "likely": 1, "unconfirmed": 0}[self.value]


def weakest(*levels: Confidence) -> Confidence:
    """The least certain of several confidences (a chain is only as strong as its weakest link)."""
    return min(levels, key=lambda c: c.rank)


@dataclass(frozen=True, slots=True)
class CodeEntry:
    """One code with its title, where the title was read, and how far that is verified."""

    code: str
    title: str
    source: str
    confidence: Confidence
    note: str | None = None


TableOrigin = Literal["shipped", "loaded"]


@dataclass(frozen=True, slots=True)
class CodeTable:
    """The codes of one system. `origin` is "loaded" for an official release loaded by the user."""

    system: CodeSystem
    label: str  # where the table came from, for messages
    origin: TableOrigin
    entries: Mapping[str, CodeEntry]

    def get(self, code: str) -> CodeEntry | None:
        """The entry for a code, or None when the table does not hold it."""
        return self.entries.get(code)

    def search(self, prefixes: tuple[str, ...], words: tuple[str, ...]) -> list[CodeEntry]:
        """Entries whose code starts with one of the prefixes and whose title holds every word."""
        found = []
        for entry in self.entries.values():
            if prefixes and not entry.code.startswith(prefixes):
                continue
            title = entry.title.lower()
            if all(word in title for word in words):
                found.append(entry)
        return sorted(found, key=lambda e: e.code)


@dataclass(frozen=True, slots=True)
class Concept:
    """What the rules mean by a concept, and which code says it.

    `code` is None when no code is confirmed for the concept; `search` (code prefixes) and
    `verify` (words the title must hold) then find it in a loaded official table. For a concept
    with a code, `verify` checks that a loaded table gives that code the expected meaning.
    """

    key: str
    code: str | None
    meaning: str
    source: str
    confidence: Confidence
    verify: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    note: str | None = None
    question: str | None = None


@dataclass(frozen=True, slots=True)
class Crosswalk:
    """The concepts of one system's rules, by key."""

    system: CodeSystem
    concepts: Mapping[str, Concept] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Concept:
        return self.concepts[key]


@dataclass(frozen=True, slots=True)
class Resolved:
    """A concept resolved against a table: the code (None for a placeholder) and why."""

    concept: Concept
    code: str | None
    display: str
    confidence: Confidence
    notes: tuple[str, ...] = ()
    problem: str | None = None  # a mismatch between the crosswalk and a loaded table


def resolve(key: str, table: CodeTable, crosswalk: Crosswalk) -> Resolved:
    """Find the code for a concept in a table, grading its confidence.

    The confidence is the weaker of the table entry's and the mapping's; a loaded official table
    whose title carries the expected words confirms the mapping; one that does not flags it.
    """
    concept = crosswalk[key]
    notes: list[str] = [f"code from {concept.source} ({concept.confidence.value})"]
    if concept.note:
        notes.append(concept.note)
    if concept.code is None:
        return _search(concept, table, notes)
    entry = table.get(concept.code)
    if entry is None:
        return Resolved(
            concept,
            concept.code,
            concept.meaning,
            Confidence.UNCONFIRMED,
            tuple(notes),
            f"{concept.code} is not in the {table.system.label} table ({table.label})",
        )
    if entry.source != concept.source:
        notes.append(f"title from {entry.source}")
    confidence = weakest(entry.confidence, concept.confidence)
    problem = None
    if table.origin == "loaded" and concept.verify:
        if _holds(entry.title, concept.verify):
            confidence = entry.confidence
            notes.append(f"meaning verified against the loaded table ({table.label})")
        else:
            confidence = Confidence.UNCONFIRMED
            problem = (
                f"the loaded table titles {entry.code} {entry.title!r}, which does not say "
                f"{concept.meaning!r}; check the crosswalk"
            )
    return Resolved(concept, entry.code, entry.title, confidence, tuple(notes), problem)


def _search(concept: Concept, table: CodeTable, notes: list[str]) -> Resolved:
    if table.origin == "loaded" and concept.verify:
        matches = table.search(concept.search, concept.verify)
        if len(matches) == 1:
            entry = matches[0]
            notes.append(f"found by title in the loaded table ({table.label}); check it")
            return Resolved(concept, entry.code, entry.title, Confidence.LIKELY, tuple(notes))
        if matches:
            listed = ", ".join(f"{m.code} {m.title}" for m in matches[:5])
            notes.append(f"several codes in the loaded table could fit: {listed}")
    return Resolved(
        concept,
        None,
        f"[code not confirmed] {concept.meaning}",
        Confidence.UNCONFIRMED,
        tuple(notes),
    )


def _holds(title: str, words: tuple[str, ...]) -> bool:
    lowered = title.lower()
    return all(word in lowered for word in words)
