"""From an incident to a stored report: gather evidence from the sources, run the
correlators, keep the report on the incident.

Evidence, in order: the exemplar trace ids of the bad events in the burn window, those
traces and more failed ones, a baseline sample of the same journey before the burn (and
healthy traces during it), the logs of the bad traces and of the services on their
paths, and those services' metrics. Every source call is time-boxed: a source that is
down or slow costs at most its timeout, and the report says which signal is missing and
why instead of failing (sources fail soft).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from bot.changes import ChangeLog
from bot.config import AppConfig, Journey
from bot.incidents.hypothesis import HYPOTHESIS_EVENT, follow
from bot.incidents.repository import IncidentRepository
from bot.releases import ReleaseLog, with_verdicts
from bot.sources import Sources
from bot.sources.base import SliQuery, TraceJourneys
from correlators.analyze import AnalysisInput, analyze
from correlators.changes import Change, version_changes
from correlators.errors import JourneywatchError
from correlators.metrics import Window
from correlators.model import LogRecord, MetricSeries, Trace
from correlators.report import Missing, Report
from correlators.similar import SimilarIncident, similar_incidents

log = logging.getLogger("journeywatch.investigate")
T = TypeVar("T")
S = 1_000_000_000
LOGS_PER_INVESTIGATION = 20_000
METRIC_STEP_S = 30


@dataclass(frozen=True, slots=True)
class Request:
    """What to investigate: a journey over a burn window (from an incident or by hand)."""

    journey: Journey
    objective: str
    burn_start_s: float
    end_s: float
    incident_id: int | None = None


@dataclass(slots=True)
class Evidence:
    traces: list[Trace] = field(default_factory=list)
    exemplar_ids: list[str] = field(default_factory=list)
    logs: list[LogRecord] | None = None
    metrics: list[MetricSeries] | None = None
    changes: list[Change] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)


class Investigator:
    def __init__(
        self,
        config: AppConfig,
        sources: Sources,
        incidents: IncidentRepository,
        changes: ChangeLog,
        *,
        releases: ReleaseLog | None = None,
        link_base: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.sources = sources
        self.incidents = incidents
        self.changes = changes
        self.releases = releases
        """Deploys of versions the release job judged carry its verdict (``bot.releases``)."""
        self.link_base = link_base
        self.clock = clock
        self.timeout_s = config.watcher.source_timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="jw-source")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def request_for(self, incident_id: int) -> Request | None:
        incident = self.incidents.row(incident_id)
        if incident is None:
            return None
        journey = self.config.journey(incident.journey)
        if journey is None:
            return None
        return Request(journey, incident.objective, incident.burn_start, self.clock(), incident_id)

    def investigate_incident(self, incident_id: int) -> Report | None:
        """Investigate and store the report on the incident (the watcher's path), with a
        ``hypothesis`` event when its hypothesis is new or moved (``bot.incidents.hypothesis``)."""
        request = self.request_for(incident_id)
        if request is None:
            return None
        started = time.monotonic()
        report = self.investigate(request)
        now = self.clock()
        self.incidents.store_report(incident_id, report, now, time.monotonic() - started)
        self.incidents.record_following(incident_id, HYPOTHESIS_EVENT, lambda last: follow(last, report), now)
        return report

    def investigate(self, request: Request) -> Report:
        incident, baseline = self.windows(request)
        evidence = self.gather(request, incident, baseline)
        latency = request.journey.objectives.latency
        report = analyze(
            AnalysisInput(
                traces=evidence.traces,
                baseline=baseline,
                incident=incident,
                logs=evidence.logs,
                metrics=evidence.metrics,
                journey=request.journey.name,
                latency_threshold_ms=latency.threshold_ms if latency else None,
                exemplar_ids=evidence.exemplar_ids,
                changes=evidence.changes,
            )
        )
        report.missing[:0] = evidence.missing
        report.similar = self._similar(request, report)
        return report

    def windows(self, request: Request) -> tuple[Window, Window]:
        """The incident window from the burn's start to now (at least
        ``min_incident_window`` long); the baseline just before it."""
        watcher = self.config.watcher
        start_s = min(request.burn_start_s, request.end_s - watcher.min_incident_window)
        incident = Window(int(start_s * S), int(request.end_s * S))
        return incident, Window(incident.start_ns - watcher.baseline * S, incident.start_ns)

    def gather(self, request: Request, incident: Window, baseline: Window) -> Evidence:
        evidence = Evidence()
        journey = request.journey
        latency = journey.objectives.latency
        query = SliQuery(journey.name, request.objective, latency.threshold_ms if latency else None)  # type: ignore[arg-type]
        exemplars = self._call(
            evidence,
            f"exemplars ({self.sources.exemplars.name})",
            lambda: self.sources.exemplars.exemplars(
                query, incident.start_ns, incident.end_ns, self.config.watcher.max_exemplars
            ),
        )
        evidence.exemplar_ids = [e.trace_id for e in exemplars or []]
        evidence.traces = self._traces(evidence, journey, incident, baseline)
        bad_ids = self._bad_ids(evidence, incident)
        services = sorted({s.service for t in evidence.traces if t.trace_id in bad_ids for s in t.spans})
        if journey.sli.metrics is not None and journey.sli.metrics.service not in services:
            # an SLI of a service's own metrics: it may send no spans, its metrics still tell
            services = sorted([*services, journey.sli.metrics.service])
        evidence.logs = self._logs(evidence, journey.name, bad_ids, services, baseline, incident)
        evidence.metrics = self._call(
            evidence,
            f"metrics ({self.sources.metrics.name})",
            lambda: self.sources.metrics.service_metrics(
                services, baseline.start_ns, incident.end_ns, METRIC_STEP_S
            ),
        )
        evidence.changes = self._changes(evidence.traces, services, baseline, incident)
        return evidence

    def _traces(
        self, evidence: Evidence, journey: Journey, incident: Window, baseline: Window
    ) -> list[Trace]:
        """Bad traces first (exemplars, then failed ones), then healthy samples of the
        incident and baseline windows scaled to the span budget that is left."""
        source = self.sources.traces
        label = f"traces ({source.name})"
        watcher = self.config.watcher
        budget = SpanBudget(watcher.investigation_spans)

        def find(window: Window, limit: int, error: bool | None = None) -> list[Trace]:
            return source.find_traces(
                journey=journey.name,
                service=journey.match.root_service,
                start_ns=window.start_ns,
                end_ns=window.end_ns,
                limit=limit,
                error=error,
            )

        found: dict[str, Trace] = {}

        def take(fetch: Callable[[], list[Trace]]) -> None:
            for trace in self._call(evidence, label, fetch) or []:
                if trace.trace_id not in found and budget.take(trace):
                    found[trace.trace_id] = trace

        take(lambda: source.get_traces(evidence.exemplar_ids))
        take(lambda: find(incident, watcher.max_exemplars, error=True))
        healthy, base = budget.share(watcher.baseline_traces // 2, watcher.baseline_traces)
        take(lambda: find(incident, healthy))
        take(lambda: find(baseline, base))
        return list(found.values())

    def _bad_ids(self, evidence: Evidence, incident: Window) -> set[str]:
        """Exemplars and failed traces of the incident window: whose paths we follow."""
        failed = {
            t.trace_id
            for t in evidence.traces
            if t.start_ns in incident and t.root is not None and t.root.is_error
        }
        return failed | set(evidence.exemplar_ids)

    def _logs(
        self,
        evidence: Evidence,
        journey: str,
        bad_ids: set[str],
        services: Sequence[str],
        baseline: Window,
        incident: Window,
    ) -> list[LogRecord] | None:
        source = self.sources.logs
        label = f"logs ({source.name})"
        by_trace = self._call(
            evidence,
            label,
            lambda: source.logs_for_traces(
                sorted(bad_ids), baseline.start_ns, incident.end_ns, LOGS_PER_INVESTIGATION
            ),
        )
        by_service = self._call(
            evidence,
            label,
            lambda: source.logs_for_services(
                services, baseline.start_ns, incident.end_ns, LOGS_PER_INVESTIGATION
            ),
        )
        if by_trace is None and by_service is None:
            return None
        seen: dict[tuple[int, str, str], LogRecord] = {}
        for record in [*(by_trace or []), *(by_service or [])]:
            seen.setdefault((record.time_ns, record.service, record.body), record)
        return sorted(self._own_journeys(evidence, journey, seen.values()), key=lambda r: r.time_ns)

    def _own_journeys(
        self, evidence: Evidence, journey: str, records: Iterable[LogRecord]
    ) -> list[LogRecord]:
        """Leave out lines written for another journey's requests: a service on this
        journey's path serves others too, and "login ok for a free user" says nothing of a
        checkout. A line whose trace is unknown (not kept, or no trace id) stays."""
        records = list(records)
        source = self.sources.traces
        if not isinstance(source, TraceJourneys):
            return records
        ids = sorted({r.trace_id for r in records if r.trace_id})
        journeys = self._call(evidence, f"traces ({source.name})", lambda: source.journeys_of(ids)) or {}
        return [r for r in records if journeys.get(r.trace_id or "", journey) in (journey, None)]

    def _changes(
        self, traces: Sequence[Trace], services: Sequence[str], baseline: Window, incident: Window
    ) -> list[Change]:
        posted = self.changes.between(baseline.start_ns / S - 7200, incident.end_ns / S, services or None)
        seen = version_changes(traces, baseline.start_ns)
        known = {(c.service, c.version) for c in posted}
        found = [*posted, *(c for c in seen if (c.service, c.version) not in known)]
        return with_verdicts(found, self.releases) if self.releases is not None else found

    def _similar(self, request: Request, report: Report) -> list[SimilarIncident]:
        if request.incident_id is None:
            return []
        past = [
            dataclasses.replace(item, link=f"{self.link_base}/incidents/{item.id}")
            for item in self.incidents.past(request.journey.name, request.end_s, exclude=request.incident_id)
        ]
        top = report.candidates[0].service if report.candidates else None
        return similar_incidents(request.journey.name, top, report.scope.level, report.scope.subject, past)

    def _call(self, evidence: Evidence, label: str, action: Callable[[], T]) -> T | None:
        """Run one source call within the timeout; on failure note it and return None."""
        future = self._pool.submit(action)
        try:
            return future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            reason = Missing("source_timeout", source=label, seconds=self.timeout_s)
        except JourneywatchError as exc:
            reason = Missing("source_failed", source=label, error=str(exc))
        except Exception as exc:  # a source bug must not lose the whole report
            log.exception("source call failed: %s", label)
            reason = Missing("source_failed", source=label, error=f"{type(exc).__name__}: {exc}")
        if reason not in evidence.missing:
            evidence.missing.append(reason)
        return None


@dataclass(slots=True)
class SpanBudget:
    """Spans an investigation may still read. Sources return whole traces and know
    nothing of a budget, so limits are set from the mean size of the traces read so far,
    and a trace that would overflow the budget is left out."""

    left: int
    traces: int = 0
    spans: int = 0

    def take(self, trace: Trace) -> bool:
        size = len(trace.spans)
        if size > self.left:
            return False
        self.left -= size
        self.traces += 1
        self.spans += size
        return True

    def share(self, *wanted: int, assumed_size: int = 20) -> tuple[int, ...]:
        """Trace limits for ``wanted`` counts, scaled down together to fit what is left
        (each at least 1, so every window is still sampled)."""
        mean = self.spans / self.traces if self.traces else assumed_size
        affordable = self.left / max(mean, 1.0)
        scale = min(1.0, affordable / max(sum(wanted), 1))
        return tuple(max(1, int(count * scale)) for count in wanted)
