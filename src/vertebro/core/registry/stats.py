"""Statistics for the audit, in plain Python: Wilson intervals, comparison with a published
range, funnel-plot control limits and means with a confidence interval.

Formulas (each checked against a hand computation in tests/registry/test_stats.py):

* Wilson score interval for x events in n:  with p = x/n and z the normal quantile,
  centre = (p + z²/2n) / (1 + z²/n),  half-width = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n).
* Funnel limits (Spiegelhalter, Statistics in Medicine 2005): for the unit's rate θ and a
  volume n, the q-quantile r of Binomial(n, θ) (the smallest r with P(R ≤ r) ≥ q), moved back
  by interpolation, α = (P(R ≤ r) − q) / P(R = r), limit = (r − α) / n.  q = 0.025 / 0.975
  gives the 95% limits, q = 0.001 / 0.999 the 99.8% limits. These are drawn; an operator is
  flagged by the exact mid-p tail of their own count, P(R > x) + ½P(R = x) (or below),
  against 0.025 and 0.001.
* Mean with a normal-approximation interval: mean ± z·sd/√n (sd with n − 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)  # 1.959963984540054


@dataclass(frozen=True, slots=True)
class Proportion:
    """x events in n, the rate and its Wilson interval (None when n is 0)."""

    events: int
    n: int
    rate: float | None
    low: float | None
    high: float | None


def wilson(events: int, n: int, z: float = Z95) -> Proportion:
    """The proportion events/n with its Wilson score interval.

    Raises:
        ValueError: negative counts, or more events than trials.
    """
    if n < 0 or events < 0 or events > n:
        raise ValueError(f"cannot have {events} events in {n} trials")
    if n == 0:
        return Proportion(events, n, None, None, None)
    p = events / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    low = 0.0 if events == 0 else max(0.0, centre - half)  # exact at the ends
    high = 1.0 if events == n else min(1.0, centre + half)
    return Proportion(events, n, p, low, high)


class Position(StrEnum):
    """Where a unit's rate lies relative to a published range, judged by its 95% interval."""

    WITHIN = "within"  # the interval overlaps the range: consistent with it
    ABOVE = "above"  # the whole interval is above the range
    BELOW = "below"  # the whole interval is below the range


def position(proportion: Proportion, low: float, high: float) -> Position | None:
    """Compare a proportion's interval with the range [low, high]; None without data."""
    if proportion.low is None or proportion.high is None:
        return None
    if proportion.low > high:
        return Position.ABOVE
    if proportion.high < low:
        return Position.BELOW
    return Position.WITHIN


def _log_pmf(k: int, n: int, theta: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(theta)
        + (n - k) * math.log1p(-theta)
    )


def binomial_limit(n: int, theta: float, q: float) -> float:
    """The interpolated q-quantile of Binomial(n, theta) as a proportion (see module notes).

    Raises:
        ValueError: n below 1, or theta or q outside (0, 1).
    """
    if n < 1 or not 0 < theta < 1 or not 0 < q < 1:
        raise ValueError(f"binomial limit needs n >= 1 and 0 < theta, q < 1 (n={n}, theta={theta})")
    mean, sd = n * theta, math.sqrt(n * theta * (1 - theta))
    start = max(0, math.floor(mean - 12 * sd - 2))  # below this the mass is negligible
    cumulative = 0.0
    for r in range(start, n + 1):
        mass = math.exp(_log_pmf(r, n, theta))
        cumulative += mass
        if cumulative >= q:
            alpha = (cumulative - q) / mass if mass > 0 else 0.0
            return max(0.0, (r - alpha) / n)
    return 1.0


@dataclass(frozen=True, slots=True)
class FunnelLimits:
    """The control limits for one volume of procedures."""

    n: int
    low_998: float
    low_95: float
    high_95: float
    high_998: float


def funnel_limits(n: int, theta: float) -> FunnelLimits:
    """The 95% and 99.8% limits around the unit's rate theta for an operator with n cases.

    A rate of exactly 0 or 1 has no spread: every limit is the rate itself.
    """
    if theta <= 0 or theta >= 1:
        return FunnelLimits(n, theta, theta, theta, theta)
    return FunnelLimits(
        n,
        binomial_limit(n, theta, 0.001),
        binomial_limit(n, theta, 0.025),
        binomial_limit(n, theta, 0.975),
        binomial_limit(n, theta, 0.999),
    )


class FunnelFlag(StrEnum):
    """Where an operator's rate lies among the funnel limits."""

    WITHIN = "within"
    HIGH_95 = "above-95"  # above the 95% limit (an alert)
    HIGH_998 = "above-99.8"  # above the 99.8% limit (an alarm)
    LOW_95 = "below-95"
    LOW_998 = "below-99.8"


def binomial_mid_p(events: int, n: int, theta: float) -> tuple[float, float]:
    """The one-sided mid-p tail probabilities of `events` in Binomial(n, theta):
    (P(R > x) + ½P(R = x), P(R < x) + ½P(R = x)).

    Raises:
        ValueError: impossible counts, or theta outside (0, 1).
    """
    if n < 1 or not 0 <= events <= n or not 0 < theta < 1:
        raise ValueError(f"mid-p needs 0 <= events <= n, n >= 1 and 0 < theta < 1 (n={n})")
    mean, sd = n * theta, math.sqrt(n * theta * (1 - theta))
    low = max(0, math.floor(mean - 12 * sd - 2))
    high = min(n, math.ceil(mean + 12 * sd + 2))
    below = above = 0.0
    for r in range(low, high + 1):
        if r != events:
            mass = math.exp(_log_pmf(r, n, theta))
            if r < events:
                below += mass
            else:
                above += mass
    half = 0.5 * math.exp(_log_pmf(events, n, theta))
    return above + half, below + half


def funnel_flag(events: int, n: int, theta: float) -> FunnelFlag:
    """Classify an operator's x of n against the unit's rate theta by the exact mid-p tail:
    beyond 99.8% when the tail is below 0.001, beyond 95% when below 0.025.

    The drawn (interpolated) limits agree with this except at very small volumes, where a
    rate exactly at a limit would otherwise be flagged too readily.
    """
    if theta <= 0 or theta >= 1:
        rate = events / n
        return FunnelFlag.WITHIN if rate == theta else (
            FunnelFlag.HIGH_998 if rate > theta else FunnelFlag.LOW_998)
    upper, lower = binomial_mid_p(events, n, theta)
    if upper < 0.001:
        return FunnelFlag.HIGH_998
    if upper < 0.025:
        return FunnelFlag.HIGH_95
    if lower < 0.001:
        return FunnelFlag.LOW_998
    if lower < 0.025:
        return FunnelFlag.LOW_95
    return FunnelFlag.WITHIN


def funnel_grid(max_n: int, points: int = 120) -> list[int]:
    """Volumes at which to draw the funnel: dense where the limits bend, from 1 to max_n."""
    if max_n < 1:
        return []
    grid = {1, max_n}
    for i in range(points):
        grid.add(max(1, round(math.exp(math.log(max_n) * i / (points - 1)))))
    return sorted(grid)


@dataclass(frozen=True, slots=True)
class Mean:
    """The mean of n values with a normal-approximation interval (None without data)."""

    n: int
    mean: float | None
    low: float | None
    high: float | None


def mean_ci(values: Sequence[float], z: float = Z95) -> Mean:
    """The mean of the values and mean ± z·sd/√n; a single value has no interval width."""
    n = len(values)
    if n == 0:
        return Mean(0, None, None, None)
    mean = math.fsum(values) / n
    if n == 1:
        return Mean(1, mean, mean, mean)
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = z * math.sqrt(variance / n)
    return Mean(n, mean, mean - half, mean + half)
