"""OTLP JSON straight into the model, without protobuf messages in between.

Parsing a JSON request into protobuf messages (``json_format``) and serializing it again
for the protobuf converter cost about 25 us a span: most of `journeywatch analyze`'s time
on real cases (bench/read_files.py). This reads the dict orjson gives instead.

The encoding as the OTLP specification has it: lowerCamelCase keys (snake_case accepted
too, as receivers should), hex ids, 64-bit integers as strings or numbers, enums as numbers
or names (an unknown name is ignored, as proto3 JSON receivers do), AnyValue bytes in
base64. Whatever the protobuf path decoded, this decodes to the same objects (tests hold
the two side by side). What made the protobuf path refuse the whole request (a time out of
range, a value of the wrong type) refuses here only the span or log record that carries it,
through ``Decoded.reject``, so one bad record no longer takes its neighbours with it. A body
whose frame is not an OTLP request (not an object, ``resourceSpans`` not a list, a resource
that does not decode) still raises :class:`MalformedPayload`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

import orjson
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from bot.telemetry.decoding import (
    KINDS,
    NO_LIMITS,
    STATUS,
    ZERO_SPAN,
    ZERO_TRACE,
    Decoded,
    ItemLimits,
    capped,
    invalid_log,
    invalid_span,
    json_body,
    link_invalid,
    span_times_invalid,
)
from bot.telemetry.lite import PLAIN, PairCache
from bot.telemetry.resource import ResourceFacts, budgeted, facts_from_attributes
from correlators.errors import MalformedPayload
from correlators.model import (
    NO_SCOPE,
    Attributes,
    AttrValue,
    InstrumentationScope,
    LogRecord,
    Span,
    SpanEvent,
    SpanKind,
    SpanLink,
    StatusCode,
)

UINT64_MAX = 2**64 - 1
_INT64 = (-(2**63), 2**63 - 1)
_INT32 = (-(2**31), 2**31 - 1)
_KIND_NAMES: dict[str, int] = dict(trace_pb2.Span.SpanKind.items())
_STATUS_NAMES: dict[str, int] = dict(trace_pb2.Status.StatusCode.items())
_SEVERITY_NAMES: dict[str, int] = dict(logs_pb2.SeverityNumber.items())


class BadValue(ValueError):
    """A value one record cannot be read with; the message completes "span with ..."."""


class _Refused(ValueError):
    """A record the shared rules refuse; the message is the whole reason."""


def loads(body: bytes) -> dict[str, Any]:
    """The request object of a JSON body, or MalformedPayload."""
    data = json_body(body)
    if not isinstance(data, dict):
        raise MalformedPayload("JSON body must be an object")
    return data


# --- traces ------------------------------------------------------------------------------


def spans_from_json(
    data: dict[str, Any], pairs: PairCache = PLAIN, limits: ItemLimits = NO_LIMITS
) -> Decoded[Span]:
    """Spans of one ExportTraceServiceRequest; span attributes go through ``pairs`` as on
    the protobuf path (the collector's cache redacts them as they are converted)."""
    out: Decoded[Span] = Decoded([])
    trace_ids: dict[bytes, str] = {}  # one string per trace, not one per span
    caps = _Caps(limits, out)
    for resource_spans in _frames(data, "resourceSpans", "resource_spans"):
        facts = _resource_facts(resource_spans, limits, out)
        for scope_spans in _frames(resource_spans, "scopeSpans", "scope_spans"):
            scope = _scope(scope_spans, caps)
            for item in _items(scope_spans, "spans", "spans"):
                try:
                    out.items.append(_span(item, facts, scope, pairs, trace_ids, caps))
                except _Refused as exc:
                    out.reject(str(exc))
                except BadValue as exc:
                    out.reject(f"span with {exc}")
    return out


class _Caps:
    """The limits and where to count what they drop, for one request."""

    __slots__ = ("limits", "out")

    def __init__(self, limits: ItemLimits, out: Decoded[Any]) -> None:
        self.limits = limits
        self.out = out

    def attributes(self, value: Any, owner: str) -> list[tuple[str, AttrValue]]:
        kept = capped(_list(value), self.limits.attributes, f"{owner} attributes", self.out)
        items = self.limits.value_items
        return [_attribute(kv, items) for kv in kept]


def _span(
    item: Any,
    facts: ResourceFacts,
    scope: InstrumentationScope,
    pairs: PairCache,
    trace_ids: dict[bytes, str],
    caps: _Caps,
) -> Span:
    sp = _object(item)
    trace = _id(_field(sp, "traceId", "trace_id"))
    span_id = _id(_field(sp, "spanId", "span_id"))
    parent = _id(_field(sp, "parentSpanId", "parent_span_id"))
    start = nanos(_field(sp, "startTimeUnixNano", "start_time_unix_nano"))
    reason = invalid_span(trace, span_id, parent, start)
    if reason:
        raise _Refused(reason)
    trace_id = trace_ids.get(trace)
    if trace_id is None:
        trace_id = trace_ids[trace] = trace.hex()
    status = sp.get("status")
    status = _object(status) if status is not None else {}
    attributes, events, links = sp.get("attributes"), sp.get("events"), sp.get("links")
    # Positional, in Span's field order: with 19 keywords the call cost three times as much
    # (1 against 0.3 us), a tenth of reading a span from a file. tests/test_decode.py holds
    # every field against the protobuf path's.
    span = Span(
        trace_id,
        span_id.hex(),
        parent.hex() if parent else None,
        facts.service,
        _text(sp.get("name")),
        start,
        max(nanos(_field(sp, "endTimeUnixNano", "end_time_unix_nano")), start),
        KINDS.get(_enum(sp.get("kind"), _KIND_NAMES), SpanKind.UNSPECIFIED),
        STATUS.get(_enum(status.get("code"), _STATUS_NAMES), StatusCode.UNSET),
        _text(status.get("message")),
        facts.instance,
        facts.version,
        facts.region,
        facts.zone,
        facts.language,
        pairs.converted(caps.attributes(attributes, "span")) if attributes else {},
        facts.attributes,
        [_event(e, caps) for e in capped(_list(events), caps.limits.events, "events of a span", caps.out)]
        if events
        else (),
        _links(links, caps) if links else (),
        False,
        scope,
    )
    reason = span_times_invalid(span)
    if reason:
        raise _Refused(reason)
    return span


def _event(item: Any, caps: _Caps) -> SpanEvent:
    event = _object(item)
    time_ns = nanos(_field(event, "timeUnixNano", "time_unix_nano"))
    return SpanEvent(_text(event.get("name")), time_ns, _attributes(event.get("attributes"), caps, "event"))


def _links(links: Any, caps: _Caps) -> list[SpanLink]:
    """Links whose ids are not 16 and 8 bytes are dropped, as on the protobuf path (an id
    that is not hex reads as one zero byte, as the JSON-to-protobuf step made it)."""
    kept = []
    for item in capped(_list(links), caps.limits.links, "links of a span", caps.out):
        link = _object(item)
        trace = _id(_field(link, "traceId", "trace_id"))
        span = _id(_field(link, "spanId", "span_id"))
        if link_invalid(trace, span):
            caps.out.trim("links with an invalid trace or span id dropped", 1)
            continue
        kept.append(SpanLink(trace.hex(), span.hex(), _attributes(link.get("attributes"), caps, "link")))
    return kept


# --- logs --------------------------------------------------------------------------------


def logs_from_json(data: dict[str, Any], limits: ItemLimits = NO_LIMITS) -> Decoded[LogRecord]:
    """Log records of one ExportLogsServiceRequest."""
    out: Decoded[LogRecord] = Decoded([])
    caps = _Caps(limits, out)
    for resource_logs in _frames(data, "resourceLogs", "resource_logs"):
        facts = _resource_facts(resource_logs, limits, out)
        for scope_logs in _frames(resource_logs, "scopeLogs", "scope_logs"):
            scope = _scope(scope_logs, caps)
            for item in _items(scope_logs, "logRecords", "log_records"):
                try:
                    out.items.append(_log(item, facts, scope, caps))
                except _Refused as exc:
                    out.reject(str(exc))
                except BadValue as exc:
                    out.reject(f"log record with {exc}")
    return out


def _log(item: Any, facts: ResourceFacts, scope: InstrumentationScope, caps: _Caps) -> LogRecord:
    record = _object(item)
    time_ns = nanos(_field(record, "timeUnixNano", "time_unix_nano"))
    observed = nanos(_field(record, "observedTimeUnixNano", "observed_time_unix_nano"))
    trace = _id(_field(record, "traceId", "trace_id"))
    span = _id(_field(record, "spanId", "span_id"))
    reason = invalid_log(trace, span, time_ns, observed)
    if reason:
        raise _Refused(reason)
    body = record.get("body")
    value = _any_value(body, caps.limits.value_items) if body is not None else ""
    return LogRecord(
        time_ns=time_ns or observed,
        service=facts.service,
        body=value if isinstance(value, str) else orjson.dumps(value).decode(),
        severity_text=_text(_field(record, "severityText", "severity_text")),
        severity_number=_enum(_field(record, "severityNumber", "severity_number"), _SEVERITY_NAMES),
        trace_id=trace.hex() if trace and trace != ZERO_TRACE else None,
        span_id=span.hex() if span and span != ZERO_SPAN else None,
        instance=facts.instance,
        observed_time_ns=observed,
        attributes=_attributes(record.get("attributes"), caps, "log record"),
        resource=facts.attributes,
        scope=scope,
        event_name=_text(_field(record, "eventName", "event_name")),
    )


# --- the request's frame -----------------------------------------------------------------


def _frames(owner: dict[str, Any], camel: str, snake: str) -> list[dict[str, Any]]:
    """Resource and scope entries: without them there is no record to save, so a wrong
    one fails the request as the protobuf path did."""
    entries = _field(owner, camel, snake)
    if entries is None:
        return []
    if type(entries) is not list or any(type(entry) is not dict for entry in entries):
        raise MalformedPayload(f"JSON body is not an OTLP request: {camel} is not a list of objects")
    return entries


def _items(owner: dict[str, Any], camel: str, snake: str) -> list[Any]:
    """Spans or log records: each is checked on its own, so only the list must be one."""
    entries = _field(owner, camel, snake)
    if entries is None:
        return []
    if type(entries) is not list:
        raise MalformedPayload(f"JSON body is not an OTLP request: {camel} is not a list")
    return entries


def _scope(owner: dict[str, Any], caps: _Caps) -> InstrumentationScope:
    """The entry's ``scope``, shared by its items; like the resource, one that cannot be
    read fails the request (every item of the entry would carry it)."""
    scope = owner.get("scope")
    if not scope:
        return NO_SCOPE
    try:
        entry = _object(scope)
        name, version = _text(entry.get("name")), _text(entry.get("version"))
        attributes = _attributes(entry.get("attributes"), caps, "scope")
    except BadValue as exc:
        raise MalformedPayload(f"JSON body is not an OTLP request: scope with {exc}") from None
    if not (name or version or attributes):
        return NO_SCOPE
    return InstrumentationScope(name, version, attributes)


def _resource_facts(owner: dict[str, Any], limits: ItemLimits, out: Decoded[Any]) -> ResourceFacts:
    resource = owner.get("resource")
    try:
        pairs = _object(resource).get("attributes") if resource is not None else None
        return facts_from_attributes(_attributes(pairs, _Caps(limits, out), "resource"))
    except BadValue as exc:
        raise MalformedPayload(f"JSON body is not an OTLP request: resource with {exc}") from None


# --- values ------------------------------------------------------------------------------


def _field(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _object(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise BadValue("a part that is not a JSON object")
    return value


def _list(value: Any) -> list[Any]:
    if type(value) is not list:
        raise BadValue("a repeated field that is not a list")
    return value


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    raise BadValue("a text field that is not a string")


def _id(value: Any) -> bytes:
    """Bytes of a hex id; one that is not hex becomes one zero byte, which the shared
    rules refuse as an invalid id (as the protobuf path did)."""
    if value is None:
        return b""
    try:
        return bytes.fromhex(value)
    except (ValueError, TypeError):
        return b"\x00"


def nanos(value: Any) -> int:
    """A time in Unix nanoseconds (fixed64): absent is 0, outside uint64 is no time."""
    if value is None:
        return 0
    number = integer(value)
    if not 0 <= number <= UINT64_MAX:
        raise BadValue("a time out of range")
    return number


def integer(value: Any) -> int:
    """A JSON integer as proto3 JSON allows it: a number, or a string of one; an integral
    float or exponent form too, since protobuf's own parser takes them."""
    if type(value) is int:
        return value
    if type(value) is str and value.isdigit() and value.isascii():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and " " not in value:
        try:
            return int(value)
        except ValueError:
            pass
        try:
            number = float(value)
        except ValueError:
            number = 0.5
        if number.is_integer():
            return int(number)
    raise BadValue("a number that is not an integer")


def _enum(value: Any, names: dict[str, int]) -> int:
    """An enum by number or name; what is not a known name nor an int32 is unknown,
    read as 0 (unspecified), as proto3 JSON receivers ignore unknown enum values."""
    if value is None:
        return 0
    if isinstance(value, str):
        known = names.get(value)
        if known is not None:
            return known
        try:
            number = int(value)
        except ValueError:
            return 0
    else:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise BadValue("an enum that is neither a number nor a name") from None
    return number if _INT32[0] <= number <= _INT32[1] else 0


def _attributes(value: Any, caps: _Caps, owner: str) -> Attributes:
    """Resource, event, link and log attributes: converted, not through the pair cache (as
    on the protobuf path; the collector redacts them with the whole span)."""
    if not value:
        return {}
    return dict(caps.attributes(value, owner))


def _attribute(item: Any, budget: list[int] | int) -> tuple[str, AttrValue]:
    kv = _object(item)
    return _text(kv.get("key")), _any_value(kv.get("value"), budget)


def _any_value(value: Any, budget: list[int] | int) -> AttrValue:
    """An AnyValue as :func:`bot.telemetry.resource.any_value` gives it (bytes as hex);
    ``budget`` is the one count of array and key-value-list items a whole value may use: a
    number at the top, made the shared count (a list) only when the value nests, since
    most values are strings."""
    if value is None:
        return None
    found = _object(value).get("stringValue")
    if type(found) is str:
        return found
    for camel, snake, convert in _VALUE_KINDS:
        found = value.get(camel)
        if found is None:
            found = value.get(snake)
        if found is not None:
            if convert not in _NESTED:
                return convert(found)
            return convert(found, budget if isinstance(budget, list) else [budget])
    return None


def _string(value: Any) -> AttrValue:
    return _text(value)


def _int64(value: Any) -> AttrValue:
    number = integer(value)
    if not _INT64[0] <= number <= _INT64[1]:
        raise BadValue("an integer value out of range")
    return number


def _double(value: Any) -> AttrValue:
    """As protobuf's JSON parser reads a double: numbers, and strings Python's float()
    reads, "NaN" and "Infinity" among them, except a lower-case "nan"."""
    if value == "nan" or isinstance(value, (list, dict)):
        raise BadValue("a double value that is not a number")
    try:
        return float(value)
    except (ValueError, OverflowError):
        raise BadValue("a double value that is not a number") from None


def _bool(value: Any) -> AttrValue:
    if type(value) is not bool:
        raise BadValue("a bool value that is not true or false")
    return value


def _array(value: Any, budget: list[int]) -> AttrValue:
    return [_any_value(item, budget) for item in budgeted(_values(value), budget)]


def _kvlist(value: Any, budget: list[int]) -> AttrValue:
    return dict(_attribute(kv, budget) for kv in budgeted(_values(value), budget))


def _values(value: Any) -> list[Any]:
    return _list(_object(value).get("values") or [])


def _bytes(value: Any) -> AttrValue:
    """Base64 (either alphabet, padding optional), shown as hex like every id."""
    if type(value) is not str:
        raise BadValue("a bytes value that is not base64 text")
    encoded = value.encode()
    try:
        return base64.urlsafe_b64decode(encoded + b"=" * (4 - len(encoded) % 4)).hex()
    except (binascii.Error, ValueError):
        raise BadValue("a bytes value that is not base64") from None


_VALUE_KINDS: tuple[tuple[str, str, Callable[..., AttrValue]], ...] = (
    ("stringValue", "string_value", _string),
    ("intValue", "int_value", _int64),
    ("doubleValue", "double_value", _double),
    ("boolValue", "bool_value", _bool),
    ("arrayValue", "array_value", _array),
    ("kvlistValue", "kvlist_value", _kvlist),
    ("bytesValue", "bytes_value", _bytes),
)
_NESTED: frozenset[Callable[..., AttrValue]] = frozenset({_array, _kvlist})
"""The kinds that hold items, and so take the value's budget."""


# --- for the metrics decoder (bot.telemetry.otlp_metrics), which reads the same encoding ---

field_of = _field
frames = _frames
items_of = _items
object_of = _object
list_of = _list
text_of = _text
double = _double
enum = _enum


def json_attributes(value: Any, limits: ItemLimits, out: Decoded[Any], owner: str) -> Attributes:
    """Attributes of a part, the first ``limits.attributes`` of them (the rest counted in
    ``out``); raises :class:`BadValue` for a value that cannot be read."""
    return _attributes(value, _Caps(limits, out), owner)


def resource_of(owner: dict[str, Any], limits: ItemLimits, out: Decoded[Any]) -> ResourceFacts:
    """The facts of an entry's ``resource``; MalformedPayload when it cannot be read."""
    return _resource_facts(owner, limits, out)
