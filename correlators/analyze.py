"""One analysis: baseline and incident windows in, a Report out. No I/O, no clock.

Bad traces are the incident's traces of the journey whose root failed or was slower than
the latency threshold (the journey's objective, else 1.5x the baseline p95); the healthy
population is the baseline window's traces of the same journey.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from correlators.attributes import over_represented
from correlators.bottleneck import CriticalTimes, bottlenecks
from correlators.budget import budget_attribution
from correlators.changes import Change, ChangeFinding, relevant_changes
from correlators.findings import ChangedBefore
from correlators.flags import flag_reach
from correlators.gaps import telemetry_gaps
from correlators.grown_patterns import grown_patterns
from correlators.instances import instance_skew
from correlators.logs import Mined, TemplateChange, compare_templates, logs_by_trace, mine_templates
from correlators.metrics import Window, rank_anomalies
from correlators.model import LogRecord, MetricSeries, Trace
from correlators.paths import path_changes
from correlators.platform import (
    failed_calls,
    network_slowdown,
    silent_callee_failures,
    unanswered_failures,
)
from correlators.rank import Candidate, Evidence, error_origin_rates, rank_candidates
from correlators.releases import release_reach, with_new_versions
from correlators.report import Missing, Report
from correlators.scope import decide_scope
from correlators.silenced import silenced_lines
from correlators.topology import call_graph
from correlators.traces import Trees
from correlators.traffic import load_growth, request_rate_change
from correlators.wrong import judge, usual_self_times
from correlators.zones import zone_skew

S = 1_000_000_000
MIN_CONTEMPORARY = 30
"""Healthy incident-window traces needed to compare attributes against them alone."""
THIN_BASELINE = 20
"""Below this many baseline traces of a journey, its latency percentiles are guesses."""


@dataclass(frozen=True, slots=True)
class AnalysisInput:
    traces: Sequence[Trace]
    baseline: Window
    incident: Window
    logs: Sequence[LogRecord] | None = None
    metrics: Sequence[MetricSeries] | None = None
    journey: str | None = None
    latency_threshold_ms: float | None = None
    exemplar_ids: Sequence[str] = ()
    changes: Sequence[Change] = ()
    """Deploys, config changes and flag flips around the incident (``correlators.changes``)."""


def analyze(given: AnalysisInput) -> Report:
    # user journeys only: a background job is nobody's bad request
    journey_traces = [
        t
        for t in given.traces
        if t.journey is not None and (given.journey is None or t.journey == given.journey)
    ]
    baseline = [t for t in journey_traces if t.start_ns in given.baseline]
    during = [t for t in journey_traces if t.start_ns in given.incident]
    thresholds = {
        journey: _threshold_ns(given.latency_threshold_ms, [t for t in baseline if t.journey == journey])
        for journey in {t.journey for t in journey_traces}
    }
    bad = [t for t in during if _is_bad(t, thresholds[t.journey])]
    healthy = [t for t in baseline if not _is_bad(t, thresholds[t.journey])]
    missing = _missing(given, baseline, bad)
    trees = Trees()
    times = CriticalTimes(trees.of)
    found_bottlenecks = bottlenecks(
        [t for t in during if not _root_failed(t)] or bad,
        [t for t in baseline if not _root_failed(t)],
        times=times,
        limit=None,
    )
    mined = _mined(given) if given.logs else None
    changes = _log_changes(given, mined) if mined else []
    anomalies = rank_anomalies(given.metrics, given.baseline, given.incident) if given.metrics else []
    graph = call_graph(journey_traces)
    # attributes against healthy traces of both windows: a deploy that reached good and bad
    # incident traces alike (a benign release elsewhere) is then not over-represented
    # Against healthy traces of the same time when there are enough, so that a release
    # rolled out during the incident to good and bad traces alike is not a finding; weak
    # differences are kept too, since a zone shows as many small ones, one per service.
    calm = _comparison(healthy, [t for t in during if not _is_bad(t, thresholds[t.journey])])
    findings = over_represented(bad, calm, min_difference=0.15, limit=200)
    candidates = rank_candidates(
        bad=bad,
        bottlenecks=found_bottlenecks,
        log_changes=changes,
        anomalies=anomalies,
        graph=graph,
        findings=findings,
        failure_base=error_origin_rates(baseline, trees.of),
        failure_now=error_origin_rates(during, trees.of),
        healthy=healthy,
        path_changes=path_changes(baseline, during, trees.of),
        tree_of=trees.of,
        during=during,
        load_growth=load_growth(
            {a.service for a in anomalies if a.service and a.saturating()},
            baseline,
            during,
            given.baseline,
            given.incident,
        ),
        silenced=silenced_lines(mined, baseline, during) if mined else (),
    )
    usual = usual_self_times(baseline, trees.of)
    judged = judge(during, usual, trees.of, graph.dependencies)
    renewed = with_new_versions(baseline, during)
    scope = decide_scope(
        candidates=candidates,
        graph=graph,
        rate=request_rate_change(
            metrics=given.metrics or (),
            entry_services={t.root.service for t in journey_traces if t.root is not None},
            baseline=baseline,
            during=during,
            baseline_window=given.baseline,
            incident_window=given.incident,
        ),
        skew=zone_skew(judged, graph),
        flag=flag_reach(findings, judged),
        release=release_reach(
            judge(baseline, usual, trees.of, graph.dependencies, only=renewed) if renewed else [],
            judged,
            renewed,
        ),
        instance=instance_skew(judged, candidates[0].service) if candidates else None,
        network=network_slowdown(times.gaps(baseline), times.gaps(during)),
        unanswered=unanswered_failures(bad, trees.of),
        silent=silent_callee_failures(changes, graph, failed_calls(during, trees.of, graph)),
    )
    change_findings = relevant_changes(
        given.changes, candidates, given.incident.start_ns, given.incident.end_ns
    )
    _add_change_evidence(candidates, change_findings)
    return Report(
        journey=given.journey,
        scope=scope,
        candidates=candidates,
        bottlenecks=found_bottlenecks[:BOTTLENECKS_SHOWN],
        attributes=findings[:10],
        log_changes=changes[:10],
        metric_anomalies=anomalies[:10],
        gaps=telemetry_gaps(journey_traces, given.exemplar_ids),
        bad_traces=len(bad),
        baseline_traces=len(healthy),
        missing=missing,
        budget=budget_attribution(bad, healthy, times=times),
        exemplar_logs=_exemplar_logs(given.logs or (), bad),
        changes=change_findings[:10],
        worst_traces=[
            t.trace_id for t in sorted(bad, key=lambda t: (not _root_failed(t), -t.duration_ns))[:EXEMPLARS]
        ],
        grown_patterns=grown_patterns(bad, baseline, trees.of),
    )


def _add_change_evidence(candidates: Sequence[Candidate], findings: Sequence[ChangeFinding]) -> None:
    """A change on a suspect shortly before the burn joins its evidence (it does not move
    the ranking: a benign deploy elsewhere happens all the time)."""
    by_service = {c.service: c for c in candidates}
    for finding in findings:
        candidate = by_service.get(finding.change.service)
        if candidate is not None and finding.minutes_before >= 0:
            change = finding.change
            changed = ChangedBefore(
                change.kind, change.version, finding.minutes_before, finding.candidate_rank
            )
            candidate.evidence.append(Evidence("change", "", 0.0, change.service, changed))


EXEMPLARS = 5
BOTTLENECKS_SHOWN = 10


def _exemplar_logs(logs: Sequence[LogRecord], bad: Sequence[Trace]) -> dict[str, list[LogRecord]]:
    """Logs of the first bad traces that have any, failed traces first."""
    ordered = sorted(bad, key=lambda t: (not _root_failed(t), t.start_ns))
    found = logs_by_trace(logs, [t.trace_id for t in ordered])
    chosen = [t.trace_id for t in ordered if t.trace_id in found][:EXEMPLARS]
    return {trace_id: found[trace_id] for trace_id in chosen}


def _comparison(healthy_before: Sequence[Trace], healthy_now: Sequence[Trace]) -> list[Trace]:
    """Per journey: healthy traces of the incident window when there are enough, else the
    baseline's too (a journey whose every incident trace failed has no healthy ones)."""
    chosen: list[Trace] = []
    for journey in {t.journey for t in [*healthy_before, *healthy_now]}:
        now = [t for t in healthy_now if t.journey == journey]
        before = [t for t in healthy_before if t.journey == journey]
        chosen.extend(now if len(now) >= MIN_CONTEMPORARY else [*before, *now])
    return chosen


def _root_failed(trace: Trace) -> bool:
    root = trace.root
    return root is not None and root.is_error


def _is_bad(trace: Trace, threshold_ns: int | None) -> bool:
    root = trace.root
    if root is None:
        return False
    return root.is_error or (threshold_ns is not None and root.duration_ns > threshold_ns)


def _threshold_ns(objective_ms: float | None, baseline: Sequence[Trace]) -> int | None:
    """The journey's objective, else 1.5x the baseline's p95; a baseline too thin for a
    p95 has its slowest trace stand in for it (the p95 of a handful is their maximum)."""
    if objective_ms is not None:
        return int(objective_ms * 1_000_000)
    durations = sorted(t.root.duration_ns for t in baseline if t.root is not None)
    if not durations:
        return None
    if len(durations) < THIN_BASELINE:
        return int(durations[-1] * 1.5)
    return int(durations[int(len(durations) * 0.95)] * 1.5)


def _mined(given: AnalysisInput) -> Mined:
    logs = given.logs or ()
    return mine_templates(
        [r for r in logs if r.time_ns in given.baseline], [r for r in logs if r.time_ns in given.incident]
    )


def _log_changes(given: AnalysisInput, mined: Mined) -> list[TemplateChange]:
    return compare_templates(
        [record for record, _ in mined.before],
        [record for record, _ in mined.during],
        baseline_seconds=(given.baseline.end_ns - given.baseline.start_ns) / S,
        incident_seconds=(given.incident.end_ns - given.incident.start_ns) / S,
        min_count=5,
        mined=mined,
    )


def _missing(given: AnalysisInput, baseline: Sequence[Trace], bad: Sequence[Trace]) -> list[Missing]:
    missing = []
    if given.logs is None:
        missing.append(Missing("no_logs"))
    if given.metrics is None:
        missing.append(Missing("no_metrics"))
    if not baseline:
        missing.append(Missing("no_baseline"))
    elif len(baseline) < THIN_BASELINE:
        missing.append(Missing("thin_baseline", traces=len(baseline)))
    if not bad:
        missing.append(Missing("no_bad_traces"))
    return missing
