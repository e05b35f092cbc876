"""A journey's SLI from the OTLP metrics its entry service sends (``sli.source: metrics``),
for services that send metrics but no spans.

Each evaluation reads the configured metric's points of the longest window (and a little
before it, so a cumulative point has the one before) and counts what each point added
(``correlators.datapoints.events``: resets, delta points and exponential histograms as
everywhere else): a duration histogram's requests, bad when slower than the objective's
threshold (latency) or when their series' labels match ``error_where`` (availability); a
request counter's increase, bad by ``error_where``. The store keeps points for
``retention.metric_points_hours``; a longer window (the 30-day budget) is counted over what
is kept, and the budget scales it up as it does for a young install.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence

from bot.slo.config import MetricSli, MetricSlis
from bot.sources.base import EventCounts, SliQuery
from bot.store import Store
from correlators.datapoints import Increase, events
from correlators.errors import DataSourceError
from correlators.model import MetricDataPoint

log = logging.getLogger("journeywatch.sources")

S = 1_000_000_000
LOOKBACK_S = 300
"""Read before the longest window: a cumulative point needs the one before it."""
MAX_POINTS = 200_000
"""Points one evaluation reads at most (a metric's every series over the points' 72 h at
one export a minute is 4,320 a series); past it the newest are left out, loudly."""
_UNITS_MS = {"s": 1000.0, "ms": 1.0}


class MetricSliSource:
    name = "metrics"

    def __init__(self, store: Store, slis: Mapping[str, MetricSlis]) -> None:
        """``slis``: each journey's metric SLIs, by journey name."""
        self.store = store
        self.slis = dict(slis)

    def counts(self, query: SliQuery, end_s: int, windows_s: Sequence[int]) -> dict[int, EventCounts]:
        slis = self.slis.get(query.journey)
        sli = getattr(slis, query.objective, None) if slis else None
        label = f"{query.journey} {query.objective}"
        if slis is None or not isinstance(sli, MetricSli):
            raise DataSourceError("metrics", label, "the journey names no metric for this objective")
        metric = sli.histogram or sli.counter
        assert metric is not None  # MetricSli holds one
        read_from = (end_s - max(windows_s) - LOOKBACK_S) * S
        read = self.store.metric_points(
            service=slis.service, name=metric, start_ns=read_from, end_ns=end_s * S, limit=MAX_POINTS
        )
        if len(read) >= MAX_POINTS:
            log.warning(
                "SLI %s: %s has over %d points in the window; the newest are left out",
                label,
                metric,
                MAX_POINTS,
            )
        points = [p for p in read if all(p.labels.get(k) == v for k, v in sli.where.items())]
        found = _events(points, sli, query, label, read_from)
        out = {}
        for window in windows_s:
            since = (end_s - window) * S
            inside = [(total, bad) for at, total, bad in found if at >= since]
            out[window] = EventCounts(sum(t for t, _ in inside), sum(b for _, b in inside))
        return out


def _events(
    points: Sequence[MetricDataPoint], sli: MetricSli, query: SliQuery, label: str, read_from: int
) -> list[tuple[int, float, float]]:
    """Series that began counting after ``read_from`` count from their start: a status
    code's first errors are a new series, and must not be its baseline."""
    failed = _matcher(sli.error_where)

    def errors(point: MetricDataPoint, gained: Increase) -> float:
        return gained[0] if failed(point) else 0.0

    if sli.counter is not None:
        return events(points, lambda p: (p.value,), errors, read_from)
    if query.objective == "availability":
        return events(points, lambda p: (p.count,), errors, read_from)
    threshold_ms = query.latency_threshold_ms
    if threshold_ms is None:
        raise DataSourceError("metrics", label, "the journey has no latency threshold")

    def slow(point: MetricDataPoint, gained: Increase) -> float:
        limit = threshold_ms / _ms_per_unit(point, sli, label)
        fast = sum(n for bound, n in zip(point.bounds, gained[1:], strict=False) if bound <= limit)
        return gained[0] - fast

    return events(points, lambda p: (p.count, *p.buckets), slow, read_from)


def _ms_per_unit(point: MetricDataPoint, sli: MetricSli, label: str) -> float:
    unit = point.unit if point.unit in _UNITS_MS else sli.unit
    if unit is None:
        raise DataSourceError(
            "metrics", label, f"{point.name} has unit {point.unit!r}; say `unit: s` or `unit: ms` in the SLI"
        )
    return _UNITS_MS[unit]


def _matcher(where: Mapping[str, str]) -> Callable[[MetricDataPoint], bool]:
    patterns = {key: re.compile(value) for key, value in where.items()}

    def matches(point: MetricDataPoint) -> bool:
        return bool(patterns) and all(
            pattern.fullmatch(point.labels.get(key, "")) for key, pattern in patterns.items()
        )

    return matches
