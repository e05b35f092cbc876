"""A journey's SLI from its service's own OTLP metrics (`sli.source: metrics`, issue 17):
a duration histogram or a request counter counted when no spans are sent, with the real
Python SDK exporting to a real `journeywatch serve`, then the watcher's evaluation."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from pydantic import ValidationError

from bot.changes import ChangeLog
from bot.config import AppConfig, Journey
from bot.incidents.lifecycle import Action
from bot.incidents.repository import IncidentRepository
from bot.investigate import Investigator, Request
from bot.settings import Settings
from bot.slo.evaluate import evaluate_journey
from bot.slo.state import JourneyStates
from bot.slo.watcher import Watcher
from bot.sources.base import SliQuery
from bot.sources.build import build_sources
from bot.sources.metric_sli import MetricSliSource
from bot.store import Store
from correlators.errors import DataSourceError
from correlators.model import MetricDataPoint, MetricSeries

S = 1_000_000_000
END = 10_000


BOTH = {"availability": 0.99, "latency": {"threshold_ms": 400, "target": 0.95}}


def journey(objectives: dict[str, Any] = BOTH, **sli: Any) -> Journey:
    return Journey.model_validate(
        {
            "name": "checkout",
            "objectives": objectives,
            "sli": {"source": "metrics", "metrics": {"service": "checkout", **sli}},
        }
    )


def source_of(store: Store, made: Journey) -> MetricSliSource:
    assert made.sli.metrics is not None
    return MetricSliSource(store, {made.name: made.sli.metrics})


HISTOGRAM = {"histogram": "http.server.request.duration", "where": {"http.route": "/checkout"}}


COUNTER = {"counter": "http.server.requests"}


def requests(t: int, status: str, value: float) -> MetricDataPoint:
    """A delta point of checkout's request counter, one status code's requests a minute."""
    labels = {"http.response.status_code": status}
    return MetricDataPoint(
        "http.server.requests", "checkout", labels, t * S, t * S, "sum", "delta", True, value
    )


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store


def histogram(
    t: int, status: str, buckets: tuple[float, ...], start: int = 1, **fields: Any
) -> MetricDataPoint:
    labels = {"service.name": "checkout", "http.route": "/checkout", "http.response.status_code": status}
    return MetricDataPoint(
        "http.server.request.duration",
        "checkout",
        labels,
        t * S,
        start * S,
        "histogram",
        fields.get("temporality", "cumulative"),
        count=sum(buckets),
        total=0.0,
        bounds=(0.1, 0.25, 0.5),
        buckets=buckets,
        unit="s",
    )


def test_a_histogram_counts_slow_and_failed_requests_per_window(store: Store) -> None:
    other_route = MetricDataPoint(
        "http.server.request.duration",
        "checkout",
        {"http.route": "/health"},
        (END - 60) * S,
        S,
        "histogram",
        "delta",
        count=99,
        bounds=(0.1,),
        buckets=(99, 0),
        unit="s",
    )
    store.write_metric_points(
        [
            histogram(END - 600, "200", (10, 0, 0, 0)),
            histogram(END - 300, "200", (50, 20, 10, 0)),  # +40 under 100 ms, +20 under 250, +10 under 500
            histogram(END - 60, "200", (5, 0, 0, 4), start=END - 100),  # restarted: 9 since, 4 over 500 ms
            histogram(END - 600, "503", (0, 0, 0, 0)),
            histogram(END - 60, "503", (1, 0, 0, 1)),
            other_route,  # not this journey's route
        ]
    )
    source = source_of(store, journey(latency=HISTOGRAM, availability=HISTOGRAM))
    latency = source.counts(SliQuery("checkout", "latency", 400.0), END, [120, 3600])
    # 400 ms is not a bound: the 250-500 ms bucket counts as slow (a bucket cannot be split)
    assert (latency[3600].total, latency[3600].bad) == (70 + 9 + 2, 10 + 4 + 1)
    assert (latency[120].total, latency[120].bad) == (9 + 2, 4 + 1)
    availability = source.counts(SliQuery("checkout", "availability"), END, [3600])
    assert (availability[3600].total, availability[3600].bad) == (81, 2)


def test_a_request_counter_of_delta_points_and_the_watchers_evaluation(store: Store) -> None:
    store.write_metric_points(
        [requests(END - 60 * k, "200", 100) for k in range(1, 30)]
        + [requests(END - 60 * k, "500", 30) for k in range(1, 3)]
    )
    counted = journey({"availability": 0.99}, availability=COUNTER)
    source = source_of(store, counted)
    found = source.counts(SliQuery("checkout", "availability"), END, [300])
    # the five points of the last five minutes, two of them with the errors' too
    assert (found[300].total, found[300].bad) == (560, 60)
    [objective] = evaluate_journey(counted, source, END, 60).objectives
    assert objective.firing is not None  # 60 bad of 560 burns a 1 % budget far past every tier


def test_a_histogram_whose_unit_says_nothing_needs_one_in_the_sli(store: Store) -> None:
    points = [histogram(END - 120, "200", (0, 0, 0, 0)), histogram(END - 60, "200", (3, 0, 0, 1))]
    for point in points:
        point.unit = "{request}"
    store.write_metric_points(points)
    with pytest.raises(DataSourceError, match="say `unit: s` or `unit: ms`"):
        source_of(store, journey(latency=HISTOGRAM, availability=HISTOGRAM)).counts(
            SliQuery("checkout", "latency", 400.0), END, [3600]
        )
    said = journey(latency={**HISTOGRAM, "unit": "s"}, availability=HISTOGRAM)
    counted = source_of(store, said).counts(SliQuery("checkout", "latency", 400.0), END, [3600])[3600]
    assert (counted.total, counted.bad) == (4, 1)


def test_the_config_says_what_a_metric_sli_needs() -> None:
    with pytest.raises(ValidationError, match=r"sli\.metrics\.latency names no metric"):
        journey(availability={"counter": "http.server.requests"})
    with pytest.raises(ValidationError, match="counted from a `histogram`"):
        journey(latency={"counter": "http.server.requests"}, availability={"counter": "x"})
    with pytest.raises(ValidationError, match=r"sli\.metrics\.availability names no metric"):
        journey({"availability": 0.99})
    with pytest.raises(ValidationError, match="exactly one of `histogram` and `counter`"):
        journey(latency={}, availability=HISTOGRAM)


def test_the_sdks_duration_histogram_is_a_journeys_sli_through_a_real_server(
    start_bot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    config = {
        "journeys": [
            {
                "name": "checkout",
                "objectives": {"availability": 0.99, "latency": {"threshold_ms": 250, "target": 0.95}},
                "sli": {
                    "source": "metrics",
                    "metrics": {"service": "checkout", "latency": HISTOGRAM, "availability": HISTOGRAM},
                },
            }
        ]
    }
    path = tmp_path / "journeys.yaml"
    path.write_text(yaml.safe_dump(config))
    loaded = AppConfig.model_validate(config)
    bot = start_bot(path)
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{bot.url}/v1/metrics"), export_interval_millis=3_600_000
    )
    views = [
        View(instrument_type=Histogram, aggregation=ExplicitBucketHistogramAggregation([0.1, 0.25, 0.5, 1.0]))
    ]
    provider = MeterProvider(
        resource=Resource.create({"service.name": "checkout"}), metric_readers=[reader], views=views
    )
    duration = provider.get_meter("http").create_histogram("http.server.request.duration", unit="s")
    for seconds, status, times in ((0.05, "200", 1), (0.05, "200", 40), (0.4, "200", 6), (0.05, "503", 2)):
        for _ in range(times):
            duration.record(seconds, {"http.route": "/checkout", "http.response.status_code": status})
        if times == 1:  # the first export is the cumulative baseline the rest is counted from
            reader.force_flush()
            time.sleep(1.0)
    reader.force_flush()
    provider.shutdown()

    store = Store(f"sqlite:///{bot.database}")
    try:
        source = source_of(store, loaded.journeys[0])
        now = int(time.time()) + 1
        deadline = time.monotonic() + 20
        latency = source.counts(SliQuery("checkout", "latency", 250.0), now, [3600])[3600]
        while latency.total < 49 and time.monotonic() < deadline:
            time.sleep(0.2)
            latency = source.counts(SliQuery("checkout", "latency", 250.0), now, [3600])[3600]
        # every request since the SDK started counting (its start time is in the window)
        assert (latency.total, latency.bad) == (49, 6)
        availability = source.counts(SliQuery("checkout", "availability"), now, [3600])[3600]
        assert (availability.total, availability.bad) == (49, 2)
    finally:
        store.close()


class RecordedMetrics:
    name = "builtin"

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def service_metrics(
        self, services: Sequence[str], start_ns: int, end_ns: int, step_s: int
    ) -> list[MetricSeries]:
        self.asked.append(list(services))
        return []


def test_an_incident_of_a_metrics_sli_reads_its_services_metrics_without_traces(store: Store) -> None:
    config = AppConfig(journeys=[journey({"availability": 0.99}, availability=COUNTER)])
    sources = build_sources(config, Settings(), store)
    assert isinstance(sources.sli_for("metrics"), MetricSliSource)
    sources.metrics = recorded = RecordedMetrics()
    investigator = Investigator(config, sources, IncidentRepository(store.engine), ChangeLog(store.engine))
    checkout = config.journey("checkout")
    assert checkout is not None
    investigator.investigate(Request(checkout, "availability", END - 300, END))
    assert recorded.asked == [["checkout"]]
    investigator.close()


def test_the_watcher_opens_an_incident_from_a_metrics_sli_alone(store: Store) -> None:
    """The whole loop on stored metric points alone: the watcher reads the counter, opens
    an incident on the burst, investigates with no traces (saying so), and the same
    journey with a quiet counter opens nothing."""

    config = AppConfig(journeys=[journey({"availability": 0.99}, availability=COUNTER)])
    store.write_metric_points([requests(END - 60 * k, "200", 100) for k in range(1, 60)])
    sources = build_sources(config, Settings(), store)
    incidents = IncidentRepository(store.engine)
    investigator = Investigator(config, sources, incidents, ChangeLog(store.engine))
    watcher = Watcher(config, sources, incidents, JourneyStates(store.engine), investigator)
    try:
        assert watcher.evaluate_all(END) == []  # an hour of clean traffic: nothing to say

        store.write_metric_points([requests(END + 60 * k, "500", 40) for k in range(0, 3)])
        store.write_metric_points([requests(END + 60 * k, "200", 100) for k in range(0, 3)])
        changes = watcher.evaluate_all(END + 150)
        assert [(c.journey, c.action) for c in changes] == [("checkout", Action.OPEN)]
        for future in watcher.pending:
            future.result(timeout=60)
        incident = incidents.get(changes[0].incident_id)
        assert incident is not None and incident["objective"] == "availability"
        assert incident["report"] is not None
        assert any("trace" in line for line in incident["report"]["missing"])
    finally:
        watcher.close()
        investigator.close()
        sources.close()


def test_evaluations_every_30_s_count_what_one_read_of_everything_counts(store: Store) -> None:
    """The tally a source keeps between evaluations (settled events, each series' last
    point) gives the counts a fresh read gives, through a restart (a reset), a status code
    whose first errors start a new series, and a point that arrives late."""
    hour = 3600
    t0 = END + 10 * hour

    def point(t: int, status: str, start: int, buckets: tuple[float, ...]) -> MetricDataPoint:
        made = histogram(t, status, buckets, start)
        made.start_ns = start * S
        return made

    points = []
    for minute in range(1, 181):
        t = t0 + 60 * minute
        ok = float(minute if minute < 90 else minute - 90)  # the process restarts at 90 minutes
        start = t0 if minute < 90 else t0 + 90 * 60 - 20
        points.append(point(t, "200", start, (ok * 5, ok * 2, ok, ok / 2)))
        if minute >= 120:  # errors from the second hour on, a series of their own
            failed = float(minute - 119)
            points.append(point(t, "503", t0 + 119 * 60 + 30, (failed, 0, 0, failed)))
    # the 200 series' point of minute 150 arrives after the evaluations near it
    late = points.pop(next(i for i, p in enumerate(points) if p.time_ns == (t0 + 150 * 60) * S))
    store.write_metric_points(points)
    errors = {**HISTOGRAM, "error_where": {"http.response.status_code": "5.."}}
    made = journey(latency=HISTOGRAM, availability=errors)
    kept = source_of(store, made)
    windows = [60, 300, 1800, hour, 2 * hour, 30 * 24 * hour]
    for end in range(t0 + hour, t0 + 3 * hour, 30):
        if end == t0 + 151 * 60 + 90:
            store.write_metric_points([late])
        for objective in ("latency", "availability"):
            query = SliQuery("checkout", objective, 400.0 if objective == "latency" else None)
            counted = kept.counts(query, end, windows)
            fresh = source_of(store, made).counts(query, end, windows)
            for window in windows:
                assert counted[window].total == pytest.approx(fresh[window].total), (end, objective, window)
                assert counted[window].bad == pytest.approx(fresh[window].bad), (end, objective, window)
    assert kept.counts(SliQuery("checkout", "availability"), t0 + 3 * hour, [hour])[hour].bad > 0
