"""Robust anomaly scores of metric series: incident window against a healthy baseline.

Scores follow BARO's RobustScaler idea: centre on the baseline's median and scale by its
inter-quartile range, so one spike in the baseline does not hide the incident and a noisy
series does not look anomalous just for being noisy. A series that was flat in the baseline
(IQR 0) falls back to a small scale relative to its level, so a flat line that moves still
scores high, and a flat line at zero that stays at zero scores zero.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from correlators.model import MetricSeries

MAX_SCORE = 1000.0
"""Scores are capped: past this the size of the shift says nothing more."""
DEFAULT_THRESHOLD = 3.0
"""Robust z above which a point counts as anomalous."""


@dataclass(frozen=True, slots=True)
class Window:
    start_ns: int
    end_ns: int

    def __contains__(self, time_ns: object) -> bool:
        return isinstance(time_ns, int) and self.start_ns <= time_ns < self.end_ns


@dataclass(frozen=True, slots=True)
class MetricAnomaly:
    """How far one series moved, which way, and since when."""

    name: str
    service: str | None
    labels: dict[str, str]
    score: float
    """Shift of the incident window's median, in baseline IQRs (absolute value, capped)."""
    direction: str
    """"up" or "down": metrics like throughput fall, latency and errors rise."""
    baseline_median: float
    incident_median: float
    change_start_ns: int | None
    """First anomalous point after which the series mostly stayed anomalous."""


def robust_scale(values: Sequence[float]) -> tuple[float, float]:
    """(median, scale) of the baseline values; scale is the IQR with a floor."""
    if not values:
        raise ValueError("no baseline values")
    median = statistics.median(values)
    if len(values) >= 4:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        iqr = q3 - q1
    else:
        iqr = 0.0
    floor = max(abs(median) * 0.05, 1e-3)
    return median, max(iqr, floor)


def score_series(
    series: MetricSeries,
    baseline: Window,
    incident: Window,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> MetricAnomaly | None:
    """The anomaly of one series, or None when a window has no points."""
    before = [p.value for p in series.points if p.time_ns in baseline]
    during = [p for p in series.points if p.time_ns in incident]
    if not before or not during:
        return None
    median, scale = robust_scale(before)
    scores = [(p.value - median) / scale for p in during]
    incident_median = statistics.median(p.value for p in during)
    # The score is the shift of the incident's median, not its peak: one spike in a noisy
    # series is not a fault, a level that moved and stayed is.
    shift = (incident_median - median) / scale
    return MetricAnomaly(
        name=series.name,
        service=series.service,
        labels=dict(series.labels),
        score=round(min(abs(shift), MAX_SCORE), 3),
        direction="up" if shift >= 0 else "down",
        baseline_median=median,
        incident_median=incident_median,
        change_start_ns=_change_start([p.time_ns for p in during], [abs(s) for s in scores], threshold),
    )


def rank_anomalies(
    series: Iterable[MetricSeries],
    baseline: Window,
    incident: Window,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[MetricAnomaly]:
    """Series whose incident window is anomalous (score >= threshold), highest first."""
    found = (score_series(s, baseline, incident, threshold=threshold) for s in series)
    anomalous = [a for a in found if a is not None and a.score >= threshold]
    return sorted(anomalous, key=lambda a: (-a.score, a.name, sorted(a.labels.items())))


def _change_start(times: Sequence[int], scores: Sequence[float], threshold: float) -> int | None:
    """The earliest anomalous point from which at least half of the rest stay anomalous.

    A single early blip followed by normal points is not a change; a shift that persists
    is, even if a few later points dip back under the threshold.
    """
    above = [score >= threshold for score in scores]
    remaining_above = sum(above)
    for index, is_above in enumerate(above):
        rest = len(above) - index
        if is_above and remaining_above * 2 >= rest:
            return times[index]
        remaining_above -= is_above
    return None
