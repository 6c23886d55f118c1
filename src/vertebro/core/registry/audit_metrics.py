"""The audited rates: procedures as episodes, what each metric counts, and its proportion."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vertebro.core.registry import stats
from vertebro.core.registry.audit_models import Kind
from vertebro.core.registry.model import (
    ANALGESIC_RANK,
    MOBILITY_RANK,
    Complication,
    ComplicationKind,
    FollowUp,
    FractureSite,
    InjuryCause,
    LeakSite,
    ProcedureRecord,
    Registry,
    Timepoint,
)

# --- Per-procedure facts ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Episode:
    """A procedure with its complications and follow-ups."""

    procedure: ProcedureRecord
    complications: tuple[Complication, ...]
    follow_ups: dict[Timepoint, FollowUp]

    def has(self, test: Callable[[Complication], bool]) -> bool:
        """Whether any complication passes the test."""
        return any(test(c) for c in self.complications)

    def at(self, timepoint: Timepoint) -> FollowUp | None:
        """The follow-up at a timepoint, if recorded."""
        return self.follow_ups.get(timepoint)


def episodes(registry: Registry) -> list[Episode]:
    """Group the registry by procedure (complications and follow-ups of unknown procedures are
    left out)."""
    complications: dict[str, list[Complication]] = defaultdict(list)
    for c in registry.complications:
        complications[c.procedure_id].append(c)
    follow_ups: dict[str, dict[Timepoint, FollowUp]] = defaultdict(dict)
    for f in registry.follow_ups:
        follow_ups[f.procedure_id][f.timepoint] = f
    return [
        Episode(p, tuple(complications.get(p.id, ())), follow_ups.get(p.id, {}))
        for p in sorted(registry.procedures, key=lambda p: (p.date, p.id))
    ]


# A metric: (in the denominator?, is an event?) for one episode.
Test = Callable[[Episode], bool | None]  # None: not in the denominator


@dataclass(frozen=True, slots=True)
class Metric:
    """A rate the audit computes: its id, wording and how one episode counts."""

    id: str
    label: str
    kind: Kind
    definition: str
    test: Test
    note: str | None = None


def _kind(kind: ComplicationKind) -> Callable[[Complication], bool]:
    return lambda c: c.kind is kind


def _pain_relief(e: Episode) -> bool | None:
    base, later = e.at(Timepoint.BASELINE), e.at(Timepoint.MONTHS_3)
    if base is None or later is None or base.pain is None or later.pain is None:
        return None
    return later.pain < base.pain


def _analgesic_reduction(e: Episode) -> bool | None:
    base, later = e.at(Timepoint.BASELINE), e.at(Timepoint.MONTHS_3)
    if base is None or later is None or base.analgesics is None or later.analgesics is None:
        return None
    if ANALGESIC_RANK[base.analgesics] == 0:
        return None  # nothing to reduce
    return ANALGESIC_RANK[later.analgesics] < ANALGESIC_RANK[base.analgesics]


def _mobility_improved(e: Episode) -> bool | None:
    base, later = e.at(Timepoint.BASELINE), e.at(Timepoint.MONTHS_3)
    if base is None or later is None or base.mobility is None or later.mobility is None:
        return None
    if MOBILITY_RANK[base.mobility] == 0:
        return None  # no lost mobility to regain
    return MOBILITY_RANK[later.mobility] < MOBILITY_RANK[base.mobility]


def _leak(c: Complication) -> bool:
    return c.kind is ComplicationKind.CEMENT_LEAK


def _cement_cord_nerve(c: Complication) -> bool:
    if c.kind is ComplicationKind.CEMENT_LEAK:
        return bool(c.symptomatic) and c.leak_site in (LeakSite.CANAL, LeakSite.FORAMEN)
    injury = c.kind in (ComplicationKind.NERVE_INJURY, ComplicationKind.CORD_INJURY)
    return injury and c.cause is InjuryCause.CEMENT


MAJOR_KINDS = frozenset(
    {
        ComplicationKind.PULMONARY_CEMENT_EMBOLISM,
        ComplicationKind.NERVE_INJURY,
        ComplicationKind.CORD_INJURY,
        ComplicationKind.INFECTION,
        ComplicationKind.BLEEDING,
        ComplicationKind.DEATH,
    }
)


def is_major(c: Complication) -> bool:
    """A procedure-related complication: anything but an asymptomatic leak or a new fracture."""
    return c.kind in MAJOR_KINDS or (c.kind is ComplicationKind.CEMENT_LEAK and bool(c.symptomatic))


def _followed_a_year(e: Episode) -> bool:
    return e.at(Timepoint.MONTHS_12) is not None or e.has(_kind(ComplicationKind.NEW_FRACTURE))


def _new_fracture(site: FractureSite | None) -> Test:
    def test(e: Episode) -> bool | None:
        if not _followed_a_year(e):
            return None
        return e.has(
            lambda c: (
                c.kind is ComplicationKind.NEW_FRACTURE
                and (site is None or c.fracture_site is site)
            )
        )

    return test


def _every(test: Callable[[Complication], bool]) -> Test:
    return lambda e: e.has(test)


_AT_3M = "with pain recorded at baseline and at 3 months"
METRICS: tuple[Metric, ...] = (
    Metric(
        "pain-relief",
        "Pain relief at 3 months",
        "benefit",
        f"Pain score (0-10) lower at 3 months than at baseline; procedures {_AT_3M}.",
        _pain_relief,
    ),
    Metric(
        "analgesic-reduction",
        "Less pain medication at 3 months",
        "benefit",
        "A weaker class of regular pain relief at 3 months than at baseline (none < "
        "non-opioid < weak opioid < strong opioid); procedures taking pain relief at baseline "
        "with both recorded.",
        _analgesic_reduction,
    ),
    Metric(
        "mobility-improved",
        "Regained mobility at 3 months",
        "benefit",
        "Walking better at 3 months than at baseline (unable < with aids < independent); "
        "procedures not walking independently at baseline, with both recorded.",
        _mobility_improved,
    ),
    Metric(
        "cement-leak",
        "Cement leakage",
        "harm",
        "Any cement leak recorded, with or without symptoms; all procedures.",
        _every(_leak),
    ),
    Metric(
        "symptomatic-leak",
        "Symptomatic cement leakage",
        "harm",
        "A cement leak that caused symptoms; all procedures.",
        _every(lambda c: _leak(c) and bool(c.symptomatic)),
        note="No verified published rate (reference notes section 6: not verified).",
    ),
    Metric(
        "leak-further-intervention",
        "Leak needing further intervention",
        "harm",
        "A cement leak that needed treatment beyond observation; all procedures.",
        _every(lambda c: _leak(c) and c.further_intervention),
    ),
    Metric(
        "cement-cord-nerve",
        "Cement pressing on the cord or a nerve",
        "harm",
        "A symptomatic leak into the canal or a foramen, or a nerve or cord injury caused by "
        "cement; all procedures.",
        _every(_cement_cord_nerve),
    ),
    Metric(
        "pulmonary-cement-embolism",
        "Cement reaching the lungs",
        "harm",
        "A pulmonary cement embolism recorded; all procedures.",
        _every(_kind(ComplicationKind.PULMONARY_CEMENT_EMBOLISM)),
    ),
    Metric(
        "nerve-cord-injury",
        "Nerve or cord injury (any cause)",
        "harm",
        "A nerve root or spinal cord injury, whatever the cause; all procedures.",
        _every(lambda c: c.kind in (ComplicationKind.NERVE_INJURY, ComplicationKind.CORD_INJURY)),
    ),
    Metric(
        "infection",
        "Infection",
        "harm",
        "An infection recorded; all procedures.",
        _every(_kind(ComplicationKind.INFECTION)),
        note="The Royal Berkshire leaflet calls this very unlikely and gives no figure.",
    ),
    Metric(
        "bleeding",
        "Bleeding",
        "harm",
        "Bleeding recorded; all procedures.",
        _every(_kind(ComplicationKind.BLEEDING)),
        note="The Royal Berkshire leaflet calls this very unlikely and gives no figure.",
    ),
    Metric(
        "new-fracture-adjacent",
        "New fracture next to a treated level (12 months)",
        "harm",
        "A new vertebral fracture at a level adjacent to a treated one within 12 months; "
        "procedures with a 12-month follow-up or a new fracture recorded.",
        _new_fracture(FractureSite.ADJACENT),
    ),
    Metric(
        "new-fracture-any",
        "New fracture at any level (12 months)",
        "harm",
        "A new vertebral fracture at any level within 12 months; procedures with a 12-month "
        "follow-up or a new fracture recorded.",
        _new_fracture(None),
    ),
    Metric(
        "death-30-days",
        "Death within 30 days",
        "harm",
        "A death within 30 days of the procedure; all procedures.",
        _every(_kind(ComplicationKind.DEATH)),
        note="No published figure in the sources.",
    ),
    Metric(
        "major-complication",
        "Procedure-related complication",
        "harm",
        "Any complication other than an asymptomatic leak or a new fracture (a symptomatic "
        "leak, cement in the lungs, nerve or cord injury, infection, bleeding, death); all "
        "procedures.",
        _every(is_major),
    ),
)
METRIC_BY_ID = {m.id: m for m in METRICS}
FUNNEL_METRICS = ("cement-leak", "major-complication", "pain-relief")


def proportion(items: Iterable[Episode], metric: Metric) -> stats.Proportion:
    """The metric's events and denominator among the episodes, with its Wilson interval."""
    events = n = 0
    for e in items:
        outcome = metric.test(e)
        if outcome is None:
            continue
        n += 1
        events += outcome
    return stats.wilson(events, n)
