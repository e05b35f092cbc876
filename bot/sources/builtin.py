"""The embedded store as a source of every signal: the default, one machine, no backends.

SLIs come from the collector's span metrics, which count every decided trace before
sampling; exemplars are the kept traces those rows point at; traces and logs are what the
store kept; metrics are RED series of each service's entry spans, derived from the same
span metrics, and the series of the OTLP metrics the services sent themselves (CPU,
memory, request and runtime metrics on ``/v1/metrics``), counters made rates as they are
read (``correlators.datapoints``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import pairwise

from bot.sources.base import EventCounts, Exemplar, SliQuery
from bot.store import Store, TraceQuery
from bot.telemetry.spanmetrics import SpanMetricRow
from correlators.datapoints import series_of
from correlators.model import LogRecord, MetricDataPoint, MetricPoint, MetricSeries, Trace

S = 1_000_000_000
LOG_SLICES = 10
"""A service's logs past the limit are read as this many even slices of the window."""
MAX_POINTS_READ = 30_000
"""OTLP data points one investigation reads, shared evenly by its services and by
``LOG_SLICES`` slices of the window, so a chatty service or minute cannot crowd out the
rest. A point read holds 1.1 KB (tracemalloc, a counter with six labels), so this is
about 33 MB, as ``watcher.investigation_spans`` is for spans."""
POINT_LOOKBACK_S = 120
"""Points read from before the window, so that a cumulative counter's first point in it
has the one before (SDKs export every 60 s by default)."""


class BuiltinSliSource:
    name = "builtin"

    def __init__(self, store: Store) -> None:
        self.store = store
        self._last: tuple[tuple[str, int, tuple[int, ...]], dict[int, tuple[int, int, int]]] | None = None

    def counts(self, query: SliQuery, end_s: int, windows_s: Sequence[int]) -> dict[int, EventCounts]:
        """Both objectives of a journey share one query: the last answer is kept for the
        same journey, time and windows."""
        key = (query.journey, end_s, tuple(sorted(set(windows_s))))
        if self._last is None or self._last[0] != key:
            self._last = (key, self.store.journey_window_counts(query.journey, end_s, windows_s))
        counted = self._last[1]
        bad_index = 2 if query.objective == "latency" else 1
        return {w: EventCounts(float(counted[w][0]), float(counted[w][bad_index])) for w in windows_s}


class BuiltinExemplarSource:
    name = "builtin"

    def __init__(self, store: Store) -> None:
        self.store = store

    def exemplars(self, query: SliQuery, start_ns: int, end_ns: int, limit: int) -> list[Exemplar]:
        found = self.store.bad_exemplars(query.journey, start_ns // S, -(-end_ns // S))
        return [Exemplar(trace_id, bucket * S) for bucket, trace_id in found[:limit]]


class BuiltinTraceSource:
    name = "builtin"

    def __init__(self, store: Store) -> None:
        self.store = store

    def get_traces(self, trace_ids: Sequence[str]) -> list[Trace]:
        return self.store.get_traces(trace_ids)

    def journeys_of(self, trace_ids: Sequence[str]) -> dict[str, str | None]:
        return self.store.journeys_of(trace_ids)

    def find_traces(
        self,
        *,
        journey: str | None,
        service: str | None,
        start_ns: int,
        end_ns: int,
        limit: int,
        error: bool | None = None,
    ) -> list[Trace]:
        summaries = self.store.find_traces(
            TraceQuery(
                journey=journey,
                service=None if journey else service,
                start_ns=start_ns,
                end_ns=end_ns,
                error=error,
                limit=limit,
            )
        )
        return self.store.get_traces([s.trace_id for s in summaries])


class BuiltinLogSource:
    name = "builtin"

    def __init__(self, store: Store) -> None:
        self.store = store

    def logs_for_traces(
        self, trace_ids: Sequence[str], start_ns: int, end_ns: int, limit: int
    ) -> list[LogRecord]:
        return self.store.logs_for_traces(trace_ids)[:limit]

    def logs_for_services(
        self, services: Sequence[str], start_ns: int, end_ns: int, limit: int
    ) -> list[LogRecord]:
        """Each service gets an equal share of ``limit``, read as even slices of the window,
        so a chatty first minute does not crowd out the rest."""
        if not services:
            return []
        per_slice = max(1, limit // (len(services) * LOG_SLICES))
        step = max(1, (end_ns - start_ns) // LOG_SLICES)
        found: list[LogRecord] = []
        for service in services:
            for lo in range(start_ns, end_ns, step):
                found.extend(
                    self.store.logs(
                        service=service, start_ns=lo, end_ns=min(lo + step, end_ns), limit=per_slice
                    )
                )
        return sorted(found, key=lambda r: r.time_ns)


class BuiltinMetricSource:
    """Per service: requests/s, errors/s and mean latency of its entry spans, per step;
    and the series of the OTLP metrics it sent, at the rate it sent them."""

    name = "builtin"

    def __init__(self, store: Store) -> None:
        self.store = store

    def service_metrics(
        self, services: Sequence[str], start_ns: int, end_ns: int, step_s: int
    ) -> list[MetricSeries]:
        wanted = set(services)
        rows = self.store.span_metrics(journey=None, start_s=start_ns // S, end_s=-(-end_ns // S))
        steps: dict[str, dict[int, list[SpanMetricRow]]] = defaultdict(lambda: defaultdict(list))
        for row in rows:
            if not row.root and row.service in wanted:
                steps[row.service][row.bucket_start_s - row.bucket_start_s % step_s].append(row)
        series: list[MetricSeries] = []
        for service in sorted(steps):
            series.extend(_red_series(service, steps[service], step_s))
        return series + self._sent_series(sorted(wanted), start_ns, end_ns)

    def _sent_series(self, services: Sequence[str], start_ns: int, end_ns: int) -> list[MetricSeries]:
        """The series of the services' own OTLP metrics in the window."""
        if not services:
            return []
        per_slice = max(1, MAX_POINTS_READ // (len(services) * LOG_SLICES))
        first = start_ns - POINT_LOOKBACK_S * S
        edges = [first + (end_ns - first) * i // LOG_SLICES for i in range(LOG_SLICES + 1)]
        points: list[MetricDataPoint] = []
        for service in services:
            for lo, hi in pairwise(edges):
                points.extend(
                    self.store.metric_points(service=service, start_ns=lo, end_ns=hi, limit=per_slice)
                )
        found = []
        for made in series_of(points):
            made.points = [p for p in made.points if p.time_ns >= start_ns]
            if made.points:
                found.append(made)
        return found


def _red_series(service: str, by_step: dict[int, list[SpanMetricRow]], step_s: int) -> list[MetricSeries]:
    labels = {"service.name": service}
    rate = MetricSeries("requests_per_s", labels, unit="1/s")
    errors = MetricSeries("errors_per_s", labels, unit="1/s")
    latency = MetricSeries("duration_mean_ms", labels, unit="ms")
    for start in sorted(by_step):
        rows = by_step[start]
        requests = sum(r.requests for r in rows)
        time_ns = start * S
        rate.points.append(MetricPoint(time_ns, requests / step_s))
        errors.points.append(MetricPoint(time_ns, sum(r.errors for r in rows) / step_s))
        if requests:
            latency.points.append(MetricPoint(time_ns, sum(r.duration_sum_ms for r in rows) / requests))
    return [rate, errors, latency]
