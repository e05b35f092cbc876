"""The embedded telemetry store: SQLite by default, PostgreSQL through the same code.

Writes are bulk inserts, one transaction per batch. A trace's spans may arrive in several
batches (late spans after the sampling decision), so the trace row is upserted and merged
with what is stored (see ``bot.store.dialect.trace_upsert``). Reads return the model's own
types; every database failure surfaces as a :class:`DataSourceError` naming the query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.collector.spanmetrics import SpanMetricRow
from bot.store import migrations
from bot.store.dialect import insert_ignore_sql, make_engine, trace_upsert
from bot.store.rows import (
    SPAN_COLUMNS,
    Rows,
    log_from_row,
    metric_from_row,
    span_from_row,
    sum_rows,
    to_rows,
)
from bot.store.schema import logs, span_metrics, spans, traces
from correlators.errors import DataSourceError
from correlators.model import LogRecord, Trace

MAX_LIMIT = 1000
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TraceQuery:
    """Filters of :meth:`Store.find_traces`; None means "any". The window is on the
    trace's start, half-open: ``start_ns <= start < end_ns``."""

    journey: str | None = None
    service: str | None = None
    """The trace has at least one span of this service."""
    start_ns: int | None = None
    end_ns: int | None = None
    min_duration_ns: int | None = None
    error: bool | None = None
    limit: int = 20
    """Clamped to 1..1000."""


@dataclass(frozen=True, slots=True)
class TraceSummary:
    """One trace row: enough to list traces without loading their spans."""

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
    """Persists kept traces, logs and span metrics; answers the queries the bot needs.

    Thread-safe: every call takes its own connection from the engine's pool.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self._insert_spans_sql = insert_ignore_sql(self.engine, spans.name, SPAN_COLUMNS)
        self._trace_upsert = trace_upsert(self.engine)

    def migrate(self) -> None:
        """Create, upgrade or refuse the schema; see ``bot.store.migrations``."""
        self._guard("migrate", lambda: migrations.migrate(self.engine))

    def close(self) -> None:
        self.engine.dispose()

    # --- writes --------------------------------------------------------------------------

    def write_traces(self, trace_batch: Sequence[Trace]) -> None:
        """Spans and trace rows in one transaction; duplicate spans are ignored."""
        self.write_rows(to_rows(trace_batch=trace_batch))

    def write_logs(self, log_batch: Sequence[LogRecord]) -> None:
        self.write_rows(to_rows(log_batch=log_batch))

    def write_span_metrics(self, rows: Sequence[SpanMetricRow]) -> None:
        """Appended, never merged: rows of one key are summed when read."""
        self.write_rows(to_rows(metric_rows=rows))

    def write_rows(self, rows: Rows) -> None:
        """Everything in one transaction: the writer coalesces submissions into this."""

        def write() -> None:
            with self.engine.begin() as connection:
                if rows.spans:  # first: the trace upsert counts from the spans table
                    connection.exec_driver_sql(self._insert_spans_sql, rows.spans)
                if rows.traces:  # one trace may repeat (coalesced late spans): both
                    # drivers run an upsert executemany row by row, so each merges in turn
                    connection.execute(self._trace_upsert, rows.traces)
                if rows.logs:
                    connection.execute(logs.insert(), rows.logs)
                if rows.metrics:
                    connection.execute(span_metrics.insert(), rows.metrics)

        self._guard(f"write {len(rows.spans)} spans, {len(rows.logs)} logs", write)

    # --- reads ---------------------------------------------------------------------------

    def get_trace(self, trace_id: str) -> Trace | None:
        """All stored spans (by start) with the trace row's journey, session and sampling
        decision; None when the trace was not kept (or has been purged)."""

        def read() -> Trace | None:
            with self.engine.connect() as connection:
                row = connection.execute(select(traces).where(traces.c.trace_id == trace_id)).first()
                if row is None:
                    return None
                found = connection.execute(
                    select(spans).where(spans.c.trace_id == trace_id).order_by(spans.c.start_ns)
                )
                return Trace(
                    trace_id=trace_id,
                    spans=[span_from_row(r._mapping) for r in found],
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
        statement = statement.order_by(c.start_ns.desc(), c.trace_id.desc())
        return self._summaries(statement.limit(_clamp(query.limit)), f"find_traces {query}")

    def session(self, key: str) -> list[TraceSummary]:
        """Traces of one session or one user (the key is tried as both), oldest first:
        a user's path through the journeys, as the bot tells it."""
        statement = (
            select(traces)
            .where(or_(traces.c.session_id == key, traces.c.user_id == key))
            .order_by(traces.c.start_ns, traces.c.trace_id)
            .limit(MAX_LIMIT)
        )
        return self._summaries(statement, f"session {key}")

    def logs_for_trace(self, trace_id: str) -> list[LogRecord]:
        statement = select(logs).where(logs.c.trace_id == trace_id).order_by(logs.c.time_ns, logs.c.id)
        return self._logs(statement, f"logs_for_trace {trace_id}")

    def logs(self, *, service: str | None, start_ns: int, end_ns: int, limit: int) -> list[LogRecord]:
        """Logs in [start_ns, end_ns), of one service or all, oldest first."""
        statement = select(logs).where(logs.c.time_ns >= start_ns, logs.c.time_ns < end_ns)
        if service:
            statement = statement.where(logs.c.service == service)
        statement = statement.order_by(logs.c.time_ns, logs.c.id).limit(_clamp(limit))
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
                return sum_rows(metric_from_row(r._mapping) for r in connection.execute(statement))

        return self._guard(f"span_metrics {journey} {start_s}-{end_s}", read)

    # --- retention -----------------------------------------------------------------------

    def purge(self, *, traces_before_ns: int, logs_before_ns: int, metrics_before_s: int) -> dict[str, int]:
        """Delete what retention has expired; returns the rows deleted per table. A trace
        goes by its end, so one still receiving late spans is not cut in half."""

        def run() -> dict[str, int]:
            with self.engine.begin() as connection:
                old = select(traces.c.trace_id).where(traces.c.end_ns < traces_before_ns)
                deleted_spans = connection.execute(delete(spans).where(spans.c.trace_id.in_(old)))
                deleted_traces = connection.execute(delete(traces).where(traces.c.end_ns < traces_before_ns))
                deleted_logs = connection.execute(delete(logs).where(logs.c.time_ns < logs_before_ns))
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
                return [log_from_row(r._mapping) for r in connection.execute(statement)]

        return self._guard(label, read)

    def _guard(self, label: str, action: Callable[[], R]) -> R:
        try:
            return action()
        except SQLAlchemyError as exc:
            source = make_url(self.url).render_as_string(hide_password=True)
            raise DataSourceError(source, label, str(exc.__cause__ or exc)) from exc


def _clamp(limit: int) -> int:
    return max(1, min(limit, MAX_LIMIT))
