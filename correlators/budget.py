"""Error-budget attribution per hop: which service/operation accounts for the bad events.

Every bad request of a journey is charged to exactly one hop, so the shares sum to the
journey's bad events: a failed request to the span its error originated in, a slow one to
the hop whose critical-path time grew most against healthy requests of the same journey.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from correlators.bottleneck import CriticalTimes, Key
from correlators.model import Trace
from correlators.rank import origin_owner
from correlators.traces import error_origin


@dataclass(frozen=True, slots=True)
class HopShare:
    service: str
    operation: str
    errors: int
    slow: int
    share: float
    """Of all the bad events given (0..1); the shares of one call sum to 1."""


def budget_attribution(
    bad: Sequence[Trace], healthy: Sequence[Trace], *, times: CriticalTimes | None = None
) -> list[HopShare]:
    if not bad:
        return []
    times = times or CriticalTimes()
    baselines = times.mean_by_journey(healthy)
    errors: Counter[Key] = Counter()
    slow: Counter[Key] = Counter()
    for trace in bad:
        root = trace.root
        if root is not None and root.is_error:
            origin = error_origin(times.tree_of(trace)) or root
            errors[origin_owner(origin, trace)] += 1
        else:
            slow[_slowest_hop(times.of(trace), baselines.get(trace.journey, {}))] += 1
    keys = sorted(set(errors) | set(slow), key=lambda k: (-(errors[k] + slow[k]), k))
    return [
        HopShare(k[0], k[1], errors[k], slow[k], round((errors[k] + slow[k]) / len(bad), 4)) for k in keys
    ]


def _slowest_hop(times: dict[Key, int], baseline: dict[Key, float]) -> Key:
    return max(times, key=lambda k: (times[k] - baseline.get(k, 0.0), k))
