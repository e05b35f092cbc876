"""How far a release reaches: which services went wrong on versions the baseline never ran.

A rollout replaces instances one by one, so during the incident a service runs its new
version beside the old one, and each service is its own control: its spans on the new
version against its spans on the old. One service that went wrong on its new version is
that service's release (localized); several are a release rolled across services
(systemic). A new version whose spans did no worse is a benign deploy, however close in
time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from correlators.model import Trace
from correlators.wrong import OWN, Judged, worse_inside


@dataclass(frozen=True, slots=True)
class ReleaseReach:
    services: dict[str, tuple[str, float, float]]
    """Service -> (its new version, share of its spans gone wrong on it, on the old one)."""

    @property
    def versions(self) -> list[str]:
        return sorted({version for version, _, _ in self.services.values()})


def with_new_versions(baseline: Sequence[Trace], during: Sequence[Trace]) -> set[str]:
    """Services that ran a version in the incident the baseline never saw: only their
    baseline spans need judging for :func:`release_reach`."""
    known = {(span.service, span.service_version) for trace in baseline for span in trace.spans}
    return {
        span.service
        for trace in during
        for span in trace.spans
        if (span.service, span.service_version) not in known
    }


def release_reach(
    before: Sequence[Judged], judged: Sequence[Judged], services: Collection[str]
) -> ReleaseReach | None:
    """Of ``services`` (those with a new version), the ones whose spans went wrong far
    more on a version new since the baseline (``before``: the baseline's spans, judged). A
    rollout that finished early leaves few old-version spans in the incident, so the
    baseline's count as the old version too."""
    known = {(span.service, span.service_version) for spans in before for span, _ in spans}
    seen: defaultdict[str, Counter[str | None]] = defaultdict(Counter)
    wrong: defaultdict[str, Counter[str | None]] = defaultdict(Counter)
    for spans in [*before, *judged]:
        for span, how in spans:
            if span.service not in services:
                continue
            version = span.service_version if (span.service, span.service_version) not in known else None
            seen[span.service][version] += 1
            wrong[span.service][version] += how == OWN
    broken = {}
    for service, versions in seen.items():
        old_seen, old_wrong = versions[None], wrong[service][None]
        for version, n in versions.items():
            if version is None:
                continue
            rates = worse_inside(n, wrong[service][version], old_seen, old_wrong)
            if rates is not None:
                broken[service] = (version, *rates)
    return ReleaseReach(broken) if broken else None
