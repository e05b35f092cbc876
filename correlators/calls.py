"""Whose is a slow call: the caller's or the callee's.

The time a call takes outside the callee's own server span (the wire, the callee's accept
queue, its pod's network, a CPU-starved process before its handler starts) is charged to
the callee by default: a caller only waits. But a caller can be the slow one too (its own
network, its CPU, its connection pool), and then every call it makes looks slow, whatever
it calls.

So the neighbours decide. For one caller → callee edge whose gap grew, look at the same
growth on the caller's *other* outgoing edges and on the callee's *other* incoming edges:

- a slow callee makes its calls slow from every caller (the callee side grew too);
- a slow caller makes all its calls slow, to every callee (the caller side grew too).

The edge's growth is split in proportion to the two sides' median growth (each capped at
the edge's own). When only one side has other edges, what that side shows decides alone;
when neither has any, or neither grew, the callee keeps it all.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence

Node = tuple[str, str]
"""(service, instance): calls are judged per instance, since one slow pod behind a service
is slow for every caller of that pod and not of its siblings."""
Edge = tuple[Node, Node]
"""(caller, callee)"""


def gap_growth(
    before: Mapping[Edge, Sequence[int]], during: Mapping[Edge, Sequence[int]]
) -> dict[Edge, float]:
    """Per edge seen in both windows: the median gap of its calls during the incident minus
    the baseline's (ns). Medians, because one retried or timed-out call is not the edge."""
    return {
        edge: statistics.median(during[edge]) - statistics.median(before[edge])
        for edge in during.keys() & before.keys()
        if during[edge] and before[edge]
    }


def caller_shares(growth: Mapping[Edge, float]) -> dict[Edge, float]:
    """Per edge whose gap grew: the part (0..1) of that growth that belongs to the caller."""
    outgoing: defaultdict[Node, dict[Node, float]] = defaultdict(dict)
    incoming: defaultdict[Node, dict[Node, float]] = defaultdict(dict)
    for (caller, callee), grown in growth.items():
        outgoing[caller][callee] = grown
        incoming[callee][caller] = grown
    shares: dict[Edge, float] = {}
    for (caller, callee), grown in growth.items():
        if grown <= 0:
            continue
        caller_side = _others(outgoing[caller], callee, grown)
        callee_side = _others(incoming[callee], caller, grown)
        shares[(caller, callee)] = _split(grown, caller_side, callee_side)
    return shares


def service_shares(
    shares: Mapping[Edge, float], growth: Mapping[Edge, float]
) -> dict[tuple[str, str], float]:
    """Per (caller service, callee service): the caller's part of the growth of all the
    instance edges between them, each weighted by its growth."""
    grown: defaultdict[tuple[str, str], float] = defaultdict(float)
    callers: defaultdict[tuple[str, str], float] = defaultdict(float)
    for edge, share in shares.items():
        key = (edge[0][0], edge[1][0])
        grown[key] += growth[edge]
        callers[key] += growth[edge] * share
    return {key: callers[key] / total for key, total in grown.items() if total > 0}


def _others(edges: Mapping[Node, float], this: Node, cap: float) -> float | None:
    """Median growth of the other edges on one side, within 0..cap; None when there are none."""
    others = [grown for peer, grown in edges.items() if peer != this]
    if not others:
        return None
    return min(cap, max(0.0, statistics.median(others)))


def _split(grown: float, caller_side: float | None, callee_side: float | None) -> float:
    if caller_side is None and callee_side is None:
        return 0.0
    if caller_side is None:
        # the callee's other callers do not see it slow: the one caller is
        return 1.0 - (callee_side or 0.0) / grown
    if callee_side is None:
        return caller_side / grown
    both = caller_side + callee_side
    return caller_side / both if both > 0 else 0.0
