"""The audit: every rate with its Wilson interval against the published figures, per-operator
funnels, outcome trends and outcomes by the policy pathway that approved the patient.

`build_audit` is pure: records and dates in, the `AuditReport` (the JSON every format shows)
out. Each rate counts procedures (one patient-episode each), and its definition is part of
the report.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence

from vertebro.core.catalogue import Procedure
from vertebro.core.registry import stats
from vertebro.core.registry.audit_metrics import (
    FUNNEL_METRICS,
    MAJOR_KINDS,
    METRIC_BY_ID,
    METRICS,
    Episode,
    Metric,
    Test,
    episodes,
    is_major,
    proportion,
)
from vertebro.core.registry.audit_models import (
    AuditReport,
    BenchmarkOut,
    ComparisonOut,
    CompletenessOut,
    FunnelLimitOut,
    FunnelOut,
    FunnelPointOut,
    Kind,
    MeanOut,
    PathwayOut,
    PeriodOut,
    ProportionOut,
    RateOut,
    SourceOut,
    TimepointOut,
    TrajectoryOut,
)
from vertebro.core.registry.benchmarks import (
    SOURCES,
    Benchmark,
    benchmarks_for,
    context_figures,
)
from vertebro.core.registry.model import Registry, Timepoint

__all__ = [
    "DUE_AFTER_DAYS",
    "FUNNEL_METRICS",
    "MAJOR_KINDS",
    "METHOD",
    "METRICS",
    "METRIC_BY_ID",
    "AuditReport",
    "BenchmarkOut",
    "ComparisonOut",
    "CompletenessOut",
    "Episode",
    "FunnelLimitOut",
    "FunnelOut",
    "FunnelPointOut",
    "Kind",
    "MeanOut",
    "Metric",
    "PathwayOut",
    "PeriodOut",
    "ProportionOut",
    "RateOut",
    "SourceOut",
    "Test",
    "TimepointOut",
    "TrajectoryOut",
    "benchmark_out",
    "build_audit",
    "episodes",
    "is_major",
    "proportion",
    "quarter",
]


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
        id=b.id,
        figure=b.figure,
        low=b.low,
        high=b.high,
        source=b.source,
        document=source.title,
        publisher=source.publisher,
        section=b.section,
        words=b.words,
        confidence=b.confidence.value,
        population=b.population,
        note=b.note,
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
                FunnelLimitOut(
                    n=n,
                    low_998=lim.low_998,
                    low_95=lim.low_95,
                    high_95=lim.high_95,
                    high_998=lim.high_998,
                )
            )
    return FunnelOut(
        metric=metric.id,
        label=metric.label,
        kind=metric.kind,
        unit=_p(unit),
        operators=points,
        limits=limits,
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
                timepoint=tp,
                due=len(due),
                recorded=recorded,
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
    used_sources = {
        b.source for b in (*(b for m in METRICS for b in benchmarks_for(m.id)), *context_figures())
    }
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
            SourceOut(
                id=s.id, title=s.title, publisher=s.publisher, published=s.published, url=s.url
            )
            for s in SOURCES.values()
            if s.id in used_sources
        ],
        method=list(METHOD),
    )
