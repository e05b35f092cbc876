"""How long one request of 700,000 attributes holds the server's event loop (issue 14, item 7).

Starts `journeywatch serve` (the shipped redaction rules, a 64 MiB body limit so the JSON
bodies fit), then for each scenario posts one request while another thread asks /healthz
every 20 ms; the slowest /healthz answer during the request is how long the loop was
blocked. Scenarios: 700k distinct attributes on one span, on the resource, on one event,
on one log record (OTLP protobuf), and on one span in OTLP/JSON.

Run by hand:  .venv/bin/python bench/attribute_flood.py
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import ingest  # noqa: E402

COUNT = 700_000
PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}


def flood() -> list[KeyValue]:
    return [KeyValue(key=f"k{i}", value=AnyValue(int_value=i)) for i in range(COUNT)]


def service() -> Resource:
    return Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="flood"))])


def span(now: int, **fields: object) -> Span:
    return Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name="flood",
        start_time_unix_nano=now,
        end_time_unix_nano=now + 1_000_000,
        **fields,  # type: ignore[arg-type]
    )


def traces(resource: Resource, one: Span) -> bytes:
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=[one])])]
    )
    return request.SerializeToString()


def scenarios(now: int) -> dict[str, tuple[str, bytes, dict[str, str]]]:
    on_log = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=service(),
                scope_logs=[
                    ScopeLogs(log_records=[LogRecord(time_unix_nano=now, body=AnyValue(string_value="x"))])
                ],
            )
        ]
    )
    on_log.resource_logs[0].scope_logs[0].log_records[0].attributes.extend(flood())
    as_json = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "flood"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": os.urandom(16).hex(),
                                "spanId": os.urandom(8).hex(),
                                "name": "flood",
                                "startTimeUnixNano": str(now),
                                "endTimeUnixNano": str(now + 1_000_000),
                                "attributes": [
                                    {"key": f"k{i}", "value": {"intValue": str(i)}} for i in range(COUNT)
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    flooded_event = Span.Event(name="e", time_unix_nano=now, attributes=flood())
    flooded_resource = service()
    flooded_resource.attributes.extend(flood())
    return {
        "span attributes (protobuf)": (
            "/v1/traces",
            traces(service(), span(now, attributes=flood())),
            PROTOBUF,
        ),
        "resource attributes (protobuf)": ("/v1/traces", traces(flooded_resource, span(now)), PROTOBUF),
        "event attributes (protobuf)": (
            "/v1/traces",
            traces(service(), span(now, events=[flooded_event])),
            PROTOBUF,
        ),
        "log attributes (protobuf)": ("/v1/logs", on_log.SerializeToString(), PROTOBUF),
        "span attributes (JSON)": ("/v1/traces", orjson.dumps(as_json), JSON),
    }


def partial_message(path: str, content: bytes, json: bool) -> str:
    """What ``partial_success`` said (the error message), in either encoding."""
    if json:
        return str(orjson.loads(content).get("partialSuccess", {}).get("errorMessage", ""))
    kind = ExportLogsServiceResponse if path == "/v1/logs" else ExportTraceServiceResponse
    return str(kind.FromString(content).partial_success.error_message)


def slowest_healthz_during(
    url: str, work: Callable[[], httpx.Response]
) -> tuple[httpx.Response, float, float]:
    """Run ``work`` while polling /healthz; (its response, its seconds, slowest poll)."""
    done = threading.Event()
    slowest = [0.0]

    def poll() -> None:
        with httpx.Client(timeout=120) as http:
            while not done.is_set():
                began = time.perf_counter()
                http.get(f"{url}/healthz")
                slowest[0] = max(slowest[0], time.perf_counter() - began)
                time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.2)
    began = time.perf_counter()
    response = work()
    took = time.perf_counter() - began
    done.set()
    poller.join()
    return response, took, slowest[0]


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    os.environ["JOURNEYWATCH_COLLECTOR__MAX_BODY_BYTES"] = str(64 * 1024 * 1024)
    process, url, _, _ = ingest.start_server(folder, keep_all=True, keyed=False)
    try:
        now = time.time_ns()
        print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(f"{'scenario':34} {'body MB':>8} {'status':>6} {'request s':>9} {'loop blocked s':>14}  answer")
        with httpx.Client(timeout=300) as http:
            for name, (path, body, headers) in scenarios(now).items():
                response, took, blocked = slowest_healthz_during(
                    url,
                    lambda path=path, body=body, headers=headers: http.post(  # type: ignore[misc]
                        url + path, content=body, headers=headers
                    ),
                )
                answer = partial_message(path, response.content, headers is JSON)
                print(
                    f"{name:34} {len(body) / 1e6:8.1f} {response.status_code:6} {took:9.2f} {blocked:14.2f}  "
                    f"{answer or '-'}"
                )
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
