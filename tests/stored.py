"""Put generated telemetry into a Store the way the collector would: every trace counted
into span metrics (exemplars from kept traces), kept traces and logs written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.config import AppConfig, Journey, JourneyMatch, LatencyObjective, Objectives
from bot.store import Store
from bot.telemetry.spanmetrics import SpanMetrics
from correlators.model import LogRecord, SpanKind, Trace
from correlators.report import Report
from tests.spantree import TraceBuilder

S = 1_000_000_000


def stored_report(fields: dict[str, Any]) -> Report:
    """A report as stored, with only the ``fields`` a test is about; every other field is
    empty (a change finding's ``minutes_before`` and ``candidate_rank`` too)."""
    empty = {
        "journey": None,
        "candidates": [],
        "bottlenecks": [],
        "attributes": [],
        "log_changes": [],
        "metric_anomalies": [],
        "gaps": [],
        "bad_traces": 0,
        "baseline_traces": 0,
    }
    changes = [{"minutes_before": 0.0, "candidate_rank": None, **c} for c in fields.get("changes", [])]
    return Report.from_json({**empty, **fields, "changes": changes})


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


def steady_traffic(
    journey: str, start_s: int, end_s: int, *, per_bucket: int, failing_from_s: int, failing_per_bucket: int
) -> list[Trace]:
    """``per_bucket`` one-span requests of ``journey`` every 10 s from ``start_s`` to
    ``end_s``; from ``failing_from_s`` on, ``failing_per_bucket`` of each bucket fail:
    event counts a test can work out by hand."""
    traces = []
    for bucket_s in range(start_s, end_s, 10):
        for n in range(per_bucket):
            builder = TraceBuilder(f"{bucket_s:016x}{n:016x}")
            failing = bucket_s >= failing_from_s and n < failing_per_bucket
            start_ms = bucket_s * 1000 + n
            builder.span(
                "frontend", "POST /checkout", start_ms, start_ms + 50, kind=SpanKind.SERVER, error=failing
            )
            trace = builder.trace()
            trace.journey = journey
            traces.append(trace)
    return traces
