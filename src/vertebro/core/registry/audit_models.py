"""The audit report's output types: the shape of its JSON, from a proportion to the report."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict

from vertebro.core.registry import stats
from vertebro.core.registry.model import Timepoint

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
