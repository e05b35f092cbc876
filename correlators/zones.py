"""A zone fault is the one cause that makes several services worse in the same zone only.

Each service that runs in more than one zone is its own control: if its spans in zone a
went wrong themselves (an error that started there, or their own time far above what that
operation took in the baseline) far more often than its spans elsewhere, zone a is suspect
for that service. One service pointing at a zone is an instance or a placement accident;
several services pointing at the same zone is the zone. Only a span's own part counts:
with zone-aware routing a request stays in its zone, so a bad instance in zone a puts
every service's zone-a spans in bad traces, though none of them did anything wrong.
Single-zone services are not counted: a database that lives only in zone a fails only in
zone a whatever the cause.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from correlators.model import Trace
from correlators.traces import SpanNode, TreeOf, self_time

MIN_BAD_SPANS = 5
"""Spans of a service that went wrong in the zone before its rate there is evidence."""
MIN_RATE_GAP = 0.1
"""Rate of spans gone wrong in the zone over the rest, in absolute terms…"""
MIN_RATE_RATIO = 2.0
"""…and relative: at least twice the service's rate in its other zones."""
MIN_SERVICES = 3
"""Two services pointing at one zone can be one bad instance and a caller sharing its host
or losing its spans; three are the zone."""
SLOW_FACTOR = 2.0
"""A span's own time this many times its operation's baseline p95 went wrong…"""
MIN_SLOW_NS = 10_000_000
"""…when that is also at least 10 ms more: a 1 ms span taking 3 ms is nobody's incident."""


@dataclass(frozen=True, slots=True)
class ZoneSkew:
    """Services whose spans in ``zone`` went wrong far more often than elsewhere."""

    zone: str
    services: dict[str, tuple[float, float]]
    """Service -> (share gone wrong in the zone, share in its other zones)."""
    eligible: int
    """Services seen in more than one zone: how many could have pointed at a zone."""


def zone_skew(baseline: Sequence[Trace], during: Sequence[Trace], tree_of: TreeOf) -> ZoneSkew | None:
    """The zone that most services point at, if at least :data:`MIN_SERVICES` do."""
    seen, wrong = _handled(during, _usual_self_times(baseline, tree_of), tree_of)
    pointing: defaultdict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    eligible = 0
    for service, zones in seen.items():
        if len(zones) < 2:
            continue
        eligible += 1
        for zone, rates in _worse_zones(zones, wrong[service]).items():
            pointing[zone][service] = rates
    if not pointing:
        return None
    zone = max(sorted(pointing), key=lambda z: len(pointing[z]))
    if len(pointing[zone]) < MIN_SERVICES:
        return None
    return ZoneSkew(zone, pointing[zone], eligible)


def _usual_self_times(baseline: Sequence[Trace], tree_of: TreeOf) -> dict[tuple[str, str], int]:
    """(service, operation) -> p95 of its spans' own time in the baseline."""
    samples: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
    for trace in baseline:
        for node in tree_of(trace).by_id.values():
            samples[(node.span.service, node.span.name)].append(self_time(node))
    usual = {}
    for key, values in samples.items():
        values.sort()
        usual[key] = values[min(len(values) - 1, int(len(values) * 0.95))]
    return usual


def _went_wrong(node: SpanNode, usual: dict[tuple[str, str], int]) -> bool:
    """An error that started in this span, or its own time far above its operation's."""
    span = node.span
    if span.is_error and not any(child.span.is_error for child in node.children):
        return True
    before = usual.get((span.service, span.name))
    own = self_time(node)
    return before is not None and own > SLOW_FACTOR * before and own - before >= MIN_SLOW_NS


def _handled(
    during: Sequence[Trace], usual: dict[tuple[str, str], int], tree_of: TreeOf
) -> tuple[dict[str, Counter[str]], dict[str, Counter[str]]]:
    """Per service and zone, its spans in the incident, and those that went wrong."""
    seen: defaultdict[str, Counter[str]] = defaultdict(Counter)
    wrong: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for trace in during:
        for node in tree_of(trace).by_id.values():
            zone = node.span.zone
            if zone:
                seen[node.span.service][zone] += 1
                if _went_wrong(node, usual):
                    wrong[node.span.service][zone] += 1
    return seen, wrong


def _worse_zones(seen: Counter[str], wrong: Counter[str]) -> dict[str, tuple[float, float]]:
    worse = {}
    total_seen, total_wrong = sum(seen.values()), sum(wrong.values())
    for zone, n in seen.items():
        elsewhere = total_seen - n
        if wrong[zone] < MIN_BAD_SPANS or elsewhere == 0:
            continue
        inside, outside = wrong[zone] / n, (total_wrong - wrong[zone]) / elsewhere
        if inside - outside >= MIN_RATE_GAP and inside >= MIN_RATE_RATIO * outside:
            worse[zone] = (inside, outside)
    return worse
