"""The unified, versioned telemetry model every part of journeywatch speaks.

OTLP protobuf, OTLP JSON and Zipkin v2 are decoded into these types once, at the edge;
the store persists them, the sources return them and the correlators analyse them. So
there is exactly one place that says what a span *is* here.

Ids are lower-case hex strings (32 chars for traces, 16 for spans), as W3C trace context
and the OTLP JSON encoding write them. Times are integer nanoseconds since the Unix epoch.
Attribute values are JSON-compatible: scalars, lists (OTLP arrays) and maps with text keys
(OTLP key-value lists), nested as sent.

Readers of persisted or exported data call :func:`check_schema` first: a version they do
not know raises :class:`~correlators.errors.SchemaVersionError` instead of being
misread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, TypeAlias

from correlators.errors import SchemaVersionError

SCHEMA_VERSION = 2
"""Bumped whenever a field changes meaning or is removed; additions keep the version.
2: a key-value-list value is a map (a JSON object), where 1 had a list of ``[key, value]``
pairs; spans and log records carry their instrumentation scope, log records an event name."""
READABLE_VERSIONS = (1, SCHEMA_VERSION)
"""What :func:`trace_from_dict` reads: version 1's pairs are read as maps."""
MAX_TIME_NS = 2**63 - 1
"""Times are nanoseconds since the epoch in a signed 64-bit integer (up to the year
2262): what every store column holds, so anything later is refused where it comes in."""

AttrValue: TypeAlias = str | int | float | bool | list[Any] | dict[str, Any] | None
Attributes: TypeAlias = dict[str, AttrValue]


def check_schema(version: object) -> int:
    """Return ``version`` if this reader understands it, else raise SchemaVersionError."""
    if version not in READABLE_VERSIONS:
        raise SchemaVersionError(
            f"telemetry schema version {version!r} is not supported "
            f"(this journeywatch reads versions {', '.join(map(str, READABLE_VERSIONS))})"
        )
    return 1 if version == 1 else SCHEMA_VERSION


def pairs_as_maps(value: Any) -> Any:
    """A value written under version 1, where a key-value list was a list of ``[key,
    value]`` pairs, with those lists as maps, at any depth. A list is taken for one when it
    is not empty, every item is a two-item list whose first item is text, and no key
    repeats: an OTLP array of such arrays (allowed, sent by nothing we know) reads as a
    map too, since the two were written alike."""
    if isinstance(value, dict):
        return {key: pairs_as_maps(item) for key, item in value.items()}
    if not isinstance(value, list):
        return value
    if value and all(type(item) is list and len(item) == 2 and type(item[0]) is str for item in value):
        keys = {item[0] for item in value}
        if len(keys) == len(value):
            return {item[0]: pairs_as_maps(item[1]) for item in value}
    return [pairs_as_maps(item) for item in value]


@dataclass(frozen=True, slots=True)
class InstrumentationScope:
    """The library that made a span or log record (OTLP's InstrumentationScope: a tracer's
    or logger's name, version and attributes). The decoders make one per scope entry of a
    request and every item of the entry shares it, as they share the resource's dict; it
    is frozen, so sharing it is safe (the redactor replaces, never mutates)."""

    name: str = ""
    version: str = ""
    attributes: Attributes = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.name or self.version or self.attributes)


NO_SCOPE = InstrumentationScope()
"""What an item read from a format without scopes (Zipkin, rows written before store
schema 13) carries: one shared object, not one per item."""


class SpanKind(StrEnum):
    UNSPECIFIED = "unspecified"
    INTERNAL = "internal"
    SERVER = "server"
    CLIENT = "client"
    PRODUCER = "producer"
    CONSUMER = "consumer"


CALLER_KINDS = (SpanKind.CLIENT, SpanKind.PRODUCER)
"""Kinds of a span that makes a call: the outgoing side of an edge."""
CALLEE_KINDS = (SpanKind.SERVER, SpanKind.CONSUMER)
"""Kinds of a span that answers one: the incoming side."""


class StatusCode(StrEnum):
    UNSET = "unset"
    OK = "ok"
    ERROR = "error"


@dataclass(slots=True)
class SpanEvent:
    """A timestamped event on a span; exceptions are events named ``exception``."""

    name: str
    time_ns: int
    attributes: Attributes = field(default_factory=dict)


@dataclass(slots=True)
class SpanLink:
    trace_id: str
    span_id: str
    attributes: Attributes = field(default_factory=dict)


@dataclass(slots=True)
class Span:
    """One unit of work in one service, normalized from any wire format.

    ``instance``, ``service_version``, ``region``, ``zone`` and ``language`` are lifted out
    of the resource so that analysis never has to know which convention a service used.
    ``orphan`` is set when the span names a parent that never arrived: such spans are
    kept, because a service that breaks propagation is itself a finding.
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    service: str
    name: str
    start_ns: int
    end_ns: int
    kind: SpanKind = SpanKind.INTERNAL
    status: StatusCode = StatusCode.UNSET
    status_message: str = ""
    instance: str | None = None
    service_version: str | None = None
    region: str | None = None
    zone: str | None = None
    language: str | None = None
    attributes: Attributes = field(default_factory=dict)
    resource: Attributes = field(default_factory=dict)
    events: Sequence[SpanEvent] = ()
    links: Sequence[SpanLink] = ()
    """Events and links are read, never appended to; most spans have none, and an empty
    tuple shared by all of them saves two lists per buffered span."""
    orphan: bool = False
    scope: InstrumentationScope = NO_SCOPE

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    @property
    def is_error(self) -> bool:
        """Error by OTel status, or by an HTTP 5xx status when the SDK left status unset."""
        if self.status is StatusCode.ERROR:
            return True
        if self.kind is not SpanKind.SERVER:
            return False
        code = self.attributes.get("http.response.status_code")
        if code is None:
            code = self.attributes.get("http.status_code")
        return isinstance(code, int) and code >= 500

    def attribute(self, key: str) -> AttrValue:
        """Span attribute, falling back to the resource attribute of the same key."""
        if key in self.attributes:
            return self.attributes[key]
        return self.resource.get(key)


def root_of(spans: Sequence[Span]) -> Span | None:
    """The span without a parent; if none (broken propagation), the earliest span."""
    roots = [s for s in spans if s.parent_span_id is None]
    if len(roots) == 1:  # nearly every trace, and an analysis asks ~10 times a trace: no min()
        return roots[0]
    candidates = roots or spans
    return min(candidates, key=_start_ns) if candidates else None


def _start_ns(span: Span) -> int:
    return span.start_ns


@dataclass(slots=True)
class Trace:
    """All spans of one trace id, plus what the collector decided about it."""

    trace_id: str
    spans: list[Span]
    journey: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    sampling_weight: float = 1.0
    sampling_reason: str | None = None
    _root: tuple[int, Span | None] = field(default=(-1, None), init=False, repr=False, compare=False)
    """The root found, and for how many spans: an analysis asks each trace for its root
    some ten times (55,000 list scans on a 60,000-span case). Spans are only ever appended
    to a trace (the collector's buffer, the store's isolation), so a longer list is the
    one sign the root must be looked for again."""

    @property
    def root(self) -> Span | None:
        counted, root = self._root
        if counted != len(self.spans):
            root = root_of(self.spans)
            self._root = (len(self.spans), root)
        return root

    @property
    def start_ns(self) -> int:
        return min((s.start_ns for s in self.spans), default=0)

    @property
    def end_ns(self) -> int:
        return max((s.end_ns for s in self.spans), default=0)

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    @property
    def has_error(self) -> bool:
        return any(s.is_error for s in self.spans)

    @property
    def services(self) -> list[str]:
        return sorted({s.service for s in self.spans})


@dataclass(slots=True)
class LogRecord:
    """One log line, tied to its trace and span when the SDK knew them."""

    time_ns: int
    service: str
    body: str
    severity_text: str = ""
    severity_number: int = 0
    trace_id: str | None = None
    span_id: str | None = None
    instance: str | None = None
    observed_time_ns: int = 0
    attributes: Attributes = field(default_factory=dict)
    resource: Attributes = field(default_factory=dict)
    scope: InstrumentationScope = NO_SCOPE
    event_name: str = ""
    """OTLP's ``eventName`` (log record field 12): what kind of event the record is, e.g.
    ``browser.page_view``; empty for a plain log line."""


@dataclass(slots=True)
class MetricPoint:
    time_ns: int
    value: float


MetricKind: TypeAlias = Literal["gauge", "sum", "histogram", "exponential_histogram", "summary"]
Temporality: TypeAlias = Literal["delta", "cumulative", "unspecified"]


@dataclass(slots=True)
class MetricDataPoint:
    """One OTLP data point as it was sent, before a counter becomes a rate.

    The store keeps these and ``correlators.datapoints`` makes series of them, because a
    cumulative counter's rate needs the point before it, which may have come in another
    request (or another line of a file). An exponential histogram's buckets are given as
    explicit upper ``bounds`` (the zero and negative buckets folded into one bound of 0),
    so every histogram reads alike.
    """

    name: str
    service: str
    labels: dict[str, str]
    """The resource's attributes and the point's own, as text: the series' identity."""
    time_ns: int
    start_ns: int = 0
    kind: MetricKind = "gauge"
    temporality: Temporality = "unspecified"
    monotonic: bool = False
    value: float = 0.0
    """A gauge's or a sum's value."""
    count: float = 0.0
    """A histogram's (or summary's) observations."""
    total: float | None = None
    """Their sum, when sent (optional for histograms)."""
    bounds: tuple[float, ...] = ()
    buckets: tuple[float, ...] = ()
    """Observations per bucket: one more than ``bounds``, the last one unbounded."""
    unit: str = ""


@dataclass(slots=True)
class MetricSeries:
    """A named series with its labels; counters arrive here already as rates or deltas."""

    name: str
    labels: dict[str, str]
    points: list[MetricPoint] = field(default_factory=list)
    unit: str = ""

    @property
    def service(self) -> str | None:
        return self.labels.get("service.name") or self.labels.get("service") or self.labels.get("job")


# --- plain-dict form, used by the store's JSON columns and the query API -------------


def span_to_dict(span: Span) -> dict[str, Any]:
    """The JSON-ready form of a span; :func:`span_from_dict` reverses it exactly."""
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "service": span.service,
        "name": span.name,
        "start_ns": span.start_ns,
        "end_ns": span.end_ns,
        "kind": span.kind.value,
        "status": span.status.value,
        "status_message": span.status_message,
        "instance": span.instance,
        "service_version": span.service_version,
        "region": span.region,
        "zone": span.zone,
        "language": span.language,
        "attributes": span.attributes,
        "resource": span.resource,
        "events": [{"name": e.name, "time_ns": e.time_ns, "attributes": e.attributes} for e in span.events],
        "links": [
            {"trace_id": ln.trace_id, "span_id": ln.span_id, "attributes": ln.attributes} for ln in span.links
        ],
        "orphan": span.orphan,
        "scope": scope_to_dict(span.scope),
    }


def scope_to_dict(scope: InstrumentationScope) -> dict[str, Any]:
    return {"name": scope.name, "version": scope.version, "attributes": scope.attributes}


def scope_from_dict(data: dict[str, Any] | None) -> InstrumentationScope:
    if not data:
        return NO_SCOPE
    return InstrumentationScope(
        data.get("name") or "", data.get("version") or "", dict(data.get("attributes") or {})
    )


def span_from_dict(data: dict[str, Any]) -> Span:
    return Span(
        trace_id=data["trace_id"],
        span_id=data["span_id"],
        parent_span_id=data.get("parent_span_id"),
        service=data["service"],
        name=data["name"],
        start_ns=int(data["start_ns"]),
        end_ns=int(data["end_ns"]),
        kind=SpanKind(data.get("kind", "internal")),
        status=StatusCode(data.get("status", "unset")),
        status_message=data.get("status_message", ""),
        instance=data.get("instance"),
        service_version=data.get("service_version"),
        region=data.get("region"),
        zone=data.get("zone"),
        language=data.get("language"),
        attributes=dict(data.get("attributes") or {}),
        resource=dict(data.get("resource") or {}),
        events=[
            SpanEvent(e["name"], int(e["time_ns"]), dict(e.get("attributes") or {})) for e in data["events"]
        ]
        if data.get("events")
        else (),
        links=[
            SpanLink(ln["trace_id"], ln["span_id"], dict(ln.get("attributes") or {})) for ln in data["links"]
        ]
        if data.get("links")
        else (),
        orphan=bool(data.get("orphan", False)),
        scope=scope_from_dict(data.get("scope")),
    )


def trace_to_dict(trace: Trace) -> dict[str, Any]:
    """A trace as the query API and exports write it, stamped with the schema version."""
    return {
        "schema_version": SCHEMA_VERSION,
        "trace_id": trace.trace_id,
        "journey": trace.journey,
        "session_id": trace.session_id,
        "user_id": trace.user_id,
        "sampling_weight": trace.sampling_weight,
        "sampling_reason": trace.sampling_reason,
        "start_ns": trace.start_ns,
        "duration_ns": trace.duration_ns,
        "services": trace.services,
        "spans": [span_to_dict(s) for s in sorted(trace.spans, key=lambda s: s.start_ns)],
    }


def trace_from_dict(data: dict[str, Any]) -> Trace:
    if check_schema(data.get("schema_version")) == 1:
        data = pairs_as_maps(data)
    return Trace(
        trace_id=data["trace_id"],
        spans=[span_from_dict(s) for s in data["spans"]],
        journey=data.get("journey"),
        session_id=data.get("session_id"),
        user_id=data.get("user_id"),
        sampling_weight=float(data.get("sampling_weight", 1.0)),
        sampling_reason=data.get("sampling_reason"),
    )


def log_to_dict(log: LogRecord) -> dict[str, Any]:
    return {
        "time_ns": log.time_ns,
        "service": log.service,
        "body": log.body,
        "severity_text": log.severity_text,
        "severity_number": log.severity_number,
        "trace_id": log.trace_id,
        "span_id": log.span_id,
        "instance": log.instance,
        "observed_time_ns": log.observed_time_ns,
        "attributes": log.attributes,
        "resource": log.resource,
        "scope": scope_to_dict(log.scope),
        "event_name": log.event_name,
    }


def log_from_dict(data: dict[str, Any]) -> LogRecord:
    return LogRecord(
        time_ns=int(data["time_ns"]),
        service=data["service"],
        body=data.get("body", ""),
        severity_text=data.get("severity_text", ""),
        severity_number=int(data.get("severity_number", 0)),
        trace_id=data.get("trace_id"),
        span_id=data.get("span_id"),
        instance=data.get("instance"),
        observed_time_ns=int(data.get("observed_time_ns", 0)),
        attributes=dict(data.get("attributes") or {}),
        resource=dict(data.get("resource") or {}),
        scope=scope_from_dict(data.get("scope")),
        event_name=data.get("event_name") or "",
    )
