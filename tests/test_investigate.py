"""Investigations fail soft: a source that hangs or fails costs its timeout, and the
report is made from the other signals and says which one is missing and why."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from bot.changes import ChangeLog
from bot.incidents.repository import IncidentRepository
from bot.investigate import Investigator, Request
from bot.settings import Settings
from bot.sources.build import build_sources
from bot.store import Store
from correlators.errors import DataSourceError
from correlators.model import LogRecord, MetricSeries
from tests.scenarios import generate
from tests.stored import S, shop_config, store_telemetry


class HangingLogs:
    name = "elasticsearch http://logs.example:9200"

    def logs_for_traces(
        self, trace_ids: Sequence[str], start_ns: int, end_ns: int, limit: int
    ) -> list[LogRecord]:
        time.sleep(5)
        return []

    def logs_for_services(
        self, services: Sequence[str], start_ns: int, end_ns: int, limit: int
    ) -> list[LogRecord]:
        time.sleep(5)
        return []


class FailingMetrics:
    name = "prometheus http://prom.example:9090"

    def service_metrics(
        self, services: Sequence[str], start_ns: int, end_ns: int, step_s: int
    ) -> list[MetricSeries]:
        raise DataSourceError(
            self.name, "rate(http_server_request_duration_seconds_count[1m])", "connection refused"
        )


def test_a_hanging_log_source_and_a_failing_metric_source_leave_a_report(tmp_path: Path) -> None:
    scenario = generate("shared_db_slow", 5)
    config = shop_config(source_timeout=1)
    store = Store(f"sqlite:///{tmp_path}/jw.db")
    store.migrate()
    store_telemetry(store, config, scenario.traces, scenario.logs)
    sources = build_sources(config, Settings(), store)
    sources.logs = HangingLogs()
    sources.metrics = FailingMetrics()
    investigator = Investigator(config, sources, IncidentRepository(store.engine), ChangeLog(store.engine))
    journey = config.journey("checkout")
    assert journey is not None

    started = time.monotonic()
    report = investigator.investigate(
        Request(journey, "latency", scenario.incident[0] / S, scenario.incident[1] / S)
    )
    took = time.monotonic() - started

    assert took < 4  # the two log calls are each given up after 1 s
    assert any(
        "logs (elasticsearch http://logs.example:9200): no answer within 1 s" in m for m in report.missing
    )
    assert any("connection refused" in m and "prometheus" in m for m in report.missing)
    assert report.candidates[0].service == "postgresql:shop"
    assert report.scope.kind == "systemic"
    investigator.close()
    store.close()
