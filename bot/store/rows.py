"""Telemetry objects to database rows and back.

Built where the data is (the request path) and written where the database is (the writer
thread or process), so a batch is plain tuples and dicts: cheap to build, cheap to pickle.
Everything a query never filters on lives in one orjson text column per row.

Rows are made so that the database takes them (:func:`fit`): telemetry text is the
sender's, and a NUL character or a name longer than its column would otherwise make
PostgreSQL refuse the whole transaction, other clients' rows with it. What is still
refused is isolated by the writer (``bot.store.isolate``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Column

from bot.store import schema
from bot.telemetry.spanmetrics import SpanMetricRow
from correlators.model import (
    NO_SCOPE,
    Attributes,
    InstrumentationScope,
    LogRecord,
    MetricDataPoint,
    Span,
    SpanEvent,
    SpanKind,
    SpanLink,
    StatusCode,
    Trace,
    scope_from_dict,
    scope_to_dict,
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
    "resource_id",
)
"""The order of the tuples :func:`span_values` builds and the span insert binds."""


def _length(column: Column[Any]) -> int:
    length = getattr(column.type, "length", None)
    assert isinstance(length, int), column
    return length


NAME_CHARS = _length(schema.spans.c.service)
"""Service, instance, session and user ids, a sampling reason: String(255) columns."""
JOURNEY_CHARS = _length(schema.traces.c.journey)
SEVERITY_CHARS = _length(schema.logs.c.severity_text)
INT32 = (-(2**31), 2**31 - 1)
"""An Integer column on PostgreSQL."""
TRUNCATED = " [truncated]"
"""The redactor's mark for cut text (``bot.telemetry.redact.TRUNCATED``), written out here
so that the writer process does not import the redactor and its regex engine."""


def fit(text: str, limit: int | None = None) -> str:
    """``text`` as a text column of ``limit`` characters takes it: without NUL characters
    (PostgreSQL's text types cannot hold them), cut with the redactor's mark when longer.
    SQLite would take either, but a store must hold the same on both."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if limit is not None and len(text) > limit:
        text = text[: limit - len(TRUNCATED)] + TRUNCATED
    return text


def fit_optional(text: str | None, limit: int | None = None) -> str | None:
    return None if text is None else fit(text, limit)


def fit_int32(value: int) -> int:
    return min(max(value, INT32[0]), INT32[1])


def dumps(value: Any, option: int = 0) -> str:
    """``value`` as JSON text. A value orjson cannot write (an integer past 64 bits from a
    JSON sender, a string with a lone surrogate) is written with that part made text,
    instead of the item being refused."""
    try:
        return orjson.dumps(value, option=option).decode()
    except TypeError:
        return orjson.dumps(_storable(value), option=option).decode()


def _storable(value: Any) -> Any:
    if isinstance(value, bool | float) or value is None:
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_storable(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return str(value)


@dataclass(slots=True)
class Rows:
    """One batch for one transaction: spans as tuples, everything else as dicts."""

    spans: list[tuple[Any, ...]] = field(default_factory=list)
    traces: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)
    """OTLP metric data points (``metric_points``)."""
    resources: dict[int, str] = field(default_factory=dict)
    """Resource id -> data, for the resources the spans name; written before them."""
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    """Entries for the quarantine table: items no row could be built of."""
    bytes: int = 0
    """Estimated memory of the span and log rows (:func:`rows_bytes`): what the writer's
    byte budget counts. Set by :func:`to_rows`; pieces split off a batch carry none."""

    @property
    def size(self) -> int:
        """Spans, logs and metric data points: what the writer's back-pressure is counted in."""
        return len(self.spans) + len(self.logs) + len(self.points)

    def extend(self, other: Rows) -> None:
        self.spans.extend(other.spans)
        self.traces.extend(other.traces)
        self.logs.extend(other.logs)
        self.metrics.extend(other.metrics)
        self.points.extend(other.points)
        self.resources.update(other.resources)
        self.quarantine.extend(other.quarantine)
        self.bytes += other.bytes


def to_rows(
    trace_batch: Sequence[Trace] = (),
    log_batch: Sequence[LogRecord] = (),
    metric_rows: Sequence[SpanMetricRow] = (),
    point_batch: Sequence[MetricDataPoint] = (),
) -> Rows:
    resources = ResourceRows()
    rows = Rows(
        spans=[span_values(s, resources) for t in trace_batch for s in t.spans],
        traces=[trace_row(t) for t in trace_batch],
        logs=[log_row(r) for r in log_batch],
        metrics=[metric_row(r) for r in metric_rows],
        points=[point_row(p) for p in point_batch],
        resources=resources.rows,
    )
    rows.bytes = rows_bytes(rows)
    return rows


SPAN_ROW_BYTES = 215
"""A span row's tuple, ids and times, beyond its JSON text and name: tracemalloc measured
539 bytes a row of bench/ingest.py's spans in all, whose JSON and name are 324 (pickled
for the writer process, as held until it acknowledges, 430)."""
LOG_ROW_BYTES = 700
"""A log row's dict of ten columns, beyond its body and JSON text (a dict of ten is 640)."""
POINT_ROW_BYTES = 220
"""A metric point row's dict, beyond its name and JSON text: tracemalloc measured 542
bytes a row of 20,000 points of a counter with six labels, whose name and JSON are 320."""
_DATA = SPAN_COLUMNS.index("data")
_NAME = SPAN_COLUMNS.index("name")


def rows_bytes(rows: Rows) -> int:
    """The memory of a batch's span and log rows, estimated from their text: the JSON
    text and name of each span, the body and JSON of each log, plus a fixed cost a row.
    The resources a batch names are shared (a handful a batch) and left out."""
    data, name = _DATA, _NAME
    size = SPAN_ROW_BYTES * len(rows.spans) + sum([len(s[data]) + len(s[name]) for s in rows.spans])
    if rows.logs:
        size += sum(LOG_ROW_BYTES + len(r["body"]) + len(r["data"]) for r in rows.logs)
    if rows.points:
        size += sum(POINT_ROW_BYTES + len(r["name"]) + len(r["data"]) for r in rows.points)
    return size


# --- spans and traces ----------------------------------------------------------------------


def resource_id(data: bytes) -> int:
    """A resource's row id: 64 bits of its canonical JSON's hash, as a signed BIGINT, so
    every writer (and every restart) gives an equal resource the same row."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


class ResourceRows:
    """The distinct resources of one batch, each serialized and hashed once.

    A batch's spans share a handful of resources (one per service instance), and the
    decoder gives the spans of one resource the same dict, so the dict's identity and the
    facts read from it are the key: a repeat costs one lookup. Inline in every span row,
    the resource was half of each row's JSON: 844 B a row in memory on the way to the
    writer against 541 B now, on bench/ingest.py's spans (docs/benchmarks.md).

    A span's instrumentation scope is shared the same way (the decoder gives the spans of
    one scope entry one object), so it is kept in the same row: a row is what a span
    shares with the other spans of its resource and scope (schema 12). A resource has a
    handful of scopes (one per instrumented library), so this multiplies rows that are
    few; a span without a scope names the row its resource had before (no ``scope`` key,
    the same hash).
    """

    def __init__(self) -> None:
        self.rows: dict[int, str] = {}
        self._ids: dict[tuple[int, int, str | None, str | None, str | None, str | None], int] = {}

    def id_of(self, span: Span) -> int:
        key = (id(span.resource), id(span.scope), span.service_version, span.region, span.zone, span.language)
        found = self._ids.get(key)
        if found is None:
            shared: dict[str, Any] = {
                "service_version": span.service_version,
                "region": span.region,
                "zone": span.zone,
                "language": span.language,
                "attributes": span.resource,
            }
            if span.scope:
                shared["scope"] = scope_to_dict(span.scope)
            data = dumps(shared, option=orjson.OPT_SORT_KEYS)
            found = self._ids[key] = resource_id(data.encode())
            self.rows[found] = data
        return found


def span_values(span: Span, resources: ResourceRows) -> tuple[Any, ...]:
    """A span as a row tuple in SPAN_COLUMNS order; events and links as compact arrays."""
    return (
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        fit(span.service, NAME_CHARS),
        fit_optional(span.instance, NAME_CHARS),
        fit(span.name),
        span.kind.value,
        span.start_ns,
        span.end_ns,
        span.status.value,
        span.orphan,
        dumps(
            {
                "status_message": span.status_message,
                "attributes": span.attributes,
                "events": [(e.name, e.time_ns, e.attributes) for e in span.events],
                "links": [(ln.trace_id, ln.span_id, ln.attributes) for ln in span.links],
            }
        ),
        resources.id_of(span),
    )


@dataclass(frozen=True, slots=True)
class StoredResource:
    """What a span takes from its resource row."""

    service_version: str | None
    region: str | None
    zone: str | None
    language: str | None
    attributes: Attributes
    scope: InstrumentationScope = NO_SCOPE


_UNKNOWN_RESOURCE = StoredResource(None, None, None, None, {})
"""For a span whose resource row is gone, which retention's margin should never allow."""


class Shared:
    """One read's shared copies of what repeats across its spans.

    Every row decodes into fresh objects: the same trace id, service and route again for
    each span, and, in rows written before schema 3, the whole resource. An investigation
    reads tens of thousands of spans, so sharing equal values within a read brings it from
    2.4 KB to under 1 KB a span (bench/read_memory.py, docs/benchmarks.md). Resources are
    shared as one dict: readers never mutate a span's resource (the decoder shares them too).
    """

    def __init__(self, load_resource: Callable[[int], str | None]) -> None:
        self._strings: dict[str, str] = {}
        self._inline: dict[tuple[tuple[str, Any], ...], Attributes] = {}
        self._resources: dict[int, StoredResource] = {}
        self._by_text: dict[bytes, Attributes] = {}
        self._load_resource = load_resource
        """The data of one resource row by id: called once per distinct id in a read."""

    def text(self, value: str) -> str:
        return self._strings.setdefault(value, value)

    def maybe_text(self, value: str | None) -> str | None:
        return None if value is None else self.text(value)

    def attributes(self, attributes: Attributes) -> Attributes:
        strings = self._strings
        for key, value in attributes.items():
            if type(value) is str:
                attributes[key] = strings.setdefault(value, value)
        return attributes

    def resource_of(self, row: Any, data: dict[str, Any]) -> StoredResource:
        """The span row's resource: its row, or (schema 2 and older) inline in ``data``."""
        row_id = row["resource_id"]
        if row_id is None:
            return self._resource(data, self._inline_attributes(data["resource"]))
        found = self._resources.get(row_id)
        if found is None:
            stored = self._load_resource(row_id)
            if stored is None:
                found = _UNKNOWN_RESOURCE
            else:
                facts = orjson.loads(stored)
                found = self._resource(facts, self._shared_attributes(facts["attributes"]))
            self._resources[row_id] = found
        return found

    def _resource(self, facts: dict[str, Any], attributes: Attributes) -> StoredResource:
        scope = facts.get("scope")
        return StoredResource(
            service_version=self.maybe_text(facts["service_version"]),
            region=self.maybe_text(facts["region"]),
            zone=self.maybe_text(facts["zone"]),
            language=self.maybe_text(facts["language"]),
            attributes=attributes,
            scope=scope_from_dict(scope) if scope else NO_SCOPE,
        )

    def _shared_attributes(self, attributes: Attributes) -> Attributes:
        """One dict for equal resources: the rows of one resource's scopes each hold it."""
        key = orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS)
        found = self._by_text.get(key)
        if found is None:
            found = self._by_text[key] = self.attributes(attributes)
        return found

    def _inline_attributes(self, resource: Attributes) -> Attributes:
        try:
            key = tuple(resource.items())
            return self._inline.setdefault(key, resource)
        except TypeError:  # a list value: not hashable, not shared
            return resource


def span_from_row(row: Any, share: Shared) -> Span:
    data = orjson.loads(row["data"])
    resource = share.resource_of(row, data)
    events = data["events"]
    links = data["links"]
    return Span(
        trace_id=share.text(row["trace_id"]),
        span_id=row["span_id"],
        parent_span_id=row["parent_span_id"],
        service=share.text(row["service"]),
        name=share.text(row["name"]),
        start_ns=row["start_ns"],
        end_ns=row["end_ns"],
        kind=SpanKind(row["kind"]),
        status=StatusCode(row["status"]),
        status_message=share.text(data["status_message"]),
        instance=share.maybe_text(row["instance"]),
        service_version=resource.service_version,
        region=resource.region,
        zone=resource.zone,
        language=resource.language,
        attributes=share.attributes(data["attributes"]),
        resource=resource.attributes,
        events=[SpanEvent(name, time_ns, attrs) for name, time_ns, attrs in events] if events else (),
        links=[SpanLink(trace_id, span_id, attrs) for trace_id, span_id, attrs in links] if links else (),
        orphan=bool(row["orphan"]),
        scope=resource.scope,
    )


def trace_row(trace: Trace) -> dict[str, Any]:
    """The trace row for a first write; a later write of the same trace id is merged by
    the upsert in ``bot.store.dialect``, which recomputes counts from the spans table."""
    root = trace.root
    start, end = trace.start_ns, trace.end_ns
    unique = {s.span_id: s for s in trace.spans}
    return {
        "trace_id": trace.trace_id,
        "journey": fit_optional(trace.journey, JOURNEY_CHARS),
        "root_service": fit(root.service, NAME_CHARS) if root else None,
        "root_name": fit(root.name) if root else None,
        "start_ns": start,
        "end_ns": end,
        "duration_ns": end - start,
        "span_count": len(unique),
        "error": trace.has_error,
        "session_id": fit_optional(trace.session_id, NAME_CHARS),
        "user_id": fit_optional(trace.user_id, NAME_CHARS),
        "sampling_weight": trace.sampling_weight,
        "sampling_reason": fit_optional(trace.sampling_reason, NAME_CHARS),
        "orphan_count": sum(s.orphan for s in unique.values()),
    }


# --- logs ------------------------------------------------------------------------------------


def log_row(record: LogRecord) -> dict[str, Any]:
    """Everything but the columns in ``data``; a scope and an event name only when the
    record has them (inline, as the resource is: a scope costs a log row its texts plus 49
    bytes of JSON, an event name its text plus 16)."""
    data: dict[str, Any] = {
        "observed_time_ns": record.observed_time_ns,
        "attributes": record.attributes,
        "resource": record.resource,
    }
    if record.scope:
        data["scope"] = scope_to_dict(record.scope)
    if record.event_name:
        data["event_name"] = record.event_name
    return {
        "time_ns": record.time_ns,
        "service": fit(record.service, NAME_CHARS),
        "instance": fit_optional(record.instance, NAME_CHARS),
        "severity_number": fit_int32(record.severity_number),
        "severity_text": fit(record.severity_text, SEVERITY_CHARS),
        "trace_id": record.trace_id,
        "span_id": record.span_id,
        "body": fit(record.body),
        "data": dumps(data),
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
        scope=scope_from_dict(data.get("scope")),
        event_name=data.get("event_name", ""),
    )


# --- span metrics ----------------------------------------------------------------------------


def metric_row(row: SpanMetricRow) -> dict[str, Any]:
    return {
        "bucket_start_s": row.bucket_start_s,
        "journey": fit(row.journey, JOURNEY_CHARS),
        "service": fit(row.service, NAME_CHARS),
        "operation": fit(row.operation),
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


# --- metric data points ------------------------------------------------------------------------


def point_row(point: MetricDataPoint) -> dict[str, Any]:
    """A data point's row: what a query filters on in columns, the rest as JSON, defaults
    left out (most points are a gauge's or a sum's value)."""
    data: dict[str, Any] = {"labels": point.labels, "kind": point.kind}
    if point.start_ns:
        data["start_ns"] = point.start_ns
    if point.temporality != "unspecified":
        data["temporality"] = point.temporality
    if point.monotonic:
        data["monotonic"] = True
    if point.kind in ("gauge", "sum"):
        data["value"] = point.value
    else:
        data["count"] = point.count
        if point.total is not None:
            data["sum"] = point.total
        if point.buckets:
            data["bounds"] = point.bounds
            data["buckets"] = point.buckets
    if point.unit:
        data["unit"] = point.unit
    return {
        "time_ns": point.time_ns,
        "service": fit(point.service, NAME_CHARS),
        "name": fit(point.name, NAME_CHARS),  # instrument names are at most 255 (the API)
        "data": dumps(data),
    }


def point_from_row(row: Any) -> MetricDataPoint:
    data = orjson.loads(row["data"])
    return MetricDataPoint(
        name=row["name"],
        service=row["service"],
        labels=data["labels"],
        time_ns=row["time_ns"],
        start_ns=data.get("start_ns", 0),
        kind=data["kind"],
        temporality=data.get("temporality", "unspecified"),
        monotonic=data.get("monotonic", False),
        value=data.get("value", 0.0),
        count=data.get("count", 0.0),
        total=data.get("sum"),
        bounds=tuple(data.get("bounds", ())),
        buckets=tuple(data.get("buckets", ())),
        unit=data.get("unit", ""),
    )
