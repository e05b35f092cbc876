"""How far a feature flag reaches: which services went wrong on the requests it is on for.

A flag value over-represented in bad traces is where to look, but over-represented is not
yet guilty: a flag is on for a cohort, and a cohort can be bad for other reasons. Each
service is its own control: its spans on requests with the flag against its spans on
requests without. A flag behind which some service went wrong is the cause, named with
the services it broke; one behind which nothing went wrong is only a coincidence.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from correlators.attributes import AttributeFinding, attribute_text
from correlators.wrong import OWN, Judged, worse_groups

FLAG_PREFIX = "feature_flag."
"""OpenFeature's semantic convention for flag evaluations on spans."""
MIN_BAD_TRACES = 5
MIN_BAD_SHARE = 0.5
"""The flag must be on for most bad requests…"""
MIN_ODDS_RATIO = 4.0
"""…and a request with it on must have had four times the odds of going bad."""


@dataclass(frozen=True, slots=True)
class FlagReach:
    finding: AttributeFinding
    services: dict[str, tuple[float, float]]
    """Service -> (share of its spans gone wrong with the flag on, without)."""


def flag_reach(findings: Sequence[AttributeFinding], judged: Sequence[Judged]) -> FlagReach | None:
    """The most telling flag value whose requests some service went wrong on."""
    flags = [f for f in findings if f.key.startswith(FLAG_PREFIX) and _telling(f)]
    for finding in sorted(flags, key=lambda f: -odds_ratio(f)):
        services = _wrong_behind(finding, judged)
        if services:
            return FlagReach(finding, services)
    return None


def odds_ratio(finding: AttributeFinding) -> float:
    """Odds of a bad request carrying the value over a healthy one's: unlike the gap in
    shares, it does not shrink when the flag is on for most requests anyway."""
    bad, calm = finding.bad_share, finding.baseline_share
    return (bad / max(1 - bad, 0.01)) / (max(calm, 0.01) / max(1 - calm, 0.01))


def _telling(finding: AttributeFinding) -> bool:
    return (
        finding.bad_count >= MIN_BAD_TRACES
        and finding.bad_share >= MIN_BAD_SHARE
        and odds_ratio(finding) >= MIN_ODDS_RATIO
    )


def _wrong_behind(finding: AttributeFinding, judged: Sequence[Judged]) -> dict[str, tuple[float, float]]:
    seen: defaultdict[str, Counter[bool]] = defaultdict(Counter)
    wrong: defaultdict[str, Counter[bool]] = defaultdict(Counter)
    for spans in judged:
        on = any(attribute_text(span.attributes.get(finding.key)) == finding.value for span, _ in spans)
        for span, how in spans:
            seen[span.service][on] += 1
            if how == OWN:
                wrong[span.service][on] += 1
    services = {}
    for service, counts in seen.items():
        # the odds have shown the flag matters to the requests; here only which services
        # went wrong behind it is asked, so any clear difference counts, however small
        rates = worse_groups(counts, wrong[service], min_gap=0.0).get(True)
        if rates is not None:
            services[service] = rates
    return services
