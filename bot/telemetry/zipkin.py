"""Zipkin v2 JSON (POST /api/v2/spans) to the model.

Older services (Brave, zipkin-js, Envoy) speak Zipkin; their spans land in the same model
as OTLP ones. Zipkin differs in ways that matter here: times are microseconds, 64-bit trace
ids are allowed (left-padded to 128 bits, as OpenTelemetry's Zipkin bridge does), tags are
all strings, and an error is an ``error`` tag rather than a status.

Brave, Finagle and other Zipkin tracers give the two sides of a call one span id: the
client reports it, the server reports it again with ``shared: true``. The model, like the
store, keeps one span per (trace, span id), so the server half would overwrite or lose to
the client half, and with it the server's service from the trace. As Jaeger and the
Collector's Zipkin receiver do, the server half gets an id of its own, derived from the
shared one (the same on every delivery, so a retried batch is still deduplicated), under
the client half as its parent. The server's own spans in the same request, which name the
shared id as parent, are moved under the server half; those reported in later requests
stay under the client half, a level too high but in the trace.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from bot.telemetry.decoding import NO_LIMITS, ItemLimits, capped, json_body, span_times_invalid
from bot.telemetry.otlp import Decoded
from bot.telemetry.resource import SCOPE_TAG_NAMES, facts_from_attributes, scope_from_tags
from correlators.errors import MalformedPayload
from correlators.model import Attributes, InstrumentationScope, Span, SpanEvent, SpanKind, StatusCode

_KINDS = {
    "CLIENT": SpanKind.CLIENT,
    "SERVER": SpanKind.SERVER,
    "PRODUCER": SpanKind.PRODUCER,
    "CONSUMER": SpanKind.CONSUMER,
}
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_TRACE_ID = re.compile(r"^([0-9a-f]{16}|[0-9a-f]{32})$")
_INTEGER = re.compile(r"^-?\d{1,18}$")
_NUMERIC_TAGS = frozenset({"http.status_code", "http.response.status_code"})


def decode_zipkin(body: bytes, limits: ItemLimits = NO_LIMITS) -> Decoded[Span]:
    data = json_body(body)
    if not isinstance(data, list):
        raise MalformedPayload("Zipkin v2 body must be a JSON list of spans")
    out: Decoded[Span] = Decoded([])
    server_halves: dict[tuple[str, str], Span] = {}
    scopes: dict[tuple[str, str], InstrumentationScope] = {}
    for item in data:
        try:
            span = _span(item, limits, out)
            # one object a scope, as the OTLP decoders share theirs (redaction memoizes by it)
            span.scope = scopes.setdefault((span.scope.name, span.scope.version), span.scope)
            shared = item.get("shared") is True and span.kind is SpanKind.SERVER
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
            out.reject(f"invalid Zipkin span: {exc}")
            continue
        reason = span_times_invalid(span)
        if reason:
            out.reject(reason)
            continue
        if shared:
            key = (span.trace_id, span.span_id)
            server_halves[key] = _own_id(span)
        out.items.append(span)
    _under_server_halves(out.items, server_halves)
    return out


def server_half_id(trace_id: str, shared_id: str) -> str:
    """The id a shared span's server half is kept under: 8 bytes derived from the shared
    id, never zero."""
    digest = hashlib.blake2b(f"{trace_id}:{shared_id}".encode(), digest_size=8).hexdigest()
    return digest if digest.strip("0") else "1".rjust(16, "0")


def _own_id(span: Span) -> Span:
    """The server half, re-keyed under the client half."""
    shared_id = span.span_id
    span.span_id = server_half_id(span.trace_id, shared_id)
    span.parent_span_id = shared_id
    return span


def _under_server_halves(spans: list[Span], halves: dict[tuple[str, str], Span]) -> None:
    """Spans of the server's service that name a shared id as parent belong to the server
    half (the client half has no children of the callee's)."""
    if not halves:
        return
    for span in spans:
        half = halves.get((span.trace_id, span.parent_span_id or ""))
        if half is not None and span is not half and span.service == half.service:
            span.parent_span_id = half.span_id


def _span(item: dict[str, Any], limits: ItemLimits, out: Decoded[Span]) -> Span:
    trace_id = str(item["traceId"]).lower()
    if not _TRACE_ID.match(trace_id) or not trace_id.strip("0"):
        raise ValueError("traceId must be 16 or 32 hex characters")
    span_id = _hex16(item["id"], "id")
    parent = _hex16(item["parentId"], "parentId") if item.get("parentId") else None
    start_ns = int(item["timestamp"]) * 1000
    if start_ns <= 0:
        raise ValueError("timestamp must be positive")
    tags: dict[str, Any] = item.get("tags") or {}
    if len(tags) > limits.attributes:
        tags = dict(capped(list(tags.items()), limits.attributes, "span attributes", out))
    local = item.get("localEndpoint") or {}
    facts = facts_from_attributes(_resource(local))
    error = tags.get("error")
    return Span(
        trace_id=trace_id.rjust(32, "0"),
        span_id=span_id,
        parent_span_id=parent,
        service=facts.service,
        name=str(item.get("name") or ""),
        start_ns=start_ns,
        end_ns=start_ns + int(item.get("duration") or 0) * 1000,
        kind=_KINDS.get(str(item.get("kind", "")).upper(), SpanKind.INTERNAL),
        status=StatusCode.ERROR if error is not None else StatusCode.UNSET,
        status_message=str(error) if error not in (None, "", "true") else "",
        instance=facts.instance,
        attributes=_tags(tags, item.get("remoteEndpoint") or {}),
        scope=scope_from_tags(tags),
        resource=facts.attributes,
        events=[
            SpanEvent(str(a["value"]), int(a["timestamp"]) * 1000)
            for a in capped(item.get("annotations") or [], limits.events, "events of a span", out)
        ],
    )


def _hex16(value: object, name: str) -> str:
    text = str(value).lower()
    if not _HEX16.match(text) or not text.strip("0"):
        raise ValueError(f"{name} must be 16 hex characters")
    return text


def _resource(local: dict[str, Any]) -> Attributes:
    attrs: Attributes = {}
    if local.get("serviceName"):
        attrs["service.name"] = str(local["serviceName"])
    address = local.get("ipv4") or local.get("ipv6")
    if address:
        attrs["host.name"] = f"{address}:{local['port']}" if local.get("port") else str(address)
    return attrs


def _tags(tags: dict[str, Any], remote: dict[str, Any]) -> Attributes:
    attrs: Attributes = {}
    for key, value in tags.items():
        if key in SCOPE_TAG_NAMES:  # the span's scope, not an attribute
            continue
        text = str(value)
        attrs[key] = int(text) if key in _NUMERIC_TAGS and _INTEGER.match(text) else text
    if remote.get("serviceName"):
        attrs["peer.service"] = str(remote["serviceName"])
    if remote.get("ipv4") or remote.get("ipv6"):
        attrs["network.peer.address"] = str(remote.get("ipv4") or remote.get("ipv6"))
    return attrs
