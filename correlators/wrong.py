"""A span that went wrong itself, not because something under it did.

Whole traces are the wrong unit for asking where a fault acts: a request that failed deep
down is bad at every hop, and zone-aware routing or a flag carried in the baggage puts
all of a request's spans on one side of any split. A span went wrong itself when an error
started in it (no child of it failed), or when its own time (not covered by children) is
far above what its operation's own time was in the baseline.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from typing import TypeVar

from correlators.model import Span, Trace
from correlators.topology import dependency_of
from correlators.traces import SpanNode, TreeOf, self_time

SLOW_FACTOR = 2.0
"""A span's own time this many times its operation's baseline p95 went wrong…"""
MIN_SLOW_NS = 10_000_000
"""…when that is also at least 10 ms more: a 1 ms span taking 3 ms is nobody's incident."""

K = TypeVar("K")
Usual = dict[tuple[str, str], int]
"""(service, operation) -> p95 of its spans' own time in the baseline (ns)."""
FINE, OWN, CALL = 0, 1, 2
"""How a span went: fine; wrong in its own work; wrong in a call to a dependency that sends
no spans (a database, a cache, an API). A version or a flag changes a service's code, and
code does not change how a dependency answers, so only OWN counts for them; a zone or an
instance changes the network, which sits on the caller's side of every call, so both count."""
Judged = list[tuple[Span, int]]
"""One trace's spans, each with how it went (``FINE``, ``OWN`` or ``CALL``)."""


def usual_self_times(baseline: Sequence[Trace], tree_of: TreeOf) -> Usual:
    samples: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
    for trace in baseline:
        for node in tree_of(trace).by_id.values():
            samples[(node.span.service, node.span.name)].append(self_time(node))
    usual = {}
    for key, values in samples.items():
        values.sort()
        usual[key] = values[min(len(values) - 1, int(len(values) * 0.95))]
    return usual


def judge(
    traces: Sequence[Trace],
    usual: Usual,
    tree_of: TreeOf,
    dependencies: Collection[str] = (),
    only: Collection[str] | None = None,
) -> list[Judged]:
    """Every trace's spans (of the ``only`` services, if given), judged once for all the
    questions asked of them; ``dependencies``: the call graph's uninstrumented nodes."""
    return [
        [
            (node.span, went_wrong(node, usual, dependencies))
            for node in tree_of(trace).by_id.values()
            if only is None or node.span.service in only
        ]
        for trace in traces
    ]


def went_wrong(node: SpanNode, usual: Usual, dependencies: Collection[str] = ()) -> int:
    """``FINE``, ``OWN`` or ``CALL``: a call into a dependency in ``dependencies`` that went
    wrong is ``CALL``."""
    if not _went_wrong(node, usual):
        return FINE
    return CALL if not node.children and dependency_of(node.span) in dependencies else OWN


def _went_wrong(node: SpanNode, usual: Usual) -> bool:
    span = node.span
    if span.is_error and not any(child.span.is_error for child in node.children):
        return True
    before = usual.get((span.service, span.name))
    if before is None or node.duration_ns - before < MIN_SLOW_NS:
        return False  # own time is at most the duration: no need to work it out
    own = self_time(node)
    return own > SLOW_FACTOR * before and own - before >= MIN_SLOW_NS


MIN_WRONG = 3
"""Spans of a service that went wrong in the group before its rate there is evidence."""
MIN_RATE_GAP = 0.1
MIN_RATE_RATIO = 2.0
MAX_CHANCE = 0.01


def worse_inside(
    inside_seen: int,
    inside_wrong: int,
    outside_seen: int,
    outside_wrong: int,
    *,
    min_gap: float = MIN_RATE_GAP,
) -> tuple[float, float] | None:
    """(rate inside, rate outside) when a group of a service's spans went wrong far more
    often than the rest of its spans: ``min_gap`` points more (10 unless the caller has
    already shown the group matters), twice the rate, and more often than the rest's rate
    would make it by chance (one in a hundred), so that three failures in twenty spans
    count when the rest had none in a hundred, and three in three hundred do not."""
    if inside_wrong < MIN_WRONG or inside_seen == 0 or outside_seen == 0:
        return None
    inside, outside = inside_wrong / inside_seen, outside_wrong / outside_seen
    if inside - outside < min_gap or inside < MIN_RATE_RATIO * outside:
        return None
    expected = (outside_wrong + 1) / (outside_seen + 2)  # never zero: no failures is not proof of none
    if _chance_of_at_least(inside_wrong, inside_seen, expected) > MAX_CHANCE:
        return None
    return inside, outside


def worse_groups(
    seen: Counter[K], wrong: Counter[K], *, min_gap: float = MIN_RATE_GAP
) -> dict[K, tuple[float, float]]:
    """Each group of a service's spans (a zone, an instance, flag on or off) that went
    wrong far more often than the rest of them (:func:`worse_inside`), with its rates."""
    total_seen, total_wrong = seen.total(), wrong.total()
    worse = {}
    for group, n in seen.items():
        rates = worse_inside(n, wrong[group], total_seen - n, total_wrong - wrong[group], min_gap=min_gap)
        if rates is not None:
            worse[group] = rates
    return worse


def _chance_of_at_least(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space so large n does not overflow."""
    below = sum(math.exp(_log_binomial(i, n, p)) for i in range(k))
    return max(0.0, 1.0 - below)


def _log_binomial(i: int, n: int, p: float) -> float:
    log_comb = math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
    return log_comb + i * math.log(p) + (n - i) * math.log1p(-p)
