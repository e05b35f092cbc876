"""Zipkin v2 JSON (POST /api/v2/spans) to the model.

Older services (Brave, zipkin-js, Envoy) speak Zipkin; their spans land in the same model
as OTLP ones. Zipkin differs in ways that matter here: times are microseconds, 64-bit trace
ids are allowed (left-padded to 128 bits, as OpenTelemetry's Zipkin bridge does), tags are
all strings, and an error is an ``error`` tag rather than a status.
"""

from __future__ import annotations

import re
from typing import Any

from bot.collector.decoding import NO_LIMITS, ItemLimits, capped, json_body, span_times_invalid
from bot.collector.otlp import Decoded
from bot.collector.resource import facts_from_attributes
from correlators.errors import MalformedPayload
from correlators.model import Attributes, Span, SpanEvent, SpanKind, StatusCode

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
    for item in data:
        try:
            span = _span(item, limits, out)
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
            out.reject(f"invalid Zipkin span: {exc}")
            continue
        reason = span_times_invalid(span)
        if reason:
            out.reject(reason)
        else:
            out.items.append(span)
    return out


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
        text = str(value)
        attrs[key] = int(text) if key in _NUMERIC_TAGS and _INTEGER.match(text) else text
    if remote.get("serviceName"):
        attrs["peer.service"] = str(remote["serviceName"])
    if remote.get("ipv4") or remote.get("ipv6"):
        attrs["network.peer.address"] = str(remote.get("ipv4") or remote.get("ipv6"))
    return attrs
