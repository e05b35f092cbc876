"""Adversarial traffic for soak runs (bench/soak.py, tests/test_soak.py): every value
distinct and large, so no cache can absorb it and any structure that counts entries, not
bytes, shows up as memory that grows.

Each request is one of, in turn: log records with 1 MiB bodies; spans with 30 KiB attribute
values under keys never seen before; spans stamped years ahead and years back (refused per
item) and minutes ahead (taken, into span-metric buckets that are not due yet); spans
carrying values nested 45 deep (90 protobuf levels: the library that builds them stops at
100). Service and span names are new in every request too. All of it random, none of it
repeated.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

PROTOBUF = {"content-type": "application/x-protobuf"}
MIB = 1024 * 1024
YEAR_NS = 365 * 24 * 3600 * 10**9


def _text(chars: int) -> str:
    return os.urandom(chars // 2).hex()


def _pair(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _resource() -> Resource:
    return Resource(attributes=[_pair("service.name", f"svc-{_text(8)}")])


def _span(now_ns: int, *, attributes: list[KeyValue], offset_ns: int = 0) -> Span:
    return Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name=f"op {_text(16)}",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=now_ns + offset_ns,
        end_time_unix_nano=now_ns + offset_ns + 5_000_000,
        attributes=attributes,
    )


def big_logs(records: int = 4, body_bytes: int = MIB) -> bytes:
    now = time.time_ns()
    logs = [
        LogRecord(time_unix_nano=now, body=AnyValue(string_value=_text(body_bytes))) for _ in range(records)
    ]
    request = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=_resource(), scope_logs=[ScopeLogs(log_records=logs)])]
    )
    return request.SerializeToString()


def big_values(spans: int = 4, values: int = 32, value_chars: int = 30 * 1024) -> bytes:
    now = time.time_ns()
    out = [
        _span(
            now,
            attributes=[
                KeyValue(key=f"k.{_text(12)}", value=AnyValue(string_value=_text(value_chars)))
                for _ in range(values)
            ],
        )
        for _ in range(spans)
    ]
    return _traces(out)


def odd_times(spans: int = 64) -> bytes:
    """A quarter years ahead, a quarter years back (both refused), half five to nine
    minutes ahead (taken: within the default 600 s of skew)."""
    now = time.time_ns()
    offsets = [10 * YEAR_NS, -10 * YEAR_NS, 300 * 10**9, 540 * 10**9]
    out = [
        _span(
            now,
            offset_ns=offsets[i % 4],
            attributes=[KeyValue(key="id", value=AnyValue(string_value=_text(64)))],
        )
        for i in range(spans)
    ]
    return _traces(out)


def deep_values(spans: int = 16, depth: int = 45) -> bytes:
    now = time.time_ns()
    out = []
    for _ in range(spans):
        value = AnyValue(string_value=_text(1024))
        for _ in range(depth):
            value = AnyValue(array_value=ArrayValue(values=[value]))
        out.append(_span(now, attributes=[KeyValue(key=f"deep.{_text(8)}", value=value)]))
    return _traces(out)


def _traces(spans: list[Span]) -> bytes:
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=_resource(), scope_spans=[ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString()


KINDS: list[tuple[str, Callable[[], bytes]]] = [
    ("/v1/logs", big_logs),
    ("/v1/traces", big_values),
    ("/v1/traces", odd_times),
    ("/v1/traces", deep_values),
]


@dataclass
class Adversary:
    """``senders`` threads sending the kinds above in turn, each at most every
    ``interval_s`` (503s are counted, waited out and the next body sent)."""

    url: str
    senders: int = 2
    interval_s: float = 0.25
    sent: int = 0
    sent_bytes: int = 0
    answers: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Adversary:
        self._threads = [
            threading.Thread(target=self._send, args=(n,), daemon=True) for n in range(self.senders)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _send(self, first: int) -> None:
        turn = first
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                began = time.monotonic()
                path, make = KINDS[turn % len(KINDS)]
                turn += 1
                body = make()
                try:
                    status = client.post(f"{self.url}{path}", content=body, headers=PROTOBUF).status_code
                except httpx.HTTPError:
                    status = 0
                with self._lock:
                    self.sent += 1
                    self.sent_bytes += len(body)
                    self.answers[status] = self.answers.get(status, 0) + 1
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - began)))


def rss_mib(pid: int) -> float:
    """Resident memory now (VmRSS), 0 once the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else 0.0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
