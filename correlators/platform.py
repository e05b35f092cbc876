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
from typing import Literal

from correlators.calls import Edge
from correlators.logs import TemplateChange
from correlators.model import CALLEE_KINDS, CALLER_KINDS, Trace
from correlators.topology import CallGraph, dependency_of, first_named
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
"""Failures (traces or log lines) that started in a call nothing answered, before their
spread is judged."""
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
    """(caller, callee) -> failures that started in a call between them that nothing
    answered."""
    origins: int
    """Failures with a known origin."""
    counted: Literal["requests", "log_lines"]
    """What a failure is: a failed request (traces), or a new error log line."""


def network_slowdown(
    before: Mapping[Edge, Sequence[int]], during: Mapping[Edge, Sequence[int]]
) -> NetworkSlowdown | None:
    """Most service edges' calls slower outside their callee, across many callers and
    callees; ``before`` and ``during`` are per instance edge, as ``CriticalTimes.gaps``."""
    old, new = _by_service(before), _by_service(during)
    usual = {
        edge: statistics.median(old[edge])
        for edge in new.keys() & old.keys()
        if min(len(old[edge]), len(new[edge])) >= MIN_CALLS
    }
    # an edge whose calls usually show no time outside the callee (a message its caller
    # does not wait for) has no wire time to read
    measured = sorted(edge for edge, was in usual.items() if was > 0)
    grown = {}
    for edge in measured:
        was, now = usual[edge], statistics.median(new[edge])
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
    return _spread(edges, origins, "requests")


def failed_calls(
    traces: Sequence[Trace], tree_of: TreeOf, graph: CallGraph
) -> dict[ServiceEdge, tuple[int, int]]:
    """(caller, callee) -> failed outgoing calls the callee answered (its span is there, late
    or failing of its own) and those it did not, over the traces given. A call the callee
    answered with the failure of a call of its own is counted with that deeper call."""
    counts: defaultdict[ServiceEdge, list[int]] = defaultdict(lambda: [0, 0])
    for trace in traces:
        if not trace.has_error:
            continue
        for node in tree_of(trace).by_id.values():
            if not node.span.is_error or node.kind not in CALLER_KINDS:
                continue
            answer = next((c for c in node.children if c.kind in CALLEE_KINDS), None)
            if answer is not None and _failed_call_below(answer):
                continue  # the callee answered with a deeper call's failure: that call's
            named = dependency_of(node.span)
            callee = answer.span.service if answer is not None else named and graph.resolve(named)
            if callee:
                counts[(node.span.service, callee)][answer is None] += 1
    return {edge: (answered, unanswered) for edge, (answered, unanswered) in counts.items()}


def silent_callee_failures(
    changes: Sequence[TemplateChange],
    graph: CallGraph,
    calls: Mapping[ServiceEdge, tuple[int, int]],
) -> NetworkFailures | None:
    """New error lines of callers about calls to a callee that logged no error of its own,
    when they come from many callers about many callees: the calls failed before any callee
    saw them. Logs are not sampled, so this holds when few failed traces were kept of a
    fault that fails one call in fifty.

    A line that also names one of the callee's own callees relays a deeper failure and is
    that failure's, not this call's; a callee's line that names none of its callees is an
    error of its own, so calls to it were answered. So were the calls of an edge whose
    failed calls in the traces (``calls``, see :func:`failed_calls`) were mostly answered:
    a caller that gave up waiting logs the same line as one whose call went nowhere."""
    errors = [change for change in changes if change.is_error]
    named = [first_named(change.sample, graph.callees(change.service)) for change in errors]
    own = {change.service for change, callee in zip(errors, named, strict=True) if callee is None}
    edges: Counter[ServiceEdge] = Counter()
    origins = 0
    for change, callee in zip(errors, named, strict=True):
        if callee is not None and first_named(change.sample, graph.callees(callee)) is not None:
            continue
        origins += change.incident_count
        if callee is None or callee in own:
            continue
        answered, unanswered = calls.get((change.service, callee), (0, 0))
        if answered <= unanswered:
            edges[(change.service, callee)] += change.incident_count
    return _spread(edges, origins, "log_lines")


def _spread(
    edges: Counter[ServiceEdge], origins: int, counted: Literal["requests", "log_lines"]
) -> NetworkFailures | None:
    """The failures, if they are enough, most of all, and no one caller's or callee's."""
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
    return NetworkFailures(dict(edges), origins, counted)


def _unanswered_callee(node: SpanNode) -> str | None:
    """What an outgoing call went to, when no span of the callee answered it."""
    if node.kind not in CALLER_KINDS:
        return None
    if any(child.kind in CALLEE_KINDS for child in node.children):
        return None
    return dependency_of(node.span)


def _failed_call_below(node: SpanNode) -> bool:
    stack = list(node.children)
    while stack:
        below = stack.pop()
        if below.span.is_error and below.kind in CALLER_KINDS:
            return True
        stack.extend(below.children)
    return False


def _by_service(gaps: Mapping[Edge, Sequence[int]]) -> dict[ServiceEdge, list[int]]:
    merged: defaultdict[ServiceEdge, list[int]] = defaultdict(list)
    for ((caller, _), (callee, _)), values in gaps.items():
        merged[(caller, callee)].extend(values)
    return dict(merged)
