"""The watcher on a real Prometheus (Debian's binary, exemplar storage on) scraping an
OpenMetrics exporter in this process: checkout's requests are observed in a histogram with
their trace ids as exemplars, and the same requests are stored as traces and span metrics
in the built-in store. The Prometheus-sourced SLI fires; the investigation takes its
exemplar trace ids from Prometheus and the traces from the store; and the same journey on
the built-in SLI source reaches the same firing decision."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram

from bot.changes import ChangeLog
from bot.config import AppConfig, Journey, JourneyMatch, Objectives
from bot.incidents.lifecycle import Action
from bot.incidents.repository import IncidentRepository
from bot.investigate import Investigator, Request
from bot.settings import Settings
from bot.slo.config import PrometheusSli, SliConfig
from bot.slo.evaluate import evaluate_journey
from bot.slo.state import JourneyStates
from bot.slo.watcher import Watcher
from bot.sources.build import build_sources
from bot.sources.config import PrometheusConfig, SourcesConfig
from bot.store import Store
from correlators.model import Span, SpanKind, StatusCode, Trace
from tests.fixtures.prometheus import PrometheusServer
from tests.stored import store_telemetry

H = "http_server_request_duration_seconds"
BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 2.0)
ERROR_LATENCIES = (0.005, 0.015, 0.03, 0.07, 0.12, 0.17, 0.25, 0.35, 0.45, 0.55, 0.7, 0.9)
"""Spread over buckets: a histogram keeps the last exemplar of each bucket series only."""
REQUESTS = 120
ERRORS_EVERY = 3
MS = 1_000_000


def trace_of(trace_id: str, start_ns: int, latency_s: float, failed: bool) -> Trace:
    """frontend POST /checkout -> cart POST /cart/lock, the cart call failing when bad."""
    end_ns = start_ns + int(latency_s * 1e9)
    status = StatusCode.ERROR if failed else StatusCode.OK
    root = Span(
        trace_id, "a" * 16, None, "frontend", "POST /checkout", start_ns, end_ns, SpanKind.SERVER, status
    )
    call = Span(
        trace_id,
        "b" * 16,
        "a" * 16,
        "frontend",
        "POST /cart/lock",
        start_ns + MS,
        end_ns - MS,
        SpanKind.CLIENT,
        status,
    )
    cart = Span(
        trace_id,
        "c" * 16,
        "b" * 16,
        "cart",
        "POST /cart/lock",
        start_ns + 2 * MS,
        end_ns - 2 * MS,
        SpanKind.SERVER,
        status,
        instance="cart-a",
    )
    return Trace(trace_id, [root, call, cart], journey="checkout")


@pytest.fixture(scope="module")
def traffic(prometheus_server: PrometheusServer) -> Iterator[tuple[list[Trace], str]]:
    service = f"frontend-{uuid.uuid4().hex[:8]}"
    registry = CollectorRegistry()
    histogram = Histogram(
        H,
        "server latency",
        ["service_name", "http_route", "http_response_status_code"],
        buckets=BUCKETS,
        registry=registry,
    )
    for code in ("200", "500"):  # both series exist at 0 before traffic (see the source's notes)
        histogram.labels(service, "/checkout", code)
    traces: list[Trace] = []
    with prometheus_server.serving(registry):
        prometheus_server.ingested()
        errors = 0
        for n in range(REQUESTS):
            failed = n % ERRORS_EVERY == 0
            latency = ERROR_LATENCIES[errors % len(ERROR_LATENCIES)] if failed else 0.04
            errors += failed
            trace_id = uuid.uuid4().hex
            traces.append(trace_of(trace_id, time.time_ns(), latency, failed))
            code = "500" if failed else "200"
            histogram.labels(service, "/checkout", code).observe(latency, exemplar={"trace_id": trace_id})
            if failed and errors % len(ERROR_LATENCIES) == 0:
                prometheus_server.ingested()  # exemplars scraped before the next errors replace them
        prometheus_server.ingested()
        yield traces, service


def config_for(source: str, prometheus_url: str, service: str) -> AppConfig:
    histogram = PrometheusSli(histogram=H, selector=f'service_name="{service}",http_route="/checkout"')
    journey = Journey(
        name="checkout",
        match=JourneyMatch(root_service="frontend", operation="POST /checkout"),
        objectives=Objectives(availability=0.999),
        sli=SliConfig(source=source, availability=histogram if source == "prometheus" else None),  # type: ignore[arg-type]
    )
    sources = SourcesConfig(
        exemplars="prometheus" if source == "prometheus" else "builtin",
        prometheus=PrometheusConfig(url=prometheus_url),
    )
    return AppConfig(journeys=[journey], sources=sources)


def test_prometheus_fires_and_its_exemplars_lead_to_the_stored_traces(
    traffic: tuple[list[Trace], str], prometheus_server: PrometheusServer, tmp_path: Path
) -> None:
    traces, service = traffic
    failed_ids = {t.trace_id for t in traces if t.root is not None and t.root.is_error}
    config = config_for("prometheus", prometheus_server.url, service)
    builtin_config = config_for("builtin", prometheus_server.url, service)
    store = Store(f"sqlite:///{tmp_path}/jw.db")
    store.migrate()
    store_telemetry(store, builtin_config, traces)
    sources = build_sources(config, Settings(), store)
    incidents = IncidentRepository(store.engine)
    investigator = Investigator(config, sources, incidents, ChangeLog(store.engine))
    watcher = Watcher(config, sources, incidents, JourneyStates(store.engine), investigator)
    now = time.time()

    # the same events, counted by Prometheus and by the collector's span metrics
    journey, builtin_journey = config.journeys[0], builtin_config.journeys[0]
    from_prometheus = evaluate_journey(journey, sources.sli_for("prometheus"), int(now) + 1, 60)
    from_spans = evaluate_journey(builtin_journey, sources.sli, int(now) + 1, 60)
    fired = [s.tier.name for s in from_prometheus.objectives[0].states if s.firing]
    assert fired == [s.tier.name for s in from_spans.objectives[0].states if s.firing]
    assert fired and fired[0] == "page-burst"
    burst_prometheus = from_prometheus.objectives[0].states[0].long_burn
    burst_spans = from_spans.objectives[0].states[0].long_burn
    assert burst_spans == pytest.approx(1000 / ERRORS_EVERY, rel=0.02)  # 1 in 3 failed, against 0.1 %
    assert burst_prometheus == pytest.approx(burst_spans, rel=0.05)  # increase() scales both counts alike

    # the investigation's evidence: Prometheus's exemplars, the store's traces
    start = min(t.start_ns for t in traces) / 1e9
    evidence = investigator.gather(
        Request(journey, "availability", start - 1, now + 1),
        *investigator.windows(Request(journey, "availability", start - 1, now + 1)),
    )
    assert len(evidence.exemplar_ids) >= 8 and set(evidence.exemplar_ids) <= failed_ids
    assert set(evidence.exemplar_ids) <= {t.trace_id for t in evidence.traces}

    changes = watcher.evaluate_all(now + 1)
    assert [(c.journey, c.action) for c in changes] == [("checkout", Action.OPEN)]
    for future in watcher.pending:
        future.result(timeout=60)
    incident = incidents.get(changes[0].incident_id)
    assert incident is not None and incident["tier"] == "page-burst"
    assert incident["report"]["candidates"][0]["service"] == "cart"
    assert not any("prometheus" in m for m in incident["report"]["missing"])
    watcher.close()
    investigator.close()
    sources.close()
    store.close()
