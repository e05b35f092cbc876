"""Root-cause candidates: evidence from traces, logs and metrics combined per service.

Each kind of fault shows in a different signal — a code fault in error origins and new
error log lines, a resource fault in metrics and latency, a delay in latency alone — so a
service's score adds four normalized parts, each 0..1:

- latency: its share of the critical-path time the incident added (``bottleneck``);
- errors: its share of the bad traces whose error originated in it (``error_origin``);
- logs: new or surging error-level log templates of its own;
- metrics: its strongest robust anomaly score, squashed to 0..1; a resource it saturates
  (CPU, memory) counts as a strong signal, its other metrics (latency, rates) as a weak one.

A pod whose CPU went from a few percent to its limit, beyond what its peers moved, is a
cause where it stands: a slow callee makes every caller's latency rise, but not their CPU.

Blame then moves down the call graph: a caller whose callee scores at least as high is
demoted, since callers that only waited on (or relayed the errors of) a callee must not
rank above it.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from correlators.attributes import AttributeFinding
from correlators.bottleneck import Bottleneck
from correlators.findings import (
    CriticalPathGrowth,
    ErrorLines,
    ErrorOrigins,
    Figures,
    LineStopped,
    MetricMove,
    NamedBehind,
    OverRepresented,
    PathEnds,
    SlowFromOneCaller,
)
from correlators.logs import TemplateChange
from correlators.metrics import MetricAnomaly
from correlators.model import CALLEE_KINDS, CALLER_KINDS, Span, Trace
from correlators.paths import PathChange
from correlators.silenced import SilencedLine
from correlators.topology import CallGraph, dependency_of, first_named
from correlators.traces import TreeOf, assemble, error_origin

WEIGHTS = {
    "latency": 0.35,
    "errors": 0.35,
    "logs": 0.35,
    "paths": 0.35,
    "saturation": 0.35,
    "metrics": 0.15,
    "attributes": 0.2,
}
CALLER_DEMOTION = 0.5
LONE_CALLER_SHARE = 0.3
"""Other callers' calls may be slower by at most this share of the one slow caller's."""
MIN_ORIGINS = 3
"""Failed traces that started in a node before a relayed line's name is passed on to it."""
MIN_REACHED = 5
"""Traces through a service needed before the share one instance served is evidence."""
SAMPLE_CHARS = 160
"""Of a log line kept as evidence: enough to recognise it, and a bound on a report's size
(a template's whole sample is in the report's log changes)."""


@dataclass(frozen=True, slots=True)
class Evidence:
    kind: str
    """critical_path | error_origin | log_template | path | metric | attribute | change"""
    summary: str
    """The finding in words, only as a report stored before ``figures`` existed has it:
    empty from the analysis, filled in by the edge that writes the JSON, for older readers."""
    weight: float
    subject: str | None = None
    """What the finding is about: a service, a dependency."""
    figures: Figures | None = None
    """What was found, for an edge to word (``correlators.findings``)."""


@dataclass(slots=True)
class Candidate:
    service: str
    score: float
    instance: str | None = None
    operation: str | None = None
    evidence: list[Evidence] = field(default_factory=list)
    parts: dict[str, float] = field(default_factory=dict)


def origin_owner(span: Span, trace: Trace) -> tuple[str, str]:
    """(service or dependency, operation) an error origin belongs to."""
    if span.kind in CALLER_KINDS:
        has_server_child = any(
            s.parent_span_id == span.span_id and s.kind in CALLEE_KINDS for s in trace.spans
        )
        target = None if has_server_child else dependency_of(span)
        if target:
            return target, span.name
    return span.service, span.name


Origin = tuple[str, str, str | None]
"""(owner, operation, instance) an error originated in."""


def origins_by_trace(traces: Sequence[Trace], tree_of: TreeOf = assemble) -> dict[str, Origin]:
    """Trace id -> where its error originated, for the traces that have one."""
    found: dict[str, Origin] = {}
    for trace in traces:
        origin = error_origin(tree_of(trace))
        if origin is not None:
            owner, operation = origin_owner(origin, trace)
            found[trace.trace_id] = (owner, operation, origin.instance if owner == origin.service else None)
    return found


def error_origins(bad: Sequence[Trace], tree_of: TreeOf = assemble) -> Counter[Origin]:
    """(owner, operation, instance) -> bad traces whose error originated there."""
    return Counter(origins_by_trace(bad, tree_of).values())


def rank_candidates(
    *,
    bad: Sequence[Trace],
    bottlenecks: Sequence[Bottleneck],
    log_changes: Sequence[TemplateChange],
    anomalies: Sequence[MetricAnomaly],
    graph: CallGraph,
    findings: Sequence[AttributeFinding] = (),
    failure_base: dict[str, float] | None = None,
    failure_now: dict[str, float] | None = None,
    healthy: Sequence[Trace] = (),
    path_changes: Sequence[PathChange] = (),
    limit: int = 5,
    tree_of: TreeOf = assemble,
    during: Sequence[Trace] = (),
    load_growth: Mapping[str, float] | None = None,
    silenced: Sequence[SilencedLine] = (),
) -> list[Candidate]:
    """``failure_base`` and ``failure_now``: per owner, the share of all traces (baseline,
    incident) whose error originated there; errors part is discounted by how much of the
    incident rate the baseline already had, so background errors do not point anywhere."""
    parts: defaultdict[str, dict[str, float]] = defaultdict(dict)
    evidence: defaultdict[str, list[Evidence]] = defaultdict(list)
    operations: defaultdict[str, Counter[str]] = defaultdict(Counter)
    instances: defaultdict[str, Counter[str]] = defaultdict(Counter)
    _latency(bottlenecks, parts, evidence, operations)
    origins = origins_by_trace(bad, tree_of)
    _errors(Counter(origins.values()), parts, evidence, operations, instances)
    _discount_usual_errors(parts, failure_base or {}, failure_now or {})
    _logs(log_changes, parts, evidence, {trace_id: origin[0] for trace_id, origin in origins.items()}, graph)
    _paths(path_changes, parts, evidence)
    _silenced(silenced, parts, evidence, operations)
    reached = graph.nodes
    _metrics(
        [a for a in anomalies if _on_the_journey(a, reached)], parts, evidence, instances, load_growth or {}
    )
    _attributes(findings, parts, evidence, instances, bad, healthy)
    _slow_from_one_caller(during or bad, healthy, graph, parts, evidence, instances)
    _merge_aliases(graph, parts, evidence, operations, instances)
    scores = {s: sum(WEIGHTS[k] * v for k, v in p.items()) for s, p in parts.items()}
    scores = _demote_callers(scores, graph)
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        Candidate(
            service=service,
            score=round(score, 4),
            instance=_top(instances[service]) or slowest_instance(service, bad, healthy),
            operation=_top(operations[service]),
            evidence=sorted(evidence[service], key=lambda e: -e.weight),
            parts={k: round(v, 4) for k, v in parts[service].items()},
        )
        for service, score in ranked
        if score > 0
    ]


def _latency(
    bottlenecks: Sequence[Bottleneck],
    parts: dict[str, dict[str, float]],
    evidence: dict[str, list[Evidence]],
    operations: dict[str, Counter[str]],
) -> None:
    for b in bottlenecks:
        parts[b.service]["latency"] = parts[b.service].get("latency", 0.0) + b.share
        operations[b.service][b.operation] += int(b.delta_ms)
        growth = CriticalPathGrowth(b.operation, b.delta_ms, b.baseline_ms, b.incident_ms, b.share)
        evidence[b.service].append(Evidence("critical_path", "", b.share, b.service, growth))


def _errors(
    origins: Counter[Origin],
    parts: dict[str, dict[str, float]],
    evidence: dict[str, list[Evidence]],
    operations: dict[str, Counter[str]],
    instances: dict[str, Counter[str]],
) -> None:
    failed = sum(origins.values())
    per_owner: Counter[str] = Counter()
    for (owner, operation, instance), n in origins.items():
        per_owner[owner] += n
        operations[owner][operation] += n
        if instance:
            instances[owner][instance] += n
    for owner, n in per_owner.items():
        share = n / failed
        # a handful of failures is what every system has; ten or more is a pattern
        parts[owner]["errors"] = share * min(1.0, n / 10)
        evidence[owner].append(Evidence("error_origin", "", share, owner, ErrorOrigins(n, failed)))


def error_origin_rates(traces: Sequence[Trace], tree_of: TreeOf = assemble) -> dict[str, float]:
    """Owner -> share of all the traces whose error originated there."""
    if not traces:
        return {}
    failed = [t for t in traces if t.root is not None and t.root.is_error]
    per_owner: Counter[str] = Counter()
    for (owner, _, _), n in error_origins(failed, tree_of).items():
        per_owner[owner] += n
    return {owner: n / len(traces) for owner, n in per_owner.items()}


def _discount_usual_errors(
    parts: dict[str, dict[str, float]], base: dict[str, float], now: dict[str, float]
) -> None:
    for owner, owner_parts in parts.items():
        if "errors" not in owner_parts:
            continue
        rate_now = now.get(owner, 0.0)
        significance = max(0.0, 1.0 - base.get(owner, 0.0) / rate_now) if rate_now else 0.0
        owner_parts["errors"] *= significance


def _logs(
    changes: Sequence[TemplateChange],
    parts: dict[str, dict[str, float]],
    evidence: dict[str, list[Evidence]],
    origins: dict[str, str],
    graph: CallGraph,
) -> None:
    """A service's new error lines point at it, unless most requests they were written in
    failed elsewhere (in something it called), or the line names something it called:
    then it only relays that error, as a caller logging its callee's failure does, and the
    error's origin has the evidence already. The name counts where the traces cannot:
    logs are kept for requests a sampler dropped."""
    owners = Counter(origins.values())
    for change in changes:
        if not change.is_error:
            continue
        relayed = _relayed_from(change, origins) or _named_callee(change.sample, change.service, graph)
        weight = 0.0 if relayed else min(1.0, change.incident_count / 10)
        parts[change.service]["logs"] = max(parts[change.service].get("logs", 0.0), weight)
        lines = ErrorLines(
            change.kind, change.incident_count, change.rate_ratio, _sample(change.sample), relayed
        )
        evidence[change.service].append(Evidence("log_template", "", weight, change.service, lines))
        deeper = _deepest_named(change.sample, relayed, graph) if relayed else None
        if relayed and deeper:
            _named_behind(change, relayed, deeper, _origin_below(deeper, graph, owners), parts, evidence)


def _named_behind(
    change: TemplateChange,
    relayed: str,
    named: str,
    origin: str,
    parts: dict[str, dict[str, float]],
    evidence: dict[str, list[Evidence]],
) -> None:
    """A relayed error that also names a failed callee of the service it came from says
    where that service's own failure came from (``call to cart failed: connect to redis
    failed``): the name counts for the callee, as its own new error line would, or for
    ``origin``, where the traces saw that callee's failures start."""
    weight = min(1.0, change.incident_count / 10)
    parts[origin]["logs"] = max(parts[origin].get("logs", 0.0), weight)
    behind = NamedBehind(change.service, change.incident_count, named, relayed, _sample(change.sample))
    evidence[origin].append(Evidence("log_template", "", weight, origin, behind))


def _deepest_named(text: str, service: str, graph: CallGraph) -> str | None:
    """The failed callee of ``service`` the line names, its failed callee the line names,
    and so on down: ``call to api failed: cart failed: connect to redis failed`` said by
    web names redis behind api (None when it names none of api's)."""
    named, seen = None, {service}
    while (below := _named_callee(text, service, graph)) is not None and below not in seen:
        named = service = below
        seen.add(below)
    return named


def _origin_below(node: str, graph: CallGraph, owners: Counter[str]) -> str:
    """``node``, or the failed callee below it where the traces saw most failures start,
    followed down: most of those that started in ``node`` or below it, and at least
    :data:`MIN_ORIGINS` traces, since a callee seen failing once says nothing of the named
    node's failures."""
    seen = {node}
    while True:
        below = sum(owners[n] for n in graph.downstream(node) | {node})
        failed = [c for c in graph.callees(node) if graph.edges[(node, c)].errors and owners[c]]
        if not failed:
            return node
        top = max(sorted(failed), key=lambda callee: owners[callee])
        if top in seen or owners[top] < max(MIN_ORIGINS, below / 2):
            return node
        node = top
        seen.add(node)


def _named_callee(text: str, service: str, graph: CallGraph) -> str | None:
    """The first callee the error line names, as a whole word, among those the service's
    calls to failed: a line that names a callee nobody saw fail ("no instances available
    for seats") is the caller's own trouble."""
    failed = (c for c in graph.callees(service) if graph.edges[(service, c)].errors)
    return first_named(text, failed)


def _relayed_from(change: TemplateChange, origins: dict[str, str]) -> str | None:
    """The other owner most of the template's traces failed in, if they did."""
    owners = Counter(origins[t] for t in change.trace_ids if t in origins)
    if not owners:
        return None
    owner, count = owners.most_common(1)[0]
    return owner if owner != change.service and count * 2 > len(change.trace_ids) else None


def _paths(
    changes: Sequence[PathChange],
    parts: dict[str, dict[str, float]],
    evidence: dict[str, list[Evidence]],
) -> None:
    """Requests that took a different path point at whoever decided it (``paths``); the
    change that moved the most requests weighs fully, the others by how many they moved."""
    if not changes:
        return
    most = max(change.moved for change in changes)
    for change in changes:
        weight = change.growth * change.moved / most
        if weight <= parts[change.owner].get("paths", 0.0):
            continue
        parts[change.owner]["paths"] = weight
        service, operation = change.where
        ends = PathEnds(service, operation, change.after, change.share_now, change.share_before)
        evidence[change.owner].append(Evidence("path", "", weight, change.owner, ends))


def _silenced(
    lines: Sequence[SilencedLine],
    parts: dict[str, dict[str, float]],
    evidence: dict[str, list[Evidence]],
    operations: dict[str, Counter[str]],
) -> None:
    """An operation whose calls stopped writing what they wrote on nearly every call (a
    line, any line, two lines in step) took another path through its own code
    (``silenced``): a path change decided by its own service, weighed by the share of
    calls on which the regularity held."""
    for line in lines:
        weight = line.share_before
        operations[line.service][line.operation] += line.calls_now
        parts[line.service]["paths"] = max(parts[line.service].get("paths", 0.0), weight)
        stopped = LineStopped(
            line.operation,
            line.wrote_before,
            line.calls_before,
            line.calls_now,
            _sample(line.sample),
            broke=line.broke,
            paired_sample=_sample(line.paired_sample),
            caller=line.caller,
        )
        evidence[line.service].append(Evidence("path", "", weight, line.service, stopped))


def _on_the_journey(anomaly: MetricAnomaly, reached: set[str]) -> bool:
    """A service no request of the journey reached (``reached``: the call graph's nodes)
    cannot explain its bad requests, however loudly its metrics moved: idle services'
    gauges jump from nothing to something all the time."""
    return not reached or anomaly.service in reached


def _metrics(
    anomalies: Sequence[MetricAnomaly],
    parts: dict[str, dict[str, float]],
    evidence: dict[str, list[Evidence]],
    instances: dict[str, Counter[str]],
    load_growth: Mapping[str, float],
) -> None:
    """``load_growth``: per service, how much more work it was given (``traffic.load_growth``)."""
    for anomaly in anomalies:
        if anomaly.service is None:
            continue
        weight = anomaly.score / (anomaly.score + 10)
        part = "saturation" if anomaly.saturating(load_growth.get(anomaly.service, 1.0)) else "metrics"
        if weight > parts[anomaly.service].get(part, 0.0):
            parts[anomaly.service][part] = weight
        instance = anomaly.labels.get("service.instance.id")
        if instance and instance != anomaly.service:
            instances[anomaly.service][instance] += 1
        move = MetricMove(
            anomaly.name,
            instance if instance and instance != anomaly.service else None,
            anomaly.direction,
            anomaly.baseline_median,
            anomaly.incident_median,
            anomaly.score,
        )
        evidence[anomaly.service].append(Evidence("metric", "", weight, anomaly.service, move))


def _attributes(
    findings: Sequence[AttributeFinding],
    parts: dict[str, dict[str, float]],
    evidence: dict[str, list[Evidence]],
    instances: dict[str, Counter[str]],
    bad: Sequence[Trace],
    healthy: Sequence[Trace],
) -> None:
    """One instance of a service over-represented in bad traces points at that service,
    even when its symptoms were charged elsewhere (a slow network on one instance shows as
    slow calls to whatever it calls).

    Over-represented among the traces that reach the service at all: that bad traces
    are of the kind of request that passes through a service is no news about one of its
    instances (and a service with a single instance says nothing this way)."""
    for f in findings:
        # versions are left to the release check: a deploy during the incident is in bad
        # and good traces of that time alike, so its share here says little
        if f.service is None or f.key != "service.instance":
            continue
        bad_share = _instance_share(f.service, f.value, bad)
        healthy_share = _instance_share(f.service, f.value, healthy)
        if bad_share is None or healthy_share is None:
            continue
        gap = bad_share - healthy_share
        if gap < 0.3 or bad_share < 0.6:
            continue
        if gap > parts[f.service].get("attributes", 0.0):
            parts[f.service]["attributes"] = gap
        if f.key == "service.instance":
            instances[f.service][f.value] += 10
        found = OverRepresented(f.key, f.value, bad_share, healthy_share)
        evidence[f.service].append(Evidence("attribute", "", gap, f.service, found))


def _slow_from_one_caller(
    incident: Sequence[Trace],
    healthy: Sequence[Trace],
    graph: CallGraph,
    parts: dict[str, dict[str, float]],
    evidence: dict[str, list[Evidence]],
    instances: dict[str, Counter[str]],
) -> None:
    """A dependency that is slow only when one caller instance calls it is not slow: that
    instance is (its network, its connection pool). Move the latency blame there. All the
    incident's calls are compared, not only the bad traces': the other callers' calls that
    went fine are in the traces that went fine."""
    slow = [d for d in sorted(graph.dependencies) if parts.get(d, {}).get("latency", 0.0)]
    if not slow:
        return
    calls_before, calls_now = _calls_by_dependency(healthy), _calls_by_dependency(incident)
    for dependency in slow:
        latency = parts[dependency]["latency"]
        excess = _excess_by_caller(calls_before.get(dependency, []), calls_now.get(dependency, []))
        lone = _lone_slow_caller(excess)
        if lone is None:
            continue
        (service, instance), top, total = lone
        parts[dependency]["latency"] = latency * (1 - top / total)
        parts[service]["latency"] = parts[service].get("latency", 0.0) + latency * top / total
        instances[service][instance] += 20
        slow_calls = SlowFromOneCaller(instance, dependency, top / total)
        evidence[service].append(Evidence("critical_path", "", latency * top / total, service, slow_calls))


def _calls_by_dependency(traces: Sequence[Trace]) -> dict[str, list[Span]]:
    """Each dependency's calls from instances that name themselves, in one pass."""
    calls: defaultdict[str, list[Span]] = defaultdict(list)
    for trace in traces:
        for span in trace.spans:
            if span.instance and span.kind in CALLER_KINDS:
                target = dependency_of(span)
                if target is not None:
                    calls[target].append(span)
    return calls


def _excess_by_caller(before: Sequence[Span], now: Sequence[Span]) -> dict[tuple[str, str], list[float]]:
    """(caller service, instance) -> the ns each of its calls to a dependency in bad traces
    (``now``) took beyond the healthy calls' mean (``before``)."""
    if not before:
        return {}
    mean = sum(s.duration_ns for s in before) / len(before)
    excess: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
    for span in now:
        excess[(span.service, span.instance or "")].append(span.duration_ns - mean)
    return dict(excess)


def _lone_slow_caller(
    excess: dict[tuple[str, str], list[float]],
) -> tuple[tuple[str, str], float, float] | None:
    """(caller, its excess, everyone's excess) when one caller instance holds most of the
    added time and, where the others made enough calls to judge, their calls were not
    slow too: a sampler that kept mostly one instance's requests makes its total the
    largest without its calls being any slower than the others'."""
    totals = {caller: max(0.0, sum(values)) for caller, values in excess.items()}
    total = sum(totals.values())
    if total <= 0:
        return None
    top = max(totals, key=lambda caller: totals[caller])
    if totals[top] / total < 0.7:
        return None
    others = [v for caller, values in excess.items() if caller != top for v in values]
    top_per_call = totals[top] / len(excess[top])
    if len(others) >= MIN_REACHED and sum(others) / len(others) > LONE_CALLER_SHARE * top_per_call:
        return None
    return top, totals[top], total


def _instance_share(service: str, instance: str, traces: Sequence[Trace]) -> float | None:
    """Of the traces that reach ``service``, the share that ``instance`` served; None when
    too few reach it for a share to mean anything."""
    reached = served = 0
    for trace in traces:
        seen = {s.instance for s in trace.spans if s.service == service}
        if seen:
            reached += 1
            served += instance in seen
    return served / reached if reached >= MIN_REACHED else None


def slowest_instance(service: str, incident: Sequence[Trace], baseline: Sequence[Trace]) -> str | None:
    """The instance of ``service`` whose calls grew most, as its callers saw them (a call
    into it from another service counts with the caller's wait, so a slow network or
    queue in front of the instance shows too); the only instance when there is one."""
    during = _served_ns(service, incident)
    if len(during) <= 1:
        return next(iter(during), None)
    before = _served_ns(service, baseline)
    usual = statistics.median([d for ds in before.values() for d in ds]) if before else 0.0

    def growth(instance: str) -> float:
        return statistics.median(during[instance]) - statistics.median(before.get(instance) or [usual])

    return max(sorted(during), key=growth)


def _served_ns(service: str, traces: Sequence[Trace]) -> dict[str, list[int]]:
    """Instance -> durations of the entry spans of ``service`` it served (the caller's
    span around the call when the caller is another service)."""
    found: defaultdict[str, list[int]] = defaultdict(list)
    for trace in traces:
        by_id = {s.span_id: s for s in trace.spans}
        for span in trace.spans:
            if span.service != service or not span.instance:
                continue
            parent = by_id.get(span.parent_span_id or "")
            if parent is None or parent.service != service:
                found[span.instance].append(max(span.duration_ns, parent.duration_ns if parent else 0))
    return dict(found)


def _merge_aliases(
    graph: CallGraph,
    parts: dict[str, dict[str, float]],
    evidence: dict[str, list[Evidence]],
    operations: dict[str, Counter[str]],
    instances: dict[str, Counter[str]],
) -> None:
    """Evidence gathered under the name an unanswered call used (an ``rpc.service``) is the
    service's that answers that name (``CallGraph.resolve``): one candidate, not two."""
    for named in [n for n in parts if graph.resolve(n) != n]:
        service = graph.resolve(named)
        for kind, value in parts.pop(named).items():
            parts[service][kind] = max(parts[service].get(kind, 0.0), value)
        evidence[service].extend(evidence.pop(named, []))
        operations[service].update(operations.pop(named, Counter()))
        instances[service].update(instances.pop(named, Counter()))


def _demote_callers(scores: dict[str, float], graph: CallGraph) -> dict[str, float]:
    """A node whose callee scores at least as high only waited on it: halve it."""
    demoted = dict(scores)
    for node, score in scores.items():
        callees = graph.callees(node)
        if any(scores.get(callee, 0.0) >= score * 0.8 for callee in callees):
            demoted[node] = score * CALLER_DEMOTION
    return demoted


def _sample(text: str) -> str:
    return text[:SAMPLE_CHARS]


def _top(counter: Counter[str]) -> str | None:
    return counter.most_common(1)[0][0] if counter else None
