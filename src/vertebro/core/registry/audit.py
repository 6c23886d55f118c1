"""The audit: every rate with its Wilson interval against the published figures, per-operator
funnels, outcome trends and outcomes by the policy pathway that approved the patient.

`build_audit` is pure: records and dates in, the `AuditReport` (the JSON every format shows)
out. Each rate counts procedures (one patient-episode each), and its definition is part of
the report.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from vertebro.core.catalogue import Procedure
from vertebro.core.registry import stats
from vertebro.core.registry.benchmarks import (
    SOURCES,
    Benchmark,
    benchmarks_for,
    context_figures,
)
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

Kind = Literal["benefit", "harm"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ProportionOut(_Out):
    """events / n with the 95% Wilson interval."""

    events: int
    n: int
    rate: float | None
    low: float | None
    high: float | None


class MeanOut(_Out):
    """A mean with its 95% interval."""

    n: int
    mean: float | None
    low: float | None
    high: float | None


class BenchmarkOut(_Out):
    """A published figure and where it comes from."""

    id: str
    figure: str
    low: float
    high: float
    source: str
    document: str
    publisher: str
    section: str
    words: str
    confidence: str
    population: str
    note: str | None


class ComparisonOut(_Out):
    """A unit's rate set against one published figure."""

    benchmark: BenchmarkOut
    position: stats.Position | None  # judged by the 95% interval; None without data


class RateOut(_Out):
    """One audited rate."""

    metric: str
    label: str
    kind: Kind
    definition: str
    proportion: ProportionOut
    comparisons: list[ComparisonOut]
    note: str | None = None


class FunnelPointOut(_Out):
    """One operator on a funnel plot."""

    operator: str
    proportion: ProportionOut
    flag: stats.FunnelFlag | None


class FunnelLimitOut(_Out):
    """The control limits at one volume."""

    n: int
    low_998: float
    low_95: float
    high_95: float
    high_998: float


class FunnelOut(_Out):
    """A funnel plot of one rate across operators."""

    metric: str
    label: str
    kind: Kind
    unit: ProportionOut
    operators: list[FunnelPointOut]
    limits: list[FunnelLimitOut]


class TimepointOut(_Out):
    """Mean pain and disability at one timepoint."""

    timepoint: Timepoint
    pain: MeanOut
    roland_morris: MeanOut


class TrajectoryOut(_Out):
    """Outcomes over follow-up for a group of procedures ('all' or one procedure type)."""

    group: str
    points: list[TimepointOut]


class PeriodOut(_Out):
    """Rates for the procedures done in one calendar quarter."""

    period: str  # e.g. 2024-Q3
    start: dt.date
    procedures: int
    pain_relief: ProportionOut
    cement_leak: ProportionOut
    complication: ProportionOut


class PathwayOut(_Out):
    """Outcomes of the patients one policy pathway (decided_by criterion) approved."""

    policy: str | None
    pathway: str | None
    label: str
    procedures: int
    pain_relief: ProportionOut
    pain_change: MeanOut  # 3 months minus baseline: negative is better
    roland_morris_change: MeanOut
    cement_leak: ProportionOut
    complication: ProportionOut


class CompletenessOut(_Out):
    """How many of the follow-ups that were due by the report date are recorded."""

    timepoint: Timepoint
    due: int
    recorded: int
    rate: float | None


class SourceOut(_Out):
    """A document behind the figures."""

    id: str
    title: str
    publisher: str
    published: str
    url: str | None


class AuditReport(_Out):
    """Everything `vertebro audit report` shows, in the shape of its JSON."""

    title: str
    period_from: dt.date | None
    period_to: dt.date | None
    first_procedure: dt.date | None
    last_procedure: dt.date | None
    generated_on: dt.date
    procedures: int
    operators: int
    by_procedure: dict[str, int]
    rates: list[RateOut]
    context: list[BenchmarkOut]
    funnels: list[FunnelOut]
    trajectories: list[TrajectoryOut]
    trends: list[PeriodOut]
    pathways: list[PathwayOut]
    completeness: list[CompletenessOut]
    sources: list[SourceOut]
    method: list[str]


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


MAJOR_KINDS = frozenset({
    ComplicationKind.PULMONARY_CEMENT_EMBOLISM,
    ComplicationKind.NERVE_INJURY,
    ComplicationKind.CORD_INJURY,
    ComplicationKind.INFECTION,
    ComplicationKind.BLEEDING,
    ComplicationKind.DEATH,
})


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
            lambda c: c.kind is ComplicationKind.NEW_FRACTURE
            and (site is None or c.fracture_site is site)
        )

    return test


def _every(test: Callable[[Complication], bool]) -> Test:
    return lambda e: e.has(test)


_AT_3M = "with pain recorded at baseline and at 3 months"
METRICS: tuple[Metric, ...] = (
    Metric("pain-relief", "Pain relief at 3 months", "benefit",
           f"Pain score (0-10) lower at 3 months than at baseline; procedures {_AT_3M}.",
           _pain_relief),
    Metric("analgesic-reduction", "Less pain medication at 3 months", "benefit",
           "A weaker class of regular pain relief at 3 months than at baseline (none < "
           "non-opioid < weak opioid < strong opioid); procedures taking pain relief at baseline "
           "with both recorded.", _analgesic_reduction),
    Metric("mobility-improved", "Regained mobility at 3 months", "benefit",
           "Walking better at 3 months than at baseline (unable < with aids < independent); "
           "procedures not walking independently at baseline, with both recorded.",
           _mobility_improved),
    Metric("cement-leak", "Cement leakage", "harm",
           "Any cement leak recorded, with or without symptoms; all procedures.",
           _every(_leak)),
    Metric("symptomatic-leak", "Symptomatic cement leakage", "harm",
           "A cement leak that caused symptoms; all procedures.",
           _every(lambda c: _leak(c) and bool(c.symptomatic)),
           note="No verified published rate (reference notes section 6: not verified)."),
    Metric("leak-further-intervention", "Leak needing further intervention", "harm",
           "A cement leak that needed treatment beyond observation; all procedures.",
           _every(lambda c: _leak(c) and c.further_intervention)),
    Metric("cement-cord-nerve", "Cement pressing on the cord or a nerve", "harm",
           "A symptomatic leak into the canal or a foramen, or a nerve or cord injury caused by "
           "cement; all procedures.", _every(_cement_cord_nerve)),
    Metric("pulmonary-cement-embolism", "Cement reaching the lungs", "harm",
           "A pulmonary cement embolism recorded; all procedures.",
           _every(_kind(ComplicationKind.PULMONARY_CEMENT_EMBOLISM))),
    Metric("nerve-cord-injury", "Nerve or cord injury (any cause)", "harm",
           "A nerve root or spinal cord injury, whatever the cause; all procedures.",
           _every(lambda c: c.kind in (ComplicationKind.NERVE_INJURY,
                                       ComplicationKind.CORD_INJURY))),
    Metric("infection", "Infection", "harm", "An infection recorded; all procedures.",
           _every(_kind(ComplicationKind.INFECTION)),
           note="The Royal Berkshire leaflet calls this very unlikely and gives no figure."),
    Metric("bleeding", "Bleeding", "harm", "Bleeding recorded; all procedures.",
           _every(_kind(ComplicationKind.BLEEDING)),
           note="The Royal Berkshire leaflet calls this very unlikely and gives no figure."),
    Metric("new-fracture-adjacent", "New fracture next to a treated level (12 months)", "harm",
           "A new vertebral fracture at a level adjacent to a treated one within 12 months; "
           "procedures with a 12-month follow-up or a new fracture recorded.",
           _new_fracture(FractureSite.ADJACENT)),
    Metric("new-fracture-any", "New fracture at any level (12 months)", "harm",
           "A new vertebral fracture at any level within 12 months; procedures with a 12-month "
           "follow-up or a new fracture recorded.", _new_fracture(None)),
    Metric("death-30-days", "Death within 30 days", "harm",
           "A death within 30 days of the procedure; all procedures.",
           _every(_kind(ComplicationKind.DEATH)),
           note="No published figure in the sources."),
    Metric("major-complication", "Procedure-related complication", "harm",
           "Any complication other than an asymptomatic leak or a new fracture (a symptomatic "
           "leak, cement in the lungs, nerve or cord injury, infection, bleeding, death); all "
           "procedures.", _every(is_major)),
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


def _p(value: stats.Proportion) -> ProportionOut:
    return ProportionOut(
        events=value.events, n=value.n, rate=value.rate, low=value.low, high=value.high
    )


def _m(value: stats.Mean) -> MeanOut:
    return MeanOut(n=value.n, mean=value.mean, low=value.low, high=value.high)


def benchmark_out(b: Benchmark) -> BenchmarkOut:
    """A published figure with its source's details."""
    source = SOURCES[b.source]
    return BenchmarkOut(
        id=b.id, figure=b.figure, low=b.low, high=b.high, source=b.source,
        document=source.title, publisher=source.publisher, section=b.section, words=b.words,
        confidence=b.confidence.value, population=b.population, note=b.note,
    )


def _rate(items: Sequence[Episode], metric: Metric) -> RateOut:
    value = proportion(items, metric)
    return RateOut(
        metric=metric.id,
        label=metric.label,
        kind=metric.kind,
        definition=metric.definition,
        proportion=_p(value),
        comparisons=[
            ComparisonOut(benchmark=benchmark_out(b), position=stats.position(value, b.low, b.high))
            for b in benchmarks_for(metric.id)
        ],
        note=metric.note,
    )


def _funnel(items: Sequence[Episode], metric: Metric) -> FunnelOut:
    unit = proportion(items, metric)
    by_operator: dict[str, list[Episode]] = defaultdict(list)
    for e in items:
        by_operator[e.procedure.operator].append(e)
    points = []
    for operator in sorted(by_operator):
        value = proportion(by_operator[operator], metric)
        flag = None
        if value.rate is not None and unit.rate is not None:
            flag = stats.funnel_flag(value.events, value.n, unit.rate)
        points.append(FunnelPointOut(operator=operator, proportion=_p(value), flag=flag))
    max_n = max((p.proportion.n for p in points), default=0)
    limits = []
    if unit.rate is not None:
        for n in stats.funnel_grid(max(max_n, 10)):
            lim = stats.funnel_limits(n, unit.rate)
            limits.append(
                FunnelLimitOut(n=n, low_998=lim.low_998, low_95=lim.low_95,
                               high_95=lim.high_95, high_998=lim.high_998)
            )
    return FunnelOut(
        metric=metric.id, label=metric.label, kind=metric.kind, unit=_p(unit),
        operators=points, limits=limits,
    )


def _trajectory(group: str, items: Sequence[Episode]) -> TrajectoryOut:
    points = []
    for tp in Timepoint:
        recorded = [f for e in items if (f := e.at(tp)) is not None]
        pain = [float(f.pain) for f in recorded if f.pain is not None]
        rmdq = [float(f.roland_morris) for f in recorded if f.roland_morris is not None]
        points.append(
            TimepointOut(
                timepoint=tp, pain=_m(stats.mean_ci(pain)), roland_morris=_m(stats.mean_ci(rmdq))
            )
        )
    return TrajectoryOut(group=group, points=points)


def quarter(day: dt.date) -> tuple[str, dt.date]:
    """The calendar quarter of a date, as a label and its first day."""
    q = (day.month - 1) // 3
    return f"{day.year}-Q{q + 1}", dt.date(day.year, 3 * q + 1, 1)


def _trends(items: Sequence[Episode]) -> list[PeriodOut]:
    groups: dict[tuple[str, dt.date], list[Episode]] = defaultdict(list)
    for e in items:
        groups[quarter(e.procedure.date)].append(e)
    return [
        PeriodOut(
            period=label,
            start=start,
            procedures=len(group),
            pain_relief=_p(proportion(group, METRIC_BY_ID["pain-relief"])),
            cement_leak=_p(proportion(group, METRIC_BY_ID["cement-leak"])),
            complication=_p(proportion(group, METRIC_BY_ID["major-complication"])),
        )
        for (label, start), group in sorted(groups.items(), key=lambda kv: kv[0][1])
    ]


def _change(items: Iterable[Episode], attribute: str) -> stats.Mean:
    changes = []
    for e in items:
        base, later = e.at(Timepoint.BASELINE), e.at(Timepoint.MONTHS_3)
        if base is None or later is None:
            continue
        before, after = getattr(base, attribute), getattr(later, attribute)
        if before is not None and after is not None:
            changes.append(float(after - before))
    return stats.mean_ci(changes)


def _pathways(items: Sequence[Episode]) -> list[PathwayOut]:
    groups: dict[tuple[str | None, str | None], list[Episode]] = defaultdict(list)
    for e in items:
        groups[(e.procedure.policy, e.procedure.pathway)].append(e)
    out = []
    for (policy, pathway), group in groups.items():
        label = f"{policy}: {pathway}" if policy and pathway else pathway or "not recorded"
        out.append(
            PathwayOut(
                policy=policy,
                pathway=pathway,
                label=label,
                procedures=len(group),
                pain_relief=_p(proportion(group, METRIC_BY_ID["pain-relief"])),
                pain_change=_m(_change(group, "pain")),
                roland_morris_change=_m(_change(group, "roland_morris")),
                cement_leak=_p(proportion(group, METRIC_BY_ID["cement-leak"])),
                complication=_p(proportion(group, METRIC_BY_ID["major-complication"])),
            )
        )
    return sorted(out, key=lambda p: (-p.procedures, p.label))


# A follow-up is due once this many days have passed since the procedure.
DUE_AFTER_DAYS = {
    Timepoint.BASELINE: 0,
    Timepoint.WEEKS_2: 14,
    Timepoint.MONTHS_3: 91,
    Timepoint.MONTHS_12: 365,
}


def _completeness(items: Sequence[Episode], as_of: dt.date) -> list[CompletenessOut]:
    out = []
    for tp in Timepoint:
        due = [e for e in items if (as_of - e.procedure.date).days >= DUE_AFTER_DAYS[tp]]
        recorded = sum(e.at(tp) is not None for e in due)
        out.append(
            CompletenessOut(
                timepoint=tp, due=len(due), recorded=recorded,
                rate=recorded / len(due) if due else None,
            )
        )
    return out


METHOD = (
    "Rates count procedures; each has a 95% Wilson score interval.",
    "A rate is 'within' a published figure when its 95% interval overlaps the published range "
    "(or contains the single figure); 'above' or 'below' when the whole interval lies outside.",
    "Funnel plots: exact binomial 95% and 99.8% limits around the unit's rate, interpolated "
    "(Spiegelhalter 2005). An operator is flagged by the exact mid-p tail probability of their "
    "own count: below 0.001 is beyond the 99.8% limit (an alarm), below 0.025 beyond 95% (an "
    "alert).",
    "Means of pain (0-10) and Roland-Morris (0-24) carry a normal-approximation 95% interval.",
    "Published figures come from small studies and one hospital's leaflet; they are a guide, "
    "not a standard.",
)


def build_audit(
    registry: Registry,
    *,
    generated_on: dt.date,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
    title: str = "Vertebral augmentation audit",
) -> AuditReport:
    """The audit of the procedures done in [period_from, period_to] (either end open)."""
    items = [
        e
        for e in episodes(registry)
        if (period_from is None or e.procedure.date >= period_from)
        and (period_to is None or e.procedure.date <= period_to)
    ]
    by_type: dict[str, list[Episode]] = defaultdict(list)
    for e in items:
        by_type[e.procedure.procedure.value].append(e)
    used_sources = {b.source for b in (*(b for m in METRICS for b in benchmarks_for(m.id)),
                                      *context_figures())}
    return AuditReport(
        title=title,
        period_from=period_from,
        period_to=period_to,
        first_procedure=items[0].procedure.date if items else None,
        last_procedure=items[-1].procedure.date if items else None,
        generated_on=generated_on,
        procedures=len(items),
        operators=len({e.procedure.operator for e in items}),
        by_procedure={p.value: len(by_type[p.value]) for p in Procedure if by_type[p.value]},
        rates=[_rate(items, m) for m in METRICS],
        context=[benchmark_out(b) for b in context_figures()],
        funnels=[_funnel(items, METRIC_BY_ID[m]) for m in FUNNEL_METRICS],
        trajectories=[_trajectory("all", items)]
        + [_trajectory(kind, group) for kind, group in by_type.items() if group],
        trends=_trends(items),
        pathways=_pathways(items),
        completeness=_completeness(items, generated_on),
        sources=[
            SourceOut(id=s.id, title=s.title, publisher=s.publisher, published=s.published,
                      url=s.url)
            for s in SOURCES.values() if s.id in used_sources
        ],
        method=list(METHOD),
    )
