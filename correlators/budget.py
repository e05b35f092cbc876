"""Error-budget attribution per hop: which service/operation accounts for the bad events.

Every bad request of a journey is charged to exactly one hop, so the shares sum to the
journey's bad events: a failed request to the span its error originated in, a slow one to
the hop whose critical-path time grew most against healthy requests of the same journey.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from correlators.bottleneck import Key, critical_time
from correlators.model import Trace
from correlators.rank import origin_owner
from correlators.traces import assemble, error_origin


@dataclass(frozen=True, slots=True)
class HopShare:
    service: str
    operation: str
    errors: int
    slow: int
    share: float
    """Of all the bad events given (0..1); the shares of one call sum to 1."""


def budget_attribution(bad: Sequence[Trace], healthy: Sequence[Trace]) -> list[HopShare]:
    if not bad:
        return []
    baselines = _baseline_times(healthy)
    errors: Counter[Key] = Counter()
    slow: Counter[Key] = Counter()
    for trace in bad:
        root = trace.root
        if root is not None and root.is_error:
            origin = error_origin(assemble(trace)) or root
            errors[origin_owner(origin, trace)] += 1
        else:
            slow[_slowest_hop(trace, baselines.get(trace.journey, {}))] += 1
    keys = sorted(set(errors) | set(slow), key=lambda k: (-(errors[k] + slow[k]), k))
    return [
        HopShare(k[0], k[1], errors[k], slow[k], round((errors[k] + slow[k]) / len(bad), 4)) for k in keys
    ]


def _baseline_times(healthy: Sequence[Trace]) -> dict[str | None, dict[Key, float]]:
    sums: defaultdict[str | None, defaultdict[Key, float]] = defaultdict(lambda: defaultdict(float))
    counts: Counter[str | None] = Counter()
    for trace in healthy:
        counts[trace.journey] += 1
        for key, value in critical_time(trace).items():
            sums[trace.journey][key] += value
    return {j: {k: v / counts[j] for k, v in totals.items()} for j, totals in sums.items()}


def _slowest_hop(trace: Trace, baseline: dict[Key, float]) -> Key:
    times = critical_time(trace)
    return max(times, key=lambda k: (times[k] - baseline.get(k, 0.0), k))
