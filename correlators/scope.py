"""Localized or systemic: how far the fault reaches, at what level, and why, in figures
(``correlators.grounds``) that the edges word.

Checked from the widest cause to the narrowest, each with the evidence that names it:

- systemic / traffic: the journey's request rate at least doubled, counted in requests
  where metrics have them (``correlators.traffic``), since a tail sampler keeps every bad
  trace and so multiplies the kept ones during any incident;
- systemic / zone: several services that run in more than one zone went wrong in one of
  them only (``correlators.zones``);
- systemic / platform: most service edges' calls slower outside their callee, or most
  failures starting in calls nothing answered, from many callers to many callees
  (``correlators.platform``);
- systemic / release: several services whose spans went wrong far more on a version the
  baseline never ran than on the old one; the subject is the version; one such service
  that is the top candidate is localized / service (``correlators.releases``);
- systemic / feature_flag: a flag value on most bad requests, behind which some service's
  spans went wrong far more with it on than off (``correlators.flags``);
- systemic / shared_dependency: the top candidate is a dependency several services call;
- localized / dependency: a dependency only one service calls;
- localized / instance: one instance of the top service whose own spans went wrong far more
  than its siblings' (``correlators.instances``);
- systemic / platform again, on the logs: most new error lines are callers' lines about
  calls that no callee answered, from many callers to many callees. Logs are not sampled,
  so they see a fault that fails one call in fifty when the traces kept few of them; but a
  relayed failure that does not name where it came from reads the same, so this comes
  after every narrower cause the traces name;
- localized / service: otherwise.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from correlators.flags import FlagReach
from correlators.grounds import (
    CallsUnanswered,
    EdgesSlower,
    EdgeTimes,
    EveryInstance,
    FlagOn,
    Ground,
    InstanceWentWrong,
    NewVersionsWentWrong,
    NothingStoodOut,
    OnlyOneRelease,
    ServiceRates,
    Surge,
    TopDependency,
    VersionRates,
    WrongWithFlag,
    ZoneWentWrong,
)
from correlators.instances import InstanceSkew
from correlators.platform import NetworkFailures, NetworkSlowdown
from correlators.rank import Candidate
from correlators.releases import ReleaseReach
from correlators.topology import CallGraph
from correlators.traffic import RateChange
from correlators.zones import ZoneSkew

SURGE_FACTOR = 2.0


@dataclass(frozen=True, slots=True)
class Scope:
    kind: str
    """"localized" or "systemic"."""
    level: str
    confidence: float
    reasons: list[str] = field(default_factory=list)
    """The reasons in words, only as a report stored before ``grounds`` existed has them;
    empty from the analysis, whose reasons are its grounds (the bot fills this in when it
    writes the JSON, for readers of the stored form that do not know the grounds)."""
    subject: str | None = None
    """What the level is about: the zone, the version, the flag, the dependency, the instance."""
    grounds: list[Ground] = field(default_factory=list)
    """Why, in figures a person can check (``correlators.grounds``); the edges word them."""


def decide_scope(
    *,
    candidates: Sequence[Candidate],
    graph: CallGraph,
    rate: RateChange | None,
    skew: ZoneSkew | None = None,
    network: NetworkSlowdown | None = None,
    unanswered: NetworkFailures | None = None,
    silent: NetworkFailures | None = None,
    flag: FlagReach | None = None,
    release: ReleaseReach | None = None,
    instance: InstanceSkew | None = None,
) -> Scope:
    if rate is not None and rate.ratio >= SURGE_FACTOR:
        counted: Literal["requests", "kept_traces"] = (
            "requests" if rate.source == "metrics" else "kept_traces"
        )
        return Scope("systemic", "traffic", 0.8, subject="traffic", grounds=[Surge(rate.ratio, counted)])
    if skew is not None:
        return _skewed_zone(skew)
    if network is not None:
        return _platform(network)
    if unanswered is not None:
        return _platform_failures(unanswered)
    if release is not None and _holds(release.services, candidates):
        return _release(release)
    if flag is not None and _holds(flag.services, candidates):
        return _flag(flag)
    if not candidates:
        return Scope("localized", "unknown", 0.0, grounds=[NothingStoodOut()])
    top = candidates[0]
    if top.service in graph.dependencies:
        callers = sorted(graph.callers(top.service))
        reason = TopDependency(top.service, callers)
        if len(callers) > 1:
            return Scope("systemic", "shared_dependency", 0.75, subject=top.service, grounds=[reason])
        return Scope("localized", "dependency", 0.7, subject=top.service, grounds=[reason])
    if instance is not None and instance.service == top.service:
        return _instance(instance)
    if silent is not None:
        return _platform_failures(silent)
    return Scope(
        "localized",
        "service",
        round(min(0.9, 0.4 + top.score), 2),
        subject=top.service,
        grounds=[EveryInstance(top.service)],
    )


def _rates(rates: Mapping[str, tuple[float, float]]) -> list[ServiceRates]:
    """Each service's share inside the group and outside it, by name."""
    return [ServiceRates(service, inside, outside) for service, (inside, outside) in sorted(rates.items())]


def _skewed_zone(skew: ZoneSkew) -> Scope:
    return Scope(
        "systemic",
        "zone",
        round(min(0.95, 0.5 + 0.1 * len(skew.services)), 2),
        subject=skew.zone,
        grounds=[ZoneWentWrong(skew.zone, skew.eligible, _rates(skew.services))],
    )


def _platform(network: NetworkSlowdown) -> Scope:
    slowest = sorted(network.grown.items(), key=lambda item: item[1][0] - item[1][1])[:3]
    edges = [EdgeTimes(a, b, was, now) for (a, b), (was, now) in slowest]
    grown = EdgesSlower(len(network.grown), network.measured, edges)
    return Scope("systemic", "platform", 0.7, subject="service network", grounds=[grown])


def _platform_failures(failures: NetworkFailures) -> Scope:
    callers = {caller for caller, _ in failures.edges}
    callees = {callee for _, callee in failures.edges}
    unanswered = CallsUnanswered(
        sum(failures.edges.values()), failures.origins, failures.counted, len(callers), len(callees)
    )
    return Scope("systemic", "platform", 0.65, subject="service network", grounds=[unanswered])


def _holds(services: Collection[str], candidates: Sequence[Candidate]) -> bool:
    """A change that broke several services stands on its own; one that broke a single
    service must be the top candidate's: a benign deploy on a caller of the broken part
    goes wrong with it, only later in time."""
    return len(services) >= 2 or (bool(candidates) and candidates[0].service in services)


def _release(reach: ReleaseReach) -> Scope:
    """Several services that went wrong on their new versions are the release; one is
    that service."""
    went_wrong = NewVersionsWentWrong(
        [
            VersionRates(service, version, inside, outside)
            for service, (version, inside, outside) in sorted(reach.services.items())
        ]
    )
    if len(reach.services) >= 2:
        return Scope("systemic", "release", 0.8, subject=", ".join(reach.versions), grounds=[went_wrong])
    service = next(iter(reach.services))
    return Scope("localized", "service", 0.75, subject=service, grounds=[went_wrong, OnlyOneRelease(service)])


def _flag(reach: FlagReach) -> Scope:
    """The flag is the level however many services went wrong behind it: it is the switch
    the on-call can turn off now; the services it broke are the reasons."""
    f = reach.finding
    grounds: list[Ground] = [
        FlagOn(f.key, str(f.value), f.bad_share, f.baseline_share),
        WrongWithFlag(_rates(reach.services)),
    ]
    return Scope("systemic", "feature_flag", 0.75, subject=f"{f.key}={f.value}", grounds=grounds)


def _instance(skew: InstanceSkew) -> Scope:
    inside, outside = skew.rates
    went_wrong = InstanceWentWrong(skew.instance, inside, outside, skew.siblings)
    return Scope("localized", "instance", 0.75, subject=skew.instance, grounds=[went_wrong])
