"""Settling each fact from its readings: levels, strengths, conflicts, evidence kept."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from vertebro.adapters.nlp.extract.base import (
    MAX_EVIDENCE,
    UNSURE_VALUE,
    ReadingValue,
    _ReaderBase,
    _Reading,
    _Unsure,
)
from vertebro.core.catalogue import CATALOGUE
from vertebro.core.evaluator import ProcedureRequest
from vertebro.core.facts import Fact, FactType, Provenance
from vertebro.core.levels import Level

# Facts about the requested procedure: a note that requests none says nothing about them
# (consent to a colonoscopy is not consent to a vertebroplasty; a ureteric stent is no implant).
REQUEST_BOUND = ("consent.obtained", "request.intravertebral_implant", "request.prophylactic")


class _Settling(_ReaderBase):
    """Each fact settled from its readings, and the request's procedure and levels."""

    # ---- settling ---------------------------------------------------------------------------

    def _settle(self, requests: tuple[ProcedureRequest, ...]) -> list[Fact]:
        wanted: set[Level] = {level for r in requests for level in (r.levels or ())}
        self._wanted = wanted
        grouped: dict[str, list[_Reading]] = defaultdict(list)
        for reading in self.readings:
            if wanted and reading.levels and not _overlap(wanted, reading.levels):
                continue
            grouped[reading.fact].append(reading)
        if not requests:
            for name in REQUEST_BOUND:
                grouped.pop(name, None)
        score = (
            self._settle_one("pain.score", grouped["pain.score"])
            if grouped.get("pain.score")
            else None
        )
        if score is not None and isinstance(score.value, float):
            # NRS 7-10 is severe pain; 0-6 is not. Weaker than the clinician's own words.
            grouped["pain.severe"].append(
                _Reading("pain.severe", score.value >= 7, 1, score.evidence[0])
            )
        facts = [self._settle_one(name, readings) for name, readings in grouped.items()]
        if len(requests) == 1:
            request = requests[0]
            facts.append(Fact("request.procedure", request.procedure.value, request.evidence))
            if request.levels:
                facts.append(Fact("request.levels", request.levels, request.evidence))
        return [fact for fact in facts if fact is not None]

    def _settle_one(self, name: str, readings: list[_Reading]) -> Fact:
        spec = CATALOGUE[name]
        ordered = sorted(readings, key=lambda r: r.evidence.span or (0, 0))
        definite = [(r, r.value) for r in ordered if not isinstance(r.value, _Unsure)]
        if spec.type is FactType.CHOICES:
            values: set[str] = set()
            for _, value in definite:
                if isinstance(value, frozenset):
                    values.update(value)
            return Fact(name, frozenset(values), _evidence(ordered))
        everything_definite = len(definite) == len(ordered)
        if name == "conservative_treatment.duration_weeks" and definite and everything_definite:
            # Several treatments for different lengths of time: the longest is the total course.
            weeks = [(r, v) for r, v in definite if isinstance(v, float)]
            if weeks:
                longest, value = max(weeks, key=lambda pair: pair[1])
                return Fact(name, value, _evidence([longest, *ordered]))
        if name == "fracture.onset_date" and definite and everything_definite:
            # Readings within two weeks of each other agree; the earliest is the onset.
            days = sorted(
                ((r, v) for r, v in definite if isinstance(v, dt.date)), key=lambda pair: pair[1]
            )
            if days and (days[-1][1] - days[0][1]).days <= 14:
                return Fact(name, days[0][1], _evidence([days[0][0], *ordered]))
        if not self._wanted and _levels_disagree([r for r, _ in definite]):
            shown = ", ".join(sorted({str(_display(_key(v))) for _, v in definite}))
            self.warnings.append(
                f"{name}: differs between levels ({shown}) and no level is requested; left unknown"
            )
            conflicts = tuple(Fact(name, v, (r.evidence,)) for r, v in definite)
            return Fact(name, None, _evidence(ordered), conflicts)
        strongest: dict[object, int] = {}
        for reading in ordered:
            key = _key(reading.value)
            strongest[key] = max(strongest.get(key, 0), reading.strength)
        top = max(strongest.values())
        winners = [key for key, strength in strongest.items() if strength == top]
        if len(winners) == 1 and winners[0] is not UNSURE_VALUE:
            chosen = [(r, v) for r, v in definite if _key(v) == winners[0]]
            losers = tuple(
                Fact(name, v, (r.evidence,)) for r, v in definite if _key(v) != winners[0]
            )
            return Fact(name, chosen[0][1], _evidence(r for r, _ in chosen), losers)
        shown = ", ".join(sorted(str(_display(k)) for k in strongest))
        self.warnings.append(f"{name}: the note is not clear ({shown}); left unknown")
        conflicts = tuple(Fact(name, v, (r.evidence,)) for r, v in definite)
        return Fact(name, None, _evidence(ordered), conflicts)


def _key(value: ReadingValue) -> object:
    if isinstance(value, tuple):
        return tuple(str(v) for v in value)
    return value


def _display(value: object) -> object:
    return "uncertain" if value is UNSURE_VALUE else value


def _evidence(readings: Iterable[_Reading]) -> tuple[Provenance, ...]:
    seen: dict[tuple[int, int] | None, Provenance] = {}
    for reading in readings:
        seen.setdefault(reading.evidence.span, reading.evidence)
        if len(seen) >= MAX_EVIDENCE:
            break
    return tuple(seen.values())


def _levels_disagree(readings: list[_Reading]) -> bool:
    """Two readings with different values about different levels (an acute L1 fracture and a
    healed T8 one): which one matters depends on the level to be treated. Weak readings (a
    negated finding, "no uptake at L4") do not count against a finding at another level."""
    scoped = [r for r in readings if r.levels and r.strength >= 2]
    for index, first in enumerate(scoped):
        for second in scoped[index + 1 :]:
            if _key(first.value) != _key(second.value) and not _overlap(
                set(first.levels or ()), second.levels or ()
            ):
                return True
    return False


def _overlap(wanted: set[Level], levels: tuple[Level, ...]) -> bool:
    for level in levels:
        if level in wanted:
            return True
        if level.letter == "S" and any(
            w.letter == "S" and 0 in (w.number, level.number) for w in wanted
        ):
            return True
    return False
