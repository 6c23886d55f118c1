"""Charts of the outcomes: pain and disability over time, trends by quarter, pathways."""

from __future__ import annotations

from typing import Any

from vertebro.core.registry.audit import AuditReport
from vertebro.registry_service.chart_style import (
    BAND,
    BLUE,
    GREEN,
    INK,
    MUTED,
    ORANGE,
    PURPLE,
    VERMILLION,
    new_figure,
    style_axes,
)

_TP_LABEL = {
    "baseline": "Baseline",
    "2-weeks": "2 weeks",
    "3-months": "3 months",
    "12-months": "12 months",
}
_GROUP_COLOUR = {"all": INK, "vertebroplasty": BLUE, "kyphoplasty": ORANGE, "sacroplasty": PURPLE}


def chart_trajectory(report: AuditReport) -> Any:
    """Mean pain (0-10) and Roland-Morris disability (0-24) at each timepoint, with 95%
    intervals, for all procedures and for each procedure type."""
    fig = new_figure(9.0, 3.2)
    pain_ax, rm_ax = fig.subplots(1, 2)
    xs = list(range(len(_TP_LABEL)))
    for offset, trajectory in enumerate(report.trajectories):
        colour = _GROUP_COLOUR.get(trajectory.group, GREEN)
        shift = (offset - (len(report.trajectories) - 1) / 2) * 0.06
        for ax, attribute in ((pain_ax, "pain"), (rm_ax, "roland_morris")):
            means = [getattr(pt, attribute) for pt in trajectory.points]
            shown = [(x + shift, m) for x, m in zip(xs, means, strict=True) if m.mean is not None]
            if not shown:
                continue
            n_all = min(m.n for _, m in shown)
            label = f"{trajectory.group} (n≥{n_all:,})"
            ax.plot(
                [x for x, _ in shown],
                [m.mean for _, m in shown],
                "-o",
                color=colour,
                lw=2.2 if trajectory.group == "all" else 1.3,
                ms=4,
                label=label,
            )
            ax.vlines(
                [x for x, _ in shown],
                [m.low for _, m in shown],
                [m.high for _, m in shown],
                color=colour,
                lw=1.2,
            )
    for ax, title, top in (
        (pain_ax, "Pain score (0–10, lower is better)", 10),
        (rm_ax, "Roland-Morris disability (0–24, lower is better)", 24),
    ):
        style_axes(ax)
        ax.set_xticks(xs, list(_TP_LABEL.values()))
        ax.set_ylim(0, top)
        ax.set_title(title, fontsize=10, color=INK, loc="left")
    if pain_ax.get_legend_handles_labels()[0]:  # nothing drawn without follow-ups
        pain_ax.legend(fontsize=8, frameon=False, loc="upper right")
    fig.subplots_adjust(left=0.06, right=0.99, top=0.88, bottom=0.1, wspace=0.18)
    return fig


def chart_trends(report: AuditReport) -> Any:
    """Pain relief, cement leakage and procedure-related complications per calendar quarter,
    with 95% intervals as bands (quarters with fewer than 20 procedures are left out)."""
    periods = [p for p in report.trends if p.procedures >= 20]
    fig = new_figure(9.0, 3.0)
    left, right = fig.subplots(1, 2)
    xs = list(range(len(periods)))
    labels = [
        f"{p.period[-2:]}\n{p.period[:4]}" if p.period.endswith("Q1") or i == 0 else p.period[-2:]
        for i, p in enumerate(periods)
    ]
    for ax, series in (
        (left, (("Pain relief at 3 months", "pain_relief", BLUE),)),
        (
            right,
            (
                ("Cement leakage", "cement_leak", ORANGE),
                ("Procedure-related complication", "complication", VERMILLION),
            ),
        ),
    ):
        for label, attribute, colour in series:
            values = [getattr(p, attribute) for p in periods]
            keep = [(x, v) for x, v in zip(xs, values, strict=True) if v.rate is not None]
            if not keep:
                continue
            ax.fill_between(
                [x for x, _ in keep],
                [v.low for _, v in keep],
                [v.high for _, v in keep],
                color=colour,
                alpha=0.18,
                lw=0,
            )
            ax.plot(
                [x for x, _ in keep],
                [v.rate for _, v in keep],
                "-o",
                color=colour,
                ms=3,
                lw=1.6,
                label=label,
            )
        style_axes(ax)
        step = max(1, len(xs) // 16)
        ax.set_xticks(xs[::step], labels[::step])
        ax.yaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f}%")
        if ax.get_legend_handles_labels()[0]:  # no quarter with 20 procedures: no lines
            ax.legend(fontsize=8, frameon=False, loc="best")
    left.set_ylim(0, 1)
    right.set_ylim(bottom=0)
    left.set_title("Benefit by quarter of procedure", fontsize=10, color=INK, loc="left")
    right.set_title("Harms by quarter of procedure", fontsize=10, color=INK, loc="left")
    fig.subplots_adjust(left=0.06, right=0.99, top=0.88, bottom=0.16, wspace=0.18)
    return fig


def chart_pathways(report: AuditReport) -> Any:
    """For each approving pathway: pain relief at 3 months (with the NICE range) and the mean
    change in pain, each with a 95% interval."""
    pathways = [p for p in report.pathways if p.pain_relief.rate is not None]
    fig = new_figure(9.0, 0.42 * len(pathways) + 1.3)
    left, right = fig.subplots(1, 2, sharey=True)
    ys = list(range(len(pathways)))[::-1]
    nice = next(
        (
            c.benchmark
            for r in report.rates
            if r.metric == "pain-relief"
            for c in r.comparisons
            if c.benchmark.low < c.benchmark.high
        ),
        None,
    )
    if nice is not None:
        left.axvspan(nice.low, nice.high, color=BAND, zorder=0, label=f"NICE {nice.figure}")
    for y, p in zip(ys, pathways, strict=True):
        r, change = p.pain_relief, p.pain_change
        left.plot([r.low, r.high], [y, y], color=BLUE, lw=2.4, solid_capstyle="round")
        left.plot([r.rate], [y], "o", color=BLUE, ms=6, mec="white", mew=1)
        if change.mean is not None:
            right.plot(
                [change.low, change.high], [y, y], color=GREEN, lw=2.4, solid_capstyle="round"
            )
            right.plot([change.mean], [y], "o", color=GREEN, ms=6, mec="white", mew=1)
    left.set_yticks(ys, [f"{p.label}  (n={p.procedures:,})" for p in pathways], fontsize=8)
    lowest = min([p.pain_relief.low or 0.0 for p in pathways] + [nice.low if nice else 1.0])
    left.set_xlim(max(0.0, min(0.4, lowest - 0.05)), 1)
    left.xaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f}%")
    left.set_title("Pain relief at 3 months", fontsize=10, color=INK, loc="left")
    left.legend(fontsize=8, frameon=False, loc="lower left")
    right.axvline(0, color=MUTED, lw=0.8)
    right.set_xlabel("points on the 0–10 scale (negative: less pain)", fontsize=8.5, color=MUTED)
    right.set_title("Mean change in pain, baseline to 3 months", fontsize=10, color=INK, loc="left")
    lows = [p.pain_change.low for p in pathways if p.pain_change.low is not None]
    right.set_xlim(min([*lows, -1.0]) * 1.15, 0.5)
    for ax in (left, right):
        style_axes(ax)
        ax.set_ylim(-0.7, len(pathways) - 0.3)
    fig.subplots_adjust(left=0.3, right=0.99, top=0.9, bottom=0.12, wspace=0.08)
    return fig
