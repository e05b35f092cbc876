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

from correlators.wrong import FINE, Judged, worse_groups

MIN_SERVICES = 3
"""Two services pointing at one zone can be one bad instance and a caller sharing its host
or losing its spans; three are the zone."""


@dataclass(frozen=True, slots=True)
class ZoneSkew:
    """Services whose spans in ``zone`` went wrong far more often than elsewhere."""

    zone: str
    services: dict[str, tuple[float, float]]
    """Service -> (share gone wrong in the zone, share in its other zones)."""
    eligible: int
    """Services seen in more than one zone: how many could have pointed at a zone."""


def zone_skew(judged: Sequence[Judged]) -> ZoneSkew | None:
    """The zone that most services point at, if at least :data:`MIN_SERVICES` do."""
    seen, wrong = _handled(judged)
    pointing: defaultdict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    eligible = 0
    for service, zones in seen.items():
        if len(zones) < 2:
            continue
        eligible += 1
        for zone, rates in worse_groups(zones, wrong[service]).items():
            pointing[zone][service] = rates
    if not pointing:
        return None
    zone = max(sorted(pointing), key=lambda z: len(pointing[z]))
    if len(pointing[zone]) < MIN_SERVICES:
        return None
    return ZoneSkew(zone, pointing[zone], eligible)


def _handled(judged: Sequence[Judged]) -> tuple[dict[str, Counter[str]], dict[str, Counter[str]]]:
    """Per service and zone, its spans in the incident, and those that went wrong."""
    seen: defaultdict[str, Counter[str]] = defaultdict(Counter)
    wrong: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for spans in judged:
        for span, how in spans:
            if span.zone:
                seen[span.service][span.zone] += 1
                if how != FINE:
                    wrong[span.service][span.zone] += 1
    return seen, wrong
