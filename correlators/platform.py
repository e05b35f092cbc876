"""A platform fault: the network between services got worse everywhere at once.

A service mesh sidecar, DNS or the node network adds its delay to every call, whoever
makes it and whoever answers, and to no service's own work; when it fails, calls fail
before any callee sees them. That is the one cause that grows the time calls spend
outside their callee's span on most edges of the call graph, or fails calls that nothing
answered, from many callers to many callees. A slow or unreachable instance, service or
dependency touches the edges that reach it (one callee, or one caller); a zone the edges
that touch the zone (judged before this, see ``correlators.zones``).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from correlators.calls import Edge
from correlators.model import SpanKind, Trace
from correlators.topology import dependency_of
from correlators.traces import SpanNode, TreeOf, error_origin

MIN_CALLS = 10
"""Calls of a service edge needed in each window before its median gap is judged."""
MIN_EDGES = 4
MIN_GROWN_SHARE = 2 / 3
MIN_ENDS = 3
"""Distinct callers, and distinct callees, among the grown edges."""
MIN_GROWTH_NS = 5_000_000
"""Median gap growth of an edge, in absolute terms (5 ms)…"""
MIN_GROWTH_FACTOR = 2.0
"""…and relative: twice its baseline median."""

MIN_UNANSWERED = 10
"""Failed traces whose error started in a call nothing answered, before their spread is judged."""
MAX_END_SHARE = 0.5
"""No one caller, and no one callee, may hold more than half of those failures."""
MIN_UNANSWERED_SHARE = 0.6
"""Of all the failed traces' error origins."""

ServiceEdge = tuple[str, str]


@dataclass(frozen=True, slots=True)
class NetworkSlowdown:
    grown: dict[ServiceEdge, tuple[float, float]]
    """(caller, callee) -> median gap in ms, baseline and incident, of the edges that grew."""
    measured: int
    """Service edges with enough calls in both windows."""


@dataclass(frozen=True, slots=True)
class NetworkFailures:
    edges: dict[ServiceEdge, int]
    """(caller, callee) -> failed traces whose error started in a call between them that
    nothing answered."""
    origins: int
    """Failed traces with a known error origin."""


def network_slowdown(
    before: Mapping[Edge, Sequence[int]], during: Mapping[Edge, Sequence[int]]
) -> NetworkSlowdown | None:
    """Most service edges' calls slower outside their callee, across many callers and
    callees; ``before`` and ``during`` are per instance edge, as ``CriticalTimes.gaps``."""
    old, new = _by_service(before), _by_service(during)
    measured = [e for e in new.keys() & old.keys() if min(len(old[e]), len(new[e])) >= MIN_CALLS]
    grown = {}
    for edge in sorted(measured):
        was, now = statistics.median(old[edge]), statistics.median(new[edge])
        if now - was >= MIN_GROWTH_NS and now >= MIN_GROWTH_FACTOR * was:
            grown[edge] = (was / 1e6, now / 1e6)
    if len(measured) < MIN_EDGES or len(grown) < MIN_GROWN_SHARE * len(measured):
        return None
    if min(len({caller for caller, _ in grown}), len({callee for _, callee in grown})) < MIN_ENDS:
        return None
    return NetworkSlowdown(grown, len(measured))


def unanswered_failures(bad: Sequence[Trace], tree_of: TreeOf) -> NetworkFailures | None:
    """Failed traces whose error started in a call that no callee answered, when those
    calls went from many callers to many callees and are most of the failures."""
    origins = 0
    edges: Counter[ServiceEdge] = Counter()
    for trace in bad:
        if trace.root is None or not trace.root.is_error:
            continue
        tree = tree_of(trace)
        origin = error_origin(tree)
        if origin is None:
            continue
        origins += 1
        callee = _unanswered_callee(tree.by_id[origin.span_id])
        if callee is not None:
            edges[(origin.service, callee)] += 1
    failed = edges.total()
    if failed < MIN_UNANSWERED or failed < MIN_UNANSWERED_SHARE * origins:
        return None
    callers, callees = Counter[str](), Counter[str]()
    for (caller, callee), n in edges.items():
        callers[caller] += n
        callees[callee] += n
    ends = (callers, callees)
    if any(len(side) < MIN_ENDS or max(side.values()) > MAX_END_SHARE * failed for side in ends):
        return None
    return NetworkFailures(dict(edges), origins)


def _unanswered_callee(node: SpanNode) -> str | None:
    """What an outgoing call went to, when no span of the callee answered it."""
    if node.kind not in (SpanKind.CLIENT, SpanKind.PRODUCER):
        return None
    if any(child.kind in (SpanKind.SERVER, SpanKind.CONSUMER) for child in node.children):
        return None
    return dependency_of(node.span)


def _by_service(gaps: Mapping[Edge, Sequence[int]]) -> dict[ServiceEdge, list[int]]:
    merged: defaultdict[ServiceEdge, list[int]] = defaultdict(list)
    for ((caller, _), (callee, _)), values in gaps.items():
        merged[(caller, callee)].extend(values)
    return dict(merged)
