"""Where latency accumulated: critical-path time per service and operation, incident
exemplar traces against healthy traces of the same journey, each kind of request against
the same kind (``correlators.mix``).

Time a client span spends waiting on something that sends no spans of its own (a
database, a cache, a third-party API) is charged to that dependency, named as the
topology names it, not to the caller: "inventory waited on postgres" must read as
postgres. Likewise a client span's time outside its server child (the request queued at
a saturated callee, or slow on the wire to it) is charged to the callee's operation: the
caller only waited.

Kinds of request that, with enough traces to tell, did not get slower are left out: a
busier kind that got faster would hide one that got twice as slow. When what is left did
not get slower either (failed requests are often faster than good ones), no key is a
bottleneck: shares of a near-zero growth would read as "92 % of the added time" and blame
whoever happened to be a millisecond slower.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from correlators.calls import Edge, Node, caller_shares, gap_growth, service_shares
from correlators.critical_path import critical_steps
from correlators.mix import Pairs, matched_kinds, standardized, weighed
from correlators.model import CALLEE_KINDS, CALLER_KINDS, Span, Trace
from correlators.topology import broker_of, dependency_of
from correlators.traces import AssembledTrace, SpanNode, TreeOf, assemble, self_time

Key = tuple[str, str]
"""(service or dependency, operation)"""
MIN_GROWTH_NS = 1_000_000
MIN_GROWTH_SHARE = 0.05
"""Below this net growth of the mean critical path (1 ms, or 5 % of the baseline's), the
journey did not get slower."""
MIN_KIND_TRACES = 5
"""A kind of request judged slower on its own needs this many traces in each window."""


@dataclass(frozen=True, slots=True)
class Bottleneck:
    service: str
    operation: str
    incident_ms: float
    """Mean critical-path time per incident trace of the kinds of request compared (those
    that got slower, see :func:`bottlenecks`)."""
    baseline_ms: float
    delta_ms: float
    share: float
    """This key's part of the total added critical-path time (0..1)."""


CallKey = tuple[str, str, str, str]
"""(caller service, caller operation, callee, callee operation) of one kind of call."""


@dataclass(frozen=True, slots=True)
class TraceTimes:
    """What one trace says about where time went."""

    critical: dict[Key, int]
    """(owner, operation) -> ns of the critical path."""
    call_gaps: dict[CallKey, int]
    """The part of ``critical`` that is calls' time outside their callee's span, per call."""
    gaps: list[tuple[Edge, int]]
    """Every remote call's time outside its callee's span, on the critical path or not."""


def critical_time(trace: Trace) -> dict[Key, int]:
    """(owner, operation) -> ns of the trace's critical path."""
    return trace_times(trace).critical


def trace_times(trace: Trace, tree_of: TreeOf = assemble) -> TraceTimes:
    tree = tree_of(trace)
    calls = _calls(tree)
    owners = _owners(calls)
    totals: defaultdict[Key, int] = defaultdict(int)
    call_gaps: defaultdict[CallKey, int] = defaultdict(int)
    for node, start, end in critical_steps(tree):
        span = node.span
        owner = owners.get(span.span_id)
        if owner is None:
            totals[(span.service, span.name)] += end - start
            continue
        totals[owner] += end - start
        call_gaps[(span.service, span.name, *owner)] += end - start
    return TraceTimes(dict(totals), dict(call_gaps), _remote_gaps(calls))


Call = tuple[SpanNode, list[SpanNode]]
"""A client (or producer) span's node and the server (or consumer) spans it caused."""


def _calls(tree: AssembledTrace) -> list[Call]:
    """Every outgoing call of the tree with its callees, found once for the owners and the
    gaps of one trace."""
    return [
        (node, [c for c in node.children if c.kind in CALLEE_KINDS])
        for node in tree.by_id.values()
        if node.kind in CALLER_KINDS
    ]


def _remote_gaps(calls: Sequence[Call]) -> list[tuple[Edge, int]]:
    """(caller, callee) instances and the ns of each call outside the one server span it
    caused."""
    return [
        ((_node(node.span), _node(servers[0].span)), self_time(node))
        for node, servers in calls
        if len(servers) == 1 and servers[0].span.service != node.span.service
    ]


def _node(span: Span) -> Node:
    return span.service, span.instance or ""


class CriticalTimes:
    """Each trace's times, computed once per analysis: the bottlenecks and the budget
    attribution read the same traces, and assembling a tree is the costly part."""

    def __init__(self, tree_of: TreeOf = assemble) -> None:
        self._by_trace: dict[str, TraceTimes] = {}
        self.tree_of = tree_of

    def times(self, trace: Trace) -> TraceTimes:
        found = self._by_trace.get(trace.trace_id)
        if found is None:
            found = self._by_trace[trace.trace_id] = trace_times(trace, self.tree_of)
        return found

    def of(self, trace: Trace) -> dict[Key, int]:
        return self.times(trace).critical

    def mean(self, traces: Sequence[Trace]) -> dict[Key, float]:
        """Mean critical-path ns per key over ``traces`` (a key absent from a trace is 0)."""
        return _mean([self.of(trace) for trace in traces])

    def mean_call_gaps(self, traces: Sequence[Trace]) -> dict[CallKey, float]:
        return _mean([self.times(trace).call_gaps for trace in traces])

    def gaps(self, traces: Sequence[Trace]) -> dict[Edge, list[int]]:
        found: defaultdict[Edge, list[int]] = defaultdict(list)
        for trace in traces:
            for edge, gap in self.times(trace).gaps:
                found[edge].append(gap)
        return dict(found)

    def mean_by_journey(self, traces: Sequence[Trace]) -> dict[str | None, dict[Key, float]]:
        groups: defaultdict[str | None, list[Trace]] = defaultdict(list)
        for trace in traces:
            groups[trace.journey].append(trace)
        return {journey: self.mean(group) for journey, group in groups.items()}


K = TypeVar("K")


def _mean(per_trace: Sequence[Mapping[K, int]]) -> dict[K, float]:
    sums: defaultdict[K, float] = defaultdict(float)
    for times in per_trace:
        for key, value in times.items():
            sums[key] += value
    return {key: value / len(per_trace) for key, value in sums.items()}


def bottlenecks(
    incident: Sequence[Trace],
    baseline: Sequence[Trace],
    *,
    limit: int | None = 10,
    times: CriticalTimes | None = None,
) -> list[Bottleneck]:
    """Keys whose mean critical-path time grew, largest growth first; ``limit=None`` for
    all of them (a service's share is the sum over its keys, many small ones included)."""
    if not incident:
        return []
    times = times or CriticalTimes()
    kinds = _slower_kinds(
        [
            _Kind(now, usual, times.mean(now), times.mean(usual))
            for now, usual in matched_kinds(incident, baseline)
        ]
    )
    during, before = weighed([(len(kind.now), kind.during, kind.before) for kind in kinds])
    deltas = {key: during.get(key, 0.0) - before.get(key, 0.0) for key in during.keys() | before.keys()}
    if baseline:
        _charge_slow_callers(deltas, [(kind.now, kind.usual) for kind in kinds], incident, baseline, times)
    if not _grew(during, before):
        return []
    grown = {key: delta for key, delta in deltas.items() if delta > 0}
    total = sum(grown.values())
    ranked = sorted(grown.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        Bottleneck(
            service=key[0],
            operation=key[1],
            incident_ms=round(during.get(key, 0.0) / 1e6, 3),
            baseline_ms=round(before.get(key, 0.0) / 1e6, 3),
            delta_ms=round(delta / 1e6, 3),
            share=round(delta / total, 4) if total else 0.0,
        )
        for key, delta in ranked
    ]


class _Kind(NamedTuple):
    """One kind of request's traces in each window, and their mean critical times."""

    now: Sequence[Trace]
    usual: Sequence[Trace]
    during: dict[Key, float]
    before: dict[Key, float]


def _slower_kinds(kinds: list[_Kind]) -> list[_Kind]:
    """Leave out the kinds of request that well-sampled did not get slower: one kind twice
    as slow is a fault even while a busier kind got faster and the mean of all stayed
    put. Thin kinds stay in, weighed by their few traces; with no kind left, every kind,
    and the guard in :func:`bottlenecks` decides."""
    kept = [
        kind
        for kind in kinds
        if min(len(kind.now), len(kind.usual)) < MIN_KIND_TRACES or _grew(kind.during, kind.before)
    ]
    return kept or kinds


def _grew(during: Mapping[Key, float], before: Mapping[Key, float]) -> bool:
    base = sum(before.values())
    return sum(during.values()) - base > max(MIN_GROWTH_NS, MIN_GROWTH_SHARE * base)


def _charge_slow_callers(
    deltas: dict[Key, float],
    pairs: Pairs,
    incident: Sequence[Trace],
    baseline: Sequence[Trace],
    times: CriticalTimes,
) -> None:
    """Move the caller's part of calls' added time from the callee to the caller
    (``correlators.calls``): a slow caller makes every call it makes slow."""
    growth = gap_growth(times.gaps(baseline), times.gaps(incident))
    shares = service_shares(caller_shares(growth), growth)
    during, before = standardized(pairs, times.mean_call_gaps)
    for call in during.keys() | before.keys():
        caller, operation, callee, callee_operation = call
        grown = during.get(call, 0.0) - before.get(call, 0.0)
        share = shares.get((caller, callee), 0.0)
        if grown > 0 and share > 0:
            moved = grown * share
            deltas[(callee, callee_operation)] = deltas.get((callee, callee_operation), 0.0) - moved
            deltas[(caller, operation)] = deltas.get((caller, operation), 0.0) + moved


def _owners(calls: Sequence[Call]) -> dict[str, Key]:
    """Client spans belong to what they called: the one server span under them, or the
    uninstrumented dependency they name. A producer span belongs to its broker even when
    the consumer's span hangs under it: the publish waits on the broker, and the consumer
    takes the message later, on its own time."""
    owners: dict[str, Key] = {}
    for node, servers in calls:
        broker = broker_of(node.span)
        if broker is not None:
            owners[node.span.span_id] = (broker, node.span.name)
        elif len(servers) == 1:
            owners[node.span.span_id] = (servers[0].span.service, servers[0].span.name)
            continue
        target = None if servers else dependency_of(node.span)
        if target:
            owners[node.span.span_id] = (target, node.span.name)
    return owners
