"""The embedded telemetry store: SQLite by default, PostgreSQL through the same code.

Writes are bulk inserts, one transaction per batch. A trace's spans may arrive in several
batches (late spans after the sampling decision), so the trace row is upserted and merged
with what is stored (see ``bot.store.dialect.trace_upsert``). Reads return the model's own
types; every database failure surfaces as a :class:`DataSourceError` naming the query.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import orjson
from sqlalchemy import case, delete, exists, func, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.store import expiry
from bot.store.dialect import (
    READ_CACHE_MIB,
    insert_ignore_sql,
    make_engine,
    resource_upsert_sql,
    trace_upsert,
)
from bot.store.rows import (
    SPAN_COLUMNS,
    Rows,
    Shared,
    log_from_row,
    metric_from_row,
    point_from_row,
    span_from_row,
    sum_rows,
    to_rows,
)
from bot.store.schema import logs, metric_points, quarantine, resources, span_metrics, spans, traces
from bot.telemetry.assembly import Kept, TraceAssembly
from bot.telemetry.resource import UNKNOWN_SERVICE
from bot.telemetry.spanmetrics import SpanMetricRow
from correlators.errors import DataSourceError
from correlators.model import LogRecord, MetricDataPoint, Trace

MAX_LIMIT = 1000
ID_CHUNK = 500
"""Ids per IN (...) list: well under SQLite's bound-parameter limit."""
MAX_QUARANTINE_ROWS = 10_000
"""Quarantine entries kept, the newest (each at most ~9 KiB, see ``bot.store.isolate``):
a sender that sends nothing but refused items cannot fill the disk through it."""
MAX_VERSIONS_READ = 10_000
"""Resource rows read to find service versions: one per instance and version."""
R = TypeVar("R")
_ASSEMBLY = TraceAssembly()
"""Stored traces keep what was decided when they were kept (``Kept``): no matcher needed."""


@dataclass(frozen=True, slots=True)
class TraceQuery:
    """Filters of :meth:`Store.find_traces`; None means "any". The window is on the
    trace's start, half-open: ``start_ns <= start < end_ns``."""

    journey: str | None = None
    journeys: frozenset[str] | None = None
    """Only traces of these journeys (a reader's scope, ``bot.policy``); None: any,
    traces of no journey too."""
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


_SUMMARY_COLUMNS = [traces.c[f.name] for f in fields(TraceSummary)]
"""A trace row's columns a summary shows (not retention's own)."""


class Store:
    """Persists kept traces, logs and span metrics; answers the queries the bot needs.

    Thread-safe: every call takes its own connection from the engine's pool.
    """

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        page_cache_mib: int = READ_CACHE_MIB,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        """``clock``: the arrival time written with each row (nanoseconds), which retention
        ages rows by; a test passes a fake one."""
        self.url = url
        self.clock = clock
        self.engine = make_engine(url, echo=echo, page_cache_mib=page_cache_mib)
        self._insert_spans_sql = insert_ignore_sql(self.engine, spans.name, SPAN_COLUMNS)
        self._resource_upsert_sql = resource_upsert_sql(self.engine)
        self._trace_upsert = trace_upsert(self.engine)

    def migrate(self) -> None:
        """Create, upgrade or refuse the schema; see ``bot.store.migrations``, imported
        here because it needs the ORM (the bot's own tables), which the writer process,
        writing telemetry only, does without (6 MB)."""
        from bot.store import migrations

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
        """Everything in one transaction: the writer coalesces submissions into this.
        Trace and log rows are stamped with their arrival here, by the store's clock."""

        def write() -> None:
            now = self.clock()
            for row in rows.traces:
                row["arrived_ns"] = now
            for row in rows.logs:
                row["arrived_ns"] = now
            for row in rows.points:
                row["arrived_ns"] = now
            with self.engine.begin() as connection:
                if rows.resources:  # before the spans that name them (see resource_upsert_sql)
                    upsert = [(row_id, now, data) for row_id, data in rows.resources.items()]
                    connection.exec_driver_sql(self._resource_upsert_sql, upsert)
                if rows.spans:  # first: the trace upsert counts from the spans table
                    connection.exec_driver_sql(self._insert_spans_sql, rows.spans)
                if rows.traces:  # one trace may repeat (coalesced late spans): both
                    # drivers run an upsert executemany row by row, so each merges in turn
                    connection.execute(self._trace_upsert, rows.traces)
                if rows.logs:
                    connection.execute(logs.insert(), rows.logs)
                if rows.metrics:
                    connection.execute(span_metrics.insert(), rows.metrics)
                if rows.points:
                    connection.execute(metric_points.insert(), rows.points)

        self._guard(f"write {len(rows.spans)} spans, {len(rows.logs)} logs, {len(rows.points)} points", write)

    def write_quarantine(self, entries: Sequence[dict[str, Any]]) -> None:
        """Keep what the database refused (``bot.store.isolate.Refused.row``), dropping the
        oldest entries past ``MAX_QUARANTINE_ROWS``."""

        def write() -> None:
            with self.engine.begin() as connection:
                connection.execute(quarantine.insert(), list(entries))
                newest = connection.execute(select(func.max(quarantine.c.id))).scalar_one()
                connection.execute(delete(quarantine).where(quarantine.c.id <= newest - MAX_QUARANTINE_ROWS))

        self._guard(f"write {len(entries)} quarantine entries", write)

    def quarantined(self, limit: int = 100) -> tuple[int, list[dict[str, Any]]]:
        """(entries kept, the newest ``limit`` of them, newest first)."""

        def read() -> tuple[int, list[dict[str, Any]]]:
            with self.engine.connect() as connection:
                total = connection.execute(select(func.count()).select_from(quarantine)).scalar_one()
                newest = select(quarantine).order_by(quarantine.c.id.desc()).limit(_clamp(limit))
                return int(total), [dict(r._mapping) for r in connection.execute(newest)]

        return self._guard("quarantined", read)

    # --- reads ---------------------------------------------------------------------------

    def get_trace(self, trace_id: str) -> Trace | None:
        """All stored spans (by start) with the trace row's journey, session and sampling
        decision; None when the trace was not kept (or has been purged)."""

        found = self.get_traces([trace_id])
        return found[0] if found else None

    def get_traces(self, trace_ids: Sequence[str]) -> list[Trace]:
        """Many traces in two queries per chunk (rows, then all their spans), for an
        investigation that reads thousands at once; ids not stored are left out."""

        def read() -> list[Trace]:
            found: list[Trace] = []
            unique = list(dict.fromkeys(trace_ids))
            with self.engine.connect() as connection:
                for lo in range(0, len(unique), ID_CHUNK):
                    found.extend(self._read_traces(connection, unique[lo : lo + ID_CHUNK]))
            return found

        return self._guard(f"get_traces ({len(trace_ids)} ids)", read)

    def _read_traces(self, connection: Any, ids: list[str]) -> list[Trace]:
        rows = {r.trace_id: r for r in connection.execute(select(traces).where(traces.c.trace_id.in_(ids)))}
        by_trace: dict[str, list[Any]] = {trace_id: [] for trace_id in rows}
        span_rows = connection.execute(
            select(spans).where(spans.c.trace_id.in_(list(rows))).order_by(spans.c.start_ns)
        )
        shared = Shared(
            lambda row_id: connection.execute(
                select(resources.c.data).where(resources.c.id == row_id)
            ).scalar_one_or_none()
        )
        for r in span_rows:
            by_trace[r.trace_id].append(span_from_row(r._mapping, shared))
        kept = {
            trace_id: Kept(row.journey, row.session_id, row.user_id, row.sampling_weight, row.sampling_reason)
            for trace_id, row in rows.items()
        }
        return [_ASSEMBLY.trace(trace_id, by_trace[trace_id], kept[trace_id]) for trace_id in rows]

    def find_traces(self, query: TraceQuery) -> list[TraceSummary]:
        statement = select(*_SUMMARY_COLUMNS)
        c = traces.c
        if query.journey:
            statement = statement.where(c.journey == query.journey)
        if query.journeys is not None:
            statement = statement.where(c.journey.in_(sorted(query.journeys)))
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
            select(*_SUMMARY_COLUMNS)
            .where(or_(traces.c.session_id == key, traces.c.user_id == key))
            .order_by(traces.c.start_ns, traces.c.trace_id)
            .limit(MAX_LIMIT)
        )
        return self._summaries(statement, f"session {key}")

    def journeys_of(self, trace_ids: Sequence[str]) -> dict[str, str | None]:
        """The journey of each kept trace among ``trace_ids`` (ids not kept are left out):
        an investigation keeps only its own journey's log lines."""

        def read() -> dict[str, str | None]:
            found: dict[str, str | None] = {}
            unique = list(dict.fromkeys(trace_ids))
            with self.engine.connect() as connection:
                for lo in range(0, len(unique), ID_CHUNK):
                    statement = select(traces.c.trace_id, traces.c.journey).where(
                        traces.c.trace_id.in_(unique[lo : lo + ID_CHUNK])
                    )
                    found.update((trace_id, journey) for trace_id, journey in connection.execute(statement))
            return found

        return self._guard(f"journeys_of ({len(trace_ids)} ids)", read)

    def root_outcomes(self, trace_ids: Sequence[str]) -> dict[str, tuple[bool, int]]:
        """(failed, duration ns) of each kept trace's root span (no parent), as span
        metrics judge the journey's entry request: a trace's own error flag and duration
        also count its inner spans (a retried call, an async job after the answer)."""

        def read() -> dict[str, tuple[bool, int]]:
            found: dict[str, tuple[bool, int]] = {}
            unique = list(dict.fromkeys(trace_ids))
            c = spans.c
            with self.engine.connect() as connection:
                for lo in range(0, len(unique), ID_CHUNK):
                    statement = select(c.trace_id, c.status, c.start_ns, c.end_ns).where(
                        c.trace_id.in_(unique[lo : lo + ID_CHUNK]), c.parent_span_id.is_(None)
                    )
                    for trace_id, status, start_ns, end_ns in connection.execute(statement):
                        found.setdefault(trace_id, (status == "error", int(end_ns - start_ns)))
            return found

        return self._guard(f"root_outcomes ({len(trace_ids)} ids)", read)

    def logs_for_trace(self, trace_id: str) -> list[LogRecord]:
        return self.logs_for_traces([trace_id])

    def logs_for_traces(self, trace_ids: Sequence[str]) -> list[LogRecord]:
        """Logs of many traces, oldest first (in write order within a nanosecond)."""

        def read() -> list[LogRecord]:
            found: list[LogRecord] = []
            unique = list(dict.fromkeys(trace_ids))
            with self.engine.connect() as connection:
                for lo in range(0, len(unique), ID_CHUNK):
                    statement = (
                        select(logs)
                        .where(logs.c.trace_id.in_(unique[lo : lo + ID_CHUNK]))
                        .order_by(logs.c.time_ns, logs.c.id)
                    )
                    found.extend(log_from_row(r._mapping) for r in connection.execute(statement))
            return sorted(found, key=lambda r: r.time_ns)

        return self._guard(f"logs_for_traces ({len(trace_ids)} ids)", read)

    def logs(self, *, service: str | None, start_ns: int, end_ns: int, limit: int) -> list[LogRecord]:
        """Logs in [start_ns, end_ns), of one service or all, oldest first."""
        statement = select(logs).where(logs.c.time_ns >= start_ns, logs.c.time_ns < end_ns)
        if service:
            statement = statement.where(logs.c.service == service)
        statement = statement.order_by(logs.c.time_ns, logs.c.id).limit(_clamp(limit))
        return self._logs(statement, f"logs {service} {start_ns}-{end_ns}")

    def write_metric_points(self, points: Sequence[MetricDataPoint]) -> None:
        self.write_rows(to_rows(point_batch=points))

    def metric_points(
        self, *, service: str, start_ns: int, end_ns: int, limit: int, name: str | None = None
    ) -> list[MetricDataPoint]:
        """One service's OTLP data points in [start_ns, end_ns), of one metric when
        ``name`` is given, oldest first, at most ``limit`` (not clamped: a series needs
        many points)."""
        c = metric_points.c
        statement = select(metric_points).where(
            c.service == service, c.time_ns >= start_ns, c.time_ns < end_ns
        )
        if name is not None:
            statement = statement.where(c.name == name)
        statement = statement.order_by(c.time_ns, c.id).limit(max(1, limit))

        def read() -> list[MetricDataPoint]:
            with self.engine.connect() as connection:
                return [point_from_row(r._mapping) for r in connection.execute(statement)]

        return self._guard(f"metric_points {service} {name or '*'} {start_ns}-{end_ns}", read)

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

    def journey_window_counts(
        self, journey: str, end_s: int, windows_s: Sequence[int]
    ) -> dict[int, tuple[int, int, int]]:
        """(requests, errors, slow) of the journey's entry requests in each window ending
        at ``end_s``: one scan of the longest window with a conditional sum per window, so
        a 30-day budget and a 1-minute burn cost one query together."""
        c = span_metrics.c
        ordered = sorted(set(windows_s))
        columns: list[Any] = []
        for window in ordered:
            inside = c.bucket_start_s >= end_s - window
            columns.extend(
                func.sum(case((inside, column), else_=0)) for column in (c.requests, c.errors, c.slow)
            )
        statement = select(*columns).where(
            c.journey == journey,
            c.root.is_(True),
            c.bucket_start_s >= end_s - ordered[-1],
            c.bucket_start_s < end_s,
        )

        def read() -> dict[int, tuple[int, int, int]]:
            with self.engine.connect() as connection:
                row = connection.execute(statement).one()
            values = [int(v or 0) for v in row]
            return {w: (values[3 * i], values[3 * i + 1], values[3 * i + 2]) for i, w in enumerate(ordered)}

        return self._guard(f"journey_window_counts {journey} {end_s}", read)

    def bad_exemplars(self, journey: str, start_s: int, end_s: int) -> list[tuple[int, str]]:
        """(bucket start, trace id) of exemplars from entry-request buckets that had
        errors or slow requests, newest first: where the bad requests' traces are."""
        c = span_metrics.c
        statement = (
            select(c.bucket_start_s, c.exemplars)
            .where(
                c.journey == journey,
                c.root.is_(True),
                c.bucket_start_s >= start_s,
                c.bucket_start_s < end_s,
                or_(c.errors > 0, c.slow > 0),
            )
            .order_by(c.bucket_start_s.desc(), c.id.desc())
        )

        def read() -> list[tuple[int, str]]:
            found: dict[str, int] = {}
            with self.engine.connect() as connection:
                for bucket, text in connection.execute(statement):
                    for trace_id in orjson.loads(text):
                        found.setdefault(trace_id, int(bucket))
            return [(bucket, trace_id) for trace_id, bucket in found.items()]

        return self._guard(f"bad_exemplars {journey} {start_s}-{end_s}", read)

    # --- retention -----------------------------------------------------------------------

    def purge(self, cutoffs: expiry.Expiry) -> dict[str, int]:
        """Delete what retention has expired and merge aged span metrics (``bot.store.expiry``);
        returns the rows deleted per table."""
        return self._guard("purge", lambda: expiry.purge(self.engine, cutoffs))

    def pin_traces(self, until_ns: dict[str, int]) -> int:
        """Keep each trace id until its time at least (an incident cites it); returns the
        stored traces pinned. A pin is only ever moved later."""

        def run() -> int:
            pinned = 0
            by_time: dict[int, list[str]] = {}
            for trace_id, until in until_ns.items():
                by_time.setdefault(until, []).append(trace_id)
            with self.engine.begin() as connection:
                for until, ids in by_time.items():
                    for lo in range(0, len(ids), ID_CHUNK):
                        later = or_(traces.c.kept_until_ns.is_(None), traces.c.kept_until_ns < until)
                        statement = (
                            update(traces)
                            .where(traces.c.trace_id.in_(ids[lo : lo + ID_CHUNK]), later)
                            .values(kept_until_ns=until)
                        )
                        pinned += connection.execute(statement).rowcount
            return pinned

        return self._guard(f"pin_traces ({len(until_ns)} ids)", run)

    def service_versions(self, since_ns: int, limit: int = MAX_VERSIONS_READ) -> dict[tuple[str, str], int]:
        """(service, version) -> the latest ``seen_ns`` of the resources that name it,
        among those written or refreshed since ``since_ns`` (newest first, at most
        ``limit``): a new version shows here with its first span, and the resources table
        holds one row per instance and version, not per span, so this stays cheap. The
        service is the resource's ``service.name``, which every decoder keeps."""

        def read() -> dict[tuple[str, str], int]:
            statement = (
                select(resources.c.seen_ns, resources.c.data)
                .where(resources.c.seen_ns >= since_ns)
                .order_by(resources.c.seen_ns.desc())
                .limit(limit)
            )
            found: dict[tuple[str, str], int] = {}
            with self.engine.connect() as connection:
                for seen_ns, data in connection.execute(statement):
                    facts = orjson.loads(data)
                    version = facts.get("service_version")
                    service = (facts.get("attributes") or {}).get("service.name") or UNKNOWN_SERVICE
                    if isinstance(version, str) and version and isinstance(service, str):
                        key = (service, version)
                        found[key] = max(found.get(key, 0), seen_ns)
            return found

        return self._guard("service_versions", read)

    def tier_sizes(self, now_ns: int) -> dict[str, int]:
        """Rows per retention tier: traces (pinned ones apart), spans, logs, metric points, span-metric
        buckets by width (0: the collector's own), resources, quarantine entries."""

        def read() -> dict[str, int]:
            pinned = traces.c.kept_until_ns >= now_ns
            counted = {
                "traces": select(func.count())
                .select_from(traces)
                .where(or_(traces.c.kept_until_ns.is_(None), ~pinned)),
                "traces_cited": select(func.count()).select_from(traces).where(pinned),
                "spans": select(func.count()).select_from(spans),
                "logs": select(func.count()).select_from(logs),
                "metric_points": select(func.count()).select_from(metric_points),
                "resources": select(func.count()).select_from(resources),
                "quarantine": select(func.count()).select_from(quarantine),
            }
            width = func.coalesce(span_metrics.c.resolution_s, 0)
            with self.engine.connect() as connection:
                sizes = {name: int(connection.execute(q).scalar_one()) for name, q in counted.items()}
                for resolution, count in connection.execute(
                    select(width, func.count()).group_by(width).order_by(width)
                ):
                    sizes[f"span_metrics_{int(resolution)}s" if resolution else "span_metrics_raw"] = int(
                        count
                    )
            return sizes

        return self._guard("tier_sizes", read)

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
