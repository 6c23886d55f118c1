"""Merge readings of one case from several sources into one FactSet, keeping every conflict.

A *reading* is one source's value for one fact, with the evidence behind it, how strong that
kind of source is (`Rank`), whether it is tied to the request (`priority`) and when it was
written (`when`). Readings come from coded FHIR data, the text of reports and letters, case
files and reviewers' answers. `combine` turns any number of them into one fact per name.

The rule, applied to each fact name separately:

1. A reading whose value is unknown decides nothing. If no reading is known, the fact stays
   unknown and keeps the evidence of the unknown readings (for example a *suspected* finding),
   so a report can show why it was asked.
2. Sets accumulate. For a fact holding a set (conservative treatments given, MDT members) the
   value is the union of every reading: a treatment documented anywhere was given.
3. Readings that agree are merged: one value, and all of their evidence, strongest first.
4. Readings that disagree are settled in this order; the readings that lose are kept in
   `Fact.conflicts`, so reports show them:

   a. Safety exclusions (`SAFETY_FACTS`: osteomyelitis or infection, cord compression,
      instability, retropulsion, neurological deficit). An affirmed finding (true) beats a
      negated one (false) from any source, and so does a suspected one (unknown with evidence),
      which leaves the fact unknown: a conflict never yields "absent". Only a reviewer's answer
      settles a safety conflict, and then the overruled readings stay visible as conflicts.
   b. Otherwise the stronger kind of source wins: a reviewer's answer > the requesting
      clinician's attested answer (a DTR QuestionnaireResponse, answers to a pended case) >
      coded structured data (FHIR codes and elements, case files) > the text of a report
      (imaging, pathology) > the text of a letter or note. An attestation does not settle a
      safety conflict (4a): only the reviewer, who did not write the request, can.
   c. Within one kind, a reading tied to the request (the diagnosis the request names, a finding
      at the requested level) beats a background one (`priority`).
   d. Then the more recent reading wins, when both are dated and the dates differ. This is not
      applied to facts that say what something *is* (`TIMELESS_FACTS`: aetiology, fracture type,
      onset date, sex, the request itself): a newer record of a different cause does not make
      the older one wrong.
   e. Otherwise the fact stays unknown, with every disagreeing reading kept as a conflict:
      if in doubt, unknown.

Case files count as coded structured data: they are curated by a person, but they are not a
reviewer's answer to a question the system asked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from vertebro.core.catalogue import CATALOGUE
from vertebro.core.facts import Fact, FactSet, FactType, FactValue, Provenance


class Rank(IntEnum):
    """How strong a kind of source is; a higher rank wins a conflict (rule 4b)."""

    LETTER_TEXT = 1  # free text of a letter, referral or clinical note
    REPORT_TEXT = 2  # free text of a diagnostic report (imaging, pathology)
    CODED = 3  # coded structured data: FHIR codes and elements, case files
    ATTESTATION = 4  # the requesting clinician's answer to a question (DTR, a pended case)
    ANSWER = 5  # a reviewer's answer to a question


SAFETY_FACTS: frozenset[str] = frozenset({
    "infection.osteomyelitis_at_site",
    "infection.active",
    "cord_compression.present",
    "fracture.unstable",
    "fracture.retropulsion",
    "neurological_deficit.present",
})

TIMELESS_FACTS: frozenset[str] = frozenset({
    "fracture.aetiology",
    "fracture.type",
    "fracture.glucocorticoid_induced",
    "fracture.onset_date",
    "lesion.osteolytic",
    "patient.sex",
    "request.procedure",
    "request.levels",
})


@dataclass(frozen=True, slots=True)
class Reading:
    """One source's value for one fact, with the strength and date of that source."""

    fact: Fact
    rank: Rank
    priority: int = 0  # within a rank, a reading tied to the request beats background (rule 4c)
    when: dt.date | None = None  # when the source was written or the finding observed


def default_rank(provenance: Provenance) -> Rank:
    """The rank of a source from its kind of evidence (a note counts as a letter)."""
    if provenance.kind == "answer":
        return Rank.ANSWER
    if provenance.kind == "attestation":
        return Rank.ATTESTATION
    if provenance.kind == "note":
        return Rank.LETTER_TEXT
    return Rank.CODED


def readings_of(
    facts: FactSet, rank: Rank | None = None, *, priority: int = 0, when: dt.date | None = None
) -> list[Reading]:
    """Every fact of a set as a reading; the rank defaults to that of each fact's first evidence."""
    out = []
    for fact in facts.values():
        fact_rank = rank
        if fact_rank is None:
            fact_rank = default_rank(fact.evidence[0]) if fact.evidence else Rank.CODED
        out.append(Reading(fact, fact_rank, priority, when))
    return out


def combine(readings: Iterable[Reading]) -> FactSet:
    """Merge readings into one fact per name by the rule in this module's docstring."""
    by_name: dict[str, list[Reading]] = {}
    for reading in readings:
        by_name.setdefault(reading.fact.name, []).append(reading)
    return FactSet(merge(name, group) for name, group in by_name.items())


def combine_sets(*sets: tuple[FactSet, Rank]) -> FactSet:
    """Merge whole fact sets, each with the rank of its source."""
    return combine(r for facts, rank in sets for r in readings_of(facts, rank))


def merge(name: str, readings: list[Reading]) -> Fact:
    """The one fact that several readings of `name` come to (the rule in the module docstring)."""
    earlier = tuple(c for r in readings for c in _flat_conflicts(r.fact))
    known = [r for r in readings if r.fact.value is not None]
    unknown = [r for r in readings if r.fact.value is None]
    if not known:
        return Fact(name, None, _evidence(_strongest_first(unknown)), earlier)
    spec = CATALOGUE.get(name)
    if spec is not None and spec.type is FactType.CHOICES:
        return _union(name, known, earlier)
    values = _distinct_values(known)
    if len(values) == 1 and not _suspicion_blocks(name, known, unknown):
        return Fact(name, known[0].fact.value, _evidence(_strongest_first(known)), earlier)
    suspected = [r for r in unknown if r.fact.evidence]
    winners = _settle(name, known)
    if winners is None:
        kept = _strongest_first(known + suspected)
        return Fact(name, None, (), earlier + tuple(_bare(r.fact) for r in kept))
    winning_value = winners[0].fact.value
    losers = [r for r in known if r.fact.value != winning_value] + suspected
    return Fact(
        name,
        winning_value,
        _evidence(_strongest_first(winners)),
        earlier + tuple(_bare(r.fact) for r in _strongest_first(losers)),
    )


def _settle(name: str, known: list[Reading]) -> list[Reading] | None:
    """The agreeing readings that win a conflict, or None when the fact must stay unknown."""
    answers = [r for r in known if r.rank is Rank.ANSWER]
    if name in SAFETY_FACTS and not answers:
        affirmed = [r for r in known if r.fact.value is True]
        if affirmed:
            return affirmed
        # Every known reading is false here, so disagreement can only come from a suspicion.
        return None
    pool = known
    for key in (_rank_key, _priority_key):
        top = max(key(r) for r in pool)
        pool = [r for r in pool if key(r) == top]
        if len(_distinct_values(pool)) == 1:
            return _agreeing(pool, known)
    if name not in TIMELESS_FACTS and all(r.when is not None for r in pool):
        latest = max(r.when for r in pool if r.when is not None)
        pool = [r for r in pool if r.when == latest]
        if len(_distinct_values(pool)) == 1:
            return _agreeing(pool, known)
    return None


def _agreeing(pool: list[Reading], known: list[Reading]) -> list[Reading]:
    """Every known reading with the winning value, so agreeing weaker evidence is kept too."""
    value = pool[0].fact.value
    return [r for r in known if r.fact.value == value]


def _suspicion_blocks(name: str, known: list[Reading], unknown: list[Reading]) -> bool:
    """A suspected safety finding keeps a negated one from settling the fact (rule 4a)."""
    if name not in SAFETY_FACTS or any(r.rank is Rank.ANSWER for r in known):
        return False
    return known[0].fact.value is False and any(r.fact.evidence for r in unknown)


def _union(name: str, known: list[Reading], earlier: tuple[Fact, ...]) -> Fact:
    items: set[str] = set()
    for reading in known:
        value = reading.fact.value
        if isinstance(value, frozenset):
            items.update(value)
    return Fact(name, frozenset(items), _evidence(_strongest_first(known)), earlier)


def _distinct_values(readings: list[Reading]) -> list[FactValue | None]:
    values: list[FactValue | None] = []
    for reading in readings:
        if reading.fact.value not in values:
            values.append(reading.fact.value)
    return values


def _rank_key(reading: Reading) -> int:
    return int(reading.rank)


def _priority_key(reading: Reading) -> int:
    return reading.priority


def _strongest_first(readings: list[Reading]) -> list[Reading]:
    return sorted(
        readings,
        key=lambda r: (-int(r.rank), -r.priority, -(r.when.toordinal() if r.when else 0)),
    )


def _evidence(readings: list[Reading]) -> tuple[Provenance, ...]:
    return tuple(dict.fromkeys(p for r in readings for p in r.fact.evidence))


def _bare(fact: Fact) -> Fact:
    return Fact(fact.name, fact.value, fact.evidence) if fact.conflicts else fact


def _flat_conflicts(fact: Fact) -> tuple[Fact, ...]:
    return tuple(_bare(c) for c in fact.conflicts)
