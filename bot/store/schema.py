"""The telemetry tables and their schema version.

Telemetry tables use SQLAlchemy Core rather than the ORM: they are written in bulk at
ingest rate and read as rows, and the ORM's identity map would only cost time here.
Everything else a span carries (attributes, events, links) lives in one JSON text column,
since queries filter on the promoted columns only. A span's resource is what it shares
with every other span of its service instance, so it is stored once, in ``resources``,
and each span row names it by a content hash; a span's instrumentation scope is kept in
the same row (schema 12), which is then what the span shares with the others of its
resource and scope.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 13
"""Bumped with a migration step in ``bot.store.migrations`` whenever a table changes."""

metadata = MetaData()

schema_meta = Table(
    "schema_meta",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)

traces = Table(
    "traces",
    metadata,
    Column("trace_id", String(32), primary_key=True),
    Column("journey", String(64)),
    Column("root_service", String(255)),
    Column("root_name", Text),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger, nullable=False),
    Column("duration_ns", BigInteger, nullable=False),
    Column("span_count", Integer, nullable=False),
    Column("error", Boolean, nullable=False),
    Column("session_id", String(255)),
    Column("user_id", String(255)),
    Column("sampling_weight", Float, nullable=False),
    Column("sampling_reason", String(255)),
    Column("orphan_count", Integer, nullable=False),
    # when the store last took spans of it (the writer's clock): retention goes by it,
    # never by the sender's stamps (schema 8; NULL only in rows the migration could not date)
    Column("arrived_ns", BigInteger),
    # set while an incident cites the trace: kept until then past the traces' own tier
    Column("kept_until_ns", BigInteger),
    Index("ix_traces_journey_start", "journey", "start_ns"),
    Index("ix_traces_arrived", "arrived_ns"),
    Index("ix_traces_start", "start_ns"),
    Index("ix_traces_session", "session_id"),
    Index("ix_traces_user", "user_id"),
)

spans = Table(
    "spans",
    metadata,
    Column("trace_id", String(32), primary_key=True),
    Column("span_id", String(16), primary_key=True),
    Column("parent_span_id", String(16)),
    Column("service", String(255), nullable=False),
    Column("instance", String(255)),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger, nullable=False),
    Column("status", String(8), nullable=False),
    Column("orphan", Boolean, nullable=False),
    Column("data", Text, nullable=False),
    # resources.id (resource and scope); NULL in rows written before schema 3, whose data
    # holds the resource
    Column("resource_id", BigInteger),
    # the primary key (trace_id, span_id) is the by-trace index
    Index("ix_spans_service_start", "service", "start_ns"),
)

resources = Table(
    "resources",
    metadata,
    # a 64-bit hash of data: equal resources get one row, from any writer; data holds the
    # resource's facts and attributes, and the instrumentation scope when there is one
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    # when a span naming it was last written (refreshed at most hourly): retention goes by it
    Column("seen_ns", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
)

logs = Table(
    "logs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time_ns", BigInteger, nullable=False),
    Column("service", String(255), nullable=False),
    Column("instance", String(255)),
    Column("severity_number", Integer, nullable=False),
    Column("severity_text", String(32), nullable=False),
    Column("trace_id", String(32)),
    Column("span_id", String(16)),
    Column("body", Text, nullable=False),
    # observed time, attributes, resource; scope and event name when sent (schema 12)
    Column("data", Text, nullable=False),
    # when the store took it (schema 8): retention goes by it, as for traces
    Column("arrived_ns", BigInteger),
    Index("ix_logs_trace", "trace_id"),
    Index("ix_logs_service_time", "service", "time_ns"),
    Index("ix_logs_time", "time_ns"),
    Index("ix_logs_arrived", "arrived_ns"),
)

span_metrics = Table(
    "span_metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bucket_start_s", BigInteger, nullable=False),
    Column("journey", String(64), nullable=False),
    Column("service", String(255), nullable=False),
    Column("operation", Text, nullable=False),
    Column("root", Boolean, nullable=False),
    Column("requests", Integer, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("slow", Integer, nullable=False),
    Column("duration_sum_ms", Float, nullable=False),
    Column("histogram", Text, nullable=False),
    Column("exemplars", Text, nullable=False),
    # the bucket's width in seconds once retention merged it (300, 3600; schema 8); NULL
    # for the collector's own buckets (``collector.metrics_bucket_s``)
    Column("resolution_s", Integer),
    Index("ix_span_metrics_journey_bucket", "journey", "bucket_start_s"),
    Index("ix_span_metrics_bucket", "bucket_start_s"),
)

metric_points = Table(
    "metric_points",
    metadata,
    # OTLP data points as sent (/v1/metrics, gRPC; schema 10): a counter becomes a rate only
    # when read, beside the point before it (``correlators.datapoints``)
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time_ns", BigInteger, nullable=False),
    Column("service", String(255), nullable=False),
    Column("name", Text, nullable=False),
    # labels, kind, temporality, value or count, sum and buckets, unit
    Column("data", Text, nullable=False),
    # when the store took it: retention goes by it, as for logs
    Column("arrived_ns", BigInteger, nullable=False),
    Index("ix_metric_points_service_time", "service", "time_ns"),
    # a journey's SLI from one metric (``sli.source: metrics``), read at every evaluation
    Index("ix_metric_points_metric_time", "service", "name", "time_ns"),
    Index("ix_metric_points_arrived", "arrived_ns"),
)

quarantine = Table(
    "quarantine",
    metadata,
    # what the database refused to store, after the writer split its batch down to it:
    # kept (redacted, cut) for a person to read, never read back as telemetry
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at_ns", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("items", Integer, nullable=False),
    Column("what", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_quarantine_at", "at_ns"),
)
