"""Change events as incident evidence: which deploy, config change or flag flip came just
before the burn, on a service the analysis suspects.

Changes come from outside (``POST /api/changes``) and from the traces themselves (a
``service.version`` not seen before); here they are only matched to the incident in time
and to the candidates by service. A change on a suspect service shortly before the burn
is the first thing an on-call engineer rolls back, so it is named even when weak.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from correlators.model import Trace
from correlators.rank import Candidate

S = 1_000_000_000
LOOKBACK_NS = 2 * 3600 * S
"""Changes older than this before the burn are not suspects."""


@dataclass(frozen=True, slots=True)
class ReleaseJudged:
    """What the release comparison (``correlators.regression``, run by the bot as each
    version appears) said of a deploy's version: its outcome and the first thing that
    got worse."""

    outcome: str
    """A ``correlators.regression.Outcome`` value, or ``watching``."""
    operation: str | None = None
    quantile: float | None = None
    change: float | None = None
    """The percentile's change relative to the version before (+0.31: 31 % slower)."""
    failed_share: float | None = None
    """When it fails more: its share of failed calls, and the version before's."""
    failed_before: float | None = None


@dataclass(frozen=True, slots=True)
class Change:
    service: str
    kind: str
    """deploy | config | flag"""
    time_ns: int
    version: str | None = None
    link: str | None = None
    description: str | None = None
    source: str = "api"
    """"api" (posted) or "spans" (a new service.version seen in traces)."""
    release: ReleaseJudged | None = None
    """The release's verdict, for a deploy of a version the bot has judged."""


@dataclass(frozen=True, slots=True)
class ChangeFinding:
    change: Change
    minutes_before: float
    """Before the burn began; negative when the change came after it began."""
    candidate_rank: int | None
    """1-based rank of the change's service among the candidates, None if not one."""


def relevant_changes(
    changes: Sequence[Change],
    candidates: Sequence[Candidate],
    burn_start_ns: int,
    incident_end_ns: int,
    lookback_ns: int = LOOKBACK_NS,
) -> list[ChangeFinding]:
    """Changes from ``lookback_ns`` before the burn to the end of the incident window,
    suspects first (by candidate rank), then the most recent before the burn."""
    ranks = {c.service: i for i, c in enumerate(candidates, start=1)}
    found = []
    for change in changes:
        if not burn_start_ns - lookback_ns <= change.time_ns <= incident_end_ns:
            continue
        minutes = (burn_start_ns - change.time_ns) / (60 * S)
        rank = ranks.get(change.service)
        found.append(ChangeFinding(change, round(minutes, 1), rank))
    return sorted(
        found,
        key=lambda f: (f.candidate_rank is None, f.candidate_rank or 0, abs(f.minutes_before)),
    )


def version_changes(traces: Sequence[Trace], since_ns: int) -> list[Change]:
    """Releases seen in the traces themselves: a service's version first seen after
    ``since_ns`` while the service already ran another version before it. One change per
    (service, version), at the version's first span."""
    first_seen: dict[tuple[str, str], int] = {}
    for trace in traces:
        for span in trace.spans:
            if span.service_version:
                key = (span.service, span.service_version)
                first_seen[key] = min(first_seen.get(key, span.start_ns), span.start_ns)
    older: dict[str, int] = {}
    for (service, _), seen in first_seen.items():
        older[service] = min(older.get(service, seen), seen)
    return sorted(
        (
            Change(service, "deploy", seen, version=version, source="spans")
            for (service, version), seen in first_seen.items()
            if seen >= since_ns and older[service] < seen
        ),
        key=lambda c: c.time_ns,
    )
