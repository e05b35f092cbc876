"""The Prometheus source against a real Prometheus scraping a real prometheus_client exporter.

One traffic scenario per module (fresh series take about seven seconds of scrapes), read by
every test: 100 requests to /checkout (10 errors, 5 slow), 20 to /cart that no checkout
query may count, each with an exemplar carrying its trace id.

Why the counts can be asserted tightly although ``increase()`` extrapolates: every series
is scraped at 0 before the first request, so Prometheus extrapolates nothing towards the
window's start, and towards its end by at most 1.1 average scrape intervals; and because
all series come from the same scrapes, every one is scaled by the same factor, so
bad/total is exact.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, GCCollector, Histogram, ProcessCollector
from pydantic import SecretStr

from bot.config import Journey, LatencyObjective, Objectives
from bot.slo.config import PrometheusSli, SliConfig
from bot.sources.base import ExemplarSource, MetricSource, SliQuery, SliSource
from bot.sources.config import PrometheusConfig
from bot.sources.prometheus import (
    PrometheusClient,
    PrometheusExemplarSource,
    PrometheusMetricSource,
    PrometheusSliSource,
    PrometheusSources,
    build_prometheus_sources,
)
from correlators.errors import DataSourceError
from tests.fixtures.prometheus import EXPORTER_JOB, PrometheusServer

H = "http_server_request_duration_seconds"
BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0)
ERROR_LATENCIES = (0.005, 0.015, 0.03, 0.07, 0.12, 0.17, 0.25, 0.35, 0.45, 0.55)
"""One per bucket: a histogram keeps the last exemplar of each bucket series only."""
SLOW_LATENCIES = (0.9, 1.2, 1.8, 2.5, 4.0)
FAST_OK = 85
S = 1_000_000_000


@dataclass
class Scenario:
    prometheus: PrometheusServer
    service: str
    start_ns: int
    end_s: int
    error_ids: list[str] = field(default_factory=list)
    """Checkout 5xx trace ids in the order they were observed."""
    slow_ids: dict[str, float] = field(default_factory=dict)

    @property
    def selector(self) -> str:
        return f'service_name="{self.service}",http_route="/checkout"'

    def journey(self) -> Journey:
        histogram = PrometheusSli(histogram=H, selector=self.selector)
        return Journey(
            name="checkout",
            objectives=Objectives(availability=0.99, latency=LatencyObjective(threshold_ms=800, target=0.95)),
            sli=SliConfig(source="prometheus", availability=histogram, latency=histogram),
        )

    def extrapolation_bound(self, window_s: int) -> float:
        """The most increase() can scale a count up: 1 + 1.1 / (samples - 1)."""
        raw = f'{H}_count{{{self.selector},http_response_status_code="200"}}'
        [found] = self.prometheus.query(f"count_over_time({raw}[{window_s}s])", self.end_s)
        samples = int(found["value"][1])
        assert samples >= 5, "the scenario waits for at least five scrapes"
        return 1 + 1.1 / (samples - 1)


def _trace_id() -> str:
    return uuid.uuid4().hex


@pytest.fixture(scope="module")
def scenario(prometheus_server: PrometheusServer) -> Iterator[Scenario]:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    labels = ["service_name", "http_route", "http_response_status_code"]
    histogram = Histogram(H, "Server request duration", labels, buckets=BUCKETS, registry=registry)
    counter = Counter(
        "checkout_requests", "Checkout requests", ["service_name", "outcome"], registry=registry
    )
    service = f"checkout-{uuid.uuid4().hex[:8]}"
    ok, error = histogram.labels(service, "/checkout", "200"), histogram.labels(service, "/checkout", "500")
    cart_ok, cart_error = histogram.labels(service, "/cart", "200"), histogram.labels(service, "/cart", "503")
    counted_ok, counted_error = counter.labels(service, "ok"), counter.labels(service, "error")
    with prometheus_server.serving(registry):
        prometheus_server.ingested()  # every series starts at 0 in Prometheus
        # Prometheus keeps exemplar times in whole milliseconds: a start inside the first
        # observation's millisecond would put that exemplar before the window
        start_ns = time.time_ns() // 1_000_000 * 1_000_000
        scenario = Scenario(prometheus_server, service, start_ns=start_ns, end_s=0)
        for _ in range(FAST_OK):
            ok.observe(0.04, exemplar={"trace_id": _trace_id()})
            counted_ok.inc()
        for latency in SLOW_LATENCIES:
            trace_id = _trace_id()
            ok.observe(latency, exemplar={"trace_id": trace_id})
            counted_ok.inc()
            scenario.slow_ids[trace_id] = latency
        for latency in ERROR_LATENCIES:
            trace_id = _trace_id()
            error.observe(latency, exemplar={"trace_id": trace_id})
            counted_error.inc(exemplar={"traceID": trace_id})
            scenario.error_ids.append(trace_id)
            time.sleep(0.003)  # distinct millisecond timestamps, so newest-first is defined
        for i in range(20):
            (cart_error if i % 4 == 0 else cart_ok).observe(3.0, exemplar={"trace_id": _trace_id()})
        prometheus_server.ingested()
        prometheus_server.exporter.wait_scrapes(3)  # more samples: a tighter extrapolation bound
        scenario.end_s = int(time.time())
        yield scenario


@pytest.fixture
def sources(scenario: Scenario) -> Iterator[PrometheusSources]:
    built = build_prometheus_sources(
        PrometheusConfig(url=scenario.prometheus.url), None, [scenario.journey()], timeout_s=5
    )
    yield built
    built.close()


@pytest.fixture
def client(scenario: Scenario) -> Iterator[PrometheusClient]:
    made = PrometheusClient(scenario.prometheus.url, timeout_s=5)
    yield made
    made.close()


def _counts_near(total: float, bad: float, expected_bad: int, bound: float) -> None:
    assert 100 <= total <= 100 * bound
    assert bad / total == pytest.approx(expected_bad / 100, rel=1e-9)


def test_availability_counts(scenario: Scenario, sources: PrometheusSources) -> None:
    """Real Prometheus: increase() of the scraped _count series, total and 5xx, at end_s,
    for windows written as 1m, 1h and 3d; /cart traffic is left out by the selector."""
    assert isinstance(sources.slis, SliSource)
    counts = sources.slis.counts(SliQuery("checkout", "availability"), scenario.end_s, [60, 3600, 259200])
    assert set(counts) == {60, 3600, 259200}
    for window, found in counts.items():
        _counts_near(found.total, found.bad, 10, scenario.extrapolation_bound(window))


def test_latency_counts_requests_over_the_threshold_bucket(
    scenario: Scenario, client: PrometheusClient
) -> None:
    """Real Prometheus: bad = total - the le bucket of the threshold, for a bound that
    prometheus_client writes as le="0.8" and one it writes as le="1.0"."""
    source = PrometheusSliSource(client, {"checkout": scenario.journey().sli})
    bound = scenario.extrapolation_bound(60)
    for threshold_ms, slow in ((800, 5), (1000, 4)):
        query = SliQuery("checkout", "latency", latency_threshold_ms=threshold_ms)
        found = source.counts(query, scenario.end_s, [60])[60]
        _counts_near(found.total, found.bad, slow, bound)


def test_latency_threshold_that_is_no_bucket_bound_is_an_error(
    scenario: Scenario, sources: PrometheusSources
) -> None:
    """Real Prometheus answers the le="0.7" query with nothing while the count has series."""
    query = SliQuery("checkout", "latency", latency_threshold_ms=700)
    with pytest.raises(DataSourceError) as raised:
        sources.slis.counts(query, scenario.end_s, [60])
    assert 'le="0.7"' in raised.value.query
    assert "no bucket le=0.7" in raised.value.reason


def test_total_with_bad_or_good_promql(scenario: Scenario, client: PrometheusClient) -> None:
    """Real Prometheus evaluates the team's own PromQL templates with {window} filled in."""
    count = f"sum(increase({H}_count{{{scenario.selector}}}[{{window}}]))"
    errors = f'sum(increase({H}_count{{{scenario.selector},http_response_status_code=~"5.."}}[{{window}}]))'
    fast = f'sum(increase({H}_bucket{{{scenario.selector},le="0.8"}}[{{window}}]))'
    slis = {
        "checkout": SliConfig(
            source="prometheus",
            availability=PrometheusSli(total=count, bad=errors),
            latency=PrometheusSli(total=count, good=fast),
        )
    }
    source = PrometheusSliSource(client, slis)
    bound = scenario.extrapolation_bound(300)
    available = source.counts(SliQuery("checkout", "availability"), scenario.end_s, [300])[300]
    _counts_near(available.total, available.bad, 10, bound)
    latency = source.counts(SliQuery("checkout", "latency", 800), scenario.end_s, [300])[300]
    _counts_near(latency.total, latency.bad, 5, bound)


def test_availability_exemplars_are_the_errors_newest_first(
    scenario: Scenario, sources: PrometheusSources
) -> None:
    """Real exemplar storage: the exemplars prometheus_client put on the 5xx buckets."""
    assert isinstance(sources.exemplars, ExemplarSource)
    query = SliQuery("checkout", "availability")
    found = sources.exemplars.exemplars(query, scenario.start_ns, time.time_ns(), limit=100)
    assert [e.trace_id for e in found] == scenario.error_ids[::-1]
    assert [e.value for e in found] == list(ERROR_LATENCIES[::-1])
    assert all(scenario.start_ns <= e.time_ns < time.time_ns() for e in found)
    newest = sources.exemplars.exemplars(query, scenario.start_ns, time.time_ns(), limit=3)
    assert newest == found[:3]
    before = sources.exemplars.exemplars(query, scenario.start_ns - 60 * S, scenario.start_ns, limit=100)
    assert before == []


def test_latency_exemplars_are_the_slow_requests(scenario: Scenario, sources: PrometheusSources) -> None:
    """Real exemplar storage: exemplars of buckets above the threshold, none of the fast
    requests, none of /cart (whose slow requests the selector leaves out)."""
    for threshold_ms in (800, 1000):
        query = SliQuery("checkout", "latency", latency_threshold_ms=threshold_ms)
        found = sources.exemplars.exemplars(query, scenario.start_ns, time.time_ns(), limit=100)
        expected = {t: v for t, v in scenario.slow_ids.items() if v > threshold_ms / 1000}
        assert {e.trace_id: e.value for e in found} == expected


def test_exemplars_of_a_bad_promql_counter_with_trace_id_label(
    scenario: Scenario, client: PrometheusClient
) -> None:
    """Real exemplar storage: a counter's exemplars, labelled traceID, found through the
    `bad` PromQL of a total/bad objective. A counter holds its last exemplar only, so the
    newest is the last error; a scrape that fell inside the loop may have kept another."""
    total = f'sum(increase(checkout_requests_total{{service_name="{scenario.service}"}}[{{window}}]))'
    bad = total.replace("}[", ',outcome="error"}[')
    source = PrometheusExemplarSource(
        client, {"checkout": SliConfig(source="prometheus", availability=PrometheusSli(total=total, bad=bad))}
    )
    found = source.exemplars(SliQuery("checkout", "availability"), scenario.start_ns, time.time_ns(), 10)
    assert found and found[0].trace_id == scenario.error_ids[-1]
    assert {e.trace_id for e in found} <= set(scenario.error_ids)


def test_service_metrics(scenario: Scenario, sources: PrometheusSources) -> None:
    """Real Prometheus range queries of the default templates: RED from the OTel-named
    histogram (by service_name), saturation from prometheus_client's process and GC
    collectors (by job); templates with no data, such as container_*, give no series."""
    assert isinstance(sources.metrics, MetricSource)
    start_ns, end_ns = scenario.start_ns - 5 * S, (scenario.end_s + 1) * S
    series = sources.metrics.service_metrics([scenario.service, EXPORTER_JOB], start_ns, end_ns, 1)
    by_name = {(s.name, s.service): s for s in series}
    instance = scenario.prometheus.exporter.address
    for name in ("requests_per_s", "errors_per_s", "duration_mean_ms", "duration_p95_ms"):
        found = by_name[(name, scenario.service)]
        assert found.labels == {"service.name": scenario.service, "instance": instance}
        assert found.points and all(p.value >= 0 and start_ns <= p.time_ns < end_ns for p in found.points)
    assert by_name[("errors_per_s", scenario.service)].points[-1].value > 0
    assert by_name[("duration_p95_ms", scenario.service)].unit == "ms"
    for name in ("cpu_cores", "memory_rss_bytes", "gc_per_s"):
        assert by_name[(name, EXPORTER_JOB)].points, name
    assert by_name[("memory_rss_bytes", EXPORTER_JOB)].points[-1].value > 1e6
    assert not any(s.name.startswith("container_") for s in series)
    # durations divide 0 by 0 before the first request: those points are dropped, not NaN
    p95 = by_name[("duration_p95_ms", scenario.service)]
    assert p95.points[0].time_ns >= scenario.start_ns - S


def test_service_metric_templates_are_overridable(scenario: Scenario, client: PrometheusClient) -> None:
    """Real Prometheus: a team's own template is added, an empty one switches a default off."""
    queries = {
        "checkout_errors_per_s": (
            'sum by (instance) (rate(checkout_requests_total{{label}="{service}",outcome="error"}[{range}]))'
        ),
        "cpu_cores": "",
    }
    source = PrometheusMetricSource(client, queries=queries)
    series = source.service_metrics([scenario.service], scenario.start_ns, (scenario.end_s + 1) * S, 1)
    names = {s.name for s in series}
    assert "checkout_errors_per_s" in names and "requests_per_s" in names and "cpu_cores" not in names


def test_bad_promql_raises_data_source_error_naming_the_query(
    scenario: Scenario, client: PrometheusClient
) -> None:
    """Real Prometheus rejects the PromQL (HTTP 400, parse error) on each of the three APIs."""
    broken = PrometheusSli(total="sum(rate(foo[{window}])", bad="sum(rate(foo[{window}])")
    slis = {"checkout": SliConfig(source="prometheus", availability=broken)}
    with pytest.raises(DataSourceError) as raised:
        PrometheusSliSource(client, slis).counts(SliQuery("checkout", "availability"), scenario.end_s, [60])
    assert raised.value.source == f"prometheus {scenario.prometheus.url}"
    assert raised.value.query == "sum(rate(foo[1m])"
    assert raised.value.reason.startswith("HTTP 400: ") and "parse error" in raised.value.reason
    with pytest.raises(DataSourceError, match="parse error") as raised:
        PrometheusExemplarSource(client, slis).exemplars(SliQuery("checkout", "availability"), 0, S, 10)
    assert raised.value.query == "sum(rate(foo[1s])"
    metrics = PrometheusMetricSource(client, queries={"broken": "rate(x[{range}]"})
    with pytest.raises(DataSourceError, match="parse error") as raised:
        metrics.service_metrics(["svc"], 0, 60 * S, 1)
    assert raised.value.query == "rate(x[2m]"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SLIS = {"checkout": SliConfig(source="prometheus", availability=PrometheusSli(histogram=H))}
AVAILABILITY = SliQuery("checkout", "availability")


def test_unreachable_prometheus_fails_fast() -> None:
    """A real closed loopback port: connection refused, one DataSourceError, no retries."""
    url = f"http://127.0.0.1:{_closed_port()}"
    with closing(PrometheusClient(url, timeout_s=2)) as client:
        started = time.monotonic()
        with pytest.raises(DataSourceError) as raised:
            PrometheusSliSource(client, SLIS).counts(AVAILABILITY, 1_700_000_000, [60])
        assert raised.value.source == f"prometheus {url}"
        assert raised.value.query == f"sum(increase({H}_count[1m]))"
        assert raised.value.reason == "cannot connect (Connection refused)"
        with pytest.raises(DataSourceError, match="cannot connect"):
            PrometheusExemplarSource(client, SLIS).exemplars(AVAILABILITY, 0, S, 10)
        assert time.monotonic() - started < 1.0


def test_timeout_is_honoured_by_a_silent_server() -> None:
    """A real listening socket that never answers: each call gives up after its timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever reads
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with closing(PrometheusClient(url, timeout_s=30)) as client:
            calls = (
                lambda: PrometheusSliSource(client, SLIS, timeout_s=0.3).counts(AVAILABILITY, 0, [60]),
                lambda: PrometheusExemplarSource(client, SLIS, 0.3).exemplars(AVAILABILITY, 0, S, 1),
                lambda: PrometheusMetricSource(client, timeout_s=0.3).service_metrics(["svc"], 0, S, 1),
            )
            for call in calls:
                started = time.monotonic()
                with pytest.raises(DataSourceError, match=r"no answer within 0\.3 s"):
                    call()
                assert time.monotonic() - started < 1.5


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path.split("?")[0], self.headers.get("Authorization")))
        body = b'{"status":"success","data":[]}'
        if self.path.startswith("/api/v1/query?"):
            body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_bearer_token_is_sent() -> None:
    """A loopback recorder (Prometheus does not check tokens): both HTTP stacks send the
    token as a bearer header."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    token = SecretStr("s3cret-token")
    journey = Journey(name="checkout", objectives=Objectives(availability=0.99), sli=SLIS["checkout"])
    sources = build_prometheus_sources(PrometheusConfig(url=url), token, [journey], timeout_s=2)
    try:
        assert sources.slis.counts(AVAILABILITY, 1_700_000_000, [60])[60].total == 0
        assert sources.exemplars.exemplars(AVAILABILITY, 0, S, 5) == []
        assert [path for path, _ in _Recorder.seen] == ["/api/v1/query"] * 2 + ["/api/v1/query_exemplars"]
        assert {header for _, header in _Recorder.seen} == {"Bearer s3cret-token"}
    finally:
        sources.close()
        server.shutdown()
        server.server_close()


def test_missing_objective_is_a_data_source_error() -> None:
    """No server needed: a journey without PromQL for the objective fails like a source,
    so the investigation reports the signal as missing instead of crashing."""
    client = PrometheusClient(f"http://127.0.0.1:{_closed_port()}")
    with closing(client), pytest.raises(DataSourceError, match="no Prometheus SLI") as raised:
        PrometheusSliSource(client, {}).counts(SliQuery("search", "latency", 300), 0, [60])
    assert raised.value.query == "sli.latency of journey search"
