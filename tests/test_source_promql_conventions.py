"""The PromQL templates and histogram SLIs against a real Prometheus, one service per naming
convention people already export: the Collector's spanmetrics connector (today's
``traces_span_metrics_*`` and the older ``traces_spanmetrics_*``, both in milliseconds),
OpenTelemetry's RPC histogram (``rpc_server_duration_milliseconds``), the stable HTTP one
labelled only by the Collector exporter's ``job`` (``<namespace>/<service>``), and
OpenTelemetry's runtime metrics (JVM, Node.js, process).

Every service gets the same traffic: 100 server requests, 90 ok at 20 ms, 2 ok at 500 ms
and 8 failed at 500 ms, so every convention must read the same figures: 8 % errors, a mean
of 68 ms, a p95 of 600 ms (the 95th of 100 lies halfway into the 400-800 ms bucket), 10
requests over 400 ms. Span metrics also hold client spans, and the RPC service NOT_FOUND
answers, which none of those figures may count. The ratios are exact although ``rate()``
and ``increase()`` extrapolate: every series is scraped at 0 before the first request and
all come from the same scrapes, so all are scaled by one factor.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import ValidationError

from bot.slo.config import PrometheusSli, SliConfig
from bot.sources.base import SliQuery
from bot.sources.prometheus import (
    PrometheusClient,
    PrometheusExemplarSource,
    PrometheusMetricSource,
    PrometheusSliSource,
)
from correlators.errors import DataSourceError
from correlators.model import MetricSeries
from tests.fixtures.prometheus import PrometheusServer

S = 1_000_000_000
MS_BUCKETS = (2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000)
"""The spanmetrics connector's default buckets, in its unit (ms)."""
S_BUCKETS = tuple(b / 1000 for b in MS_BUCKETS)
SPAN_NEW = "traces_span_metrics_duration_milliseconds"
SPAN_OLD = "traces_spanmetrics_duration_milliseconds"
RPC = "rpc_server_duration_milliseconds"
HTTP = "http_server_request_duration_seconds"


@dataclass
class World:
    prometheus: PrometheusServer
    services: dict[str, str]
    """Convention -> the service name that uses it."""
    start_ns: int
    end_s: int
    slow_ids: set[str]
    """Trace ids of the new-spanmetrics service's requests over 400 ms."""


def _serve_like_an_sdk(histogram: Histogram, labels: dict[str, tuple[str, ...]], scale: float) -> None:
    """The scenario's 100 requests on ``histogram``; ``labels`` holds each outcome's label
    values, ``scale`` the unit (1 for ms, 0.001 for s)."""
    ok, failed = histogram.labels(*labels["ok"]), histogram.labels(*labels["error"])
    for _ in range(90):
        ok.observe(20 * scale)
    for _ in range(2):
        ok.observe(500 * scale)
    for _ in range(8):
        failed.observe(500 * scale)


@pytest.fixture(scope="module")
def world(prometheus_server: PrometheusServer) -> Iterator[World]:
    tag = uuid.uuid4().hex[:8]
    services = {c: f"{c}-{tag}" for c in ("span", "span-old", "rpc", "http-job", "jvm", "node")}
    registry = CollectorRegistry()
    span_labels = ["service_name", "span_name", "span_kind", "status_code"]
    span_new = Histogram(SPAN_NEW, "spans", span_labels, buckets=MS_BUCKETS, registry=registry)
    span_old = Histogram(SPAN_OLD, "spans", span_labels, buckets=MS_BUCKETS, registry=registry)
    rpc_labels = ["service_name", "rpc_system", "rpc_method", "rpc_grpc_status_code"]
    rpc = Histogram(RPC, "rpc", rpc_labels, buckets=MS_BUCKETS, registry=registry)
    http = Histogram(HTTP, "http", ["job", "http_response_status_code"], buckets=S_BUCKETS, registry=registry)
    jvm_heap = Gauge(
        "jvm_memory_used_bytes", "heap", ["job", "jvm_memory_type", "jvm_memory_pool_name"], registry=registry
    )
    jvm_gc = Histogram("jvm_gc_duration_seconds", "gc", ["job", "jvm_gc_name"], registry=registry)
    cpu = Counter("process_cpu_time_seconds", "cpu", ["job", "cpu_mode"], registry=registry)
    rss = Gauge("process_memory_usage_bytes", "rss", ["job"], registry=registry)
    loop = Gauge("nodejs_eventloop_delay_p99_seconds", "loop", ["service_name"], registry=registry)

    def span_outcomes(service: str) -> dict[str, tuple[str, ...]]:
        return {
            "ok": (service, "GET /checkout", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET"),
            "error": (service, "GET /checkout", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR"),
        }

    client_spans = span_new.labels(services["span"], "GET /stock", "SPAN_KIND_CLIENT", "STATUS_CODE_ERROR")
    rpc_rpc = {
        "ok": (services["rpc"], "grpc", "Charge", "0"),
        "error": (services["rpc"], "grpc", "Charge", "14"),
    }
    not_found = rpc.labels(services["rpc"], "grpc", "Charge", "5")
    http_job = f"shop/{services['http-job']}"
    http_outcomes = {"ok": (http_job, "200"), "error": (http_job, "503")}
    jvm_job = f"shop/{services['jvm']}"
    for outcomes, histogram in (
        (span_outcomes(services["span"]), span_new),
        (span_outcomes(services["span-old"]), span_old),
        (rpc_rpc, rpc),
        (http_outcomes, http),
    ):
        for values in outcomes.values():
            histogram.labels(*values)  # every series exists, at 0, before the first request
    cpu_user = cpu.labels(jvm_job, "user")
    gc = jvm_gc.labels(jvm_job, "G1 Young Generation")
    with prometheus_server.serving(registry):
        prometheus_server.ingested()
        start_ns = time.time_ns() // 1_000_000 * 1_000_000
        _serve_like_an_sdk(span_old, span_outcomes(services["span-old"]), 1)
        _serve_like_an_sdk(rpc, rpc_rpc, 1)
        _serve_like_an_sdk(http, http_outcomes, 0.001)
        slow_ids: set[str] = set()
        span_ok = span_new.labels(*span_outcomes(services["span"])["ok"])
        span_error = span_new.labels(*span_outcomes(services["span"])["error"])
        for latency, series in [(20, span_ok)] * 90 + [(500, span_ok)] * 2 + [(500, span_error)] * 8:
            trace_id = uuid.uuid4().hex
            series.observe(latency, exemplar={"trace_id": trace_id})
            if latency > 400:
                slow_ids.add(trace_id)
        for _ in range(50):
            client_spans.observe(900)
        for _ in range(20):
            not_found.observe(500)
        jvm_heap.labels(jvm_job, "heap", "G1 Eden Space").set(30e6)
        jvm_heap.labels(jvm_job, "heap", "G1 Old Gen").set(70e6)
        jvm_heap.labels(jvm_job, "non_heap", "Metaspace").set(999e6)
        rss.labels(jvm_job).set(250e6)
        cpu_user.inc(3.0)
        for _ in range(4):
            gc.observe(0.01)
        loop.labels(services["node"]).set(0.012)
        prometheus_server.ingested()
        prometheus_server.exporter.wait_scrapes(3)
        yield World(prometheus_server, services, start_ns, int(time.time()), slow_ids)


@pytest.fixture
def client(world: World) -> Iterator[PrometheusClient]:
    with closing(PrometheusClient(world.prometheus.url, timeout_s=5)) as made:
        yield made


def _metrics(world: World, client: PrometheusClient, service: str, label: str) -> dict[str, MetricSeries]:
    source = PrometheusMetricSource(client, service_label=label, timeout_s=5)
    start_ns, end_ns = world.start_ns - 5 * S, (world.end_s + 1) * S
    found = source.service_metrics([service], start_ns, end_ns, 1)
    assert len({s.name for s in found}) == len(found), "one series per name (one instance)"
    return {s.name: s for s in found}


SAME = (0.08, 68.0, 600.0)
RPC_FIGURES = (8 / 120, 16800 / 120, 720.0)
"""The RPC service's 20 NOT_FOUND answers at 500 ms are requests, not errors: 120
requests, a mean of 140 ms, and the 114th of 120 lies 24/30 into the 400-800 ms bucket."""


@pytest.mark.parametrize(
    ("convention", "label", "figures"),
    [
        ("span", "service_name", SAME),
        ("span-old", "service_name", SAME),
        ("rpc", "service_name", RPC_FIGURES),
        ("http-job", "job", SAME),
    ],
)
def test_red_reads_every_convention_alike(
    world: World, client: PrometheusClient, convention: str, label: str, figures: tuple[float, float, float]
) -> None:
    """Real Prometheus, the default templates: each naming gives the error share, mean and
    p95 of its traffic, in milliseconds whatever the histogram's unit; client spans are
    not the service's requests and NOT_FOUND answers not its errors."""
    error_share, mean_ms, p95_ms = figures
    series = _metrics(world, client, world.services[convention], label)
    requests = series["requests_per_s"].points[-1].value
    errors = series["errors_per_s"].points[-1].value
    assert requests > 0
    assert errors / requests == pytest.approx(error_share, rel=1e-6)
    assert series["duration_mean_ms"].points[-1].value == pytest.approx(mean_ms, rel=1e-6)
    assert series["duration_p95_ms"].points[-1].value == pytest.approx(p95_ms, rel=1e-6)
    assert series["duration_p95_ms"].unit == "ms"


def test_job_label_is_a_choice_of_the_source(world: World, client: PrometheusClient) -> None:
    """Real Prometheus: the Collector exporter's series carry no service_name, only
    job="shop/<service>"; they are found by service_label=job, namespace and all, and not
    by the default label."""
    service = world.services["http-job"]
    by_default = _metrics(world, client, service, "service_name")
    assert "requests_per_s" not in by_default
    assert "requests_per_s" in _metrics(world, client, service, "job")


def test_runtime_metrics_of_the_otel_conventions(world: World, client: PrometheusClient) -> None:
    """Real Prometheus: JVM heap (heap pools only), OTel process CPU and memory, JVM GC
    counts and the Node.js event-loop delay, each under the name the bot compares."""
    jvm = _metrics(world, client, world.services["jvm"], "job")
    assert jvm["heap_used_bytes"].points[-1].value == pytest.approx(100e6)
    assert jvm["memory_rss_bytes"].points[-1].value == pytest.approx(250e6)
    assert jvm["cpu_cores"].points[-1].value > 0
    assert jvm["gc_per_s"].points[-1].value > 0
    node = _metrics(world, client, world.services["node"], "service_name")
    assert node["event_loop_delay_p99_ms"].points[-1].value == pytest.approx(12)


def _sli(histogram: str, service: str, **extra: str) -> dict[str, SliConfig]:
    sli = PrometheusSli(histogram=histogram, selector=f'service_name="{service}"', **extra)  # type: ignore[arg-type]
    return {"checkout": SliConfig(source="prometheus", availability=sli, latency=sli)}


@pytest.mark.parametrize(
    ("convention", "histogram"), [("span", SPAN_NEW), ("span-old", SPAN_OLD), ("rpc", RPC)]
)
def test_millisecond_histogram_slis(
    world: World, client: PrometheusClient, convention: str, histogram: str
) -> None:
    """Real Prometheus: a 400 ms threshold reads the le="400" bucket of a millisecond
    histogram (not le="0.4", which it does not have); errors are the family's own (the
    span status, the gRPC server codes)."""
    source = PrometheusSliSource(client, _sli(histogram, world.services[convention]), timeout_s=5)
    latency = source.counts(SliQuery("checkout", "latency", 400), world.end_s, [300])[300]
    available = source.counts(SliQuery("checkout", "availability"), world.end_s, [300])[300]
    if convention == "rpc":  # the 20 NOT_FOUND answers at 500 ms are slow requests, not errors
        assert latency.bad / latency.total == pytest.approx(30 / 120, rel=1e-6)
        assert available.bad / available.total == pytest.approx(8 / 120, rel=1e-6)
    else:
        assert latency.bad / latency.total == pytest.approx(0.10, rel=1e-6)
        assert available.bad / available.total == pytest.approx(0.08, rel=1e-6)


def test_threshold_off_the_millisecond_buckets_names_the_unit(world: World, client: PrometheusClient) -> None:
    """Real Prometheus has no le="700" series: the error says which bound was sought, in
    which unit."""
    source = PrometheusSliSource(client, _sli(SPAN_NEW, world.services["span"]), timeout_s=5)
    with pytest.raises(DataSourceError) as raised:
        source.counts(SliQuery("checkout", "latency", 700), world.end_s, [60])
    assert "no bucket le=700.0 (700 ms in milliseconds)" in raised.value.reason
    assert 'le=~"700|700\\\\.0"' in raised.value.query


def test_unit_from_the_name_or_the_config() -> None:
    """No server needed: the unit is read from the name, ``unit`` overrides it, and a name
    that gives none without ``unit`` is refused when journeys.yaml is read."""
    assert PrometheusSli(histogram=SPAN_NEW).histogram_unit == "ms"
    assert PrometheusSli(histogram=HTTP).histogram_unit == "s"
    assert PrometheusSli(histogram="request_latency_ms").histogram_unit == "ms"
    assert PrometheusSli(histogram="traces_spanmetrics_latency", unit="s").histogram_unit == "s"
    with pytest.raises(ValidationError, match="traces_spanmetrics_latency: its name gives no unit"):
        PrometheusSli(histogram="traces_spanmetrics_latency")
    assert PrometheusSli(histogram=RPC).errors == 'rpc_grpc_status_code=~"2|4|12|13|14|15"'
    assert PrometheusSli(histogram=SPAN_OLD).errors == 'status_code="STATUS_CODE_ERROR"'
    assert PrometheusSli(histogram=HTTP, error_selector='code="500"').errors == 'code="500"'
    spans = PrometheusSli(histogram=SPAN_NEW, selector='service_name="a"')
    assert spans.requests == 'service_name="a",span_kind="SPAN_KIND_SERVER"'
    consumers = PrometheusSli(histogram=SPAN_NEW, selector='span_kind="SPAN_KIND_CONSUMER"')
    assert consumers.requests == 'span_kind="SPAN_KIND_CONSUMER"'


def test_millisecond_exemplars_over_the_threshold(world: World, client: PrometheusClient) -> None:
    """Real exemplar storage: the slow requests of a millisecond histogram, their values
    given in seconds like every exemplar's."""
    source = PrometheusExemplarSource(client, _sli(SPAN_NEW, world.services["span"]), 5)
    found = source.exemplars(SliQuery("checkout", "latency", 400), world.start_ns, time.time_ns(), 100)
    assert {e.trace_id for e in found} <= world.slow_ids
    assert found and all(e.value == pytest.approx(0.5) for e in found)
