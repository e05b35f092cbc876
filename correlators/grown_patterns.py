"""Patterns on the incident's bad requests that the baseline did not show, or showed
smaller, and what each costs of the latency the incident added: the line an incident
thread gives a fix beside the root cause ("orders runs 12 INSERTs one by one on checkout:
batch them; ~380 ms of the 440 ms added").

The bad traces' patterns (:mod:`correlators.patterns`, each priced in critical-path time,
so one off the path costs nothing) are compared place by place (kind, service, operation,
callee, target) with the same journey's baseline traces, whose patterns are found however
small (``patterns.ANY``: a loop of four calls before is not "new" at five). A pattern grew
when it is new there, makes more calls in a request that shows it, or shows in a tenth
more of the requests. The same calls in as many requests, each slower, did not grow:
their slowness is the verdict's (a slow database makes every loop over it slower), and
telling "batch them" in every incident of a journey with a loop would bury the line that
matters.

A place's usual cost is its saving averaged over every baseline request, none counting as
zero; each bad request's excess over that is what the incident added there. Its part of
the added latency is read the way :mod:`correlators.advice` reads a contribution: the bad
requests' median latency less their median with each one's excess taken off. A place is
told when that part is at least a tenth of a bad request (``patterns.WORTH_SHARE``, the
share below which a pattern is not worth telling).

The added latency is the bad requests' median against the baseline's: the journey's
median hardly moves when a fifth of its requests go bad, and it is the bad requests a
thread is about. A part is capped at what was added (when something was: an incident of
failures may have added none, and the part then stands alone).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from correlators.advice import latencies_after, percentile
from correlators.model import Trace
from correlators.patterns import ANY, WORTH_SHARE, Pattern, PatternKind, detect
from correlators.traces import TreeOf

EXAMPLES = 3
"""Bad trace ids kept per grown pattern: those it added most to."""
SAMPLE = 200
"""Requests read a side and journey, evenly over time: a share and a median are read well
enough from a few hundred (a share's standard error at most 2.5 points, against the tenths
the rules compare), and finding every pattern in thousands of traces would cost an
investigation a second."""
MORE_REQUESTS = 0.1
"""A pattern in this much more of the requests than before has spread (a tenth, the share
below which a pattern is not worth telling)."""

Place = tuple[str, str, str, str, str]
PerTrace = dict[str, list[Pattern]]


@dataclass(frozen=True, slots=True)
class GrownPattern:
    kind: PatternKind
    service: str
    """Whose code makes the calls: where the fix goes."""
    operation: str
    callee: str
    target: str
    requests: int
    """Bad requests that showed it."""
    bad_requests: int
    calls: int
    """Calls it made in a bad request that showed it (the median)."""
    baseline_calls: int
    """The same in a baseline request that showed it; 0 when none did (a new pattern)."""
    baseline_share: float
    """Of the baseline's requests, those that showed it (0..1)."""
    saved_ns: int
    """What fixing it wins back in a bad request that shows it (the median)."""
    usual_ns: int
    """Its usual cost: the saving averaged over every baseline request."""
    part_ns: int
    """Its part of the latency the incident added: the bad requests' median less their
    median with each one's excess over the usual cost taken off."""
    added_ns: int
    """The bad requests' median latency less the baseline's (may be 0 or less)."""
    examples: tuple[str, ...]
    cap_ns: int = 0
    verdict: str = ""
    via: str = ""
    reached: int = 0

    growth: str = "new"
    """new | more_calls (per request that shows it) | more_requests (it spread)."""

    @property
    def new(self) -> bool:
        return self.growth == "new"


def grown_patterns(bad: Sequence[Trace], baseline: Sequence[Trace], tree_of: TreeOf) -> list[GrownPattern]:
    """Per journey, the patterns of ``bad`` that are new or grown against ``baseline``,
    largest part first. Nothing without a baseline of the journey to compare with."""
    found: list[GrownPattern] = []
    for journey in sorted({t.journey for t in bad if t.journey is not None}):
        now = _sample([t for t in bad if t.journey == journey and t.root is not None])
        before = _sample([t for t in baseline if t.journey == journey and t.root is not None])
        if now and before:
            found.extend(_grown(now, before, tree_of))
    return sorted(found, key=lambda g: (-g.part_ns, g.kind.value, g.service, g.callee, g.target))


def _sample(traces: list[Trace]) -> list[Trace]:
    """At most :data:`SAMPLE` of ``traces``, every k-th by start time (then id, so the
    same input gives the same sample)."""
    if len(traces) <= SAMPLE:
        return traces
    ordered = sorted(traces, key=lambda t: (t.start_ns, t.trace_id))
    step = len(ordered) / SAMPLE
    return [ordered[int(i * step)] for i in range(SAMPLE)]


def _grown(bad: list[Trace], baseline: list[Trace], tree_of: TreeOf) -> list[GrownPattern]:
    trees, usual_trees = [tree_of(t) for t in bad], [tree_of(t) for t in baseline]
    latency = {tree.trace.trace_id: tree.root.duration_ns for tree in trees}
    median = percentile(sorted(latency.values()), 0.5)
    added = median - percentile(sorted(tree.root.duration_ns for tree in usual_trees), 0.5)
    parts = _Parts(latency, median, added)
    # the baseline is read only for places that could be told were they new: most bad
    # requests show none, and finding every small pattern in the baseline is the cost
    now = {place: pt for place, pt in _by_place(detect(trees)).items() if parts.told(parts.of(pt, 0))}
    before = _by_place(detect(usual_trees, ANY)) if now else {}
    found = []
    for place, per_trace in now.items():
        usual = before.get(place, {})
        usual_ns = sum(_saved(p) for p in usual.values()) // len(baseline)
        part = parts.of(per_trace, usual_ns)
        growth = _growth(per_trace, usual, len(bad), len(baseline))
        if growth is not None and parts.told(part):
            found.append(_described(per_trace, usual, usual_ns, part, parts, len(baseline), growth))
    return found


@dataclass(frozen=True, slots=True)
class _Parts:
    """The bad requests' latencies, and a place's part of what they added."""

    latency: dict[str, int]
    median: int
    added: int

    def excess(self, per_trace: PerTrace, usual_ns: int) -> dict[str, int]:
        return {t: max(0, min(_saved(p), self.latency[t]) - usual_ns) for t, p in per_trace.items()}

    def of(self, per_trace: PerTrace, usual_ns: int) -> int:
        excess = self.excess(per_trace, usual_ns)
        after = latencies_after(self.latency, excess)
        part = self.median - percentile(after, 0.5)
        return min(part, self.added) if self.added > 0 else part

    def told(self, part: int) -> bool:
        return part > 0 and part >= self.median * WORTH_SHARE


def _growth(per_trace: PerTrace, usual: PerTrace, bad: int, baseline: int) -> str | None:
    if not usual:
        return "new"
    if _median_calls(per_trace) > _median_calls(usual):
        return "more_calls"
    if len(per_trace) / bad >= len(usual) / baseline + MORE_REQUESTS:
        return "more_requests"
    return None


def _described(
    per_trace: PerTrace,
    usual: PerTrace,
    usual_ns: int,
    part: int,
    parts: _Parts,
    baseline: int,
    growth: str,
) -> GrownPattern:
    first = max((p for ps in per_trace.values() for p in ps), key=lambda p: (p.saved_ns, p.trace_id))
    excess = parts.excess(per_trace, usual_ns)
    return GrownPattern(
        kind=first.kind,
        service=first.service,
        operation=first.operation,
        callee=first.callee,
        target=first.target,
        requests=len(per_trace),
        bad_requests=len(parts.latency),
        calls=_median_calls(per_trace),
        baseline_calls=_median_calls(usual),
        baseline_share=len(usual) / baseline,
        saved_ns=int(statistics.median(_saved(p) for p in per_trace.values())),
        usual_ns=usual_ns,
        part_ns=part,
        added_ns=parts.added,
        examples=tuple(sorted(excess, key=lambda t: (-excess[t], t))[:EXAMPLES]),
        cap_ns=first.cap_ns,
        verdict=first.verdict,
        via=first.via,
        reached=max(p.reached for ps in per_trace.values() for p in ps),
        growth=growth,
    )


def _by_place(patterns: list[Pattern]) -> dict[Place, PerTrace]:
    grouped: defaultdict[Place, defaultdict[str, list[Pattern]]] = defaultdict(lambda: defaultdict(list))
    for pattern in patterns:
        grouped[pattern.place][pattern.trace_id].append(pattern)
    return {place: dict(per_trace) for place, per_trace in grouped.items()}


def _saved(patterns: list[Pattern]) -> int:
    return sum(p.saved_ns for p in patterns)


def _median_calls(per_trace: PerTrace) -> int:
    if not per_trace:
        return 0
    return int(statistics.median(sum(p.count for p in ps) for ps in per_trace.values()))
