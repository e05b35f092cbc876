"""Localized or systemic: how far the fault reaches, at what level, and why, in words.

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

from correlators.flags import FlagReach
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
    subject: str | None = None
    """What the level is about: the zone, the version, the flag, the dependency, the instance."""


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
        counted = "requests" if rate.source == "metrics" else "kept traces"
        return Scope(
            "systemic",
            "traffic",
            0.8,
            [f"the journey's entry services got {rate.ratio:.1f}x their baseline {counted} per second"],
            "traffic",
        )
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
        return Scope("localized", "unknown", 0.0, ["no candidate stood out"])
    top = candidates[0]
    if top.service in graph.dependencies:
        callers = sorted(graph.callers(top.service))
        if len(callers) > 1:
            return Scope(
                "systemic",
                "shared_dependency",
                0.75,
                [f"{top.service} is the top candidate and is shared by {', '.join(callers)}"],
                top.service,
            )
        return Scope(
            "localized",
            "dependency",
            0.7,
            [f"{top.service} is the top candidate and only {', '.join(callers) or 'one service'} calls it"],
            top.service,
        )
    if instance is not None and instance.service == top.service:
        return _instance(instance)
    if silent is not None:
        return _platform_failures(silent)
    return Scope(
        "localized",
        "service",
        round(min(0.9, 0.4 + top.score), 2),
        [f"{top.service} is the top candidate on all its instances"],
        top.service,
    )


def _against(rates: Mapping[str, tuple[float, float]]) -> str:
    """ "cart 40% against 2%, web …": each service's share inside the group and outside it."""
    return ", ".join(
        f"{service} {inside:.0%} against {outside:.0%}"
        for service, (inside, outside) in sorted(rates.items())
    )


def _skewed_zone(skew: ZoneSkew) -> Scope:
    described = _against(skew.services)
    return Scope(
        "systemic",
        "zone",
        round(min(0.95, 0.5 + 0.1 * len(skew.services)), 2),
        [
            f"{len(skew.services)} of the {skew.eligible} services that run in several zones had far more "
            f"bad requests in zone {skew.zone} than in their other zones: {described}"
        ],
        skew.zone,
    )


def _platform(network: NetworkSlowdown) -> Scope:
    slowest = sorted(network.grown.items(), key=lambda item: item[1][0] - item[1][1])[:3]
    described = ", ".join(f"{a} -> {b} {was:.0f} -> {now:.0f} ms" for (a, b), (was, now) in slowest)
    return Scope(
        "systemic",
        "platform",
        0.7,
        [
            f"calls got slower outside their callee on {len(network.grown)} of {network.measured} "
            f"service edges, from many callers to many callees (the network between services, "
            f"not any one service): {described}"
        ],
        "service network",
    )


def _platform_failures(failures: NetworkFailures) -> Scope:
    failed = sum(failures.edges.values())
    callers = {caller for caller, _ in failures.edges}
    callees = {callee for _, callee in failures.edges}
    return Scope(
        "systemic",
        "platform",
        0.65,
        [
            f"{failed} of {failures.origins} {failures.counted} started in a call nothing answered, "
            f"from {len(callers)} callers to {len(callees)} callees, none of them most of it "
            "(the network between services, not any one service)"
        ],
        "service network",
    )


def _holds(services: Collection[str], candidates: Sequence[Candidate]) -> bool:
    """A change that broke several services stands on its own; one that broke a single
    service must be the top candidate's: a benign deploy on a caller of the broken part
    goes wrong with it, only later in time."""
    return len(services) >= 2 or (bool(candidates) and candidates[0].service in services)


def _release(reach: ReleaseReach) -> Scope:
    """Several services that went wrong on their new versions are the release; one is
    that service."""
    described = ", ".join(
        f"{service} {version} {inside:.0%} against {outside:.0%} on the old one"
        for service, (version, inside, outside) in sorted(reach.services.items())
    )
    reasons = [f"spans that went wrong on versions the baseline never ran: {described}"]
    if len(reach.services) >= 2:
        return Scope("systemic", "release", 0.8, reasons, ", ".join(reach.versions))
    service = next(iter(reach.services))
    return Scope("localized", "service", 0.75, [*reasons, f"only {service}'s release went wrong"], service)


def _flag(reach: FlagReach) -> Scope:
    """The flag is the level however many services went wrong behind it: it is the switch
    the on-call can turn off now; the services it broke are the reasons."""
    f = reach.finding
    on = f"{f.key}={f.value}"
    reasons = [
        f"{on} is on in {f.bad_share:.0%} of bad requests against {f.baseline_share:.0%} of healthy ones",
        f"spans that went wrong with it on, against without: {_against(reach.services)}",
    ]
    return Scope("systemic", "feature_flag", 0.75, reasons, on)


def _instance(skew: InstanceSkew) -> Scope:
    inside, outside = skew.rates
    return Scope(
        "localized",
        "instance",
        0.75,
        [
            f"{inside:.0%} of {skew.instance}'s spans went wrong themselves, against {outside:.0%} "
            f"of its {skew.siblings} siblings'"
        ],
        skew.instance,
    )
