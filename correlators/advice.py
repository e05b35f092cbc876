"""Where a journey's time goes and what would win it back: the patterns of a window's
traces (:mod:`correlators.patterns`), one piece of advice per pattern and place, ranked by
what fixing it does to the journey's latency across its traffic.

A pattern's contribution to a percentile is that percentile of the journey's request
latencies now less the same percentile with each request's saving taken off: a fix that
helps the slowest twentieth moves the p95 and not the p50, one in every request moves both.
That is what the ranking reads (p95 first, then p50, then the mean saving per request),
so a cache miss on one request in twenty can outrank an N+1 on all of them only when it
costs the tail more.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from correlators.input_gaps import InputGap
from correlators.model import Trace
from correlators.patterns import Pattern, PatternKind, detect, place_of
from correlators.traces import AssembledTrace, TreeOf, assemble

EXAMPLES = 3
"""Trace ids kept per piece of advice: the ones it cost most."""


@dataclass(frozen=True, slots=True)
class Advice:
    kind: PatternKind
    service: str
    operation: str
    callee: str
    target: str
    requests: int
    """Requests of the window that showed it."""
    calls: int
    """Calls it made in all of them (attempts for a retry storm, capped calls for a cap)."""
    p50_gain_ns: int
    p95_gain_ns: int
    mean_saved_ns: int
    """Saving per request of the journey, averaged over all of them."""
    worst_saved_ns: int
    examples: tuple[str, ...]
    span_ids: tuple[str, ...]
    """The evidence spans in the first example."""
    cap_ns: int = 0
    verdict: str = ""
    via: str = ""
    reached: int = 0

    @property
    def place(self) -> tuple[str, str, str, str, str]:
        """Where it is, as its patterns were grouped (``Pattern.place``): the same place
        from one window to the next."""
        return place_of(self.kind, self.service, self.operation, self.callee, self.target)


@dataclass(slots=True)
class JourneyAdvice:
    journey: str
    requests: int
    p50_ns: int
    p95_ns: int
    advice: list[Advice] = field(default_factory=list)


@dataclass(slots=True)
class AdviceReport:
    journeys: list[JourneyAdvice] = field(default_factory=list)
    input_gaps: list[InputGap] = field(default_factory=list)


def advise(
    traces: Sequence[Trace], *, journey: str | None = None, tree_of: TreeOf = assemble
) -> AdviceReport:
    """Advice per journey (one journey when named); traces of no journey are left out."""
    by_journey: defaultdict[str, list[Trace]] = defaultdict(list)
    for trace in traces:
        if trace.journey is not None and (journey is None or trace.journey == journey):
            by_journey[trace.journey].append(trace)
    return AdviceReport(
        [journey_advice(name, [tree_of(t) for t in group]) for name, group in sorted(by_journey.items())]
    )


def journey_advice(journey: str, trees: Sequence[AssembledTrace]) -> JourneyAdvice:
    latencies = {t.trace.trace_id: t.root.duration_ns for t in trees}
    ordered = sorted(latencies.values())
    grouped: defaultdict[tuple[str, ...], list[Pattern]] = defaultdict(list)
    for pattern in detect(trees):
        grouped[pattern.place].append(pattern)
    advice = [_advice(patterns, latencies, ordered) for patterns in grouped.values()]
    advice.sort(
        key=lambda a: (-a.p95_gain_ns, -a.p50_gain_ns, -a.mean_saved_ns, a.kind.value, a.service, a.callee)
    )
    return JourneyAdvice(journey, len(trees), percentile(ordered, 0.5), percentile(ordered, 0.95), advice)


def _advice(patterns: list[Pattern], latencies: dict[str, int], ordered: list[int]) -> Advice:
    saved: defaultdict[str, int] = defaultdict(int)
    for pattern in patterns:
        saved[pattern.trace_id] += pattern.saved_ns
    for trace_id, ns in saved.items():
        saved[trace_id] = min(ns, latencies[trace_id])
    after = latencies_after(latencies, saved)
    worst = sorted(saved, key=lambda t: (-saved[t], t))[:EXAMPLES]
    first = max(patterns, key=lambda p: (p.saved_ns, p.trace_id))
    return Advice(
        kind=first.kind,
        service=first.service,
        operation=first.operation,
        callee=first.callee,
        target=first.target,
        requests=len(saved),
        calls=sum(p.count for p in patterns),
        p50_gain_ns=percentile(ordered, 0.5) - percentile(after, 0.5),
        p95_gain_ns=percentile(ordered, 0.95) - percentile(after, 0.95),
        mean_saved_ns=sum(saved.values()) // max(1, len(latencies)),
        worst_saved_ns=max(saved.values()),
        examples=tuple(worst),
        span_ids=first.span_ids,
        cap_ns=first.cap_ns,
        verdict=first.verdict,
        via=first.via,
        reached=max(p.reached for p in patterns),
    )


def latencies_after(latencies: Mapping[str, int], saved: Mapping[str, int]) -> list[int]:
    """Each request's latency less what a fix would save of it, sorted: what a percentile
    of the fixed traffic is read from."""
    return sorted(latency - saved.get(trace_id, 0) for trace_id, latency in latencies.items())


def percentile(ordered: Sequence[int], q: float) -> int:
    """Nearest rank on sorted values; 0 for none."""
    if not ordered:
        return 0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
