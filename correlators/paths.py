"""Where requests took a different path: the trace shape a code fault leaves behind.

A code fault (an exception, a wrong return value) is fast, and real telemetry often says
nothing about it: no span status, no error log. What it cannot hide is the path. A
service that throws answers without doing the rest of its work; a caller handed a wrong
answer or an error stops short right after the call that gave it. So, for each kind of
span (service and operation) that usually calls others, compare how its spans *end*:
after which call, or with no call at all. A share that grew a lot names who decided:

- the span's spans that now make no call at all: its own service gave up first;
- its spans that now end right after calling T: T's answer made the caller stop.

Shares are compared between the windows' traces, so a mix of requests that did not change
leaves them alone; a rare kind of span is not judged (``MIN_SPANS`` in each window).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from correlators.model import Trace
from correlators.topology import dependency_of
from correlators.traces import SpanNode, TreeOf, assemble

Where = tuple[str, str]
"""(service, operation) of the spans whose ends are compared."""
NO_CALL = ""
"""The ending of a span that called nothing."""
MIN_SPANS = 20
MIN_GROWTH = 0.2
"""Share of the spans (0..1) an ending must gain to count: mixes of requests wobble."""


@dataclass(frozen=True, slots=True)
class PathChange:
    where: Where
    owner: str
    """The service that decided: the callee whose answer ended the path, or the span's own."""
    after: str | None
    """(service operation) of the call after which spans now end; None for "no call"."""
    share_before: float
    share_now: float
    spans: int
    """Spans of ``where`` in the incident window."""

    @property
    def growth(self) -> float:
        return self.share_now - self.share_before

    @property
    def moved(self) -> float:
        """How many of the incident's spans took the new ending beyond the usual share:
        many requests on a new path outweigh a big share of a rare kind of span."""
        return self.growth * self.spans


def path_changes(
    baseline: Sequence[Trace], incident: Sequence[Trace], tree_of: TreeOf = assemble
) -> list[PathChange]:
    """Endings that grew by at least ``MIN_GROWTH``, one per kind of span, those that
    moved the most spans first."""
    before = _endings(baseline, tree_of)
    during = _endings(incident, tree_of)
    found = []
    for where, now in during.items():
        usual = before.get(where)
        if usual is None or usual.total() < MIN_SPANS or now.total() < MIN_SPANS:
            continue
        change = _largest_gain(where, usual, now)
        if change is not None:
            found.append(change)
    return sorted(found, key=lambda c: (-c.moved, c.where))


def _largest_gain(
    where: Where, usual: Counter[tuple[str, str]], now: Counter[tuple[str, str]]
) -> PathChange | None:
    base_total, now_total = usual.total(), now.total()
    best: PathChange | None = None
    for ending, count in now.items():
        share_now = count / now_total
        share_before = usual.get(ending, 0) / base_total
        if share_now - share_before < MIN_GROWTH:
            continue
        owner, after = ending
        change = PathChange(
            where, owner, after or None, round(share_before, 4), round(share_now, 4), now_total
        )
        if best is None or change.growth > best.growth:
            best = change
    return best


def _endings(traces: Sequence[Trace], tree_of: TreeOf) -> dict[Where, Counter[tuple[str, str]]]:
    """Per kind of span: how many ended after each last call (owner, what), or with none."""
    found: defaultdict[Where, Counter[tuple[str, str]]] = defaultdict(Counter)
    for trace in traces:
        for node in tree_of(trace).by_id.values():
            found[(node.span.service, node.span.name)][_ending(node)] += 1
    return {where: counts for where, counts in found.items() if _ever_calls(counts)}


def _ever_calls(counts: Counter[tuple[str, str]]) -> bool:
    return any(after for _, after in counts)


def _ending(node: SpanNode) -> tuple[str, str]:
    """(owner, what) of the last call a span made: the callee's service and operation when
    the call crossed to another service, the dependency a call nothing answered went to
    (a database, a cache), else the span's own child."""
    if not node.children:
        return node.span.service, NO_CALL
    last = max(node.children, key=lambda c: (c.start_ns, c.end_ns))
    target = last.children[0] if len(last.children) == 1 else last
    if target.span.service != node.span.service:
        return target.span.service, f"{target.span.service} {target.span.name}"
    dependency = dependency_of(last.span) if not last.children else None
    if dependency is not None:
        return dependency, f"{dependency} {last.span.name}"
    return node.span.service, f"{last.span.service} {last.span.name}"
