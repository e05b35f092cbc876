"""Span metrics: RED per journey/service/operation, counted before sampling."""

from __future__ import annotations

from bot.telemetry.spanmetrics import LATENCY_BOUNDS_MS, SpanMetrics, latency_bucket
from correlators.model import Span, SpanKind, StatusCode, Trace

S = 1_000_000_000
MS = 1_000_000


def trace(
    n: int, start_s: int, dur_ms: int, *, error: bool = False, journey: str | None = "checkout"
) -> Trace:
    trace_id = f"{n:032x}"
    root = Span(
        trace_id,
        "1" * 16,
        None,
        "frontend",
        "POST /checkout",
        start_s * S,
        start_s * S + dur_ms * MS,
        kind=SpanKind.SERVER,
    )
    client = Span(
        trace_id,
        "2" * 16,
        "1" * 16,
        "frontend",
        "call payments",
        start_s * S,
        start_s * S + MS,
        kind=SpanKind.CLIENT,
    )
    server = Span(
        trace_id,
        "3" * 16,
        "2" * 16,
        "payments",
        "POST /charge",
        start_s * S,
        start_s * S + MS,
        kind=SpanKind.SERVER,
        status=StatusCode.ERROR if error else StatusCode.UNSET,
    )
    return Trace(trace_id, [root, client, server], journey=journey)


def test_latency_buckets() -> None:
    assert latency_bucket(5) == 0
    assert latency_bucket(5.01) == 1
    assert latency_bucket(10_000) == len(LATENCY_BOUNDS_MS) - 1
    assert latency_bucket(10_001) == len(LATENCY_BOUNDS_MS)


def test_counts_per_key_and_bucket_by_event_time() -> None:
    m = SpanMetrics(bucket_s=10, exemplars_per_bucket=2)
    m.count(trace(1, 100, 200), latency_threshold_ms=800)
    m.count(trace(2, 105, 900, error=True), latency_threshold_ms=800)
    m.count(trace(3, 111, 50), latency_threshold_ms=800)
    m.count(trace(4, 101, 50, journey=None), latency_threshold_ms=None)
    rows = {(r.bucket_start_s, r.journey, r.service, r.operation, r.root): r for r in m.drain()}
    root = rows[(100, "checkout", "frontend", "POST /checkout", True)]
    # the journey failed only where its entry span failed: trace 2's error stayed in payments
    assert (root.requests, root.errors, root.slow) == (2, 0, 1)
    assert root.duration_sum_ms == 1100
    assert root.histogram[latency_bucket(200)] == 1 and root.histogram[latency_bucket(900)] == 1
    entry = rows[(100, "checkout", "frontend", "POST /checkout", False)]
    assert (entry.requests, entry.slow) == (2, 0)  # slow is counted on root rows only
    payments = rows[(100, "checkout", "payments", "POST /charge", False)]
    assert (payments.requests, payments.errors) == (2, 1)
    assert rows[(110, "checkout", "frontend", "POST /checkout", True)].requests == 1
    assert rows[(100, "_none", "frontend", "POST /checkout", True)].requests == 1
    assert not any(key[2] == "frontend" and key[3] == "call payments" for key in rows)  # client spans


def test_exemplars_prefer_errors_and_slow_traces() -> None:
    m = SpanMetrics(bucket_s=10, exemplars_per_bucket=2)
    traces = [
        trace(1, 100, 100),
        trace(2, 100, 100),
        trace(3, 100, 900),
        trace(4, 100, 100, error=True),
        trace(5, 100, 100),
    ]
    for t in traces:
        m.count(t, latency_threshold_ms=800)
    for t in traces:
        m.add_exemplar(t, slow=t.duration_ns > 800 * MS)
    root = next(r for r in m.drain() if r.root)
    assert sorted(root.exemplars) == sorted([traces[2].trace_id, traces[3].trace_id])


def test_drain_only_closed_buckets_and_late_rows_start_anew() -> None:
    m = SpanMetrics(bucket_s=10, exemplars_per_bucket=1)
    m.count(trace(1, 100, 10), None)
    m.count(trace(2, 120, 10), None)
    assert {r.bucket_start_s for r in m.drain(older_than_s=115)} == {100}
    m.count(trace(3, 101, 10), None)  # late for bucket 100: a new row
    late = [r for r in m.drain(older_than_s=115) if r.root]
    assert [(r.bucket_start_s, r.requests) for r in late] == [(100, 1)]
    assert {r.bucket_start_s for r in m.drain()} == {120}


def test_rows_count_their_bytes_in_and_out() -> None:
    metrics = SpanMetrics(bucket_s=10, exemplars_per_bucket=4)
    metrics.count(trace(1, 100, 20), latency_threshold_ms=None)
    one = metrics.bytes
    assert one > 2 * len("POST /checkout")  # two rows: the journey's root row and its entry span's
    metrics.count(trace(2, 101, 20), latency_threshold_ms=None)  # same bucket, same rows
    assert metrics.bytes == one
    metrics.count(trace(3, 200, 20), latency_threshold_ms=None)  # a new bucket
    assert metrics.bytes > one
    metrics.drain(None)
    assert metrics.bytes == 0
