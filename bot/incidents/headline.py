"""The figures of an incident's first line: how bad, since when, where, what changed and
what to do, as a typed structure the edges word (Slack in ``bot.slack.messages``).

An on-call engineer woken at night reads one line before deciding anything; each figure
here is one they can check: bad requests counted from span metrics (before sampling),
sessions or users from the kept bad traces, the start found in those metrics, the suspect
and its changes from the stored report, the runbook from the configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.config import AppConfig, Runbook
from bot.runbooks import best_runbook
from bot.sources.base import TraceSource
from bot.store.store import MAX_LIMIT, TraceQuery, TraceSummary
from bot.telemetry.spanmetrics import SpanMetricRow
from correlators.changes import ReleaseJudged
from correlators.errors import JourneywatchError
from correlators.findings import SlowFromOneCaller
from correlators.rank import Candidate
from correlators.report import Report
from correlators.topology import call_graph

log = logging.getLogger("journeywatch.incidents")

S = 1_000_000_000
NEAR_S = 7200
"""Changes this long before the first bad request still count as "what changed"."""
CALLER_TRACES = 200
"""Kept traces read to name a dependency's callers (a few thousand spans)."""


class ImpactStore(Protocol):
    """What the figures are read from: the embedded store's span metrics and traces."""

    def span_metrics(self, *, journey: str | None, start_s: int, end_s: int) -> list[SpanMetricRow]: ...

    def find_traces(self, query: TraceQuery) -> list[TraceSummary]: ...

    def root_outcomes(self, trace_ids: Sequence[str]) -> dict[str, tuple[bool, int]]: ...


@dataclass(frozen=True, slots=True)
class Impact:
    objective: str
    """"availability" (bad = failed) or "latency" (bad = slower than the threshold)."""
    threshold_ms: float | None
    bad: int
    requests: int
    started_s: int
    """Start of the first bad bucket of the run that is still going on."""
    people: int
    people_kind: str
    """"users" when the bad traces name users, else "sessions"; 0 people when neither."""

    @property
    def share(self) -> float:
        return self.bad / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class Suspect:
    name: str
    level: str
    subject: str | None
    instance: str | None
    shared_by: tuple[str, ...]
    """Services seen calling it in the worst traces (for a dependency)."""
    added_ms: float | None
    """Critical-path time it added per bad request, against the baseline."""


@dataclass(frozen=True, slots=True)
class ChangeNote:
    service: str
    kind: str
    version: str | None
    minutes_before: float
    """Before the first bad request (negative: after it)."""
    release: ReleaseJudged | None = None
    """What the release comparison said of the deploy's version, when it judged it."""


@dataclass(frozen=True, slots=True)
class Headline:
    journey: str
    impact: Impact | None
    suspect: Suspect | None
    changes: tuple[ChangeNote, ...]
    other_changes: int
    """Changes in the report that are not the suspect's."""
    runbook: Runbook | None
    investigated: bool


def first_bad_bucket(buckets: Sequence[tuple[int, int, int]], since_s: float) -> int | None:
    """The bucket (start, requests, bad) where the bad share changed, by CUSUM: with a
    reference share halfway between the share before ``since_s`` (the burn's start) and
    after it, the running sum of ``bad - reference * requests`` is lowest just before the
    change; the first bucket after that with a bad request is the start. A lone bad
    request in the baseline does not move it, as a threshold on one bucket would."""
    before = [b for b in buckets if b[0] < since_s]
    after = [b for b in buckets if b[0] >= since_s]
    p0 = _share(before)
    p1 = _share(after)
    if not any(b[2] for b in buckets):
        return None
    if p1 <= p0:
        return next((b[0] for b in after if b[2]), None)
    reference = (p0 + p1) / 2
    total, lowest, change = 0.0, 0.0, 0
    for index, (_, requests, bad) in enumerate(buckets):
        total += bad - reference * requests
        if total < lowest:
            lowest, change = total, index + 1
    return next((b[0] for b in buckets[change:] if b[2]), None)


def _share(buckets: Sequence[tuple[int, int, int]]) -> float:
    requests = sum(b[1] for b in buckets)
    return sum(b[2] for b in buckets) / requests if requests else 0.0


def entry_buckets(rows: Sequence[SpanMetricRow], objective: str) -> list[tuple[int, int, int]]:
    """(bucket start, requests, bad) of the journey's entry requests, oldest first."""
    by_bucket: dict[int, list[int]] = {}
    for row in rows:
        if not row.root:
            continue
        counts = by_bucket.setdefault(row.bucket_start_s, [0, 0])
        counts[0] += row.requests
        counts[1] += row.slow if objective == "latency" else row.errors
    return [(start, n, bad) for start, (n, bad) in sorted(by_bucket.items())]


@dataclass(frozen=True, slots=True)
class Onset:
    """Where a journey's trouble began inside a window someone asked about."""

    objective: str
    started_s: int
    bad: int
    """Bad entry requests since then."""


def onset(
    store: ImpactStore, journey: str, objectives: Sequence[str], since_s: float, end_s: float
) -> Onset | None:
    """The objective whose bad requests changed most in ``[since_s, end_s)`` and when: an
    on-demand investigation of "the last 30 minutes" compares the trouble with the calm
    before it (inside the window or earlier), not the whole window with an hour before it
    that a young deployment does not have. None when the span metrics show no bad request."""
    rows = store.span_metrics(journey=journey, start_s=int(since_s), end_s=int(end_s) + 1)
    found = []
    for objective in objectives:
        buckets = entry_buckets(rows, objective)
        started = first_bad_bucket(buckets, since_s)
        if started is not None:
            found.append(Onset(objective, started, sum(b[2] for b in buckets if b[0] >= started)))
    return max(found, key=lambda o: o.bad, default=None)


class Headlines:
    """Builds an incident's :class:`Headline` from the store, the trace source and the
    configuration."""

    def __init__(self, config: AppConfig, store: ImpactStore, traces: TraceSource, *, bucket_s: int) -> None:
        self.config = config
        self.store = store
        self.traces = traces
        self.bucket_s = bucket_s
        """The span metrics' bucket: people are counted over the buckets written so far."""

    def build(
        self, incident: dict[str, Any], report: Report | None, burn_start_s: float, end_s: float
    ) -> Headline:
        journey = self.config.journey(incident["journey"])
        latency = journey.objectives.latency if journey else None
        threshold = latency.threshold_ms if latency and incident["objective"] == "latency" else None
        impact = self.impact(incident["journey"], incident["objective"], threshold, burn_start_s, end_s)
        started = impact.started_s if impact else burn_start_s
        suspect = self.suspect(report, (started, end_s + 1)) if report else None
        changes, others = _changes(report, suspect, started)
        return Headline(
            journey=incident["journey"],
            impact=impact,
            suspect=suspect,
            changes=changes,
            other_changes=others,
            runbook=best_runbook(self.config, journey, report, _seen_faults(suspect)) if report else None,
            investigated=report is not None,
        )

    def impact(
        self, journey: str, objective: str, threshold_ms: float | None, burn_start_s: float, end_s: float
    ) -> Impact | None:
        """Bad requests since the first bad bucket; None when the span metrics have none
        (an SLI from Prometheus, say)."""
        look_from = int(burn_start_s - self.config.watcher.baseline)
        rows = self.store.span_metrics(journey=journey, start_s=look_from, end_s=int(end_s) + 1)
        buckets = entry_buckets(rows, objective)
        started = first_bad_bucket(buckets, burn_start_s)
        if started is None:
            return None
        since = [b for b in buckets if b[0] >= started]
        # a bucket is written once its traces are decided, after the traces themselves:
        # count people up to the last bucket written, or a fresh incident has more users
        # than bad requests
        counted_to = since[-1][0] + self.bucket_s
        people, kind = self._people(journey, objective, threshold_ms, started, counted_to)
        return Impact(
            objective=objective,
            threshold_ms=threshold_ms,
            bad=sum(b[2] for b in since),
            requests=sum(b[1] for b in since),
            started_s=started,
            people=people,
            people_kind=kind,
        )

    def _people(
        self, journey: str, objective: str, threshold_ms: float | None, start_s: int, end_s: int
    ) -> tuple[int, str]:
        """Distinct users (else sessions) of the kept bad traces in [start_s, end_s): a
        floor, since a sampler may drop bad traces too."""
        query = TraceQuery(
            journey=journey,
            start_ns=start_s * S,
            end_ns=end_s * S,
            error=True if objective == "availability" else None,
            min_duration_ns=int(threshold_ms * 1e6) + 1 if threshold_ms is not None else None,
            limit=MAX_LIMIT,
        )
        candidates = self.store.find_traces(query)
        roots = self.store.root_outcomes([t.trace_id for t in candidates])
        found = [t for t in candidates if _bad(roots.get(t.trace_id), threshold_ms)]
        users = {t.user_id for t in found if t.user_id}
        if users:
            return len(users), "users"
        return len({t.session_id for t in found if t.session_id}), "sessions"

    def _callers(self, dependency: str, window: tuple[float, float]) -> tuple[str, ...]:
        """Services seen calling ``dependency`` in kept traces of every journey since the
        first bad request: a shared dependency is shared beyond the journey that paged.
        None are named when the source cannot search without a journey (Jaeger wants a
        service): the rest of the line still stands."""
        try:
            found = self.traces.find_traces(
                journey=None,
                service=None,
                start_ns=int(window[0] * S),
                end_ns=int(window[1] * S),
                limit=CALLER_TRACES,
            )
        except JourneywatchError as exc:
            log.warning("callers of %s not read: %s", dependency, exc)
            return ()
        graph = call_graph(found)
        return tuple(sorted(graph.callers(graph.resolve(dependency))))

    def suspect(self, report: Report, window: tuple[float, float]) -> Suspect | None:
        if not report.candidates:
            return None
        top = report.candidates[0]
        level = report.scope.level
        shared_by: tuple[str, ...] = ()
        if level in ("shared_dependency", "dependency"):
            shared_by = self._callers(top.service, window)
        added = added_ms(report, top)
        return Suspect(
            name=top.service,
            level=level,
            subject=report.scope.subject,
            instance=top.instance,
            shared_by=shared_by,
            added_ms=added if added > 0 else None,
        )


def added_ms(report: Report, suspect: Candidate) -> float:
    """What the suspect added to a request's critical path: its own growth, and of a
    dependency slow only from its calls (``SlowFromOneCaller``) that dependency's growth on
    those calls. Time spent waiting on an uninstrumented database is counted to the
    database's name on the path; when the verdict is the caller, the headline's figure must
    still be the time it added, not the milliseconds of its own code."""
    growth: dict[str, float] = {}
    for bottleneck in report.bottlenecks:
        growth[bottleneck.service] = growth.get(bottleneck.service, 0.0) + bottleneck.delta_ms
    added = growth.get(suspect.service, 0.0)
    for evidence in suspect.evidence:
        if isinstance(evidence.figures, SlowFromOneCaller) and evidence.figures.dependency != suspect.service:
            added += growth.get(evidence.figures.dependency, 0.0) * evidence.figures.share
    return added


def _changes(
    report: Report | None, suspect: Suspect | None, first_bad_s: float
) -> tuple[tuple[ChangeNote, ...], int]:
    """The suspect's changes near the first bad request, and how many others there were."""
    found = [c.change for c in report.changes] if report else []
    names = {suspect.name, suspect.subject} if suspect else set()
    mine = tuple(
        ChangeNote(c.service, c.kind, c.version, round((first_bad_s - c.time_ns / S) / 60, 1), c.release)
        for c in found
        if c.service in names and first_bad_s - c.time_ns / S <= NEAR_S
    )
    return mine, len(found) - len(mine)


def _bad(root: tuple[bool, int] | None, threshold_ms: float | None) -> bool:
    """A bad entry request as span metrics count it: failed, or over the threshold."""
    if root is None:
        return False
    failed, duration_ns = root
    return duration_ns > threshold_ms * 1e6 if threshold_ms is not None else failed


def _seen_faults(suspect: Suspect | None) -> frozenset[str]:
    """A dependency that the traces of all journeys show called by several services is a
    shared one, whatever this journey alone made of it (login reaches the database only
    through auth)."""
    if suspect is not None and suspect.level == "dependency" and len(suspect.shared_by) > 1:
        return frozenset({"shared_dependency"})
    return frozenset()
