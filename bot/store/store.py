"""The embedded telemetry store: SQLite by default, PostgreSQL through the same code.

Writes are bulk inserts in one transaction per batch. A trace's spans may arrive in
several batches (late spans after the sampling decision), so the trace row is upserted
and its counts recomputed from the spans table inside the same transaction, which keeps
them exact even when an exporter re-sends a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    Engine,
    create_engine,
    delete,
    event,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.collector.spanmetrics import SpanMetricRow
from bot.store import migrations
from bot.store.schema import logs, span_metrics, spans, traces
from correlators.errors import DataSourceError
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
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TraceQuery:
    journey: str | None = None
    service: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    min_duration_ns: int | None = None
    error: bool | None = None
    limit: int = 20


@dataclass(frozen=True, slots=True)
class TraceSummary:
    trace_id: str
    journey: str | None
    root_service: str | None
    root_name: str | None
    start_ns: int
    end_ns: int
    duration_ns: int
    span_count: int
    error: bool
    session_id: str | None
    user_id: str | None
    sampling_weight: float
    sampling_reason: str | None
    orphan_count: int


class Store:
    """Persists kept traces, logs and span metrics; answers the queries the bot needs."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = _engine(url, echo)
        self._insert = (
            postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        )
        self._insert_spans_sql = _insert_ignore_sql(self.engine, spans.name, SPAN_COLUMNS)
        self._trace_upsert = self._upsert_traces()

    def migrate(self) -> None:
        self._guard("migrate", lambda: migrations.migrate(self.engine))

    def close(self) -> None:
        self.engine.dispose()

    # --- writes --------------------------------------------------------------------------

    def write_batch(
        self,
        trace_batch: Sequence[Trace] = (),
        log_batch: Sequence[LogRecord] = (),
        metric_rows: Sequence[SpanMetricRow] = (),
    ) -> None:
        self.write_rows(to_rows(trace_batch, log_batch, metric_rows))

    def write_rows(self, rows: Rows) -> None:
        """Everything in one transaction: the writer process coalesces into this."""

        def write() -> None:
            with self.engine.begin() as connection:
                if rows.spans:
                    # The driver's executemany with plain tuples: SQLAlchemy's per-row
                    # parameter processing cost more than SQLite's own insert here.
                    connection.exec_driver_sql(self._insert_spans_sql, rows.spans)
                if rows.traces:
                    connection.execute(self._trace_upsert, rows.traces)
                if rows.logs:
                    connection.execute(logs.insert(), rows.logs)
                if rows.metrics:
                    connection.execute(span_metrics.insert(), rows.metrics)

        self._guard("write", write)

    def write_traces(self, trace_batch: Sequence[Trace]) -> None:
        self.write_batch(trace_batch=trace_batch)

    def write_logs(self, log_batch: Sequence[LogRecord]) -> None:
        self.write_batch(log_batch=log_batch)

    def write_span_metrics(self, rows: Sequence[SpanMetricRow]) -> None:
        self.write_batch(metric_rows=rows)

    def _upsert_traces(self) -> Any:
        """Insert trace rows; a trace seen before (late spans) is merged, its span count
        recomputed from the spans table so re-sent spans are not counted twice."""
        statement = self._insert(traces)
        excluded = statement.excluded
        counted = (
            select(func.count())
            .select_from(spans)
            .where(spans.c.trace_id == traces.c.trace_id)
            .scalar_subquery()
        )
        earliest = func.least if self.engine.dialect.name == "postgresql" else func.min
        latest = func.greatest if self.engine.dialect.name == "postgresql" else func.max
        return statement.on_conflict_do_update(
            index_elements=[traces.c.trace_id],
            set_={
                "start_ns": earliest(traces.c.start_ns, excluded.start_ns),
                "end_ns": latest(traces.c.end_ns, excluded.end_ns),
                "duration_ns": latest(traces.c.end_ns, excluded.end_ns)
                - earliest(traces.c.start_ns, excluded.start_ns),
                "span_count": counted,
                "error": traces.c.error | excluded.error,
                "orphan_count": traces.c.orphan_count + excluded.orphan_count,
                "journey": func.coalesce(traces.c.journey, excluded.journey),
                "session_id": func.coalesce(traces.c.session_id, excluded.session_id),
                "user_id": func.coalesce(traces.c.user_id, excluded.user_id),
            },
        )

    # --- reads ---------------------------------------------------------------------------

    def get_trace(self, trace_id: str) -> Trace | None:
        def read() -> Trace | None:
            with self.engine.connect() as connection:
                row = connection.execute(
                    select(traces).where(traces.c.trace_id == trace_id)
                ).first()
                if row is None:
                    return None
                found = connection.execute(
                    select(spans).where(spans.c.trace_id == trace_id).order_by(spans.c.start_ns)
                )
                return Trace(
                    trace_id=trace_id,
                    spans=[_span_from_row(r._mapping) for r in found],
                    journey=row.journey,
                    session_id=row.session_id,
                    user_id=row.user_id,
                    sampling_weight=row.sampling_weight,
                    sampling_reason=row.sampling_reason,
                )

        return self._guard(f"get_trace {trace_id}", read)

    def find_traces(self, query: TraceQuery) -> list[TraceSummary]:
        statement = select(traces)
        c = traces.c
        if query.journey:
            statement = statement.where(c.journey == query.journey)
        if query.service:
            statement = statement.where(
                exists().where(spans.c.trace_id == c.trace_id, spans.c.service == query.service)
            )
        if query.start_ns is not None:
            statement = statement.where(c.start_ns >= query.start_ns)
        if query.end_ns is not None:
            statement = statement.where(c.start_ns < query.end_ns)
        if query.min_duration_ns is not None:
            statement = statement.where(c.duration_ns >= query.min_duration_ns)
        if query.error is not None:
            statement = statement.where(c.error == query.error)
        statement = statement.order_by(c.start_ns.desc()).limit(min(query.limit, 1000))
        return self._summaries(statement, f"find_traces {query}")

    def session(self, key: str) -> list[TraceSummary]:
        statement = (
            select(traces)
            .where(or_(traces.c.session_id == key, traces.c.user_id == key))
            .order_by(traces.c.start_ns)
            .limit(1000)
        )
        return self._summaries(statement, f"session {key}")

    def logs_for_trace(self, trace_id: str) -> list[LogRecord]:
        statement = select(logs).where(logs.c.trace_id == trace_id).order_by(logs.c.time_ns)
        return self._logs(statement, f"logs_for_trace {trace_id}")

    def logs(
        self, *, service: str | None, start_ns: int, end_ns: int, limit: int
    ) -> list[LogRecord]:
        statement = select(logs).where(logs.c.time_ns >= start_ns, logs.c.time_ns < end_ns)
        if service:
            statement = statement.where(logs.c.service == service)
        statement = statement.order_by(logs.c.time_ns).limit(limit)
        return self._logs(statement, f"logs {service} {start_ns}-{end_ns}")

    def span_metrics(self, *, journey: str | None, start_s: int, end_s: int) -> list[SpanMetricRow]:
        """Rows in [start_s, end_s), rows of the same key summed into one."""
        statement = select(span_metrics).where(
            span_metrics.c.bucket_start_s >= start_s, span_metrics.c.bucket_start_s < end_s
        )
        if journey:
            statement = statement.where(span_metrics.c.journey == journey)
        statement = statement.order_by(span_metrics.c.bucket_start_s, span_metrics.c.id)

        def read() -> list[SpanMetricRow]:
            with self.engine.connect() as connection:
                return _sum_rows(
                    _metric_from_row(r._mapping) for r in connection.execute(statement)
                )

        return self._guard(f"span_metrics {journey} {start_s}-{end_s}", read)

    # --- retention -----------------------------------------------------------------------

    def purge(
        self, *, traces_before_ns: int, logs_before_ns: int, metrics_before_s: int
    ) -> dict[str, int]:
        def run() -> dict[str, int]:
            with self.engine.begin() as connection:
                old = select(traces.c.trace_id).where(traces.c.end_ns < traces_before_ns)
                deleted_spans = connection.execute(delete(spans).where(spans.c.trace_id.in_(old)))
                deleted_traces = connection.execute(
                    delete(traces).where(traces.c.end_ns < traces_before_ns)
                )
                deleted_logs = connection.execute(
                    delete(logs).where(logs.c.time_ns < logs_before_ns)
                )
                deleted_metrics = connection.execute(
                    delete(span_metrics).where(span_metrics.c.bucket_start_s < metrics_before_s)
                )
            return {
                "traces": deleted_traces.rowcount,
                "spans": deleted_spans.rowcount,
                "logs": deleted_logs.rowcount,
                "span_metrics": deleted_metrics.rowcount,
            }

        return self._guard("purge", run)

    # --- helpers -------------------------------------------------------------------------

    def _summaries(self, statement: Any, label: str) -> list[TraceSummary]:
        def read() -> list[TraceSummary]:
            with self.engine.connect() as connection:
                return [TraceSummary(**dict(r._mapping)) for r in connection.execute(statement)]

        return self._guard(label, read)

    def _logs(self, statement: Any, label: str) -> list[LogRecord]:
        def read() -> list[LogRecord]:
            with self.engine.connect() as connection:
                return [_log_from_row(r._mapping) for r in connection.execute(statement)]

        return self._guard(label, read)

    def _guard(self, label: str, action: Callable[[], R]) -> R:
        try:
            return action()
        except SQLAlchemyError as exc:
            source = make_url(self.url).render_as_string(hide_password=True)
            raise DataSourceError(source, label, str(exc.__cause__ or exc)) from exc


def _engine(url: str, echo: bool) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Random trace ids make every insert touch a random index page: a 32 MiB page
        # cache keeps the hot index pages, and rarer, larger checkpoints rewrite each page
        # once instead of once per commit (measured in bench/ingest.py).
        cursor.execute("PRAGMA cache_size=-32768")
        cursor.execute("PRAGMA wal_autocheckpoint=8192")
        cursor.close()

    return engine


# --- row mapping -------------------------------------------------------------------------


@dataclass(slots=True)
class Rows:
    """A batch as database rows: built where the data is, written where the database is
    (the writer process), and cheap to pickle between the two."""

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
        spans=[_span_values(s) for t in trace_batch for s in t.spans],
        traces=[_trace_row(t) for t in trace_batch],
        logs=[_log_row(r) for r in log_batch],
        metrics=[_metric_row(r) for r in metric_rows],
    )


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


def _insert_ignore_sql(engine: Engine, table: str, columns: Sequence[str]) -> str:
    """INSERT … ON CONFLICT DO NOTHING in the driver's own parameter style (both SQLite
    and PostgreSQL accept the clause)."""
    placeholder = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    values = ", ".join([placeholder] * len(columns))
    # table and columns are our own constants, never input
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) ON CONFLICT DO NOTHING"  # noqa: S608


def _span_values(span: Span) -> tuple[Any, ...]:
    """A span as a row tuple in SPAN_COLUMNS order."""
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


def _span_from_row(row: Any) -> Span:
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


def _trace_row(trace: Trace) -> dict[str, Any]:
    root = trace.root
    start, end = trace.start_ns, trace.end_ns
    return {
        "trace_id": trace.trace_id,
        "journey": trace.journey,
        "root_service": root.service if root else None,
        "root_name": root.name if root else None,
        "start_ns": start,
        "end_ns": end,
        "duration_ns": end - start,
        "span_count": len({s.span_id for s in trace.spans}),
        "error": trace.has_error,
        "session_id": trace.session_id,
        "user_id": trace.user_id,
        "sampling_weight": trace.sampling_weight,
        "sampling_reason": trace.sampling_reason,
        "orphan_count": sum(s.orphan for s in trace.spans),
    }


def _log_row(record: LogRecord) -> dict[str, Any]:
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


def _log_from_row(row: Any) -> LogRecord:
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


def _metric_row(row: SpanMetricRow) -> dict[str, Any]:
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


def _metric_from_row(row: Any) -> SpanMetricRow:
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


def _sum_rows(rows: Iterable[SpanMetricRow]) -> list[SpanMetricRow]:
    summed: dict[tuple[int, str, str, str, bool], SpanMetricRow] = {}
    for row in rows:
        key = (row.bucket_start_s, row.journey, row.service, row.operation, row.root)
        into = summed.get(key)
        if into is None:
            summed[key] = row
            continue
        into.requests += row.requests
        into.errors += row.errors
        into.slow += row.slow
        into.duration_sum_ms += row.duration_sum_ms
        into.histogram = [a + b for a, b in zip(into.histogram, row.histogram, strict=True)]
        for exemplar in row.exemplars:
            if exemplar not in into.exemplars and len(into.exemplars) < MAX_EXEMPLARS_READ:
                into.exemplars.append(exemplar)
    return list(summed.values())
