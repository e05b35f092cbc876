"""Investigations fail soft: a source that hangs or fails costs its timeout, and the
report is made from the other signals and says which one is missing and why. And they
are bounded: a span budget caps what one investigation reads."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from bot.changes import ChangeLog
from bot.incidents.repository import IncidentRepository
from bot.investigate import Investigator, Request, SpanBudget
from bot.releases import ReleaseLog
from bot.render.report import change_words, missing_words
from bot.settings import Settings
from bot.sources.build import build_sources
from bot.store import Store
from correlators.changes import ReleaseJudged, version_changes
from correlators.errors import DataSourceError
from correlators.model import LogRecord, MetricSeries, Span, Trace
from correlators.regression import OperationComparison, Outcome, ReleaseVerdict, Shift
from correlators.report import Report
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
    said = [missing_words(m) for m in report.missing]
    assert "logs (elasticsearch http://logs.example:9200): no answer within 1 s" in said
    assert any(m.what == "source_timeout" and m.seconds == 1 for m in report.missing)
    assert any(m.what == "source_failed" and "connection refused" in (m.error or "") for m in report.missing)
    assert any("connection refused" in m and "prometheus" in m for m in said)
    assert report.candidates[0].service == "postgresql:shop"
    assert report.scope.kind == "systemic"
    investigator.close()
    store.close()


def test_an_investigation_reads_no_more_spans_than_its_budget_and_bad_traces_first(tmp_path: Path) -> None:
    """Big traces must not make an investigation's memory unbounded: with a budget of a
    fifth of what the full samples would read, the bad traces are all there, both healthy
    windows are still sampled, and the answer is the same."""
    scenario = generate("shared_db_slow", 5)
    store = Store(f"sqlite:///{tmp_path}/jw.db")
    store.migrate()
    store_telemetry(store, shop_config(), scenario.traces, scenario.logs)
    journey = shop_config().journey("checkout")
    assert journey is not None
    request = Request(journey, "latency", scenario.incident[0] / S, scenario.incident[1] / S)

    def evidence(**watcher: object) -> tuple[Investigator, list[Trace], list[Trace], list[Trace]]:
        config = shop_config(**watcher)
        sources = build_sources(config, Settings(), store)
        repository = IncidentRepository(store.engine)
        investigator = Investigator(config, sources, repository, ChangeLog(store.engine))
        incident, baseline = investigator.windows(request)
        traces = investigator.gather(request, incident, baseline).traces
        bad = [t for t in traces if t.start_ns in incident and t.root is not None and t.root.is_error]
        return investigator, traces, bad, [t for t in traces if t.start_ns in baseline]

    full_investigator, full, full_bad, full_baseline = evidence()
    budget = sum(len(t.spans) for t in full) // 5
    small_investigator, small, small_bad, small_baseline = evidence(investigation_spans=budget)

    assert sum(len(t.spans) for t in small) <= budget
    assert {t.trace_id for t in small_bad} == {t.trace_id for t in full_bad}
    assert full_bad, "the scenario has failed checkouts in the incident window"
    assert 0 < len(small_baseline) < len(full_baseline)
    assert len(small) - len(small_baseline) > len(small_bad)  # healthy incident traces too
    report = small_investigator.investigate(request)
    assert report.candidates[0].service == "postgresql:shop"
    full_investigator.close()
    small_investigator.close()
    store.close()


def test_span_budget_shares_what_is_left_in_proportion() -> None:
    budget = SpanBudget(left=1_000)
    assert budget.share(500, 1000) == (16, 33)  # no trace read yet: 20 spans assumed
    for n in range(10):
        assert budget.take(Trace(f"{n:032x}", [_span(n, i) for i in range(40)]))
    assert budget.left == 600
    assert budget.share(500, 1000) == (5, 10)  # 600 spans at 40 a trace = 15 traces
    assert not budget.take(Trace("f" * 32, [_span(99, i) for i in range(601)]))
    assert budget.left == 600
    assert budget.share(5, 10) == (5, 10)  # what fits is not scaled up


def _span(trace: int, n: int) -> Span:
    return Span(f"{trace:032x}", f"{n + 1:016x}", None, "svc", "op", 10, 20)


def test_an_investigation_keeps_only_its_own_journeys_log_lines(tmp_path: Path) -> None:
    """frontend serves checkout and search: its lines written for search requests say
    nothing of a checkout incident; its lines of checkout requests and those of no known
    trace stay."""
    scenario = generate("shared_db_slow", 5)
    start, end = scenario.incident
    via_frontend = {
        journey: [
            t
            for t in scenario.traces
            if t.journey == journey and t.start_ns >= start and any(s.service == "frontend" for s in t.spans)
        ][:20]
        for journey in ("checkout", "search")
    }
    assert all(len(found) == 20 for found in via_frontend.values())

    def lines(journey: str, body: str) -> list[LogRecord]:
        return [
            LogRecord(t.start_ns + 1, "frontend", body, "ERROR", 17, trace_id=t.trace_id)
            for t in via_frontend[journey]
        ]

    untraced = [LogRecord(start + n * S, "frontend", "cache node 3 evicted", "ERROR", 17) for n in range(20)]
    extra = [
        *lines("search", "search index shard 4 unavailable"),
        *lines("checkout", "reservation 7 timed out"),
    ]
    store = Store(f"sqlite:///{tmp_path}/jw.db")
    store.migrate()
    store_telemetry(store, shop_config(), scenario.traces, [*scenario.logs, *extra, *untraced])
    config = shop_config()
    investigator = Investigator(
        config,
        build_sources(config, Settings(), store),
        IncidentRepository(store.engine),
        ChangeLog(store.engine),
    )
    journey = config.journey("checkout")
    assert journey is not None
    request = Request(journey, "latency", start / S, end / S)
    incident, baseline = investigator.windows(request)

    bodies = {r.body for r in investigator.gather(request, incident, baseline).logs or []}

    assert "reservation 7 timed out" in bodies and "cache node 3 evicted" in bodies
    assert "search index shard 4 unavailable" not in bodies
    investigator.close()
    store.close()


def test_a_deploy_the_release_job_judged_carries_its_verdict_into_the_report(tmp_path: Path) -> None:
    """Incidents link the release verdict as a change: the deploy the traces show, with
    what the release job said of its version, through the stored JSON and into words."""
    scenario = generate("deploy_exception", 5)
    config = shop_config()
    store = Store(f"sqlite:///{tmp_path}/jw.db")
    store.migrate()
    store_telemetry(store, config, scenario.traces, scenario.logs)
    seen = version_changes(scenario.traces, scenario.baseline[0])
    [deploy] = [c for c in seen if c.service == scenario.fault.target]
    assert deploy.version is not None
    releases = ReleaseLog(store.engine)
    release_id = releases.record(deploy.service, deploy.version, "1.0.0", deploy.time_ns / S)
    assert release_id is not None
    shift = Shift(0.95, 20_000_000, 30_000_000, 0.5, 0.3, 0.7)
    worse = OperationComparison("GET /x", ("checkout",), 500, 500, p95=shift, latency_p=1e-6, slower=True)
    verdict = ReleaseVerdict(deploy.service, "1.0.0", deploy.version, Outcome.REGRESSED, 500, 500, (worse,))
    releases.judge(release_id, verdict, settled=True, at=0.0)
    sources = build_sources(config, Settings(), store)
    investigator = Investigator(
        config, sources, IncidentRepository(store.engine), ChangeLog(store.engine), releases=releases
    )
    journey = config.journey("checkout")
    assert journey is not None
    report = investigator.investigate(
        Request(journey, "availability", scenario.incident[0] / S, scenario.incident[1] / S)
    )
    [finding] = [c for c in report.changes if c.change.version == deploy.version]
    assert finding.change.release == ReleaseJudged("regressed", "GET /x", 0.95, 0.5)
    read = Report.from_json(report.to_json())
    [again] = [c for c in read.changes if c.change.version == deploy.version]
    assert again == finding
    assert change_words(again).endswith("; release regressed: GET /x p95 +50%")
    investigator.close()
    store.close()
