"""Charts against benchmarks: each rate against the published figures, and funnel plots."""

from __future__ import annotations

from typing import Any

from vertebro.core.registry.audit import AuditReport, FunnelOut, RateOut
from vertebro.registry_service.chart_style import (
    BAD_RATE,
    BAND,
    BLUE,
    GOOD_RATE,
    GREEN,
    INK,
    LIMIT_95,
    LIMIT_998,
    MUTED,
    NEUTRAL_RATE,
    PURPLE,
    SKY,
    VERMILLION,
    _pct,
    new_figure,
    style_axes,
)


def _rate_colour(rate: RateOut) -> str:
    positions = {c.position.value for c in rate.comparisons if c.position is not None}
    primary = (
        rate.comparisons[0].position.value
        if rate.comparisons and rate.comparisons[0].position
        else None
    )
    if not positions or primary in (None, "within"):
        return NEUTRAL_RATE
    good = (primary == "above") == (rate.kind == "benefit")
    return GOOD_RATE if good else BAD_RATE


def _short_source(source: str) -> str:
    return {"nice-htg3": "NICE", "rbft-leaflet": "RBFT leaflet"}.get(source, source)


def chart_rates(report: AuditReport, subtitle: str | None = None) -> Any:
    """Each rate with its 95% interval against the published range: one row per rate, each on
    its own scale, the published range shaded, a single published figure as a dashed line."""
    rates = [r for r in report.rates if r.comparisons and r.proportion.rate is not None]
    if not rates:  # an empty period: say so instead of drawing empty axes
        fig = new_figure(9.0, 1.2)
        fig.text(
            0.5,
            0.5,
            "No rate to compare: no procedures recorded in this period.",
            ha="center",
            va="center",
            fontsize=11,
        )
        return fig
    fig = new_figure(9.0, 0.82 * len(rates) + 1.0)
    axes = fig.subplots(len(rates), 1, squeeze=False)[:, 0]
    for ax, rate in zip(axes, rates, strict=True):
        p = rate.proportion
        assert p.rate is not None and p.low is not None and p.high is not None
        top = max([p.high] + [c.benchmark.high for c in rate.comparisons])
        xmax = 1.0 if rate.kind == "benefit" else min(1.0, max(top * 1.35, 0.004))
        ax.set_xlim(0, xmax)
        ax.set_ylim(-0.6, 0.6)
        ax.set_yticks([])
        style_axes(ax)
        ax.spines["left"].set_visible(False)
        ax.grid(axis="y", visible=False)
        ax.xaxis.set_major_formatter(lambda v, _pos: f"{100 * v:g}%")
        ax.tick_params(axis="x", labelsize=8, pad=2)
        for i, comparison in enumerate(rate.comparisons):
            b = comparison.benchmark
            label = f"{b.figure} ({_short_source(b.source)})"
            colour = PURPLE if i else GREEN
            if b.low < b.high:
                ax.axvspan(b.low, b.high, color=BAND, zorder=0)
                right = b.high > 0.8 * xmax
                ax.text(
                    b.high,
                    0.55,
                    f"{label} " if right else f" {label}",
                    fontsize=8,
                    color=GREEN,
                    va="top",
                    ha="right" if right else "left",
                )
            else:
                ax.axvline(b.low, color=colour, linestyle=(0, (4, 2)), lw=1.4)
                ax.text(
                    b.low,
                    -0.58 if i else 0.55,
                    f" {label}",
                    fontsize=8,
                    color=colour,
                    va="bottom" if i else "top",
                )
        colour = _rate_colour(rate)
        ax.plot([p.low, p.high], [0, 0], color=colour, lw=3, solid_capstyle="round")
        ax.plot([p.rate], [0], "o", color=colour, ms=8, mec="white", mew=1.3, zorder=5)
        ax.text(
            -0.03,
            0.18,
            rate.label,
            transform=ax.transAxes,
            ha="right",
            va="center",
            fontsize=10,
            color=INK,
            fontweight="bold",
        )
        ax.text(
            -0.03,
            -0.3,
            f"{_pct(p.rate)}  ({_pct(p.low)}–{_pct(p.high)})  n={p.n:,}",
            transform=ax.transAxes,
            ha="right",
            va="center",
            fontsize=9,
            color=colour,
        )
    height = fig.get_figheight()
    fig.suptitle(
        "Unit rates with 95% intervals against the published figures",
        x=0.01,
        y=1 - 0.1 / height,
        ha="left",
        va="top",
        fontsize=11,
        color=INK,
        fontweight="bold",
    )
    if subtitle:
        fig.text(0.01, 1 - 0.38 / height, subtitle, ha="left", va="top", fontsize=9, color=MUTED)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig.legend(
        [
            Line2D([], [], color=GREEN, marker="o", lw=3, ms=7, mec="white"),
            Patch(color=BAND),
            Line2D([], [], color=GREEN, ls=(0, (4, 2)), lw=1.4),
            Line2D([], [], color=BLUE, marker="o", lw=3, ms=7, mec="white"),
            Line2D([], [], color=VERMILLION, marker="o", lw=3, ms=7, mec="white"),
        ],
        [
            "consistent with the figure",
            "published range",
            "single published figure",
            "better than published",
            "worse than published",
        ],
        loc="lower center",
        ncol=5,
        frameon=False,
        fontsize=8,
        handlelength=2.2,
    )
    fig.subplots_adjust(
        left=0.37,
        right=0.98,
        top=1 - (0.85 if subtitle else 0.6) / height,
        bottom=0.6 / height,
        hspace=1.05,
    )
    return fig


def chart_funnels(report: AuditReport) -> Any:
    """One funnel plot per audited rate: operators' rates against their volume, with the 95%
    and 99.8% limits around the unit's rate."""
    funnels = [f for f in report.funnels if f.unit.rate is not None and f.limits]
    fig = new_figure(9.2, 3.3)
    axes = fig.subplots(1, max(1, len(funnels)), squeeze=False)[0]
    for ax, funnel in zip(axes, funnels, strict=False):
        _draw_funnel(ax, funnel)
    fig.subplots_adjust(left=0.07, right=0.99, top=0.86, bottom=0.2, wspace=0.28)
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=SKY, lw=1.4),
        Line2D([], [], color=LIMIT_95, lw=1.2, ls="--"),
        Line2D([], [], color=LIMIT_998, lw=1.3),
        Line2D([], [], color=VERMILLION, marker="o", lw=0, ms=7),
        Line2D([], [], color=BLUE, marker="o", lw=0, ms=7),
    ]
    fig.legend(
        handles,
        [
            "unit rate",
            "95% limits",
            "99.8% limits",
            "worse than the funnel",
            "better than the funnel",
        ],
        loc="lower center",
        ncol=5,
        frameon=False,
        fontsize=8.5,
    )
    return fig


def _draw_funnel(ax: Any, funnel: FunnelOut) -> None:
    assert funnel.unit.rate is not None
    unit = funnel.unit.rate
    ns = [lim.n for lim in funnel.limits]
    ax.plot(ns, [lim.high_998 for lim in funnel.limits], color=LIMIT_998, lw=1.3)
    ax.plot(ns, [lim.low_998 for lim in funnel.limits], color=LIMIT_998, lw=1.3)
    ax.plot(ns, [lim.high_95 for lim in funnel.limits], color=LIMIT_95, lw=1.2, ls="--")
    ax.plot(ns, [lim.low_95 for lim in funnel.limits], color=LIMIT_95, lw=1.2, ls="--")
    ax.axhline(unit, color=SKY, lw=1.4)
    points = [o for o in funnel.operators if o.proportion.rate is not None]
    max_n = max((o.proportion.n for o in points), default=10)
    rates = [o.proportion.rate or 0.0 for o in points]
    # The y range shows every operator and the limits from a modest volume on.
    spread = max(max([*rates, unit]) - min([*rates, unit]), 0.01)
    low_at = next(
        (lim for lim in funnel.limits if lim.n >= max(20, max_n * 0.12)), funnel.limits[-1]
    )
    top = min(1.0, max([*rates, low_at.high_998]) + 0.12 * spread)
    bottom = max(0.0, min([*rates, low_at.low_998]) - 0.12 * spread)
    ax.set_ylim(bottom, top)
    ax.set_xlim(0, max_n * 1.12)
    placed: list[tuple[float, float]] = []
    for o in sorted(points, key=lambda o: o.proportion.n):
        flag = o.flag.value if o.flag else "within"
        bad = flag.startswith("above") == (funnel.kind == "harm") and flag != "within"
        colour = INK if flag == "within" else (VERMILLION if bad else BLUE)
        size = 8 if "99.8" in flag else 6
        x, y = o.proportion.n, o.proportion.rate or 0.0
        ax.plot([x], [y], "o", color=colour, ms=size, mec="white", mew=0.8, zorder=5)
        crowded = any(
            abs(x - px) < 0.12 * max_n and abs(y - py) < 0.07 * (top - bottom) for px, py in placed
        )
        ax.annotate(
            o.operator,
            (x, y),
            fontsize=7.5,
            color=colour,
            xytext=(4, -11) if crowded else (4, 3),
            textcoords="offset points",
        )
        placed.append((x, y))
    style_axes(ax)
    ax.yaxis.set_major_formatter(
        lambda v, _pos: f"{100 * v:.0f}%" if v >= 0.05 or v == 0 else f"{100 * v:.1f}%"
    )
    ax.set_xlabel("procedures per operator", fontsize=8.5, color=MUTED)
    ax.set_title(
        f"{funnel.label}\nunit {_pct(unit)} of {funnel.unit.n:,}",
        fontsize=10,
        color=INK,
        loc="left",
    )
