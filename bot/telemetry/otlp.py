"""OTLP/HTTP decoding: ExportTraceServiceRequest / ExportLogsServiceRequest to the model.

A protobuf body is converted here, from its messages; a JSON body is read straight from
its parsed dict by :mod:`bot.telemetry.otlp_json`, to the same objects (going through
protobuf messages first cost most of the time of reading files). Both apply the rules of
:mod:`bot.telemetry.decoding`: invalid items (a trace id that is not 16 bytes, a span
without timestamps) are rejected one by one and counted for ``partial_success``; a body
that does not decode at all raises :class:`MalformedPayload`.

Resource attributes are converted once per resource and the resulting dict is *shared* by
all spans of that resource: cheap, and fine as long as later stages copy before they
change it (redaction does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

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
    link_invalid,
    span_times_invalid,
)
from bot.telemetry.lite import PLAIN, LiteTraceRequest, PairCache
from bot.telemetry.otlp_json import loads, logs_from_json, spans_from_json
from bot.telemetry.resource import ResourceFacts, any_value, attributes, resource_facts
from correlators.errors import MalformedPayload
from correlators.model import (
    NO_SCOPE,
    InstrumentationScope,
    LogRecord,
    Span,
    SpanEvent,
    SpanKind,
    SpanLink,
    StatusCode,
)

Encoding = Literal["protobuf", "json"]
__all__ = [  # Decoded is re-exported: the collector's callers know it from here
    "Decoded",
    "Encoding",
    "decode_logs",
    "decode_traces",
    "encode_logs_response",
    "encode_status",
    "encode_trace_response",
]


# --- traces ------------------------------------------------------------------------------


def decode_traces(
    body: bytes, encoding: Encoding, pairs: PairCache = PLAIN, limits: ItemLimits = NO_LIMITS
) -> Decoded[Span]:
    """Spans of one request. Span attributes go through ``pairs``: the collector's cache
    redacts them as it converts (see :class:`~bot.telemetry.lite.PairCache`), and bounds
    their values' items with its own ``value_items``; ``limits`` bound the rest."""
    if encoding == "json":
        return spans_from_json(loads(body), pairs, limits)
    request = parse(body, LiteTraceRequest)
    out: Decoded[Span] = Decoded([])
    append = out.items.append
    trace_ids: dict[bytes, str] = {}  # one string per trace, not one per span
    for resource_spans in request.resource_spans:
        facts = _resource(resource_spans.resource.attributes, limits, out)
        for scope_spans in resource_spans.scope_spans:
            scope = _scope(scope_spans.scope, limits, out)
            for pb in scope_spans.spans:
                reason = invalid_span(pb.trace_id, pb.span_id, pb.parent_span_id, pb.start_time_unix_nano)
                if reason:
                    out.reject(reason)
                    continue
                raw = pb.trace_id
                trace_id = trace_ids.get(raw)
                if trace_id is None:
                    trace_id = trace_ids[raw] = raw.hex()
                span = _span(pb, trace_id, facts, scope, pairs, limits, out)
                reason = span_times_invalid(span)
                if reason:
                    out.reject(reason)
                else:
                    append(span)
    return out


def _resource(pairs: Any, limits: ItemLimits, out: Decoded[Any]) -> ResourceFacts:
    return resource_facts(capped(pairs, limits.attributes, "resource attributes", out), limits.value_items)


def _scope(pb: Any, limits: ItemLimits, out: Decoded[Any]) -> InstrumentationScope:
    """The scope entry's InstrumentationScope, shared by its items (NO_SCOPE when it says
    nothing, so that items without one share a single object)."""
    if not (pb.name or pb.version or pb.attributes):
        return NO_SCOPE
    kept = capped(pb.attributes, limits.attributes, "scope attributes", out)
    return InstrumentationScope(pb.name, pb.version, attributes(kept, limits.value_items) if kept else {})


def _span(
    pb: Any,
    trace_id: str,
    facts: ResourceFacts,
    scope: InstrumentationScope,
    pairs: PairCache,
    limits: ItemLimits,
    out: Decoded[Span],
) -> Span:
    start = pb.start_time_unix_nano
    status = pb.status
    items = limits.value_items
    return Span(
        trace_id=trace_id,
        span_id=pb.span_id.hex(),
        parent_span_id=pb.parent_span_id.hex() if pb.parent_span_id else None,
        service=facts.service,
        name=pb.name,
        start_ns=start,
        end_ns=max(pb.end_time_unix_nano, start),
        kind=KINDS.get(pb.kind, SpanKind.UNSPECIFIED),
        status=STATUS.get(status.code, StatusCode.UNSET),
        status_message=status.message,
        instance=facts.instance,
        service_version=facts.version,
        region=facts.region,
        zone=facts.zone,
        language=facts.language,
        attributes=pairs.attributes(capped(pb.attributes, limits.attributes, "span attributes", out))
        if pb.attributes
        else {},
        resource=facts.attributes,
        events=[
            SpanEvent(e.name, e.time_unix_nano, attributes(_attrs(e, "event", limits, out), items))
            for e in capped(pb.events, limits.events, "events of a span", out)
        ]
        if pb.events
        else (),
        links=_links(pb.links, limits, out) if pb.links else (),
        scope=scope,
    )


def _links(links: Any, limits: ItemLimits, out: Decoded[Span]) -> list[SpanLink]:
    kept = []
    for ln in capped(links, limits.links, "links of a span", out):
        if link_invalid(ln.trace_id, ln.span_id):
            out.trim("links with an invalid trace or span id dropped", 1)
            continue
        pairs = attributes(_attrs(ln, "link", limits, out), limits.value_items)
        kept.append(SpanLink(ln.trace_id.hex(), ln.span_id.hex(), pairs))
    return kept


def _attrs(pb: Any, owner: str, limits: ItemLimits, out: Decoded[Any]) -> Any:
    return capped(pb.attributes, limits.attributes, f"{owner} attributes", out)


# --- logs --------------------------------------------------------------------------------


def decode_logs(body: bytes, encoding: Encoding, limits: ItemLimits = NO_LIMITS) -> Decoded[LogRecord]:
    if encoding == "json":
        return logs_from_json(loads(body), limits)
    request = parse(body, ExportLogsServiceRequest)
    out: Decoded[LogRecord] = Decoded([])
    for resource_logs in request.resource_logs:
        facts = _resource(resource_logs.resource.attributes, limits, out)
        for scope_logs in resource_logs.scope_logs:
            scope = _scope(scope_logs.scope, limits, out)
            for pb in scope_logs.log_records:
                reason = invalid_log(pb.trace_id, pb.span_id, pb.time_unix_nano, pb.observed_time_unix_nano)
                if reason:
                    out.reject(reason)
                else:
                    out.items.append(_log(pb, facts, scope, limits, out))
    return out


def _log(
    pb: Any, facts: ResourceFacts, scope: InstrumentationScope, limits: ItemLimits, out: Decoded[LogRecord]
) -> LogRecord:
    body = any_value(pb.body, limits.value_items) if pb.HasField("body") else ""
    return LogRecord(
        time_ns=pb.time_unix_nano or pb.observed_time_unix_nano,
        service=facts.service,
        body=body if isinstance(body, str) else orjson.dumps(body).decode(),
        severity_text=pb.severity_text,
        severity_number=pb.severity_number,
        trace_id=pb.trace_id.hex() if pb.trace_id and pb.trace_id != ZERO_TRACE else None,
        span_id=pb.span_id.hex() if pb.span_id and pb.span_id != ZERO_SPAN else None,
        instance=facts.instance,
        observed_time_ns=pb.observed_time_unix_nano,
        attributes=attributes(_attrs(pb, "log record", limits, out), limits.value_items)
        if pb.attributes
        else {},
        resource=facts.attributes,
        scope=scope,
        event_name=pb.event_name,
    )


# --- responses ---------------------------------------------------------------------------


def encode_trace_response(rejected: int, message: str, encoding: Encoding) -> bytes:
    response = ExportTraceServiceResponse()
    if rejected or message:  # a message alone is a warning: items kept, something dropped
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return serialize(response, encoding)


def encode_logs_response(rejected: int, message: str, encoding: Encoding) -> bytes:
    response = ExportLogsServiceResponse()
    if rejected or message:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = message
    return serialize(response, encoding)


def encode_status(code: int, message: str, encoding: Encoding) -> bytes:
    """A google.rpc.Status body, which OTLP/HTTP failure responses carry."""
    return serialize(status_pb2.Status(code=code, message=message), encoding)


def serialize(message: Message, encoding: Encoding) -> bytes:
    if encoding == "json":
        text: str = json_format.MessageToJson(message, indent=None)
        return text.encode()
    serialized: bytes = message.SerializeToString()
    return serialized


# --- parsing -----------------------------------------------------------------------------

M = TypeVar("M", bound=Message)


def parse(body: bytes, message_type: Callable[[], M]) -> M:
    message = message_type()
    try:
        message.ParseFromString(body)
    except (DecodeError, ValueError) as exc:
        raise MalformedPayload(f"body is not a valid protobuf message: {exc}") from None
    return message
