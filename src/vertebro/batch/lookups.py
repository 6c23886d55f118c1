"""Code and word tables for the set-based reader, made by the FHIR reader's own functions.

The per-case FHIR reader (`vertebro.adapters.fhir`) decides what a code or a phrase means with
Python functions (`codes.condition_meaning`, `codes.procedure_by_words`, `levels_in_text`, the
word patterns in `codes`). The batch reader does not call them once per resource: it collects
the *distinct* concepts of the input (a CodeableConcept or Coding serialised as JSON by the
engine), calls the same functions once per distinct concept here, and joins the answers back
in SQL. A population of millions of resources has a few hundred distinct concepts.

Each `Lookup` names the question, the columns of its answer and the function that answers it
for one concept (already parsed from JSON; None when absent).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vertebro.adapters.fhir import codes
from vertebro.adapters.fhir.condition import is_spinal_site, seventh_character, type_from_words
from vertebro.adapters.fhir.context import coded_status
from vertebro.adapters.fhir.elements import (
    codings,
    concept_text,
    concept_words,
    levels_in_text,
    obj,
    string,
)
from vertebro.adapters.fhir.encounter import ADMISSION_ROLES, is_inpatient, reason_kind
from vertebro.adapters.fhir.medication import blood_thinner_words
from vertebro.adapters.fhir.observation import is_pain_score
from vertebro.adapters.fhir.procedure import earlier_augmentation, treatment_modality
from vertebro.batch.code_lists import is_official
from vertebro.batch.dialect import SqlType
from vertebro.core.levels import ALL_LEVELS, Level

Row = tuple[object, ...]

# Every level in spinal order; the sacrum as a whole sorts before S1, as `Level` orders it.
LEVEL_ORDER: tuple[str, ...] = tuple(
    str(level) for level in sorted([*ALL_LEVELS, Level.parse("sacrum")])
)
_LEVEL_INDEX = {name: index + 1 for index, name in enumerate(LEVEL_ORDER)}


@dataclass(frozen=True, slots=True)
class Lookup:
    """A question asked once per distinct concept: its table name, answer columns and function."""

    name: str
    columns: tuple[tuple[str, SqlType], ...]
    answer: Callable[[Any], Row]

    def rows(self, concepts: Sequence[tuple[int, Any]]) -> list[Row]:
        """(key, *answer) for each (key, concept); the concept as plain dicts and lists."""
        return [(key, *self.answer(concept)) for key, concept in concepts]


def _procedure(concept: Any) -> Row:
    """The procedure a requested item's code names (as `requests` recognises it, without the
    warnings), and the levels its words name."""
    found = None
    for coding in codings(concept, ""):
        system = codes.system_of(coding.system)
        if system is None:
            continue
        known = codes.PROCEDURE_CODES.get((system, coding.code.upper()))
        if known is not None:
            found = known.procedure.value
            break
    if found is None:
        for coding in codings(concept, ""):
            if coding.display:
                procedure = codes.procedure_by_words(coding.display)
                if procedure is not None:
                    found = procedure.value
                    break
    if found is None and isinstance(concept, dict):
        text = string(concept.get("text"))
        procedure = codes.procedure_by_words(text) if text else None
        found = procedure.value if procedure else None
    return (found, _level_numbers(concept))


def _level_numbers(concept: Any) -> list[int]:
    return [_LEVEL_INDEX[str(level)] for level in levels_in_text(concept_words(concept))]


def _levels(concept: Any) -> Row:
    """The levels a body site's words name, as positions in LEVEL_ORDER."""
    return (_level_numbers(concept),)


def _condition(concept: Any) -> Row:
    """The first coding the reader knows (as `condition` reads it, without the warnings)."""
    for coding in codings(concept, ""):
        system = codes.system_of(coding.system)
        meaning = codes.condition_meaning(system, coding.code) if system else None
        if meaning is None or system is None:
            continue
        icd = system in (codes.System.ICD10CM, codes.System.ICD10)
        if icd and not is_official(system, coding.code):
            continue
        return (
            True,
            meaning.vertebral,
            meaning.fracture,
            meaning.aetiology,
            meaning.patient_level,
            meaning.compression,
            meaning.burst,
            meaning.unstable,
            meaning.collapse,
            meaning.osteomyelitis,
            meaning.cord_compression,
            meaning.pain,
            meaning.osteoporosis_only,
            seventh_character(coding),
            type_from_words(concept_text(concept) or ""),
        )
    return (False, *([None] * 14))


def _status(concept: Any) -> Row:
    """A status CodeableConcept's code, lower case (context.coded_status)."""
    return (coded_status({"s": concept}, "s"),)


def _spinal_site(concept: Any) -> Row:
    site = obj(concept)
    return (site is not None and is_spinal_site([site]),)


def _reason(concept: Any) -> Row:
    """An admission reason: 'pain', 'fracture' or 'other', and whether it has words."""
    node = obj(concept)
    if node is None:
        return (None, False)
    return (reason_kind(node), concept_text(node) is not None)


def _medicine(concept: Any) -> Row:
    """Whether a medication is an analgesic, and the blood thinners its words name."""
    words = concept_words(concept)
    pattern = blood_thinner_words()
    thinners = sorted({m.lower() for m in pattern.findall(words)}) if pattern else []
    return (bool(codes.ANALGESIC_WORDS.search(words)), thinners)


def _treatment(concept: Any) -> Row:
    """A procedure: physiotherapy or bracing (or neither), and whether it is an augmentation."""
    words = concept_words(concept)
    return (treatment_modality(concept, words), earlier_augmentation(concept) is not None)


def _pain_score(concept: Any) -> Row:
    return (is_pain_score(concept),)


def _inpatient_class(coding: Any) -> Row:
    return (is_inpatient({"class": coding}),)


def _admission_role(concept: Any) -> Row:
    """Whether an Encounter.diagnosis use counts as a reason (none given, AD or CC)."""
    roles = {c.code.upper() for c in codings(concept, "")}
    return (not roles or bool(roles & ADMISSION_ROLES),)


B, S, SL, IL = SqlType.BOOLEAN, SqlType.STRING, SqlType.STRING_LIST, SqlType.BIGINT_LIST

LOOKUPS: dict[str, Lookup] = {
    lookup.name: lookup
    for lookup in (
        Lookup("lk_procedure", (("procedure", S), ("levels", IL)), _procedure),
        Lookup("lk_levels", (("levels", IL),), _levels),
        Lookup(
            "lk_condition",
            (
                ("known", B),
                ("vertebral", B),
                ("fracture", B),
                ("aetiology", S),
                ("patient_level", B),
                ("compression", B),
                ("burst", B),
                ("unstable", B),
                ("collapse", B),
                ("osteomyelitis", B),
                ("cord_compression", B),
                ("pain", B),
                ("osteoporosis_only", B),
                ("seventh", S),
                ("type_words", S),
            ),
            _condition,
        ),
        Lookup("lk_status", (("status", S),), _status),
        Lookup("lk_spinal", (("spinal", B),), _spinal_site),
        Lookup("lk_reason", (("kind", S), ("has_words", B)), _reason),
        Lookup("lk_medicine", (("analgesic", B), ("thinners", SL)), _medicine),
        Lookup("lk_treatment", (("modality", S), ("augmentation", B)), _treatment),
        Lookup("lk_pain_score", (("pain_score", B),), _pain_score),
        Lookup("lk_inpatient", (("inpatient", B),), _inpatient_class),
        Lookup("lk_admission_role", (("counts", B),), _admission_role),
    )
}
