"""The charts' palette (Okabe-Ito), percentages as shown, and the figure helpers."""

from __future__ import annotations

import base64
import io
from typing import Any

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
BLUE, ORANGE, VERMILLION, GREEN, SKY, PURPLE = (
    "#0072B2",
    "#E69F00",
    "#D55E00",
    "#009E73",
    "#56B4E9",
    "#CC79A7",
)
INK, MUTED, BAND, GRID = "#222222", "#666666", "#D9EFE6", "#E6E6E6"
LIMIT_95, LIMIT_998 = "#8C8C8C", "#3A3A3A"
GOOD_RATE, BAD_RATE, NEUTRAL_RATE = BLUE, VERMILLION, GREEN


def _pct(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    if digits and 0 < value < 0.01:
        digits += 1  # below 1%, one more decimal
    return f"{100 * value:.{digits}f}%"


def new_figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure  # imported here: slow to load, only charts need it

    fig = Figure(figsize=(width, height), dpi=100)
    fig.patch.set_facecolor("white")
    return fig


def style_axes(ax: Any) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.spines[["left", "bottom"]].set_color("#999999")
    ax.tick_params(colors=MUTED, labelsize=8.5)
    ax.grid(axis="both", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)


def png_data(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=160, bbox_inches="tight", facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
