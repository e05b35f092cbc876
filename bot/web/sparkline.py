"""Burn-rate sparklines: a series of (time, burn) as the points of a small inline SVG.

Burn rates run from 0 on a quiet day to hundreds in an outage, against thresholds of 1 to
14.4; on a linear axis the threshold line and everything below it would sit in the bottom
pixel. So the axis is log(1 + burn): a quiet week, the threshold and a spike all show.
Long series are cut into buckets keeping each bucket's peak, since a short spike is the
thing the line must not lose.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 160
HEIGHT = 28
PAD = 2.0
MAX_POINTS = 80


@dataclass(frozen=True, slots=True)
class Sparkline:
    """Geometry in a WIDTH x HEIGHT box, y downwards, ready for ``<polyline points>``."""

    points: str
    last: tuple[float, float] | None
    threshold_y: float | None
    peak: float
    count: int
    width: int = WIDTH
    height: int = HEIGHT


def sparkline(series: Sequence[tuple[float, float]], threshold: float | None) -> Sparkline:
    """``series`` is (time_s, burn) oldest first; ``threshold`` the tier's burn rate."""
    kept = _peaks(series, MAX_POINTS)
    peak = max((v for _, v in kept), default=0.0)
    top = math.log1p(max(peak, (threshold or 1.0) * 1.5, 1.0))
    first, last_t = (kept[0][0], kept[-1][0]) if kept else (0.0, 0.0)
    span = last_t - first

    def x(t: float) -> float:
        return WIDTH - PAD if span <= 0 else PAD + (t - first) / span * (WIDTH - 2 * PAD)

    def y(value: float) -> float:
        return HEIGHT - PAD - math.log1p(max(0.0, value)) / top * (HEIGHT - 2 * PAD)

    coords = [(round(x(t), 1), round(y(v), 1)) for t, v in kept]
    return Sparkline(
        points=" ".join(f"{cx},{cy}" for cx, cy in coords),
        last=coords[-1] if coords else None,
        threshold_y=round(y(threshold), 1) if threshold is not None else None,
        peak=peak,
        count=len(kept),
    )


def _peaks(series: Sequence[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    """At most ``limit`` points: consecutive runs of the series, each by its highest point."""
    if len(series) <= limit:
        return list(series)
    size = math.ceil(len(series) / limit)
    return [max(series[i : i + size], key=lambda p: p[1]) for i in range(0, len(series), size)]
