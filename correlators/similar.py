"""Earlier incidents that look like this one: same journey, same top suspect or same
scope. The on-call engineer's first question after "what broke" is "has this happened
before, and what did we do then"; the bot answers with links, not a guess at causes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

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
    why: str = ""
    """Why it is similar in words, only as a report stored before ``same`` existed has it."""
    link: str | None = None
    same: Literal["suspect", "scope"] | None = None
    """What it shares with this incident: its top suspect, or its scope."""
    suspect: str | None = None
    level: str | None = None
    subject: str | None = None


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
        base = SimilarIncident(incident.id, incident.opened_at_s, incident.summary, link=incident.link)
        if top_service and incident.top_service == top_service:
            found, order = replace(base, same="suspect", suspect=top_service), 0
        elif scope_level and incident.scope_level == scope_level and incident.scope_subject == scope_subject:
            found, order = replace(base, same="scope", level=scope_level, subject=scope_subject), 1
        else:
            continue
        matches.append((order, -incident.opened_at_s, found))
    return [m[2] for m in sorted(matches, key=lambda m: (m[0], m[1]))[:MAX_SIMILAR]]
