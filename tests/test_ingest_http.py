"""Ingest answers bad requests with the OTLP/HTTP status codes and loses no good batch.

The bad requests (malformed, truncated, wrong media type, unknown encoding, oversized,
broken gzip) are sent between good ones to a running `journeywatch serve`; every good
batch must be stored.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import time

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from bot.config import load_config
from bot.server import build_bot, create_app
from bot.settings import Settings
from tests.fixtures.bot_server import REPO

PROTOBUF = {"content-type": "application/x-protobuf"}
NOW_NS = time.time_ns() // 1_000_000_000 * 1_000_000_000
"""Now: the collector refuses spans older than retention or ahead of its clock."""


def otlp_request(
    trace_id: str, spans: int = 3, *, bad_ids: int = 0, error: bool = False
) -> ExportTraceServiceRequest:
    """A trace of `spans` spans from service `shop` (a root and its children)."""
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="shop"))])
    out = []
    for index in range(spans):
        out.append(
            Span(
                trace_id=bytes.fromhex(trace_id),
                span_id=(index + 1).to_bytes(8, "big"),
                parent_span_id=b"" if index == 0 else (1).to_bytes(8, "big"),
                name="GET /items" if index == 0 else f"step {index}",
                kind=Span.SPAN_KIND_SERVER if index == 0 else Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=NOW_NS + index * 1000,
                end_time_unix_nano=NOW_NS + 5_000_000,
                status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_UNSET),
            )
        )
    for _ in range(bad_ids):
        out.append(Span(trace_id=b"\x01\x02\x03", span_id=b"\x09" * 8, name="bad id"))
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=out)])]
    )


def otlp_logs(*records: LogRecord, resource: Resource | None = None) -> ExportLogsServiceRequest:
    """One ExportLogsServiceRequest of ``records`` under one resource and scope."""
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=resource, scope_logs=[ScopeLogs(log_records=records)])]
    )


def otlp_json(trace_id: str) -> bytes:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": trace_id,
                                    "spanId": "00000000000000aa",
                                    "name": "GET /json",
                                    "kind": 2,
                                    "startTimeUnixNano": str(NOW_NS),
                                    "endTimeUnixNano": str(NOW_NS + 1_000_000),
                                    "someFutureField": {"ignored": True},
                                }
                            ]
                        }
                    ],
                }
            ]
        }
    ).encode()


def zipkin_json(trace_id: str) -> bytes:
    return json.dumps(
        [
            {
                "traceId": trace_id,
                "id": "00000000000000bb",
                "name": "get /zipkin",
                "kind": "SERVER",
                "timestamp": NOW_NS // 1000,
                "duration": 1500,
                "localEndpoint": {"serviceName": "legacy"},
                "tags": {"http.status_code": "200"},
            }
        ]
    ).encode()


def test_bad_requests_get_documented_codes_and_good_batches_all_land(start_bot, keep_all_config) -> None:  # type: ignore[no-untyped-def]
    bot = start_bot(keep_all_config, JOURNEYWATCH_COLLECTOR__MAX_BODY_BYTES="20000")
    good = [os.urandom(16).hex() for _ in range(6)]
    with httpx.Client(base_url=bot.url, timeout=10) as http:

        def post(path: str, body: bytes, **headers: str) -> httpx.Response:
            return http.post(path, content=body, headers=headers)

        def proto(path: str, body: bytes, **headers: str) -> httpx.Response:
            return post(path, body, **PROTOBUF, **headers)

        assert proto("/v1/traces", otlp_request(good[0]).SerializeToString()).status_code == 200

        garbage = proto("/v1/traces", b"\xff\xfe not a protobuf \x00\x01")
        assert garbage.status_code == 400
        assert garbage.headers["content-type"] == "application/x-protobuf"

        whole = otlp_request(os.urandom(16).hex()).SerializeToString()
        assert proto("/v1/traces", whole[: len(whole) // 2]).status_code == 400

        gzipped = gzip.compress(otlp_request(good[1]).SerializeToString())
        assert proto("/v1/traces", gzipped, **{"content-encoding": "gzip"}).status_code == 200

        assert proto("/v1/traces", b"\x1f\x8b broken", **{"content-encoding": "gzip"}).status_code == 400
        assert proto("/v1/traces", whole, **{"content-encoding": "br"}).status_code == 415
        assert post("/v1/traces", whole, **{"content-type": "text/plain"}).status_code == 415

        json_ok = post("/v1/traces", otlp_json(good[2]), **{"content-type": "application/json"})
        assert json_ok.status_code == 200
        assert json_ok.headers["content-type"] == "application/json"
        not_json = post("/v1/traces", b"{not json", **{"content-type": "application/json"})
        assert not_json.status_code == 400

        big = otlp_request(os.urandom(16).hex(), spans=400).SerializeToString()
        assert len(big) > 20000
        assert proto("/v1/traces", big).status_code == 413
        # a small gzip body that inflates past the limit is refused too
        bomb = gzip.compress(big)
        assert len(bomb) < 20000
        assert proto("/v1/traces", bomb, **{"content-encoding": "gzip"}).status_code == 413

        partial = proto("/v1/traces", otlp_request(good[3], bad_ids=2).SerializeToString())
        assert partial.status_code == 200
        answer = ExportTraceServiceResponse.FromString(partial.content)
        assert answer.partial_success.rejected_spans == 2
        assert answer.partial_success.error_message

        zipkin = post("/api/v2/spans", zipkin_json(good[4]), **{"content-type": "application/json"})
        assert zipkin.status_code == 202
        zipkin_short_id = good[5][16:]  # a 64-bit Zipkin trace id is left-padded to 128 bits
        post("/api/v2/spans", zipkin_json(zipkin_short_id), **{"content-type": "application/json"})
        good[5] = "0" * 16 + zipkin_short_id

    expected_spans = {good[0]: 3, good[1]: 3, good[2]: 1, good[3]: 3, good[4]: 1, good[5]: 1}
    for trace_id, count in expected_spans.items():
        trace = bot.wait_for_trace(trace_id, spans=count)
        assert len(trace["spans"]) == count
    assert bot.wait_for_trace(good[4], 1)["spans"][0]["service"] == "legacy"


def test_saturated_store_answers_503_with_retry_after(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """In-process (no lifespan, so no writer thread): submitted spans stay pending."""
    settings = Settings(
        ingest_keys={"required": False},  # these tests send without a key
        database_url=f"sqlite:///{tmp_path}/db.sqlite",
        collector={"max_pending_writes": 1, "quiet_period_s": 0},
    )
    bot = build_bot(settings, load_config(REPO / "config" / "journeys.yaml"))
    transport = httpx.ASGITransport(app=create_app(bot))

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            errored = otlp_request(os.urandom(16).hex(), error=True)  # errors are always kept
            first = await client.post("/v1/traces", content=errored.SerializeToString(), headers=PROTOBUF)
            bot.collector.tick()  # decides the quiet trace and hands 3 spans to the writer
            assert bot.writer.pending == 3
            again = otlp_request(os.urandom(16).hex()).SerializeToString()
            refused = await client.post("/v1/traces", content=again, headers=PROTOBUF)
            return first, refused

    first, refused = asyncio.run(scenario())
    assert first.status_code == 200
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "2"
    bot.store.close()


def test_serving_collects_cycles_rarely_and_never_rescans_startup_objects() -> None:
    """The ingest p99 depends on it (bot.server.tune_garbage_collector)."""
    import gc

    from bot.server import GC_THRESHOLDS, tune_garbage_collector

    before = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_threshold()[0] >= 50_000  # buffered spans die young
        assert gc.get_freeze_count() > 10_000  # the imported modules' objects
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
