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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from correlators.model import CALLEE_KINDS
from correlators.topology import CallGraph, dependency_of
from correlators.wrong import FINE, Judged, worse_groups

MIN_SERVICES = 3
"""Two services pointing at one zone can be one bad instance and a caller sharing its host
or losing its spans; three are the zone."""
MIN_LEADING_SHARE = 2 / 3
"""Of a service's zone failures, the share that were calls to one service before they are
that service's."""


@dataclass(frozen=True, slots=True)
class ZoneSkew:
    """Services whose spans in ``zone`` went wrong far more often than elsewhere."""

    zone: str
    services: dict[str, tuple[float, float]]
    """Service -> (share gone wrong in the zone, share in its other zones)."""
    eligible: int
    """Services seen in more than one zone: how many could have pointed at a zone."""


def zone_skew(judged: Sequence[Judged], graph: CallGraph) -> ZoneSkew | None:
    """The zone that most services point at, if at least :data:`MIN_SERVICES` do and they
    do not all point at it through one of them (see :func:`_one_behind`)."""
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
    if _one_behind(zone, set(pointing[zone]), judged, graph) is not None:
        return None
    return ZoneSkew(zone, pointing[zone], eligible)


def _one_behind(zone: str, services: set[str], judged: Sequence[Judged], graph: CallGraph) -> str | None:
    """The one pointing service every other one's zone spans went wrong by calling, directly
    or through another: one instance whose network broke makes its callers' calls to it
    slow in its zone (and theirs in their callers'), which a zone does to calls to many."""
    into = _wrong_calls_into(zone, services, judged, graph)
    ends = {_follow(service, services, into) for service in services}
    return ends.pop() if len(ends) == 1 else None


def _follow(service: str, services: set[str], into: Mapping[str, Counter[str]]) -> str | None:
    """Where ``service``'s zone failures lead: along the pointing service most of its wrong
    spans called (two thirds or more), until one whose failures are not calls to another;
    None when the way goes round."""
    seen: set[str] = set()
    while service not in seen:
        seen.add(service)
        calls = into.get(service, Counter())
        target, count = calls.most_common(1)[0] if calls else ("", 0)
        if target not in services or count < MIN_LEADING_SHARE * calls.total():
            return service
        service = target
    return None


def _wrong_calls_into(
    zone: str, services: set[str], judged: Sequence[Judged], graph: CallGraph
) -> dict[str, Counter[str]]:
    """Per pointing service, what its spans in ``zone`` that went wrong called ("" for
    its own work)."""
    into: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for spans in judged:
        answered_by = {span.parent_span_id: span.service for span, _ in spans if span.parent_span_id}
        for span, how in spans:
            if how == FINE or span.zone != zone or span.service not in services:
                continue
            if span.kind in CALLEE_KINDS:
                into[span.service][""] += 1  # its own work grew, whatever it called
                continue
            callee = answered_by.get(span.span_id, span.service)
            if callee == span.service:
                named = dependency_of(span)
                callee = graph.resolve(named) if named else ""
            into[span.service][callee] += 1
    return into


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
