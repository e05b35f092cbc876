"""Per-item limits at the door (issue 14): attributes per span, event, link, log record
and resource, events and links per span, items of one value, link ids. The excess is
dropped, the item kept, and the response's ``partial_success`` says what was dropped
(rejected 0: a warning, in OTLP's terms)."""

from __future__ import annotations

import base64
import json
import os

import httpx
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from bot.config import RedactionRules
from bot.telemetry.decoding import ItemLimits
from bot.telemetry.lite import PairCache
from bot.telemetry.otlp import decode_logs, decode_traces
from bot.telemetry.redact import TRUNCATED, Redactor
from bot.telemetry.zipkin import decode_zipkin
from tests.test_ingest_http import NOW_NS, PROTOBUF, otlp_logs
from tests.test_ingest_poison import zipkin_span

TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b175")
SMALL = ItemLimits(attributes=3, events=2, links=2, value_items=4)
PAIRS = PairCache(value_items=4)
"""Span attribute values are converted by the pair cache, which carries their bound."""


def kvs(count: int, prefix: str = "k") -> list[KeyValue]:
    return [KeyValue(key=f"{prefix}{i}", value=AnyValue(int_value=i)) for i in range(count)]


def nested(depth: int, width: int) -> AnyValue:
    """Arrays of arrays: width ** depth scalars in a body of a few bytes each."""
    if depth == 0:
        return AnyValue(int_value=1)
    return AnyValue(array_value=ArrayValue(values=[nested(depth - 1, width)] * width))


def crowded_span() -> ExportTraceServiceRequest:
    span = Span(
        trace_id=TRACE,
        span_id=SPAN,
        name="crowded",
        start_time_unix_nano=NOW_NS,
        end_time_unix_nano=NOW_NS + 1000,
        attributes=kvs(10),
        events=[Span.Event(name=f"e{i}", time_unix_nano=NOW_NS, attributes=kvs(10)) for i in range(5)],
        links=[
            Span.Link(trace_id=TRACE, span_id=SPAN, attributes=kvs(10)),
            Span.Link(trace_id=b"\x01", span_id=SPAN),
            *[Span.Link(trace_id=TRACE, span_id=SPAN)] * 3,
        ],
    )
    span.attributes[0].value.CopyFrom(nested(3, 10))
    service = KeyValue(key="service.name", value=AnyValue(string_value="shop"))
    resource = Resource(attributes=[service, *kvs(9)])
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=[span])])]
    )


def test_a_crowded_span_keeps_the_first_of_everything_and_says_what_it_dropped() -> None:
    decoded = decode_traces(crowded_span().SerializeToString(), "protobuf", PAIRS, SMALL)
    assert decoded.rejected == 0
    (span,) = decoded.items
    assert list(span.attributes) == ["k0", "k1", "k2"]
    # one budget of 4 items for the whole nested value: 10 x 10 x 10 would be 1,000
    assert span.attributes["k0"] == [[[1, 1]]]  # depth first: the value's beginning, whole
    assert list(span.resource) == ["service.name", "k0", "k1"]
    assert [e.name for e in span.events] == ["e0", "e1"]
    assert all(len(e.attributes) == 3 for e in span.events)
    assert len(span.links) == 1  # the second of the first two has a 1-byte trace id
    assert len(span.links[0].attributes) == 3
    # 7 span attributes, 7 resource ones, 3 events, 7 x 2 event attributes, 3 links
    # past the first two, one invalid link, 7 link attributes
    assert decoded.trimmed == 7 + 7 + 3 + 14 + 3 + 1 + 7
    assert decoded.errors == [
        "resource attributes past the first 3 dropped",
        "span attributes past the first 3 dropped",
        "events of a span past the first 2 dropped",
        "event attributes past the first 3 dropped",
        "links of a span past the first 2 dropped",
    ]


def test_json_bodies_are_held_to_the_same_limits() -> None:
    request = MessageToDict(crowded_span())
    as_json = json.dumps(_hex_ids(request)).encode()
    from_json = decode_traces(as_json, "json", PAIRS, SMALL)
    from_proto = decode_traces(crowded_span().SerializeToString(), "protobuf", PAIRS, SMALL)
    assert from_json.items == from_proto.items
    assert (from_json.trimmed, from_json.errors) == (from_proto.trimmed, from_proto.errors)


def _hex_ids(node: object) -> object:
    """MessageToDict writes ids in base64; OTLP/JSON has them in hex."""
    if isinstance(node, dict):
        ids = ("traceId", "spanId")
        return {k: base64.b64decode(v).hex() if k in ids else _hex_ids(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_hex_ids(item) for item in node]
    return node


def test_log_records_and_zipkin_spans_are_limited_too() -> None:
    record = LogRecord(
        time_unix_nano=NOW_NS,
        body=AnyValue(kvlist_value=KeyValueList(values=kvs(50))),
        attributes=kvs(10),
    )
    request = otlp_logs(record)
    logs = decode_logs(request.SerializeToString(), "protobuf", SMALL)
    (kept,) = logs.items
    assert len(kept.attributes) == 3
    assert len(json.loads(kept.body)) == 4
    assert logs.errors == ["log record attributes past the first 3 dropped"]

    trace_id = os.urandom(16).hex()
    crowded = zipkin_span(
        trace_id,
        "00000000000000aa",
        tags={f"t{i}": "v" for i in range(10)},
        annotations=[{"timestamp": NOW_NS // 1000, "value": f"a{i}"} for i in range(5)],
    )
    spans = decode_zipkin(json.dumps([crowded]).encode(), SMALL)
    (span,) = spans.items
    assert list(span.attributes) == ["t0", "t1", "t2"]
    assert [e.name for e in span.events] == ["a0", "a1"]
    assert spans.trimmed == 7 + 3


def test_text_is_cut_even_with_redaction_off_and_long_keys_too() -> None:
    redactor = Redactor(RedactionRules(enabled=False), b"k", max_chars=1024)
    key, value = redactor.redact_pair("k" * 5000, "v" * 5000)  # type: ignore[misc]
    assert key == "k" * 1024 + TRUNCATED
    assert value == "v" * 1024 + TRUNCATED
    assert redactor.redact_pair("password", "x") == ("password", "x")  # no rule applies when off


def test_700k_attributes_are_answered_at_once_with_what_was_kept(start_bot, keep_all_config) -> None:  # type: ignore[no-untyped-def]
    """Issue 14, item 7: one request of 700,000 attributes held the event loop for 4.2 s
    (span), 1.3 s (resource, event, log record) and 2.8 s (JSON) before the limits
    (bench/attribute_flood.py); here the defaults keep 128 and say so."""
    bot = start_bot(keep_all_config)
    trace_id = os.urandom(16).hex()
    span = Span(
        trace_id=bytes.fromhex(trace_id),
        span_id=SPAN,
        name="flood",
        start_time_unix_nano=NOW_NS,
        end_time_unix_nano=NOW_NS + 1000,
    )
    span.attributes.extend(kvs(700_000))
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="shop"))])
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=[span])])]
    )
    flooded = LogRecord(
        time_unix_nano=NOW_NS,
        trace_id=bytes.fromhex(trace_id),
        body=AnyValue(string_value="flooded"),
        attributes=kvs(700_000),
    )
    log_request = otlp_logs(flooded, resource=resource)
    with httpx.Client(base_url=bot.url, timeout=30) as http:
        answer = http.post("/v1/traces", content=request.SerializeToString(), headers=PROTOBUF)
        logged = http.post("/v1/logs", content=log_request.SerializeToString(), headers=PROTOBUF)
        health = http.get("/healthz").json()
    assert answer.status_code == 200
    partial = ExportTraceServiceResponse.FromString(answer.content).partial_success
    assert partial.rejected_spans == 0
    assert partial.error_message == "span attributes past the first 128 dropped"
    assert logged.status_code == 200
    log_partial = ExportLogsServiceResponse.FromString(logged.content).partial_success
    assert log_partial.error_message == "log record attributes past the first 128 dropped"
    assert health["collector"]["trimmed"] == 2 * (700_000 - 128)
    stored = bot.wait_for_trace(trace_id, 1)
    assert len(stored["spans"][0]["attributes"]) == 128
