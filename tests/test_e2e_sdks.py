"""Real OpenTelemetry SDKs (Python and Node) export to a running `journeywatch serve`.

A request crosses Python -> Node -> Python with W3C traceparent; it must come back from
/api/traces/{id} as one trace with the right parents and all three services, and the PII
it carried must never reach the database file or the API.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tests.fixtures.bot_server import BotProcess
from tests.fixtures.node_service import running_node_service

CARD = "4111 1111 1111 1111"  # passes Luhn
EMAIL = "jane.doe@example.com"
PROPAGATOR = TraceContextTextMapPropagator()


def python_service(name: str, endpoint: str) -> tuple[TracerProvider, LoggerProvider]:
    resource = Resource.create({"service.name": name, "service.instance.id": f"{name}-1"})
    tracing = TracerProvider(resource=resource)
    tracing.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces")))
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(f"{endpoint}/v1/logs")))
    return tracing, logs


class PaymentsHandler(BaseHTTPRequestHandler):
    """The last hop, in Python: continues the trace from the traceparent header."""

    tracer_provider: TracerProvider
    logger_provider: LoggerProvider

    def do_GET(self) -> None:
        context = PROPAGATOR.extract(dict(self.headers))
        tracer = self.tracer_provider.get_tracer("payments")
        with tracer.start_as_current_span("GET /pay", context=context, kind=SpanKind.SERVER) as span:
            span.set_attribute("payment.card_number", CARD)
            span.set_attribute("user.contact", f"mail {EMAIL} please")
            span.set_attribute("payment.amount", 42)
            self.logger_provider.get_logger("payments").emit(
                severity_number=SeverityNumber.WARN,
                severity_text="WARN",
                body=f"charging card {CARD} for {EMAIL}",
            )
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"paid")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def payments(start_bot, keep_all_config) -> Iterator[tuple[BotProcess, str, TracerProvider]]:  # type: ignore[no-untyped-def]
    bot = start_bot(keep_all_config)
    tracing, logs = python_service("payments", bot.url)
    handler_class = type("Handler", (PaymentsHandler,), {"tracer_provider": tracing, "logger_provider": logs})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield bot, f"http://127.0.0.1:{server.server_address[1]}", tracing
    server.shutdown()
    server.server_close()
    tracing.shutdown()
    logs.shutdown()


@pytest.fixture
def node_service(node_bin: str, payments) -> Iterator[str]:  # type: ignore[no-untyped-def]
    bot, payments_url, _ = payments
    env = {
        "SERVICE_NAME": "cart-node",
        "DOWNSTREAM_URL": payments_url,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{bot.url}/v1/traces",
    }
    with running_node_service(node_bin, env) as url:
        yield url


def test_python_node_python_is_one_trace_without_pii(payments, node_service: str) -> None:  # type: ignore[no-untyped-def]
    bot, _, _ = payments
    frontend, frontend_logs = python_service("frontend", bot.url)
    tracer = frontend.get_tracer("frontend")
    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as root:
        root.set_attribute("session.id", "sess-1")
        root.set_attribute("enduser.id", "user-42")
        with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT) as client:
            headers: dict[str, str] = {}
            PROPAGATOR.inject(headers, context=set_span_in_context(client, Context()))
            response = httpx.get(f"{node_service}/pay", headers=headers, timeout=10)
            assert response.status_code == 200
    trace_id = format(root.get_span_context().trace_id, "032x")
    frontend.shutdown()
    frontend_logs.shutdown()

    trace = bot.wait_for_trace(trace_id, spans=5)
    spans = {(s["service"], s["kind"]): s for s in trace["spans"]}
    assert sorted(trace["services"]) == ["cart-node", "frontend", "payments"]
    assert trace["journey"] == "checkout"

    front_root = spans[("frontend", "server")]
    front_client = spans[("frontend", "client")]
    node_server = spans[("cart-node", "server")]
    node_client = spans[("cart-node", "client")]
    pay = spans[("payments", "server")]
    assert front_root["parent_span_id"] is None
    assert front_client["parent_span_id"] == front_root["span_id"]
    assert node_server["parent_span_id"] == front_client["span_id"]
    assert node_client["parent_span_id"] == node_server["span_id"]
    assert pay["parent_span_id"] == node_client["span_id"]
    assert node_server["language"] == "nodejs"
    assert pay["language"] == "python"
    assert not any(s["orphan"] for s in trace["spans"])

    # PII: scrubbed in what the API returns ...
    assert pay["attributes"]["payment.amount"] == 42
    body = json.dumps(trace)
    assert CARD not in body and "4111111111111111" not in body
    assert EMAIL not in body
    assert "[card]" in pay["attributes"]["payment.card_number"]
    assert pay["attributes"]["user.contact"] == "mail [email] please"
    assert trace["logs"], "the payments log line, tied to the trace, is returned with it"
    assert any("[card]" in log["body"] and "[email]" in log["body"] for log in trace["logs"])

    # ... and in the bytes of the database (and its write-ahead log).
    output = bot.stop()
    assert "Traceback" not in output
    stored = b"".join(p.read_bytes() for p in bot.database.parent.iterdir() if p.is_file())
    assert stored, "the database file exists"
    for secret in (CARD, "4111111111111111", EMAIL, "user-42"):
        assert secret.encode() not in stored


def test_session_is_found_by_raw_user_id(payments, node_service: str) -> None:  # type: ignore[no-untyped-def]
    bot, _, _ = payments
    frontend, frontend_logs = python_service("frontend", bot.url)
    tracer = frontend.get_tracer("frontend")
    trace_ids = []
    for path in ("POST /login", "GET /search", "POST /checkout"):
        with tracer.start_as_current_span(path, kind=SpanKind.SERVER) as root:
            root.set_attribute("enduser.id", "user-7")
            root.set_attribute("session.id", "s-77")
        trace_ids.append(format(root.get_span_context().trace_id, "032x"))
    frontend.shutdown()
    frontend_logs.shutdown()
    for trace_id in trace_ids:
        bot.wait_for_trace(trace_id, spans=1)

    by_user = httpx.get(f"{bot.url}/api/sessions/user-7").json()
    assert [t["trace_id"] for t in by_user["traces"]] == trace_ids
    assert [t["journey"] for t in by_user["traces"]] == ["login", "search", "checkout"]
    by_session = httpx.get(f"{bot.url}/api/sessions/s-77").json()
    assert [t["trace_id"] for t in by_session["traces"]] == trace_ids
