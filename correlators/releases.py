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
from collections.abc import Sequence
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


def any_new_version(baseline: Sequence[Trace], during: Sequence[Trace]) -> bool:
    """Whether any service ran a version in the incident that the baseline never saw: the
    baseline's spans are judged for :func:`release_reach` only then."""
    known = {(span.service, span.service_version) for trace in baseline for span in trace.spans}
    return any((span.service, span.service_version) not in known for trace in during for span in trace.spans)


def release_reach(before: Sequence[Judged], judged: Sequence[Judged]) -> ReleaseReach | None:
    """The services whose spans went wrong far more on a version new since the baseline
    (``before``: the baseline's spans, judged). A rollout that finished early leaves few
    old-version spans in the incident, so the baseline's count as the old version too."""
    known = {(span.service, span.service_version) for spans in before for span, _ in spans}
    seen: defaultdict[str, Counter[str | None]] = defaultdict(Counter)
    wrong: defaultdict[str, Counter[str | None]] = defaultdict(Counter)
    for spans in [*before, *judged]:
        for span, how in spans:
            version = span.service_version if (span.service, span.service_version) not in known else None
            seen[span.service][version] += 1
            wrong[span.service][version] += how == OWN
    services = {}
    for service, versions in seen.items():
        old_seen, old_wrong = versions[None], wrong[service][None]
        for version, n in versions.items():
            if version is None:
                continue
            rates = worse_inside(n, wrong[service][version], old_seen, old_wrong)
            if rates is not None:
                services[service] = (version, *rates)
    return ReleaseReach(services) if services else None
