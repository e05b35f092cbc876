"""OTLP/HTTP decoding: ExportTraceServiceRequest / ExportLogsServiceRequest to the model.

Both encodings go through one converter: a JSON body is parsed into the same protobuf
messages first (its ids are hex, as the OTLP JSON encoding says, not base64 as plain proto3
JSON would have them; unknown fields are ignored, as receivers must). Invalid items (a
trace id that is not 16 bytes, a span without timestamps) are rejected one by one and
counted for ``partial_success``; a body that does not decode at all raises
:class:`MalformedPayload`.

Resource attributes are converted once per resource and the resulting dict is *shared* by
all spans of that resource: cheap, and fine as long as later stages copy before they
change it (redaction does).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from bot.collector.lite import PLAIN, LiteTraceRequest, PairCache
from bot.collector.resource import ResourceFacts, any_value, attributes, resource_facts
from correlators.errors import MalformedPayload
from correlators.model import LogRecord, Span, SpanEvent, SpanKind, SpanLink, StatusCode

Encoding = Literal["protobuf", "json"]
T = TypeVar("T")
MAX_ERRORS_KEPT = 5

_KINDS = {
    0: SpanKind.UNSPECIFIED,
    1: SpanKind.INTERNAL,
    2: SpanKind.SERVER,
    3: SpanKind.CLIENT,
    4: SpanKind.PRODUCER,
    5: SpanKind.CONSUMER,
}
_STATUS = {0: StatusCode.UNSET, 1: StatusCode.OK, 2: StatusCode.ERROR}
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)


@dataclass(slots=True)
class Decoded(Generic[T]):
    items: list[T]
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERRORS_KEPT and reason not in self.errors:
            self.errors.append(reason)


# --- traces ------------------------------------------------------------------------------


def decode_traces(body: bytes, encoding: Encoding, pairs: PairCache = PLAIN) -> Decoded[Span]:
    """Spans of one request. Span attributes go through ``pairs``: the collector's cache
    redacts them as it converts (see :class:`~bot.collector.lite.PairCache`)."""
    if encoding == "protobuf":
        request = _parse(body, encoding, LiteTraceRequest)
    else:
        # JSON goes through the real message type, then the same converter
        full = _parse(body, encoding, ExportTraceServiceRequest)
        request = LiteTraceRequest.FromString(full.SerializeToString())
    out: Decoded[Span] = Decoded([])
    append = out.items.append
    trace_ids: dict[bytes, str] = {}  # one string per trace, not one per span
    for resource_spans in request.resource_spans:
        facts = resource_facts(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for pb in scope_spans.spans:
                reason = _invalid_span(pb)
                if reason:
                    out.reject(reason)
                    continue
                raw = pb.trace_id
                trace_id = trace_ids.get(raw)
                if trace_id is None:
                    trace_id = trace_ids[raw] = raw.hex()
                append(_span(pb, trace_id, facts, pairs))
    return out


def _invalid_span(pb: Any) -> str | None:
    if len(pb.trace_id) != 16 or pb.trace_id == _ZERO_TRACE:
        return "span with an invalid trace id (need 16 non-zero bytes)"
    if len(pb.span_id) != 8 or pb.span_id == _ZERO_SPAN:
        return "span with an invalid span id (need 8 non-zero bytes)"
    if pb.parent_span_id and len(pb.parent_span_id) != 8:
        return "span with an invalid parent span id"
    if not pb.start_time_unix_nano:
        return "span without a start time"
    return None


def _span(pb: Any, trace_id: str, facts: ResourceFacts, pairs: PairCache) -> Span:
    start = pb.start_time_unix_nano
    status = pb.status
    return Span(
        trace_id=trace_id,
        span_id=pb.span_id.hex(),
        parent_span_id=pb.parent_span_id.hex() if pb.parent_span_id else None,
        service=facts.service,
        name=pb.name,
        start_ns=start,
        end_ns=max(pb.end_time_unix_nano, start),
        kind=_KINDS.get(pb.kind, SpanKind.UNSPECIFIED),
        status=_STATUS.get(status.code, StatusCode.UNSET),
        status_message=status.message,
        instance=facts.instance,
        service_version=facts.version,
        region=facts.region,
        zone=facts.zone,
        language=facts.language,
        attributes=pairs.attributes(pb.attributes) if pb.attributes else {},
        resource=facts.attributes,
        events=[SpanEvent(e.name, e.time_unix_nano, attributes(e.attributes)) for e in pb.events]
        if pb.events
        else (),
        links=[SpanLink(ln.trace_id.hex(), ln.span_id.hex(), attributes(ln.attributes)) for ln in pb.links]
        if pb.links
        else (),
    )


# --- logs --------------------------------------------------------------------------------


def decode_logs(body: bytes, encoding: Encoding) -> Decoded[LogRecord]:
    request = _parse(body, encoding, ExportLogsServiceRequest)
    out: Decoded[LogRecord] = Decoded([])
    for resource_logs in request.resource_logs:
        facts = resource_facts(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for pb in scope_logs.log_records:
                reason = _invalid_log(pb)
                if reason:
                    out.reject(reason)
                else:
                    out.items.append(_log(pb, facts))
    return out


def _invalid_log(pb: Any) -> str | None:
    if pb.trace_id and len(pb.trace_id) != 16:
        return "log record with an invalid trace id"
    if pb.span_id and len(pb.span_id) != 8:
        return "log record with an invalid span id"
    if not pb.time_unix_nano and not pb.observed_time_unix_nano:
        return "log record without a timestamp"
    return None


def _log(pb: Any, facts: ResourceFacts) -> LogRecord:
    body = any_value(pb.body) if pb.HasField("body") else ""
    return LogRecord(
        time_ns=pb.time_unix_nano or pb.observed_time_unix_nano,
        service=facts.service,
        body=body if isinstance(body, str) else orjson.dumps(body).decode(),
        severity_text=pb.severity_text,
        severity_number=pb.severity_number,
        trace_id=pb.trace_id.hex() if pb.trace_id and pb.trace_id != _ZERO_TRACE else None,
        span_id=pb.span_id.hex() if pb.span_id and pb.span_id != _ZERO_SPAN else None,
        instance=facts.instance,
        observed_time_ns=pb.observed_time_unix_nano,
        attributes=attributes(pb.attributes) if pb.attributes else {},
        resource=facts.attributes,
    )


# --- responses ---------------------------------------------------------------------------


def encode_trace_response(rejected: int, message: str, encoding: Encoding) -> bytes:
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return _serialize(response, encoding)


def encode_logs_response(rejected: int, message: str, encoding: Encoding) -> bytes:
    response = ExportLogsServiceResponse()
    if rejected:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = message
    return _serialize(response, encoding)


def encode_status(code: int, message: str, encoding: Encoding) -> bytes:
    """A google.rpc.Status body, which OTLP/HTTP failure responses carry."""
    return _serialize(status_pb2.Status(code=code, message=message), encoding)


def _serialize(message: Message, encoding: Encoding) -> bytes:
    if encoding == "json":
        text: str = json_format.MessageToJson(message, indent=None)
        return text.encode()
    serialized: bytes = message.SerializeToString()
    return serialized


# --- parsing -----------------------------------------------------------------------------

M = TypeVar("M", bound=Message)
_NOT_AN_ID = base64.b64encode(b"\x00").decode()
_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


def _parse(body: bytes, encoding: Encoding, message_type: Callable[[], M]) -> M:
    message = message_type()
    if encoding == "protobuf":
        try:
            message.ParseFromString(body)
        except (DecodeError, ValueError) as exc:
            raise MalformedPayload(f"body is not a valid protobuf message: {exc}") from None
        return message
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedPayload(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedPayload("JSON body must be an object")
    try:
        json_format.ParseDict(_hex_ids_to_base64(data), message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise MalformedPayload(f"JSON body is not an OTLP request: {exc}") from None
    return message


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP JSON writes ids as hex; protobuf's JSON parser expects base64 for bytes."""
    if isinstance(node, dict):
        return {
            key: _id_field(value) if key in _ID_FIELDS else _hex_ids_to_base64(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def _id_field(value: Any) -> Any:
    """Hex to base64; an id that is not hex becomes one zero byte, so that the span (not
    the whole batch) is rejected as having an invalid id."""
    if not isinstance(value, str):
        return value
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        return _NOT_AN_ID
