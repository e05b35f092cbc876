"""Earlier incidents that look like this one: same journey, same top suspect or same
scope. The on-call engineer's first question after "what broke" is "has this happened
before, and what did we do then"; the bot answers with links, not a guess at causes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_SIMILAR = 3


@dataclass(frozen=True, slots=True)
class PastIncident:
    id: int
    journey: str
    opened_at_s: float
    top_service: str | None
    scope_level: str | None
    scope_subject: str | None
    summary: str
    link: str | None = None


@dataclass(frozen=True, slots=True)
class SimilarIncident:
    id: int
    opened_at_s: float
    summary: str
    why: str
    link: str | None = None


def similar_incidents(
    journey: str,
    top_service: str | None,
    scope_level: str | None,
    scope_subject: str | None,
    past: Sequence[PastIncident],
) -> list[SimilarIncident]:
    """Same journey and same top suspect first, then same scope (level and subject),
    newest first within each; at most three."""
    matches: list[tuple[int, float, SimilarIncident]] = []
    for incident in past:
        if incident.journey != journey:
            continue
        if top_service and incident.top_service == top_service:
            why, order = f"same top suspect ({top_service})", 0
        elif scope_level and incident.scope_level == scope_level and incident.scope_subject == scope_subject:
            subject = f" {scope_subject}" if scope_subject else ""
            why, order = f"same scope ({scope_level}{subject})", 1
        else:
            continue
        found = SimilarIncident(incident.id, incident.opened_at_s, incident.summary, why, incident.link)
        matches.append((order, -incident.opened_at_s, found))
    return [m[2] for m in sorted(matches, key=lambda m: (m[0], m[1]))[:MAX_SIMILAR]]
