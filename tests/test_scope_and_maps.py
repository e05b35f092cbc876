"""The model keeps what the OTLP senders give: instrumentation scope (name, version,
attributes), a log record's event name, and key-value lists as maps, nested in arrays and
holding arrays. From the real SDKs' exporters (Python over OTLP/HTTP protobuf and gRPC,
JavaScript over OTLP/HTTP JSON) through a running server and its store to the API, and in
the store itself on SQLite and PostgreSQL, rows written by the schema before included."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind as SdkSpanKind
from sqlalchemy import text

from bot.store import Store
from bot.store.migrations import migrate
from bot.store.schema import SCHEMA_VERSION
from correlators.model import (
    NO_SCOPE,
    InstrumentationScope,
    LogRecord,
    Span,
    SpanEvent,
    SpanKind,
    SpanLink,
    Trace,
)
from tests.fixtures.node_service import NODE_DIR

EMAIL = "jane.doe@example.com"
ORDER_SENT = {
    "id": "o-1",
    "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}],
    "contact": f"mail {EMAIL}",
    "password": "hunter2",
}
ORDER_KEPT = {
    "id": "o-1",
    "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}],
    "contact": "mail [email]",
}
"""The nested ``password`` dropped and the e-mail scrubbed, as at the top level."""


# --- the real SDKs, through a running server -------------------------------------------------


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_python_sdk_scope_event_name_and_maps(start_bot, keep_all_config, protocol: str) -> None:  # type: ignore[no-untyped-def]
    bot = start_bot(keep_all_config)
    if protocol == "grpc":
        target = bot.grpc_target()
        spans_out: Any = GrpcSpanExporter(target, insecure=True)
        logs_out: Any = GrpcLogExporter(target, insecure=True)
    else:
        spans_out, logs_out = HttpSpanExporter(f"{bot.url}/v1/traces"), HttpLogExporter(f"{bot.url}/v1/logs")
    resource = Resource.create({"service.name": "shop-py", "service.instance.id": "shop-py-1"})
    tracing = TracerProvider(resource=resource)
    tracing.add_span_processor(SimpleSpanProcessor(spans_out))
    logging = LoggerProvider(resource=resource)
    logging.add_log_record_processor(SimpleLogRecordProcessor(logs_out))

    tracer = tracing.get_tracer("shop.checkout", "3.1.4", attributes={"team": "payments"})
    logger = logging.get_logger("shop.events", "1.2.0", attributes={"owner": f"ops {EMAIL}"})
    with tracer.start_as_current_span("POST /checkout", kind=SdkSpanKind.SERVER) as span:
        logger.emit(
            severity_number=SeverityNumber.INFO,
            event_name="checkout.completed",
            body={"order": "o-1", "to": EMAIL},
            attributes={"order": ORDER_SENT, "zones": {"tried": ["a", "b"]}},
        )
    tracing.shutdown()
    logging.shutdown()

    trace = bot.wait_for_trace(format(span.get_span_context().trace_id, "032x"), spans=1)
    (stored,) = trace["spans"]
    assert stored["scope"] == {
        "name": "shop.checkout",
        "version": "3.1.4",
        "attributes": {"team": "payments"},
    }
    (log,) = trace["logs"]
    assert log["event_name"] == "checkout.completed"
    assert log["scope"] == {"name": "shop.events", "version": "1.2.0", "attributes": {"owner": "ops [email]"}}
    assert log["attributes"] == {"order": ORDER_KEPT, "zones": {"tried": ["a", "b"]}}
    assert json.loads(log["body"]) == {"order": "o-1", "to": "[email]"}
    assert EMAIL not in json.dumps(trace) and "hunter2" not in json.dumps(trace)
    page = httpx.get(f"{bot.url}/traces/{trace['trace_id']}", timeout=10).text
    assert "shop.checkout 3.1.4" in page and "checkout.completed" in page


def test_javascript_sdk_otlp_json(start_bot, keep_all_config, node_bin: str) -> None:  # type: ignore[no-untyped-def]
    """tests/node/json_export.js: the JS SDK's JSON serializers behind its HTTP delegate."""
    bot = start_bot(keep_all_config)
    sent = subprocess.run(
        [node_bin, "json_export.js"],
        cwd=NODE_DIR,
        env={"PATH": "/usr/bin:/bin", "BOT_URL": bot.url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    trace = bot.wait_for_trace(json.loads(sent.stdout)["traceId"], spans=1)
    (stored,) = trace["spans"]
    assert stored["scope"] == {"name": "shop.checkout", "version": "3.1.4", "attributes": {}}
    (log,) = trace["logs"]
    assert (log["event_name"], log["body"]) == ("checkout.completed", "order placed")
    assert log["scope"] == {"name": "shop.events", "version": "1.2.0", "attributes": {"team": "payments"}}
    assert log["attributes"] == {
        "order": {"id": "o-1", "lines": [{"sku": "a", "qty": 1}], "contact": "[email]"}
    }


# --- the store --------------------------------------------------------------------------------

T0 = 1_700_000_000_000_000_000
TRACE = "5b8efff798038103d269b633813fc60c"
MAPS = {"m": {"k": "v", "n": {"deep": [1, {"x": True}]}}, "maps_in_array": [{"a": 1}, {"b": ["c"]}]}


def _span(span_id: str, scope: InstrumentationScope, resource: dict[str, Any]) -> Span:
    return Span(
        TRACE,
        span_id,
        None if span_id.endswith("1") else "0000000000000001",
        "cart",
        f"op {span_id}",
        T0,
        T0 + 1_000,
        SpanKind.SERVER,
        attributes={**MAPS, "plain": "x"},  # type: ignore[dict-item]
        resource=resource,
        events=[SpanEvent("exception", T0 + 10, dict(MAPS))],  # type: ignore[arg-type]
        links=[SpanLink(TRACE, "0000000000000001", {"m": {"k": "v"}})],
        scope=scope,
    )


def test_scope_event_name_and_maps_round_trip_with_scopes_stored_once(any_store: Store) -> None:
    store = any_store
    resource: dict[str, Any] = {"service.name": "cart", "k8s": {"pod": "cart-1", "labels": {"tier": "web"}}}
    flask = InstrumentationScope("opentelemetry.instrumentation.flask", "0.50b0", {"m": {"k": "v"}})
    redis = InstrumentationScope("opentelemetry.instrumentation.redis", "0.50b0")
    spans = [_span(f"{n:016x}", flask if n % 2 else redis, resource) for n in range(1, 7)]
    spans.append(_span(f"{7:016x}", NO_SCOPE, resource))
    log = LogRecord(
        T0,
        "cart",
        "order placed",
        trace_id=TRACE,
        attributes=dict(MAPS),  # type: ignore[arg-type]
        resource=resource,
        scope=flask,
        event_name="checkout.completed",
    )
    store.write_traces([Trace(TRACE, spans)])
    store.write_logs([log, LogRecord(T0 + 1, "cart", "plain", trace_id=TRACE)])

    read = store.get_trace(TRACE)
    assert read is not None
    assert sorted(read.spans, key=lambda s: s.span_id) == spans
    assert [s.scope for s in sorted(read.spans, key=lambda s: s.span_id)][-1] is NO_SCOPE
    assert store.logs_for_trace(TRACE) == [log, LogRecord(T0 + 1, "cart", "plain", trace_id=TRACE)]
    with store.engine.connect() as connection:
        # one row per resource and scope (flask, redis, none), not a scope per span
        assert connection.execute(text("SELECT count(*) FROM resources")).scalar() == 3
        named = connection.execute(text("SELECT count(DISTINCT resource_id) FROM spans")).scalar()
    assert named == 3


def test_rows_written_by_schema_11_read_back_with_maps_and_no_scope(any_store: Store) -> None:
    """Rows as the store wrote them before schema 12 (key-value lists as [key, value]
    pairs, no scope, no event name), upgraded by the migration."""
    store = any_store
    pairs = [["k", "v"], ["n", [["deep", [1, [["x", True]]]]]]]
    resource_data = {
        "attributes": {"service.name": "cart", "k8s": [["pod", "cart-1"]]},
        "language": None,
        "region": None,
        "service_version": "1.0",
        "zone": None,
    }
    span_data = {
        "status_message": "",
        "attributes": {"m": pairs, "arr": [["a", 1], ["a", 2]], "nums": [1, 2], "empty": []},
        "events": [["exception", T0 + 10, {"m": [["k", "v"]]}]],
        "links": [[TRACE, "0000000000000001", {"m": [["k", "v"]]}]],
    }
    log_data = {"observed_time_ns": T0, "attributes": {"m": pairs}, "resource": {"k8s": [["pod", "cart-1"]]}}
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE schema_meta SET version = 11"))
        connection.execute(
            text("INSERT INTO resources (id, seen_ns, data) VALUES (42, :now, :data)"),
            {"now": T0, "data": json.dumps(resource_data)},
        )
        connection.execute(
            text(
                "INSERT INTO spans (trace_id, span_id, parent_span_id, service, instance, name, kind,"
                " start_ns, end_ns, status, orphan, data, resource_id) VALUES (:t, '0000000000000001', NULL,"
                " 'cart', NULL, 'op', 'server', :start, :end, 'unset', false, :data, 42)"
            ),
            {"t": TRACE, "start": T0, "end": T0 + 1_000, "data": json.dumps(span_data)},
        )
        connection.execute(
            text(
                "INSERT INTO traces (trace_id, journey, root_service, root_name, start_ns, end_ns,"
                " duration_ns, span_count, error, sampling_weight, orphan_count, arrived_ns)"
                " VALUES (:t, 'checkout', 'cart', 'op', :start, :end, 1000, 1, false, 1.0, 0, :start)"
            ),
            {"t": TRACE, "start": T0, "end": T0 + 1_000},
        )
        connection.execute(
            text(
                "INSERT INTO logs (time_ns, service, severity_number, severity_text, trace_id, body, data,"
                " arrived_ns) VALUES (:t0, 'cart', 9, 'INFO', :t, '[[\"a\",1]]', :data, :t0)"
            ),
            {"t0": T0, "t": TRACE, "data": json.dumps(log_data)},
        )
    assert migrate(store.engine) == 11

    (span,) = store.get_trace(TRACE).spans  # type: ignore[union-attr]
    as_maps = {"k": "v", "n": {"deep": [1, {"x": True}]}}
    assert span.attributes == {"m": as_maps, "arr": [["a", 1], ["a", 2]], "nums": [1, 2], "empty": []}
    assert [e.attributes for e in span.events] == [{"m": {"k": "v"}}]
    assert [ln.attributes for ln in span.links] == [{"m": {"k": "v"}}]
    assert span.resource == {"service.name": "cart", "k8s": {"pod": "cart-1"}}
    assert (span.scope, span.service_version) == (NO_SCOPE, "1.0")
    (log,) = store.logs_for_trace(TRACE)
    assert (log.attributes, log.resource) == ({"m": as_maps}, {"k8s": {"pod": "cart-1"}})
    assert (log.scope, log.event_name, log.body) == (NO_SCOPE, "", '[["a",1]]')  # a body is text
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT version FROM schema_meta")).scalar() == SCHEMA_VERSION
