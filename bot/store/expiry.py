"""What retention deletes from the telemetry tables, and how span metrics are thinned.

Every tier is aged from arrival, never from the sender's stamps: a trace by the last time
the store took spans of it, a log record and an OTLP metric data point by when it was
stored, a quarantine entry by when it was refused. A sender's clock can say 1970 or 2262;
ours cannot, so nothing just received is deleted and nothing escapes. Span metrics are the
exception: a row is a bucket of event time, and the door (``Collector.admit``) only takes
spans stamped within the traces' retention before its clock and ``max_future_s`` after
it, so a bucket's time is never further from its arrival than that.

A trace an incident cites is pinned (``traces.kept_until_ns``, set by ``bot.retention``
from the incidents' reports) and outlives its tier until then; so do its logs.

Span metrics are merged into wider buckets as they age (10 s → 5 min → 1 h, each
:class:`MetricTier`), one window at a time in its own transaction, so a first run over
weeks of fine rows never holds the writer up for long (bench/retention.py). A merged row sums its rows'
counts and histograms (``bot.store.rows.sum_rows``) and carries no exemplars: by then
their traces are gone, and an exemplar that points at nothing is only a dangling id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, delete, exists, func, or_, select

from bot.store.dialect import RESOURCE_REFRESH_NS
from bot.store.rows import metric_from_row, metric_row, sum_rows
from bot.store.schema import logs, metric_points, quarantine, resources, span_metrics, spans, traces

RESOURCE_MARGIN_NS = 24 * 3600 * 1_000_000_000
"""A resource outlives the last span that named it by this (clocks a day apart)."""
MERGE_WINDOW_BUCKETS = 12
"""Wider buckets merged per transaction: an hour of 5-minute buckets (360 rows a series),
half a day of hours. With 20 series, a day of 5-minute buckets a transaction held SQLite's
write lock for up to 5.6 s, an hour for up to 0.29 s (bench/retention.py, on a loaded
machine), which the writer waits out."""


@dataclass(frozen=True, slots=True)
class MetricTier:
    """Span-metric buckets older than ``before_s`` are merged into ``resolution_s`` ones."""

    resolution_s: int
    before_s: int


@dataclass(frozen=True, slots=True)
class Expiry:
    """One retention run's cut-offs: rows that arrived before them go."""

    now_ns: int
    traces_before_ns: int
    """Traces (with their spans) and quarantine entries; pinned traces stay."""
    logs_before_ns: int
    """Log records; those of a pinned trace stay with it."""
    resources_before_ns: int
    """Resources unseen since: the longest a trace can be kept, a pinned one included."""
    metrics_before_s: int
    """Span-metric buckets (event time, see the module's docstring)."""
    points_before_ns: int = 0
    """OTLP metric data points (0: none expire)."""
    metric_tiers: Sequence[MetricTier] = ()
    """Finest first."""


def purge(engine: Engine, expiry: Expiry) -> dict[str, int]:
    """Delete what ``expiry`` expires, then merge span metrics by tier; rows per table."""
    with engine.begin() as connection:
        deleted = _delete_expired(connection, expiry)
    merged = 0
    for tier in expiry.metric_tiers:
        merged += downsample(engine, tier)
    deleted["span_metrics_merged"] = merged
    return deleted


def _delete_expired(connection: Connection, expiry: Expiry) -> dict[str, int]:
    pinned = and_(traces.c.kept_until_ns.is_not(None), traces.c.kept_until_ns >= expiry.now_ns)
    expired = and_(traces.c.arrived_ns < expiry.traces_before_ns, ~pinned)
    old = select(traces.c.trace_id).where(expired)
    deleted_spans = connection.execute(delete(spans).where(spans.c.trace_id.in_(old)))
    deleted_traces = connection.execute(delete(traces).where(expired))
    kept_trace = exists().where(traces.c.trace_id == logs.c.trace_id, pinned)
    deleted_logs = connection.execute(
        delete(logs).where(
            logs.c.arrived_ns < expiry.logs_before_ns, or_(logs.c.trace_id.is_(None), ~kept_trace)
        )
    )
    deleted_metrics = connection.execute(
        delete(span_metrics).where(span_metrics.c.bucket_start_s < expiry.metrics_before_s)
    )
    deleted_points = connection.execute(
        delete(metric_points).where(metric_points.c.arrived_ns < expiry.points_before_ns)
    )
    unseen = resources.c.seen_ns < expiry.resources_before_ns - RESOURCE_REFRESH_NS - RESOURCE_MARGIN_NS
    deleted_resources = connection.execute(delete(resources).where(unseen))
    deleted_quarantine = connection.execute(
        delete(quarantine).where(quarantine.c.at_ns < expiry.traces_before_ns)
    )
    return {
        "traces": deleted_traces.rowcount,
        "spans": deleted_spans.rowcount,
        "logs": deleted_logs.rowcount,
        "span_metrics": deleted_metrics.rowcount,
        "metric_points": deleted_points.rowcount,
        "resources": deleted_resources.rowcount,
        "quarantine": deleted_quarantine.rowcount,
    }


def downsample(engine: Engine, tier: MetricTier) -> int:
    """Merge the rows finer than ``tier`` whose wider bucket lies wholly before its
    ``before_s``, window by window from the oldest; returns the rows merged away (read
    less written)."""
    width = tier.resolution_s
    end = tier.before_s // width * width
    finer = func.coalesce(span_metrics.c.resolution_s, 0) < width
    oldest = select(func.min(span_metrics.c.bucket_start_s)).where(finer, span_metrics.c.bucket_start_s < end)
    with engine.connect() as connection:
        first = connection.execute(oldest).scalar()
    if first is None:
        return 0
    merged = 0
    start = int(first) // width * width
    while start < end:
        stop = min(start + MERGE_WINDOW_BUCKETS * width, end)
        with engine.begin() as connection:
            merged += _merge_window(connection, width, start, stop)
        start = stop
    return merged


def _merge_window(connection: Connection, width: int, start: int, stop: int) -> int:
    """Rows of [start, stop) finer than ``width`` replaced by their sums per wider bucket.
    Rows already of ``width`` in the window are summed in too, so each key keeps one row."""
    c = span_metrics.c
    window = and_(c.bucket_start_s >= start, c.bucket_start_s < stop)
    rows = [metric_from_row(r._mapping) for r in connection.execute(select(span_metrics).where(window))]
    for row in rows:
        row.bucket_start_s = row.bucket_start_s // width * width
        row.exemplars = []
    summed = sum_rows(rows)
    connection.execute(delete(span_metrics).where(window))
    if summed:
        connection.execute(span_metrics.insert(), [{**metric_row(r), "resolution_s": width} for r in summed])
    return len(rows) - len(summed)
