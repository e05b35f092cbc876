"""OTLP over gRPC into a running `journeywatch serve`: the real Python and Node SDK gRPC
exporters, keys in the metadata, and the refusals exporters act on (issues 16 and 17).

The server is the real process on loopback, with gRPC on a free port; the raw calls use
grpcio's own channel with the request as bytes, as an exporter sends it.
"""

from __future__ import annotations

import json
import math
import socket
import time
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from bot.keys import KeyRegistry
from bot.store import Store
from tests.fixtures.bot_server import BotProcess
from tests.fixtures.node_service import running_node_service
from tests.test_ingest_keys import spans_of

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
CARD = "4111 1111 1111 1111"


def make_key(bot: BotProcess, team: str, services: list[str] | None = None) -> str:
    store = Store(f"sqlite:///{bot.database}")
    try:
        return KeyRegistry(store.engine).create(team, services=services).key
    finally:
        store.close()


@pytest.fixture
def keyed(start_bot, keep_all_config) -> tuple[BotProcess, str, str]:  # type: ignore[no-untyped-def]
    """A server that wants keys; its gRPC target and a key for the shop."""
    bot = start_bot(keep_all_config, JOURNEYWATCH_INGEST_KEYS__REQUIRED="true")
    return bot, bot.grpc_target(), make_key(bot, "shop")


def test_the_python_sdk_sends_spans_and_logs_over_grpc_and_pii_is_scrubbed(keyed) -> None:  # type: ignore[no-untyped-def]
    bot, target, key = keyed
    metadata = (("authorization", f"Bearer {key}"),)
    resource = Resource.create({"service.name": "checkout", "service.instance.id": "checkout-1"})
    tracing = TracerProvider(resource=resource)
    tracing.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(target, insecure=True, headers=metadata)))
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(target, insecure=True, headers=metadata))
    )
    with tracing.get_tracer("checkout").start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as root:
        root.set_attribute("payment.card_number", CARD)
        logs.get_logger("checkout").emit(severity_number=SeverityNumber.ERROR, body=f"card {CARD} declined")
    tracing.shutdown()
    logs.shutdown()

    trace = bot.wait_for_trace(format(root.get_span_context().trace_id, "032x"), spans=1)
    (span,) = trace["spans"]
    assert (span["service"], span["name"], span["instance"]) == ("checkout", "POST /checkout", "checkout-1")
    assert "[card]" in span["attributes"]["payment.card_number"]
    assert [log["body"] for log in trace["logs"]] == ["card [card] declined"]
    assert "4111" not in json.dumps(trace)


def test_the_node_sdk_sends_spans_over_grpc(keyed, node_bin: str) -> None:  # type: ignore[no-untyped-def]
    bot, target, key = keyed
    env = {
        "SERVICE_NAME": "cart-node",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://{target}",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": f"authorization=Bearer%20{key}",
    }
    with running_node_service(node_bin, env) as url:
        answer = httpx.get(f"{url}/cart", headers={"x-card": CARD}, timeout=10)
        assert answer.status_code == 200
    found = _trace_of(bot, "cart-node")
    (span,) = found["spans"]
    assert (span["service"], span["kind"], span["language"]) == ("cart-node", "server", "nodejs")
    assert span["attributes"]["payment.card"] == "[card]"


def _trace_of(bot: BotProcess, service: str) -> dict[str, Any]:
    """The one trace the service sent, once the collector decided it."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listed = httpx.get(f"{bot.url}/api/traces", params={"service": service}, timeout=5)
        if listed.status_code == 200 and listed.json().get("traces"):
            trace_id = listed.json()["traces"][0]["trace_id"]
            return bot.wait_for_trace(trace_id, spans=1)
        time.sleep(0.2)
    raise AssertionError(f"no trace of {service}")


# --- refusals, as exporters read them ----------------------------------------------------


@pytest.fixture
def channel(start_bot, keep_all_config) -> Iterator[tuple[BotProcess, grpc.Channel]]:  # type: ignore[no-untyped-def]
    bot = start_bot(
        keep_all_config,
        JOURNEYWATCH_INGEST_KEYS__REQUIRED="true",
        JOURNEYWATCH_INGEST_KEYS__RATE_BYTES_PER_S="1024",
        JOURNEYWATCH_INGEST_KEYS__BURST_BYTES="1024",
    )
    with grpc.insecure_channel(bot.grpc_target()) as opened:
        yield bot, opened


def export(channel: grpc.Channel, body: bytes, key: str | None = None, method: str = TRACES) -> Any:
    call = channel.unary_unary(method)
    metadata = (("authorization", f"Bearer {key}"),) if key else None
    return call(body, metadata=metadata, timeout=10)


def refusal(
    channel: grpc.Channel, body: bytes, key: str | None = None, method: str = TRACES
) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        export(channel, body, key, method)
    return raised.value


def test_grpc_refuses_as_the_otlp_specification_says(channel) -> None:  # type: ignore[no-untyped-def]
    bot, opened = channel
    unkeyed = refusal(opened, spans_of("checkout"))
    assert unkeyed.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "no ingest key; send the header Authorization: Bearer <key>" in unkeyed.details()

    key = make_key(bot, "shop", ["checkout"])
    garbage = refusal(opened, b"\xff\xff\xff not protobuf", key)
    assert garbage.code() == grpc.StatusCode.INVALID_ARGUMENT

    answer = ExportTraceServiceResponse.FromString(export(opened, spans_of("checkout", "payments"), key))
    assert answer.partial_success.rejected_spans == 2, "the bound key's payments spans, one by one"
    assert (
        "service 'payments' is not one this key may send (checkout)" in answer.partial_success.error_message
    )

    unknown = refusal(
        opened, b"", key, "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"
    )
    assert unknown.code() == grpc.StatusCode.UNIMPLEMENTED


def test_a_key_over_its_rate_gets_resource_exhausted_with_retry_info(channel) -> None:  # type: ignore[no-untyped-def]
    bot, opened = channel
    key, other = make_key(bot, "noisy"), make_key(bot, "quiet")
    body = spans_of(*(f"service-{n}" for n in range(120)))
    debt_s = (len(body) - 1024) / 1024  # at 1,024 bytes/s, after a burst of 1,024
    assert debt_s > 10
    export(opened, body, key)  # passes, into debt
    limited = refusal(opened, body, key)
    assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "is over its rate of 1,024 bytes/s" in limited.details()
    details = dict(limited.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(details)
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    assert debt_s - 5 < info.retry_delay.seconds <= math.ceil(debt_s), "what is left of the debt, in seconds"
    answer = ExportTraceServiceResponse.FromString(export(opened, spans_of("checkout"), other))
    assert answer.partial_success.rejected_spans == 0, "another key is not held back"
    health = httpx.get(f"{bot.url}/healthz", timeout=5).json()
    assert health["ingest_keys"]["rate_limited"] == 1
    assert health["grpc_port"] == int(bot.grpc_target().rsplit(":", 1)[1])


def test_grpc_port_in_use_stops_startup_with_the_reason(start_bot, keep_all_config) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        bot = start_bot(keep_all_config, JOURNEYWATCH_GRPC_PORT=str(port))
        assert bot.process.wait(timeout=30) != 0
    output = bot.stop()
    assert f"OTLP/gRPC cannot listen on 127.0.0.1:{port} (in use?); set JOURNEYWATCH_GRPC_PORT" in output
