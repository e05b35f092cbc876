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

The watcher asks every 30 s, for every objective, for windows up to 30 days, and reading
72 hours of points again each time cost most of a second. So each objective keeps a tally:
the events of points older than ``LOOKBACK_S`` (settled: an exporter's late point is
rarely that late), merged per point time, and each series' last settled point; an
evaluation reads only the points since and counts them from those last points, as one read
of everything would. Points newer than that are counted afresh each time, so a late point
within it still counts. A tally is dropped when asked for an earlier end or a longer reach
than it holds; it keeps no event older than the store keeps points, so it answers what a
read would (an ``array`` of three numbers a distinct point time: 4,320 times, about
100 KB, for 72 hours of one export a minute).
"""

from __future__ import annotations

import bisect
import logging
import re
import threading
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.slo.config import MetricSli, MetricSlis
from bot.sources.base import EventCounts, SliQuery
from bot.store import Store
from correlators.datapoints import Increase, events, last_of_each_series
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


@dataclass(slots=True)
class _Tally:
    """One objective's settled events (see the module's docstring)."""

    known_from: int
    """Where the first read began: a series starting since counts from its start."""
    settled_ns: int
    """Points before this are counted here; the next read begins at it."""
    times: array[int] = field(default_factory=lambda: array("q"))
    totals: array[float] = field(default_factory=lambda: array("d"))
    bads: array[float] = field(default_factory=lambda: array("d"))
    lasts: list[MetricDataPoint] = field(default_factory=list)

    def settle(
        self, found: Sequence[tuple[int, float, float]], read: Sequence[MetricDataPoint], to_ns: int
    ) -> None:
        for at, total, bad in sorted(e for e in found if e[0] < to_ns):
            if self.times and self.times[-1] == at:
                self.totals[-1] += total
                self.bads[-1] += bad
            else:
                self.times.append(at)
                self.totals.append(total)
                self.bads.append(bad)
        self.lasts = last_of_each_series([*self.lasts, *(p for p in read if p.time_ns < to_ns)])
        self.settled_ns = to_ns

    def forget_before(self, ns: int) -> None:
        cut = bisect.bisect_left(self.times, ns)
        if cut:
            del self.times[:cut], self.totals[:cut], self.bads[:cut]

    def since(self, ns: int) -> tuple[float, float]:
        first = bisect.bisect_left(self.times, ns)
        return sum(self.totals[first:]), sum(self.bads[first:])


class MetricSliSource:
    name = "metrics"

    def __init__(self, store: Store, slis: Mapping[str, MetricSlis], keep_s: float = 72 * 3600) -> None:
        """``slis``: each journey's metric SLIs, by journey name; ``keep_s``: how long
        the store keeps points, the furthest back a tally keeps events."""
        self.store = store
        self.slis = dict(slis)
        self.keep_ns = int(keep_s * S)
        self._tallies: dict[tuple[str, str, float | None], _Tally] = {}
        self._lock = threading.Lock()

    def counts(self, query: SliQuery, end_s: int, windows_s: Sequence[int]) -> dict[int, EventCounts]:
        slis = self.slis.get(query.journey)
        sli = getattr(slis, query.objective, None) if slis else None
        label = f"{query.journey} {query.objective}"
        if slis is None or not isinstance(sli, MetricSli):
            raise DataSourceError("metrics", label, "the journey names no metric for this objective")
        end_ns = end_s * S
        read_from = (end_s - max(windows_s) - LOOKBACK_S) * S
        key = (query.journey, query.objective, query.latency_threshold_ms)
        with self._lock:
            tally = self._tallies.get(key)
            if tally is None or read_from < tally.known_from or end_ns < tally.settled_ns:
                tally = self._tallies[key] = _Tally(read_from, read_from)
            read = self._read(slis.service, sli, label, tally.settled_ns, end_ns)
            counted = _events([*tally.lasts, *read], sli, query, label, tally.known_from)
            found = [e for e in counted if e[0] >= tally.settled_ns]
            tally.settle(found, read, max(tally.settled_ns, end_ns - LOOKBACK_S * S))
            tally.forget_before(end_ns - self.keep_ns)
            out = {}
            for window in windows_s:
                since = end_ns - window * S
                total, bad = tally.since(since)
                fresh = [(t, b) for at, t, b in found if at >= max(since, tally.settled_ns)]
                out[window] = EventCounts(total + sum(t for t, _ in fresh), bad + sum(b for _, b in fresh))
            return out

    def _read(
        self, service: str, sli: MetricSli, label: str, start_ns: int, end_ns: int
    ) -> list[MetricDataPoint]:
        metric = sli.histogram or sli.counter
        assert metric is not None  # MetricSli holds one
        read = self.store.metric_points(
            service=service, name=metric, start_ns=start_ns, end_ns=end_ns, limit=MAX_POINTS
        )
        if len(read) >= MAX_POINTS:
            log.warning(
                "SLI %s: %s has over %d points in the window; the newest are left out",
                label,
                metric,
                MAX_POINTS,
            )
        return [p for p in read if all(p.labels.get(k) == v for k, v in sli.where.items())]


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
