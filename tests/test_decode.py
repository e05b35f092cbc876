"""OTLP (protobuf and JSON) and Zipkin v2 decoding into the model."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import pytest
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLog
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from bot.config import RedactionRules
from bot.telemetry.lite import PairCache
from bot.telemetry.otlp import decode_logs, decode_traces, encode_trace_response
from bot.telemetry.redact import Redactor
from bot.telemetry.zipkin import decode_zipkin
from correlators.errors import MalformedPayload
from correlators.model import NO_SCOPE, SpanKind, StatusCode

TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b174")
PARENT = bytes.fromhex("eee19b7ec3c1b173")


def kv(key: str, **value: object) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


RESOURCE = Resource(
    attributes=[
        kv("service.name", string_value="checkout"),
        kv("k8s.pod.name", string_value="checkout-7d9"),
        kv("host.name", string_value="node-3"),
        kv("service.version", string_value="2.1.0"),
        kv("cloud.region", string_value="eu-west-1"),
        kv("cloud.availability_zone", string_value="eu-west-1b"),
        kv("telemetry.sdk.language", string_value="nodejs"),
    ]
)


def request(*spans: PbSpan) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=RESOURCE, scope_spans=[ScopeSpans(spans=list(spans))])]
    )


def full_span() -> PbSpan:
    return PbSpan(
        trace_id=TRACE,
        span_id=SPAN,
        parent_span_id=PARENT,
        name="POST /pay",
        kind=PbSpan.SPAN_KIND_CLIENT,
        start_time_unix_nano=1_000,
        end_time_unix_nano=5_000,
        status=Status(code=Status.STATUS_CODE_ERROR, message="declined"),
        attributes=[
            kv("s", string_value="x"),
            kv("i", int_value=7),
            kv("d", double_value=2.5),
            kv("b", bool_value=True),
            kv(
                "arr",
                array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue(string_value="two")]),
            ),
            kv("kv", kvlist_value=KeyValueList(values=[kv("inner", string_value="v")])),
            kv("raw", bytes_value=b"\x01\xff"),
        ],
        events=[
            PbSpan.Event(
                name="exception",
                time_unix_nano=2_000,
                attributes=[kv("exception.type", string_value="E")],
            )
        ],
        links=[PbSpan.Link(trace_id=TRACE, span_id=PARENT)],
    )


def otlp_json(message: ExportTraceServiceRequest) -> bytes:
    """The OTLP JSON encoding: proto3 JSON but ids in hex, as the OTLP spec requires."""
    data = MessageToDict(message)
    for rs in data["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for sp in ss["spans"]:
                for field in ("traceId", "spanId", "parentSpanId"):
                    if field in sp:
                        sp[field] = bytes.fromhex(_b64_to_hex(sp[field])).hex()
                for link in sp.get("links", []):
                    link["traceId"], link["spanId"] = (
                        _b64_to_hex(link["traceId"]),
                        _b64_to_hex(link["spanId"]),
                    )
                sp["unknownFutureField"] = 1
    return json.dumps(data).encode()


def _b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def test_protobuf_span_is_normalized() -> None:
    [span] = decode_traces(request(full_span()).SerializeToString(), "protobuf").items
    assert (span.trace_id, span.span_id, span.parent_span_id) == (
        TRACE.hex(),
        SPAN.hex(),
        PARENT.hex(),
    )
    assert (span.service, span.instance, span.service_version) == (
        "checkout",
        "checkout-7d9",
        "2.1.0",
    )
    assert (span.region, span.zone, span.language) == ("eu-west-1", "eu-west-1b", "nodejs")
    assert (span.kind, span.status, span.status_message) == (
        SpanKind.CLIENT,
        StatusCode.ERROR,
        "declined",
    )
    assert (span.start_ns, span.end_ns) == (1_000, 5_000)
    assert span.attributes == {
        "s": "x",
        "i": 7,
        "d": 2.5,
        "b": True,
        "arr": [1, "two"],
        "kv": {"inner": "v"},
        "raw": "01ff",
    }
    assert [(e.name, e.time_ns, e.attributes) for e in span.events] == [
        ("exception", 2_000, {"exception.type": "E"})
    ]
    assert [(ln.trace_id, ln.span_id) for ln in span.links] == [(TRACE.hex(), PARENT.hex())]


def test_json_encoding_decodes_to_the_same_spans() -> None:
    message = request(full_span())
    from_proto = decode_traces(message.SerializeToString(), "protobuf").items
    from_json = decode_traces(otlp_json(message), "json").items
    assert from_json == from_proto


def test_instance_falls_back_to_host_name() -> None:
    resource = Resource(attributes=[kv("service.name", string_value="a"), kv("host.name", string_value="h")])
    body = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=[full_span()])])]
    ).SerializeToString()
    assert decode_traces(body, "protobuf").items[0].instance == "h"
    bare = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[full_span()])])]
    )
    assert decode_traces(bare.SerializeToString(), "protobuf").items[0].service == "unknown_service"


def test_invalid_spans_are_rejected_one_by_one() -> None:
    bad_trace = PbSpan(trace_id=b"\x00" * 16, span_id=SPAN, start_time_unix_nano=1)
    bad_span = PbSpan(trace_id=TRACE, span_id=b"\x01", start_time_unix_nano=1)
    no_start = PbSpan(trace_id=TRACE, span_id=SPAN)
    decoded = decode_traces(
        request(full_span(), bad_trace, bad_span, no_start).SerializeToString(), "protobuf"
    )
    assert len(decoded.items) == 1
    assert decoded.rejected == 3
    assert len(decoded.errors) == 3


def test_json_with_a_non_hex_id_rejects_that_span_only() -> None:
    data = json.loads(otlp_json(request(full_span(), full_span())))
    data["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["traceId"] = "not-hex!"
    decoded = decode_traces(json.dumps(data).encode(), "json")
    assert (len(decoded.items), decoded.rejected) == (1, 1)


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (b"\xff\xff\xff", "protobuf"),
        (b"[1, 2]", "json"),
        (b"{nope", "json"),
        (b'{"resourceSpans": 5}', "json"),
    ],
)
def test_undecodable_bodies_raise(body: bytes, encoding: str) -> None:
    with pytest.raises(MalformedPayload):
        decode_traces(body, encoding)  # type: ignore[arg-type]


def test_logs_with_and_without_trace_context() -> None:
    message = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=RESOURCE,
                scope_logs=[
                    ScopeLogs(
                        log_records=[
                            PbLog(
                                time_unix_nano=10,
                                severity_number=17,
                                severity_text="ERROR",
                                body=AnyValue(string_value="boom"),
                                trace_id=TRACE,
                                span_id=SPAN,
                                attributes=[kv("code", int_value=3)],
                            ),
                            PbLog(
                                observed_time_unix_nano=20,
                                body=AnyValue(kvlist_value=KeyValueList(values=[kv("a", int_value=1)])),
                            ),
                            PbLog(body=AnyValue(string_value="no time")),
                        ]
                    )
                ],
            )
        ]
    )
    decoded = decode_logs(message.SerializeToString(), "protobuf")
    first, second = decoded.items
    assert (first.time_ns, first.severity_number, first.body, first.trace_id, first.span_id) == (
        10,
        17,
        "boom",
        TRACE.hex(),
        SPAN.hex(),
    )
    assert first.attributes == {"code": 3} and first.service == "checkout"
    assert (second.time_ns, second.trace_id, second.body) == (20, None, '{"a":1}')
    assert decoded.rejected == 1


def test_partial_success_response() -> None:
    body = encode_trace_response(2, "span with an invalid trace id", "protobuf")
    response = ExportTraceServiceResponse.FromString(body)
    assert response.partial_success.rejected_spans == 2
    assert json.loads(encode_trace_response(0, "", "json")) == {}


def test_zipkin_v2() -> None:
    body = json.dumps(
        [
            {
                "traceId": "463ac35c9f6413ad",
                "id": "72485a3953bb6124",
                "parentId": "a2fb4a1d1a96d312",
                "name": "get /api",
                "kind": "SERVER",
                "timestamp": 1_500_000,
                "duration": 250,
                "localEndpoint": {"serviceName": "legacy", "ipv4": "10.0.0.7", "port": 8080},
                "remoteEndpoint": {"serviceName": "frontend"},
                "tags": {"http.status_code": "503", "error": "upstream timeout"},
                "annotations": [{"timestamp": 1_500_100, "value": "retry"}],
            },
            {"traceId": "zz", "id": "1"},
        ]
    ).encode()
    decoded = decode_zipkin(body)
    [span] = decoded.items
    assert decoded.rejected == 1
    assert span.trace_id == "0000000000000000463ac35c9f6413ad"
    assert (span.start_ns, span.end_ns) == (1_500_000_000, 1_500_250_000)  # µs -> ns
    assert (span.service, span.instance, span.kind) == ("legacy", "10.0.0.7:8080", SpanKind.SERVER)
    assert (span.status, span.status_message) == (StatusCode.ERROR, "upstream timeout")
    assert span.attributes["http.status_code"] == 503
    assert span.attributes["peer.service"] == "frontend"
    assert [(e.name, e.time_ns) for e in span.events] == [("retry", 1_500_100_000)]
    with pytest.raises(MalformedPayload):
        decode_zipkin(b'{"not": "a list"}')


def test_zipkin_spans_of_opentelemetry_exporters_keep_their_scope_once_a_request() -> None:
    """OpenTelemetry's Zipkin exporters write the scope as otel.scope.* tags (older ones
    otel.library.*): it becomes the span's scope, not two attributes, one object a scope."""

    def span(span_id: str, tags: dict[str, str]) -> dict[str, object]:
        return {
            "traceId": "463ac35c9f6413ad",
            "id": span_id,
            "name": "get",
            "timestamp": 1_500_000,
            "duration": 10,
            "localEndpoint": {"serviceName": "cart"},
            "tags": tags,
        }

    flask = {"otel.scope.name": "opentelemetry.instrumentation.flask", "otel.scope.version": "0.50b0"}
    old = {"otel.library.name": "io.opentelemetry.jdbc", "otel.library.version": "1.2"}
    body = json.dumps(
        [
            span("0000000000000001", {**flask, "http.route": "/cart"}),
            span("0000000000000002", flask),
            span("0000000000000003", old),
            span("0000000000000004", {}),
        ]
    ).encode()
    first, second, third, plain = decode_zipkin(body).items
    assert (first.scope.name, first.scope.version) == ("opentelemetry.instrumentation.flask", "0.50b0")
    assert first.scope is second.scope
    assert first.attributes == {"http.route": "/cart"}
    assert (third.scope.name, third.scope.version, third.attributes) == ("io.opentelemetry.jdbc", "1.2", {})
    assert plain.scope == NO_SCOPE


# --- the direct JSON decoder against the protobuf path ------------------------------------


def _attr(key: str, value: dict[str, object]) -> dict[str, object]:
    return {"key": key, "value": value}


ALL_VALUES = [
    _attr("s", {"stringValue": "x a@b.io"}),
    _attr("i", {"intValue": "7"}),
    _attr("i_number", {"intValue": 8}),
    _attr("i_min", {"intValue": "-9223372036854775808"}),
    _attr("d", {"doubleValue": 2.5}),
    _attr("d_int", {"doubleValue": 3}),
    _attr("d_inf", {"doubleValue": "Infinity"}),
    _attr("b", {"boolValue": True}),
    _attr("arr", {"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "two"}, {}]}}),
    _attr(
        "kv",
        {
            "kvlistValue": {
                "values": [_attr("inner", {"kvlistValue": {"values": [_attr("x", {"boolValue": False})]}})]
            }
        },
    ),
    _attr("raw", {"bytesValue": "Af8="}),
    _attr(
        "maps_in_array",
        {
            "arrayValue": {
                "values": [
                    {"kvlistValue": {"values": [_attr("a", {"intValue": "1"})]}},
                    {
                        "kvlistValue": {
                            "values": [_attr("b", {"arrayValue": {"values": [{"boolValue": True}]}})]
                        }
                    },
                ]
            }
        },
    ),
    _attr("raw_unpadded", {"bytesValue": "Af8"}),
    _attr("empty", {}),
    {"key": "no_value"},
    _attr("empty_string", {"stringValue": ""}),
    _attr("password", {"stringValue": "hunter2"}),
    _attr("enduser.id", {"intValue": "42"}),
]
SNAKE_VALUES = [
    _attr("s", {"string_value": "y"}),
    _attr("i", {"int_value": "9"}),
    _attr("d", {"double_value": 0.5}),
    _attr("b", {"bool_value": False}),
    _attr("arr", {"array_value": {"values": [{"int_value": 1}]}}),
    _attr("kv", {"kvlist_value": {"values": [_attr("k", {"string_value": "v"})]}}),
    _attr("raw", {"bytes_value": "AQID"}),
]
JSON_RESOURCE = {
    "attributes": [
        _attr("service.name", {"stringValue": "checkout"}),
        _attr("k8s.pod.name", {"stringValue": "checkout-7d9"}),
        _attr("service.version", {"stringValue": "2.1.0"}),
        _attr("cloud.region", {"stringValue": "eu-west-1"}),
        _attr("cloud.availability_zone", {"stringValue": "eu-west-1b"}),
        _attr("telemetry.sdk.language", {"stringValue": "nodejs"}),
    ]
}
RICH_SPANS = {
    "resourceSpans": [
        {
            "resource": JSON_RESOURCE,
            "scopeSpans": [
                {
                    "scope": {
                        "name": "lib",
                        "version": "1",
                        "attributes": [_attr("lib.config", {"kvlistValue": {"values": ALL_VALUES[:3]}})],
                    },
                    "spans": [
                        {
                            "traceId": TRACE.hex(),
                            "spanId": SPAN.hex(),
                            "parentSpanId": PARENT.hex(),
                            "name": "POST /pay",
                            "kind": 3,
                            "startTimeUnixNano": "1700000000000000000",
                            "endTimeUnixNano": "1700000000500000000",
                            "status": {"code": 2, "message": "declined"},
                            "attributes": ALL_VALUES,
                            "events": [
                                {
                                    "timeUnixNano": "1700000000100000000",
                                    "name": "exception",
                                    "attributes": ALL_VALUES,
                                },
                                {"name": "no time"},
                            ],
                            "links": [
                                {"traceId": TRACE.hex(), "spanId": PARENT.hex(), "attributes": ALL_VALUES},
                                {"traceId": "not hex", "spanId": ""},
                            ],
                            "droppedAttributesCount": 2,
                            "futureField": {"a": 1},
                        },
                        {
                            "traceId": TRACE.hex().upper(),
                            "spanId": "eee19b7ec3c1b175",
                            "parentSpanId": "",
                            "name": "GET /",
                            "kind": "SPAN_KIND_SERVER",
                            "startTimeUnixNano": 1700000000000000000,
                            "endTimeUnixNano": 1690000000000000000,
                            "status": {"code": "STATUS_CODE_OK"},
                        },
                        {
                            "traceId": TRACE.hex(),
                            "spanId": "eee19b7ec3c1b176",
                            "kind": "SPAN_KIND_FROM_THE_FUTURE",
                            "startTimeUnixNano": "1700000000000000001",
                            "status": {},
                        },
                    ],
                }
            ],
        },
        {
            "resource": {"attributes": [_attr("service.name", {"string_value": "cart"})]},
            "scope_spans": [
                {
                    "spans": [
                        {
                            "trace_id": "5b8efff798038103d269b633813fc60d",
                            "span_id": "eee19b7ec3c1b177",
                            "parent_span_id": SPAN.hex(),
                            "name": "consume",
                            "kind": "SPAN_KIND_CONSUMER",
                            "start_time_unix_nano": "1700000000000000000",
                            "end_time_unix_nano": "1700000000000000002",
                            "attributes": SNAKE_VALUES,
                            "events": [{"time_unix_nano": 5, "name": "e", "attributes": SNAKE_VALUES}],
                            "links": [{"trace_id": TRACE.hex(), "span_id": SPAN.hex()}],
                            "status": {"code": 1, "message": "fine"},
                        },
                        {"traceId": TRACE.hex(), "spanId": "eee19b7ec3c1b178"},
                    ]
                }
            ],
        },
        {
            "scopeSpans": [
                {"spans": [{"traceId": TRACE.hex(), "spanId": "eee19b7ec3c1b179", "startTimeUnixNano": "1"}]}
            ]
        },
    ]
}
RICH_LOGS = {
    "resourceLogs": [
        {
            "resource": JSON_RESOURCE,
            "scopeLogs": [
                {
                    "scope": {"name": "shop.logs", "version": "2.0"},
                    "logRecords": [
                        {
                            "timeUnixNano": "1700000000000000000",
                            "observedTimeUnixNano": "1700000000000000005",
                            "severityNumber": "SEVERITY_NUMBER_WARN",
                            "severityText": "WARN",
                            "body": {"stringValue": "slow"},
                            "eventName": "checkout.slow",
                            "attributes": ALL_VALUES,
                            "traceId": TRACE.hex(),
                            "spanId": SPAN.hex(),
                        },
                        {
                            "observedTimeUnixNano": 1700000000000000009,
                            "severityNumber": 17,
                            "body": {"kvlistValue": {"values": ALL_VALUES}},
                        },
                        {
                            "timeUnixNano": "3",
                            "body": {"intValue": "12"},
                            "traceId": "",
                            "spanId": "0000000000000000",
                        },
                        {"timeUnixNano": "4", "body": {}},
                        {"body": {"stringValue": "no time"}},
                        {"timeUnixNano": "5", "traceId": "abc"},
                    ],
                }
            ],
        },
        {
            "resource_logs_are_not_here": True,
            "scope_logs": [
                {
                    "log_records": [
                        {
                            "time_unix_nano": "6",
                            "event_name": "snake.case",
                            "observed_time_unix_nano": "7",
                            "severity_number": 9,
                            "severity_text": "INFO",
                            "body": {"array_value": {"values": [{"double_value": 1.5}]}},
                            "attributes": SNAKE_VALUES,
                            "trace_id": TRACE.hex(),
                            "span_id": SPAN.hex(),
                        }
                    ]
                }
            ],
        },
    ]
}
_HEX_ID_KEYS = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}


def _as_protobuf(data: Mapping[str, object], message: Message) -> bytes:
    """The same request in protobuf, through protobuf's own JSON parser (the reference
    for proto3 JSON) once its hex ids are turned into the base64 that parser expects."""

    def base64_ids(node: object) -> object:
        if isinstance(node, dict):
            return {k: _b64_id(v) if k in _HEX_ID_KEYS else base64_ids(v) for k, v in node.items()}
        if isinstance(node, list):
            return [base64_ids(item) for item in node]
        return node

    ParseDict(base64_ids(data), message, ignore_unknown_fields=True)
    serialized: bytes = message.SerializeToString()
    return serialized


def _b64_id(value: object) -> object:
    try:
        return base64.b64encode(bytes.fromhex(str(value))).decode()
    except ValueError:
        return base64.b64encode(b"\x00").decode()


def test_json_decoder_gives_what_the_protobuf_path_gives() -> None:
    body = json.dumps(RICH_SPANS).encode()
    from_json = decode_traces(body, "json")
    from_proto = decode_traces(_as_protobuf(RICH_SPANS, ExportTraceServiceRequest()), "protobuf")
    assert from_json.items == from_proto.items
    assert (
        (from_json.rejected, from_json.trimmed, from_json.errors)
        == (from_proto.rejected, from_proto.trimmed, from_proto.errors)
        == (
            1,
            1,  # the link whose ids are not hex
            ["links with an invalid trace or span id dropped", "span without a start time"],
        )
    )
    assert len(from_json.items) == 5
    first = from_json.items[0]
    assert (first.kind, first.status, first.instance) == (SpanKind.CLIENT, StatusCode.ERROR, "checkout-7d9")
    assert first.attributes["raw"] == "01ff" and first.attributes["kv"] == {"inner": {"x": False}}
    assert [s.kind for s in from_json.items[1:4]] == [
        SpanKind.SERVER,
        SpanKind.UNSPECIFIED,
        SpanKind.CONSUMER,
    ]
    assert from_json.items[3].service == "cart" and from_json.items[4].service == "unknown_service"
    resources = {id(s.resource) for s in from_json.items[:3]}
    assert len(resources) == 1  # one dict per resource, shared by its spans
    assert first.attributes["maps_in_array"] == [{"a": 1}, {"b": [True]}]
    scope = first.scope
    assert (scope.name, scope.version) == ("lib", "1")
    assert scope.attributes == {"lib.config": {"s": "x a@b.io", "i": 7, "i_number": 8}}
    assert {id(s.scope) for s in from_json.items[:3]} == {id(scope)}  # one per scope entry, shared
    assert from_json.items[3].scope is NO_SCOPE and from_json.items[4].scope is NO_SCOPE


def test_json_decoder_redacts_span_attributes_as_the_protobuf_path_does() -> None:
    rules = RedactionRules(drop_keys=["password"], hash_keys=["enduser.id"], patterns=["email"])
    redactor = Redactor(rules, b"k" * 32)
    body = json.dumps(RICH_SPANS).encode()
    from_json = decode_traces(body, "json", PairCache(redactor.redact_pair)).items
    proto = _as_protobuf(RICH_SPANS, ExportTraceServiceRequest())
    from_proto = decode_traces(proto, "protobuf", PairCache(redactor.redact_pair)).items
    assert from_json == from_proto
    assert "password" not in from_json[0].attributes
    assert from_json[0].attributes["s"] == "x [email]"
    assert from_json[0].attributes["enduser.id"] == redactor.hash_value("42")


def test_json_decoder_gives_the_same_logs() -> None:
    from_json = decode_logs(json.dumps(RICH_LOGS).encode(), "json")
    from_proto = decode_logs(_as_protobuf(RICH_LOGS, ExportLogsServiceRequest()), "protobuf")
    assert from_json.items == from_proto.items
    assert (from_json.rejected, from_json.errors) == (from_proto.rejected, from_proto.errors)
    assert from_json.rejected == 2
    assert [r.body for r in from_json.items[:4]] == ["slow", from_json.items[1].body, "12", "null"]
    assert from_json.items[0].severity_number == 13
    assert from_json.items[-1].service == "unknown_service"
    assert [r.event_name for r in from_json.items] == ["checkout.slow", "", "", "", "snake.case"]
    assert (from_json.items[0].scope.name, from_json.items[0].scope.version) == ("shop.logs", "2.0")
    assert from_json.items[-1].scope is NO_SCOPE
    assert json.loads(from_json.items[1].body)["kv"] == {"inner": {"x": False}}


def test_json_decoder_rejects_only_the_record_protobuf_refused_with_its_request() -> None:
    """A time out of range, a value of the wrong type: the protobuf path refused the whole
    request for them; the direct decoder refuses the one span and keeps the others."""
    good = {"traceId": TRACE.hex(), "spanId": SPAN.hex(), "startTimeUnixNano": "1"}
    flawed = [
        {**good, "startTimeUnixNano": "-5"},
        {**good, "endTimeUnixNano": "18446744073709551616"},
        {**good, "name": 5},
        {**good, "attributes": [_attr("n", {"intValue": "seven"})]},
        {**good, "attributes": [_attr("b", {"bytesValue": "AQIDB"})]},
        {**good, "events": [{"timeUnixNano": -1}]},
        5,
    ]
    data = {"resourceSpans": [{"scopeSpans": [{"spans": [good, *flawed]}]}]}
    decoded = decode_traces(json.dumps(data).encode(), "json")
    assert (len(decoded.items), decoded.rejected) == (1, len(flawed))
    assert decoded.errors == [
        "span with a time out of range",
        "span with a text field that is not a string",
        "span with a number that is not an integer",
        "span with a bytes value that is not base64",
        "span with a part that is not a JSON object",
    ]
