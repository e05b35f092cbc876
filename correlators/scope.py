"""Localized or systemic: how far the fault reaches, at what level, and why, in words.

Checked from the widest cause to the narrowest, each with the evidence that names it:

- systemic / traffic: the journey's request rate at least doubled;
- systemic / zone: one availability zone over-represented in bad traces across services;
- systemic / release: a new version over-represented in bad traces of several services;
- systemic / feature_flag: a flag value over-represented, on spans of several services;
- systemic / shared_dependency: the top candidate is a dependency several services call;
- localized / dependency: a dependency only one service calls;
- localized / instance: one instance of the top service over-represented in bad traces;
- localized / service: otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from correlators.attributes import AttributeFinding
from correlators.rank import Candidate
from correlators.topology import CallGraph

SURGE_FACTOR = 2.0
MIN_SHARE_GAP = 0.3
MIN_BAD_TRACES = 5
"""Bad traces that must carry an attribute value before its share is evidence of a reach:
that the one slow trace went through zone a says nothing about zone a."""


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
    findings: Sequence[AttributeFinding],
    graph: CallGraph,
    request_rate_ratio: float | None,
    origin_zones: Sequence[tuple[str, str]] = (),
    new_versions: Sequence[tuple[str, str]] = (),
) -> Scope:
    if request_rate_ratio is not None and request_rate_ratio >= SURGE_FACTOR:
        return Scope(
            "systemic",
            "traffic",
            0.8,
            [f"the journey's request rate is {request_rate_ratio:.1f}x its baseline"],
            "traffic",
        )
    zone = _failing_zone(origin_zones)
    if zone is not None:
        return zone
    release = _new_release(new_versions, candidates)
    if release is not None:
        return release
    flag = _flag(findings)
    if flag is not None:
        return flag
    if not candidates:
        return _zone(findings) or Scope("localized", "unknown", 0.0, ["no candidate stood out"])
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
    instance = _instance(findings, top.service)
    if instance is not None:
        return instance
    zone = _zone(findings)
    if zone is not None:
        return zone
    return Scope(
        "localized",
        "service",
        round(min(0.9, 0.4 + top.score), 2),
        [f"{top.service} is the top candidate on all its instances"],
        top.service,
    )


def _strong(finding: AttributeFinding) -> bool:
    return finding.bad_count >= MIN_BAD_TRACES and finding.bad_share - finding.baseline_share >= MIN_SHARE_GAP


def _failing_zone(origins: Sequence[tuple[str, str]]) -> Scope | None:
    """Errors that originate, on several services, mostly in one zone."""
    if len(origins) < 10:
        return None
    by_zone: defaultdict[str, set[str]] = defaultdict(set)
    counts: defaultdict[str, int] = defaultdict(int)
    for service, zone in origins:
        by_zone[zone].add(service)
        counts[zone] += 1
    zone = max(counts, key=lambda z: counts[z])
    share = counts[zone] / len(origins)
    if share >= 0.6 and len(by_zone[zone]) >= 3:
        return Scope(
            "systemic",
            "zone",
            round(min(0.95, share), 2),
            [
                f"{share:.0%} of the failures originated in zone {zone}, on {len(by_zone[zone])} services "
                f"({', '.join(sorted(by_zone[zone]))})"
            ],
            zone,
        )
    return None


def _zone(findings: Sequence[AttributeFinding]) -> Scope | None:
    services: defaultdict[str, set[str]] = defaultdict(set)
    for f in findings:
        if f.key == "cloud.availability_zone" and f.service and _strong(f):
            services[f.value].add(f.service)
    for zone, where in sorted(services.items(), key=lambda item: -len(item[1])):
        if len(where) >= 3:
            return Scope(
                "systemic",
                "zone",
                0.75,
                [
                    f"bad traces went through zone {zone} on {len(where)} services "
                    f"({', '.join(sorted(where))})"
                ],
                zone,
            )
    return None


def _new_release(new_versions: Sequence[tuple[str, str]], candidates: Sequence[Candidate]) -> Scope | None:
    """Versions never seen in the baseline, on several services that are themselves
    candidates: a release rolled to several services. A new version on a service with no
    evidence against it (a benign deploy elsewhere) does not count."""
    if not candidates:
        return None
    floor = candidates[0].score * 0.3
    suspects = {c.service for c in candidates if c.score >= floor}
    rolled = sorted({(service, version) for service, version in new_versions if service in suspects})
    if len({service for service, _ in rolled}) < 2:
        return None
    described = ", ".join(f"{service} {version}" for service, version in rolled)
    return Scope(
        "systemic",
        "release",
        0.75,
        [f"new versions, not seen before the incident, on services under suspicion: {described}"],
        ", ".join(sorted({service for service, _ in rolled})),
    )


def _release(findings: Sequence[AttributeFinding]) -> Scope | None:
    versions = [f for f in findings if f.key == "service.version" and _strong(f) and f.baseline_share < 0.2]
    services = sorted({f.service for f in versions if f.service})
    if len(services) >= 2:
        rolled = ", ".join(f"{f.service} {f.value}" for f in versions)
        return Scope(
            "systemic",
            "release",
            0.7,
            [f"a release is over-represented in bad traces: {rolled}"],
            ", ".join(services),
        )
    return None


def _flag(findings: Sequence[AttributeFinding]) -> Scope | None:
    for f in findings:
        if f.key.startswith("feature_flag.") and _strong(f) and f.bad_share >= 0.8:
            return Scope(
                "systemic",
                "feature_flag",
                0.7,
                [
                    f"{f.key}={f.value} is on in {f.bad_share:.0%} of bad traces against "
                    f"{f.baseline_share:.0%} of healthy ones"
                ],
                f"{f.key}={f.value}",
            )
    return None


def _instance(findings: Sequence[AttributeFinding], service: str) -> Scope | None:
    for f in findings:
        if f.key == "service.instance" and f.service == service and _strong(f) and f.bad_share >= 0.6:
            return Scope(
                "localized",
                "instance",
                0.75,
                [
                    f"{f.value} is in {f.bad_share:.0%} of bad traces against "
                    f"{f.baseline_share:.0%} of healthy ones"
                ],
                f.value,
            )
    return None
