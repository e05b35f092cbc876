"""OTLP data points to the series the analysis scores: gauges and up-down counters as
sent, counters as per-second rates (``<name>:rate``), histograms as the mean of each
interval (``<name>:mean``).

Points are gathered into series first, whatever request or file line each came in, so a
cumulative counter exported one point at a time (the Collector's file exporter writes a
line per export) has a rate from its second point on. The rules:

- cumulative (sums, histograms, summaries): the increase since the series' previous point
  over the time between them. A reset (the value fell, or the start time moved to or past
  the previous point: the process restarted) starts the count again: the increase is the
  new value, over the time since its start when that is known, else since the previous
  point (as Prometheus' ``rate`` reads a reset);
- delta: the value over its own interval, start to end; a point without one (no start,
  or start = end, as some SDKs and the Collector's delta converters send) covers the time
  since the series' previous point, or for its first point the series' usual spacing;
- a histogram's mean is its increase of sum over its increase of count; a point with no
  sum (optional in OTLP) has no mean.

A point at the same time as the one before it (the same export stored twice, a retry) is
taken once.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from operator import attrgetter

from correlators.model import MetricDataPoint, MetricPoint, MetricSeries

S = 1_000_000_000
_TIME = attrgetter("time_ns")
_FAMILY = {"gauge": "gauge", "sum": "sum"}
"""Histogram kinds all read alike (mean); one name sent as two kinds stays two series."""

_Labels = tuple[tuple[str, str], ...]
_SeriesKey = tuple[str, str, _Labels]
Increase = tuple[float, ...]
"""What a point adds over its interval, led by its value or count (a fall in which is a
reset): (value,), (count, sum), (count, bucket, bucket, ...)."""


def series_of(points: Iterable[MetricDataPoint]) -> list[MetricSeries]:
    """The series of ``points``, one per metric name, kind and labels; series that give no
    value at all (a lone cumulative point) are left out."""
    found = []
    for group in _groups(points):
        made = _series(group)
        if made.points:
            found.append(made)
    return found


def last_of_each_series(points: Iterable[MetricDataPoint]) -> list[MetricDataPoint]:
    """Each series' newest point of ``points`` given oldest first (as the store reads
    them): what a later read's first point counts from, so points read in pieces count as
    they would read at once (see :func:`events`)."""
    last: dict[_SeriesKey, MetricDataPoint] = {}
    identities: dict[int, _Labels] = {}
    for point in points:
        last[_key(point, identities)] = point
    return list(last.values())


def _groups(points: Iterable[MetricDataPoint]) -> list[list[MetricDataPoint]]:
    """The points of each series (name, kind, labels), in time order, one per time."""
    groups: dict[_SeriesKey, list[MetricDataPoint]] = {}
    identities: dict[int, _Labels] = {}
    for point in points:
        groups.setdefault(_key(point, identities), []).append(point)
    for group in groups.values():
        group.sort(key=_TIME)
    return [_distinct(group) for group in groups.values()]


def events(
    points: Iterable[MetricDataPoint],
    values: Callable[[MetricDataPoint], Increase],
    bad: Callable[[MetricDataPoint, Increase], float],
    known_from: int | None = None,
) -> list[tuple[int, float, float]]:
    """(time, events, bad events) each point adds, over every series of ``points``: a
    journey's SLI from a request counter or a duration histogram. ``values`` gives what a
    point counts, led by its events; ``bad`` how many of those it added are bad.
    ``known_from``: where the points were read from (see :func:`increases`)."""
    found = []
    for group in _groups(points):
        for point, gained, _ in increases(group, values, known_from):
            found.append((point.time_ns, gained[0], bad(point, gained)))
    return found


def _key(point: MetricDataPoint, identities: dict[int, _Labels]) -> _SeriesKey:
    """``identities``: the labels already made a key, by the id of their dict (the points
    of a resource share one)."""
    labels = identities.get(id(point.labels))
    if labels is None:
        labels = identities[id(point.labels)] = tuple(sorted(point.labels.items()))
    return point.name, _FAMILY.get(point.kind, "histogram"), labels


def _distinct(points: list[MetricDataPoint]) -> list[MetricDataPoint]:
    return points[:1] + [b for a, b in pairwise(points) if a.time_ns != b.time_ns]


def _series(points: Sequence[MetricDataPoint]) -> MetricSeries:
    first = points[0]
    if first.kind == "gauge" or (first.kind == "sum" and not first.monotonic):
        values = [MetricPoint(p.time_ns, p.value) for p in points]
        return MetricSeries(first.name, dict(first.labels), values, first.unit)
    if first.kind == "sum":
        rates = [
            MetricPoint(p.time_ns, gained[0] / (interval / S))
            for p, gained, interval in increases(points, lambda p: (p.value, 0.0))
        ]
        return MetricSeries(f"{first.name}:rate", dict(first.labels), rates, _per_second(first.unit))
    means = [
        MetricPoint(p.time_ns, gained[1] / gained[0])
        for p, gained, _ in increases(points, lambda p: (p.count, p.total or 0.0))
        if p.total is not None and gained[0] > 0
    ]
    return MetricSeries(f"{first.name}:mean", dict(first.labels), means, first.unit)


def increases(
    points: Sequence[MetricDataPoint],
    values: Callable[[MetricDataPoint], Increase],
    known_from: int | None = None,
) -> list[tuple[MetricDataPoint, Increase, int]]:
    """(point, what it adds, the nanoseconds that covers) for each point of one series
    (in time order) that adds something measurable; see the module's rules.

    ``known_from``: the time from which every point of the series was read. A cumulative
    series whose first point started counting since then (a series that first appeared,
    the first errors of a status code) adds its whole value; otherwise, or when None, a
    first point only sets where the next one counts from."""
    step = _usual_step(points)
    found = []
    previous: MetricDataPoint | None = None
    for point in points:
        now = values(point)
        since: int | None
        if point.temporality == "cumulative":
            if previous is None:
                previous = point
                if known_from is not None and known_from <= point.start_ns < point.time_ns:
                    found.append((point, now, point.time_ns - point.start_ns))
                continue
            gained, since = _cumulative(previous, point, now, values(previous))
        else:
            gained, since = now, _delta_start(point, previous, step)
        previous = point
        if since is not None and point.time_ns > since:
            found.append((point, gained, point.time_ns - since))
    return found


def _cumulative(
    previous: MetricDataPoint, point: MetricDataPoint, now: Increase, before: Increase
) -> tuple[Increase, int]:
    restarted = point.start_ns > previous.start_ns and point.start_ns >= previous.time_ns
    if now[0] < before[0] or restarted or len(now) != len(before):  # new buckets: a new series
        since = point.start_ns if previous.time_ns <= point.start_ns < point.time_ns else previous.time_ns
        return now, since
    return tuple(a - b for a, b in zip(now, before, strict=True)), previous.time_ns


def _delta_start(point: MetricDataPoint, previous: MetricDataPoint | None, step: int | None) -> int | None:
    if 0 < point.start_ns < point.time_ns:
        return point.start_ns
    if previous is not None:
        return previous.time_ns
    return point.time_ns - step if step else None


def _usual_step(points: Sequence[MetricDataPoint]) -> int | None:
    gaps = [b.time_ns - a.time_ns for a, b in pairwise(points) if b.time_ns > a.time_ns]
    return int(statistics.median(gaps)) if gaps else None


def _per_second(unit: str) -> str:
    return f"{unit}/s" if unit and unit != "1" else "1/s"
