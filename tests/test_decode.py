"""OTLP (protobuf and JSON) and Zipkin v2 decoding into the model."""

from __future__ import annotations

import json

import pytest
from google.protobuf.json_format import MessageToDict
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

from bot.collector.otlp import decode_logs, decode_traces, encode_trace_response
from bot.collector.zipkin import decode_zipkin
from correlators.errors import MalformedPayload
from correlators.model import SpanKind, StatusCode

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
    import base64

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
        "kv": [["inner", "v"]],
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
    assert (second.time_ns, second.trace_id, second.body) == (20, None, '[["a",1]]')
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
