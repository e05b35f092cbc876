"""OTLP metrics into a running `journeywatch serve` (issue 17, point 1): the real Python SDK
metrics exporters over HTTP (protobuf) and gRPC, JSON with gzip, keys, refusals, the spool,
retention; and what an investigation then reads from the built-in metrics source.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from sqlalchemy import create_engine, text

from bot.collector.pipeline import Collector
from bot.collector.spool import Spool
from bot.config import AppConfig
from bot.retention import Retention
from bot.settings import CollectorSettings, RetentionSettings
from bot.sources import builtin
from bot.sources.builtin import BuiltinMetricSource
from bot.store import BatchWriter, Store
from bot.store.migrations import migrate
from bot.telemetry.redact import Redactor
from correlators.model import MetricDataPoint, MetricSeries
from tests.fixtures.bot_server import BotProcess
from tests.test_otlp_grpc import make_key

S = 1_000_000_000
CARD = "4111 1111 1111 1111"


class Recorded(MetricExporter):
    """The SDK's exporter, with what each export returned: a failure is what the SDK logs
    every interval when /v1/metrics answers 404."""

    def __init__(self, inner: MetricExporter) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self.inner = inner
        self.results: list[MetricExportResult] = []

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        result = self.inner.export(metrics_data, timeout_millis=timeout_millis)
        self.results.append(result)
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis)


def run_service(exporter: MetricExporter, service: str, exponential: bool = False) -> Recorded:
    """A service that serves 10 requests of 100 ms, exports, serves 30 of 300 ms, exports,
    a second apart, and shuts down (a third export); its memory a gauge, its open
    connections an up-down counter."""
    recorded = Recorded(exporter)
    reader = PeriodicExportingMetricReader(recorded, export_interval_millis=3_600_000)
    views = (
        [View(instrument_type=Histogram, aggregation=ExponentialBucketHistogramAggregation())]
        if exponential
        else []
    )
    resource = Resource.create({"service.name": service, "service.instance.id": f"{service}-1"})
    provider = MeterProvider(resource=resource, metric_readers=[reader], views=views)
    meter = provider.get_meter("shop")
    requests = meter.create_counter("http.server.requests", unit="{request}")
    duration = meter.create_histogram("http.server.duration", unit="ms")
    connections = meter.create_up_down_counter("db.client.connections.usage")
    memory = [100_000_000]

    def observe(_: CallbackOptions) -> list[Observation]:
        return [Observation(memory[0], {"card": CARD})]

    meter.create_observable_gauge("process.memory.usage", [observe], unit="By")
    for served, took in ((10, 100.0), (30, 300.0)):
        for _ in range(served):
            requests.add(1, {"http.route": "/checkout"})
            duration.record(took, {"http.route": "/checkout"})
        connections.add(served // 10)
        memory[0] += 50_000_000
        reader.force_flush()
        time.sleep(1.0)
    provider.shutdown()
    return recorded


def series_read(
    bot: BotProcess, service: str, names: set[str], timeout: float = 20.0
) -> dict[str, MetricSeries]:
    """The series an investigation of the last minutes reads for ``service``, once all of
    ``names`` are there (the writer stores a little after the 200)."""
    store = Store(f"sqlite:///{bot.database}")
    source = BuiltinMetricSource(store)
    deadline = time.monotonic() + timeout
    found: dict[str, MetricSeries] = {}
    try:
        while time.monotonic() < deadline:
            now = time.time_ns()
            found = {s.name: s for s in source.service_metrics([service], now - 600 * S, now + S, 60)}
            if names <= set(found):
                return found
            time.sleep(0.2)
    finally:
        store.close()
    raise AssertionError(f"series of {service} not read after {timeout}s: {sorted(found)}")


def stored_points(bot: BotProcess, service: str) -> list[MetricDataPoint]:
    store = Store(f"sqlite:///{bot.database}")
    try:
        return store.metric_points(service=service, start_ns=0, end_ns=time.time_ns() + S, limit=1000)
    finally:
        store.close()


def seconds_between(points: Sequence[MetricDataPoint], name: str) -> list[float]:
    times = sorted(p.time_ns for p in points if p.name == name)
    return [(b - a) / S for a, b in pairwise(times)]


def test_the_python_sdk_exports_metrics_over_http_and_an_investigation_reads_them(start_bot) -> None:  # type: ignore[no-untyped-def]
    bot = start_bot()
    recorded = run_service(HttpMetricExporter(endpoint=f"{bot.url}/v1/metrics"), "checkout")
    assert recorded.results and set(recorded.results) == {MetricExportResult.SUCCESS}

    found = series_read(
        bot,
        "checkout",
        {
            "http.server.requests:rate",
            "http.server.duration:mean",
            "process.memory.usage",
            "db.client.connections.usage",
        },
    )
    gaps = seconds_between(stored_points(bot, "checkout"), "http.server.requests")
    # cumulative (the SDK's default): 30 more requests between the two exports
    # the SDK exports a third time as it shuts down, with nothing new
    rates = [p.value for p in found["http.server.requests:rate"].points]
    assert rates == pytest.approx([30 / gaps[0], 0.0], rel=1e-6)
    assert found["http.server.requests:rate"].labels["http.route"] == "/checkout"
    [mean] = found["http.server.duration:mean"].points  # the last interval had no requests
    assert mean.value == pytest.approx(300.0)  # the second interval's requests alone
    assert [p.value for p in found["process.memory.usage"].points] == [150e6, 200e6, 200e6]
    assert [p.value for p in found["db.client.connections.usage"].points] == [1, 4, 4]
    # the gauge's attribute was redacted before it was stored
    assert found["process.memory.usage"].labels["card"] == "[card]"
    assert CARD not in json.dumps([s.labels for s in found.values()])
    health = httpx.get(f"{bot.url}/healthz", timeout=10).json()
    assert health["collector"]["points_received"] >= 8


def test_the_python_sdk_exports_delta_exponential_histograms_over_grpc_with_a_key(start_bot) -> None:  # type: ignore[no-untyped-def]
    bot = start_bot(JOURNEYWATCH_INGEST_KEYS__REQUIRED="true")
    target = bot.grpc_target()
    key = make_key(bot, "shop", services=["payments"])
    delta = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}
    exporter = GrpcMetricExporter(
        target, insecure=True, headers=(("authorization", f"Bearer {key}"),), preferred_temporality=delta
    )
    recorded = run_service(exporter, "payments", exponential=True)
    assert set(recorded.results) == {MetricExportResult.SUCCESS}

    found = series_read(bot, "payments", {"http.server.requests:rate", "http.server.duration:mean"})
    points = stored_points(bot, "payments")
    histogram = [p for p in points if p.name == "http.server.duration"]
    assert {p.kind for p in histogram} == {"exponential_histogram"}
    assert sum(histogram[-1].buckets) == 30 and histogram[-1].bounds[0] == 0.0
    requests = sorted((p for p in points if p.name == "http.server.requests"), key=lambda p: p.time_ns)
    assert [p.temporality for p in requests] == ["delta", "delta"]
    rates = found["http.server.requests:rate"].points
    assert [round(p.value * (q.time_ns - q.start_ns) / S) for p, q in zip(rates, requests, strict=True)] == [
        10,
        30,
    ]
    assert [p.value for p in found["http.server.duration:mean"].points] == pytest.approx([100.0, 300.0])


def json_request(service: str, *points: dict[str, Any]) -> bytes:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    metric = {"name": "jvm.threads", "gauge": {"dataPoints": list(points)}}
    body = {"resourceMetrics": [{"resource": resource, "scopeMetrics": [{"metrics": [metric]}]}]}
    return json.dumps(body).encode()


def test_json_with_gzip_keys_and_refusals_as_exporters_read_them(start_bot) -> None:  # type: ignore[no-untyped-def]
    bot = start_bot(JOURNEYWATCH_INGEST_KEYS__REQUIRED="true")
    key = make_key(bot, "shop", services=["cart"])
    now = time.time_ns()
    headers = {
        "content-type": "application/json",
        "content-encoding": "gzip",
        "authorization": f"Bearer {key}",
    }
    url = f"{bot.url}/v1/metrics"

    assert (
        httpx.post(
            url, content=json_request("cart"), headers={"content-type": "application/json"}
        ).status_code
        == 401
    )
    good = {"timeUnixNano": str(now), "asInt": "42"}
    bad = {"timeUnixNano": "later", "asInt": "1"}
    answer = httpx.post(
        url, content=gzip.compress(json_request("cart", good, bad)), headers=headers, timeout=10
    )
    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedDataPoints"] == "1"
    assert "not an integer" in partial["errorMessage"]

    other = httpx.post(url, content=gzip.compress(json_request("ledger", good)), headers=headers, timeout=10)
    assert other.json()["partialSuccess"]["rejectedDataPoints"] == "1"
    assert "'ledger' is not one this key may send" in other.json()["partialSuccess"]["errorMessage"]

    malformed = httpx.post(url, content=gzip.compress(b"{not json"), headers=headers, timeout=10)
    assert malformed.status_code == 400
    protobuf = httpx.post(
        url,
        content=b"\xff\xff",
        headers={**headers, "content-type": "application/x-protobuf", "content-encoding": "identity"},
    )
    assert protobuf.status_code == 400
    found = series_read(bot, "cart", {"jvm.threads"})
    assert [p.value for p in found["jvm.threads"].points] == [42.0]


def collector_on(store: Store, spool_dir: Path, writer: BatchWriter) -> tuple[Collector, Spool]:
    spool = Spool(spool_dir, max_bytes=1 << 20, segment_bytes=1 << 20, fsync="never")
    config = AppConfig()
    return Collector(
        config, CollectorSettings(), writer, Redactor(config.redaction, b"k" * 32), spool=spool
    ), spool


def test_points_acknowledged_but_not_yet_stored_are_replayed_from_the_spool(tmp_path: Path) -> None:
    """Both encodings, and a request of a key bound to one service, whose other service's
    points replay refuses again."""
    store = Store(f"sqlite:///{tmp_path}/db.sqlite")
    store.migrate()
    now = time.time_ns()
    json_body = json_request("cart", {"timeUnixNano": str(now), "asInt": "7"})
    both = [
        json.loads(json_request(s, {"timeUnixNano": str(now + S), "asInt": "8"})) for s in ("cart", "ledger")
    ]
    merged = {"resourceMetrics": [entry for body in both for entry in body["resourceMetrics"]]}
    protobuf_body = ParseDict(merged, ExportMetricsServiceRequest()).SerializeToString()
    stalled = BatchWriter(store, max_pending=10_000, process=False)  # never started: a crash before the write
    collector, spool = collector_on(store, tmp_path / "spool", stalled)
    assert collector.ingest_otlp_metrics(json_body, "json").items
    assert collector.ingest_otlp_metrics(protobuf_body, "protobuf", frozenset({"cart"})).rejected == 1
    spool.close()
    assert store.metric_points(service="cart", start_ns=0, end_ns=now + 2 * S, limit=10) == []

    writer = BatchWriter(store, max_pending=10_000, process=False)
    writer.start()
    again, spool = collector_on(store, tmp_path / "spool", writer)
    try:
        assert asyncio.run(again.replay()) == 2
        writer.flush()
        found = store.metric_points(service="cart", start_ns=0, end_ns=now + 2 * S, limit=10)
        assert [(p.name, p.value, p.time_ns) for p in found] == [
            ("jvm.threads", 7.0, now),
            ("jvm.threads", 8.0, now + S),
        ]
        assert store.metric_points(service="ledger", start_ns=0, end_ns=now + 2 * S, limit=10) == []
        assert again.stats.refused_service == 1
    finally:
        writer.stop()
        spool.close()
        store.close()


def test_metric_points_expire_by_arrival_in_their_own_tier(tmp_path: Path) -> None:
    arrived = [1_000 * S]
    store = Store(f"sqlite:///{tmp_path}/db.sqlite", clock=lambda: arrived[0])
    store.migrate()
    point = MetricDataPoint("jvm.threads", "cart", {"service.name": "cart"}, time_ns=5 * S, value=1.0)
    store.write_metric_points([point])
    arrived[0] = 1_000 * S + 3 * 3600 * S
    store.write_metric_points(
        [MetricDataPoint("jvm.threads", "cart", {"service.name": "cart"}, time_ns=6 * S)]
    )
    settings = RetentionSettings(metric_points_hours=2)
    cutoffs = Retention(settings, store, None, None, None).expiry(arrived[0] / S)  # type: ignore[arg-type]
    deleted = store.purge(cutoffs)
    assert deleted["metric_points"] == 1
    assert [p.time_ns for p in store.metric_points(service="cart", start_ns=0, end_ns=10 * S, limit=10)] == [
        6 * S
    ]
    assert store.tier_sizes(arrived[0])["metric_points"] == 1
    store.close()


def test_a_version_9_database_gains_the_metric_points_table(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/v9.db")
    assert migrate(engine, target=9) == 0
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE metric_points"))  # as version 9 had it
    assert migrate(engine) == 9
    engine.dispose()
    store = Store(f"sqlite:///{tmp_path}/v9.db")
    store.write_metric_points([MetricDataPoint("jvm.threads", "cart", {}, time_ns=5 * S, value=3.0)])
    assert [p.value for p in store.metric_points(service="cart", start_ns=0, end_ns=10 * S, limit=5)] == [3.0]
    store.close()


def test_an_investigation_reads_a_bounded_even_share_of_each_services_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(f"sqlite:///{tmp_path}/db.sqlite")
    store.migrate()
    start = 1_000 * S
    for service in ("cart", "chatty"):
        every = 1 if service == "chatty" else 10  # chatty sends ten times as many
        store.write_metric_points(
            [
                MetricDataPoint("load", service, {"service.name": service}, start + t * S, value=float(t))
                for t in range(0, 1000, every)
            ]
        )
    monkeypatch.setattr(builtin, "MAX_POINTS_READ", 200)
    monkeypatch.setattr(builtin, "POINT_LOOKBACK_S", 0)
    found = {
        s.service: s
        for s in BuiltinMetricSource(store).service_metrics(["cart", "chatty"], start, start + 1000 * S, 60)
    }
    chatty, cart = found["chatty"].points, found["cart"].points
    assert len(chatty) == 100 and len(cart) == 100  # 10 in each tenth of the window
    assert chatty[0].time_ns == start and chatty[-1].time_ns >= start + 900 * S
    store.close()
