"""Put generated telemetry into a Store the way the collector would: every trace counted
into span metrics (exemplars from kept traces), kept traces and logs written."""

from __future__ import annotations

from collections.abc import Sequence

from bot.collector.spanmetrics import SpanMetrics
from bot.config import AppConfig, Journey, JourneyMatch, LatencyObjective, Objectives
from bot.store import Store
from correlators.model import LogRecord, Trace

S = 1_000_000_000


def shop_config(**watcher: object) -> AppConfig:
    """The scenario generator's three journeys, recognised by their journey.name
    attribute, at 99.9 % availability (latency objectives above their healthy p99)."""
    journeys = [
        Journey(
            name=name,
            channel=f"#{name}-oncall",
            match=JourneyMatch(attribute="journey.name"),
            objectives=Objectives(availability=0.999, latency=LatencyObjective(threshold_ms=ms, target=0.99)),
        )
        for name, ms in (("checkout", 1500), ("login", 400), ("search", 800))
    ]
    return AppConfig(journeys=journeys, watcher=watcher)  # type: ignore[arg-type]


def store_telemetry(
    store: Store, config: AppConfig, traces: Sequence[Trace], logs: Sequence[LogRecord] = ()
) -> None:
    metrics = SpanMetrics(bucket_s=10, exemplars_per_bucket=4)
    for trace in traces:
        journey = config.journey(trace.journey) if trace.journey else None
        latency = journey.objectives.latency if journey else None
        threshold = latency.threshold_ms if latency else None
        metrics.count(trace, threshold)
        slow = threshold is not None and trace.root is not None and trace.root.duration_ns > threshold * 1e6
        metrics.add_exemplar(trace, slow=slow)
    store.write_traces(list(traces))
    store.write_span_metrics(metrics.drain())
    if logs:
        store.write_logs(list(logs))
