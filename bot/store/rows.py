"""Telemetry objects to database rows and back.

Built where the data is (the request path) and written where the database is (the writer
thread or process), so a batch is plain tuples and dicts: cheap to build, cheap to pickle.
Everything a query never filters on lives in one orjson text column per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from bot.collector.spanmetrics import SpanMetricRow
from correlators.model import (
    LogRecord,
    Span,
    SpanEvent,
    SpanKind,
    SpanLink,
    StatusCode,
    Trace,
)

MAX_EXEMPLARS_READ = 8
"""Exemplars kept when rows of one key are summed on read."""

SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "service",
    "instance",
    "name",
    "kind",
    "start_ns",
    "end_ns",
    "status",
    "orphan",
    "data",
)
"""The order of the tuples :func:`span_values` builds and the span insert binds."""


@dataclass(slots=True)
class Rows:
    """One batch for one transaction: spans as tuples, everything else as dicts."""

    spans: list[tuple[Any, ...]] = field(default_factory=list)
    traces: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)

    @property
    def size(self) -> int:
        """Spans and logs: what the writer's back-pressure is counted in."""
        return len(self.spans) + len(self.logs)

    def extend(self, other: Rows) -> None:
        self.spans.extend(other.spans)
        self.traces.extend(other.traces)
        self.logs.extend(other.logs)
        self.metrics.extend(other.metrics)


def to_rows(
    trace_batch: Sequence[Trace] = (),
    log_batch: Sequence[LogRecord] = (),
    metric_rows: Sequence[SpanMetricRow] = (),
) -> Rows:
    return Rows(
        spans=[span_values(s) for t in trace_batch for s in t.spans],
        traces=[trace_row(t) for t in trace_batch],
        logs=[log_row(r) for r in log_batch],
        metrics=[metric_row(r) for r in metric_rows],
    )


# --- spans and traces ----------------------------------------------------------------------


def span_values(span: Span) -> tuple[Any, ...]:
    """A span as a row tuple in SPAN_COLUMNS order; events and links as compact arrays."""
    return (
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.service,
        span.instance,
        span.name,
        span.kind.value,
        span.start_ns,
        span.end_ns,
        span.status.value,
        span.orphan,
        orjson.dumps(
            {
                "status_message": span.status_message,
                "service_version": span.service_version,
                "region": span.region,
                "zone": span.zone,
                "language": span.language,
                "attributes": span.attributes,
                "resource": span.resource,
                "events": [(e.name, e.time_ns, e.attributes) for e in span.events],
                "links": [(ln.trace_id, ln.span_id, ln.attributes) for ln in span.links],
            }
        ).decode(),
    )


def span_from_row(row: Any) -> Span:
    data = orjson.loads(row["data"])
    return Span(
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        parent_span_id=row["parent_span_id"],
        service=row["service"],
        name=row["name"],
        start_ns=row["start_ns"],
        end_ns=row["end_ns"],
        kind=SpanKind(row["kind"]),
        status=StatusCode(row["status"]),
        status_message=data["status_message"],
        instance=row["instance"],
        service_version=data["service_version"],
        region=data["region"],
        zone=data["zone"],
        language=data["language"],
        attributes=data["attributes"],
        resource=data["resource"],
        events=[SpanEvent(name, time_ns, attrs) for name, time_ns, attrs in data["events"]],
        links=[SpanLink(trace_id, span_id, attrs) for trace_id, span_id, attrs in data["links"]],
        orphan=bool(row["orphan"]),
    )


def trace_row(trace: Trace) -> dict[str, Any]:
    """The trace row for a first write; a later write of the same trace id is merged by
    the upsert in ``bot.store.dialect``, which recomputes counts from the spans table."""
    root = trace.root
    start, end = trace.start_ns, trace.end_ns
    unique = {s.span_id: s for s in trace.spans}
    return {
        "trace_id": trace.trace_id,
        "journey": trace.journey,
        "root_service": root.service if root else None,
        "root_name": root.name if root else None,
        "start_ns": start,
        "end_ns": end,
        "duration_ns": end - start,
        "span_count": len(unique),
        "error": trace.has_error,
        "session_id": trace.session_id,
        "user_id": trace.user_id,
        "sampling_weight": trace.sampling_weight,
        "sampling_reason": trace.sampling_reason,
        "orphan_count": sum(s.orphan for s in unique.values()),
    }


# --- logs ------------------------------------------------------------------------------------


def log_row(record: LogRecord) -> dict[str, Any]:
    return {
        "time_ns": record.time_ns,
        "service": record.service,
        "instance": record.instance,
        "severity_number": record.severity_number,
        "severity_text": record.severity_text,
        "trace_id": record.trace_id,
        "span_id": record.span_id,
        "body": record.body,
        "data": orjson.dumps(
            {
                "observed_time_ns": record.observed_time_ns,
                "attributes": record.attributes,
                "resource": record.resource,
            }
        ).decode(),
    }


def log_from_row(row: Any) -> LogRecord:
    data = orjson.loads(row["data"])
    return LogRecord(
        time_ns=row["time_ns"],
        service=row["service"],
        body=row["body"],
        severity_text=row["severity_text"],
        severity_number=row["severity_number"],
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        instance=row["instance"],
        observed_time_ns=data["observed_time_ns"],
        attributes=data["attributes"],
        resource=data["resource"],
    )


# --- span metrics ----------------------------------------------------------------------------


def metric_row(row: SpanMetricRow) -> dict[str, Any]:
    return {
        "bucket_start_s": row.bucket_start_s,
        "journey": row.journey,
        "service": row.service,
        "operation": row.operation,
        "root": row.root,
        "requests": row.requests,
        "errors": row.errors,
        "slow": row.slow,
        "duration_sum_ms": row.duration_sum_ms,
        "histogram": orjson.dumps(row.histogram).decode(),
        "exemplars": orjson.dumps(row.exemplars).decode(),
    }


def metric_from_row(row: Any) -> SpanMetricRow:
    return SpanMetricRow(
        bucket_start_s=row["bucket_start_s"],
        journey=row["journey"],
        service=row["service"],
        operation=row["operation"],
        root=bool(row["root"]),
        requests=row["requests"],
        errors=row["errors"],
        slow=row["slow"],
        duration_sum_ms=row["duration_sum_ms"],
        histogram=orjson.loads(row["histogram"]),
        exemplars=orjson.loads(row["exemplars"]),
    )


def sum_rows(rows: Iterable[SpanMetricRow]) -> list[SpanMetricRow]:
    """Rows of one key summed into one: counts added, histograms element-wise, exemplars
    concatenated without repeats and capped, in the order the rows came."""
    summed: dict[tuple[int, str, str, str, bool], SpanMetricRow] = {}
    for row in rows:
        key = (row.bucket_start_s, row.journey, row.service, row.operation, row.root)
        into = summed.get(key)
        if into is None:
            into = summed[key] = SpanMetricRow(*key, histogram=[0] * len(row.histogram))
        into.requests += row.requests
        into.errors += row.errors
        into.slow += row.slow
        into.duration_sum_ms += row.duration_sum_ms
        into.histogram = [a + b for a, b in zip(into.histogram, row.histogram, strict=True)]
        for exemplar in row.exemplars:
            if exemplar not in into.exemplars and len(into.exemplars) < MAX_EXEMPLARS_READ:
                into.exemplars.append(exemplar)
    return list(summed.values())
