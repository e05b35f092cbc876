"""How much more the journey was asked to do: the incident's request rate over the baseline's.

Metrics count every request; traces are sampled, and a tail sampler keeps every failed or
slow trace, so during an incident the kept traces multiply while the requests do not. The
request-rate series of the journey's entry services are therefore preferred, and traces
are counted only where no such series exists (head sampling keeps their ratio; only there
is a trace count a request count).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from correlators.metrics import Window
from correlators.model import MetricSeries, Trace

_REQUEST_WORDS = ("request", "call", "rpc", "http", "grpc", "throughput", "qps", "rps", "hits")
_RATE_MARKS = (":rate", "rate", "per_second", "_total", "throughput", "qps", "rps")
_NOT_A_COUNT = ("error", "fail", "fault", "latency", "duration", "time", "bytes", "size", "mean", "active")


@dataclass(frozen=True, slots=True)
class RateChange:
    ratio: float
    source: str
    """"metrics" (every request counted) or "traces" (the kept ones)."""


def is_request_rate(series: MetricSeries) -> bool:
    """A series that counts requests per second: named for requests and for a rate (or in
    a per-second unit), and for nothing that is a part of the requests (errors) or a
    measure of them (latency, bytes)."""
    name = series.name.lower()
    if any(word in name for word in _NOT_A_COUNT):
        return False
    per_second = series.unit.endswith("/s") or any(mark in name for mark in _RATE_MARKS)
    return per_second and any(word in name for word in _REQUEST_WORDS)


def request_rate_change(
    *,
    metrics: Sequence[MetricSeries],
    entry_services: Collection[str],
    baseline: Sequence[Trace],
    during: Sequence[Trace],
    baseline_window: Window,
    incident_window: Window,
) -> RateChange | None:
    """The entry services' request rate from metrics when they have one, else the count of
    journey traces, each over the part of its window that has traffic at all."""
    measured = _metric_ratio(metrics, entry_services, baseline_window, incident_window)
    if measured is not None:
        return RateChange(measured, "metrics")
    counted = _trace_ratio(baseline, during, baseline_window, incident_window)
    return None if counted is None else RateChange(counted, "traces")


def _metric_ratio(
    metrics: Sequence[MetricSeries], services: Collection[str], baseline: Window, incident: Window
) -> float | None:
    """Sum over the entry services' request-rate series (one per instance, usually) of
    each window's median: the median ignores a fault's onset late in the window and a
    spike in the baseline."""
    before = now = 0.0
    found = False
    for series in metrics:
        if series.service not in services or not is_request_rate(series):
            continue
        old = [p.value for p in series.points if p.time_ns in baseline]
        new = [p.value for p in series.points if p.time_ns in incident]
        if old and new:
            before += statistics.median(old)
            now += statistics.median(new)
            found = True
    if not found or before <= 0:
        return None
    return now / before


def _trace_ratio(
    baseline: Sequence[Trace], during: Sequence[Trace], baseline_window: Window, incident_window: Window
) -> float | None:
    """A baseline window reaching back before the service (or the collector) started holds
    fewer traces, not a lower rate: each window counts from its first trace."""
    if not baseline or not during:
        return None
    before = len(baseline) / _covered_ns(baseline, baseline_window)
    now = len(during) / _covered_ns(during, incident_window)
    return now / before


def _covered_ns(traces: Sequence[Trace], window: Window) -> int:
    first = min(t.start_ns for t in traces)
    return max(1, window.end_ns - max(window.start_ns, first))


def load_growth(
    services: Collection[str],
    baseline: Sequence[Trace],
    during: Sequence[Trace],
    baseline_window: Window,
    incident_window: Window,
) -> dict[str, float]:
    """Service -> the incident's rate of requests it served over the baseline's (a service
    the baseline never saw grew without bound), for ``services`` only: the walk over every
    span is paid only for the services whose resources need it. Requests are the spans
    that enter a service: how much more work it was given, against which its resources
    are judged."""
    if not services or not baseline or not during:
        return {}
    before = _served(baseline, services)
    now = _served(during, services)
    base_ns = _covered_ns(baseline, baseline_window)
    now_ns = _covered_ns(during, incident_window)
    return {
        service: (now[service] / now_ns) / (before[service] / base_ns) if before[service] else math.inf
        for service in services
    }


def _served(traces: Sequence[Trace], services: Collection[str]) -> Counter[str]:
    """Service -> spans of the traces that enter it (no parent, or one of another service)."""
    served: Counter[str] = Counter()
    for trace in traces:
        entering = [span for span in trace.spans if span.service in services]
        if not entering:
            continue
        owner = {span.span_id: span.service for span in trace.spans}
        for span in entering:
            if owner.get(span.parent_span_id or "") != span.service:
                served[span.service] += 1
    return served
