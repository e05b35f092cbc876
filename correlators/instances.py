"""One instance or all of them: where a service's own spans went wrong.

Share of bad traces is the wrong measure for an instance: with zone-aware routing and
sticky sessions an instance serves a biased set of requests, and a slow callee makes every
caller instance's traces bad. A service's instance is the fault when its own spans went
wrong (``correlators.wrong``) far more often than its siblings' did; when several
instances did, the service's code or its dependency is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from correlators.wrong import FINE, Judged, worse_groups


@dataclass(frozen=True, slots=True)
class InstanceSkew:
    service: str
    instance: str
    rates: tuple[float, float]
    """(share of its spans gone wrong, share of its siblings' spans)."""
    siblings: int


def instance_skew(judged: Sequence[Judged], service: str) -> InstanceSkew | None:
    """The one instance of ``service`` whose spans went wrong far more than its
    siblings', if exactly one did."""
    seen: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    for spans in judged:
        for span, how in spans:
            if span.service == service and span.instance:
                seen[span.instance] += 1
                wrong[span.instance] += how != FINE
    worse = worse_groups(seen, wrong)
    if len(worse) != 1:
        return None
    instance, rates = next(iter(worse.items()))
    return InstanceSkew(service, instance, rates, len(seen) - 1)
