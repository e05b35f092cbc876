"""What an evaluation means for a journey's incident. Pure: state and status in, an
action out, so the detection benchmark replays it over days of events in seconds.

One incident per journey at a time: while any tier fires it stays open, whichever tier
opened it (a slower tier firing beside a faster one never opens a second); its severity
follows the fastest tier firing; it resolves once no tier has fired for ``resolve_after``
seconds (hysteresis, so a flapping burn is one incident, not ten).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    NONE = "none"
    OPEN = "open"
    ESCALATE = "escalate"
    """A faster tier fires than the one the incident follows."""
    EASE = "ease"
    """Only slower tiers fire now."""
    UPDATE = "update"
    """Still firing on the same tier: refresh burn rate and budget."""
    QUIET = "quiet"
    """Nothing fires, but not yet for long enough to resolve."""
    RESOLVE = "resolve"
    INVESTIGATED = "investigated"
    """Not a decision: what listeners hear when a report has been stored."""


@dataclass(frozen=True, slots=True)
class Firing:
    """The fastest tier firing in one evaluation."""

    objective: str
    tier: str
    tier_rank: int
    """Position in the journey's tiers, fastest first."""
    severity: str
    burn_rate: float
    budget_left: float
    burn_start_s: float
    """Start of the tier's short window: roughly when the burn began."""


@dataclass(frozen=True, slots=True)
class OpenIncident:
    id: int
    tier_rank: int
    last_firing_at: float
    burn_start: float = 0.0
    """When the burn began: the bad events since then are what the incident spent."""
    objective: str = "availability"


def decide(
    current: OpenIncident | None, firing: Firing | None, now_s: float, resolve_after_s: float
) -> Action:
    if current is None:
        return Action.OPEN if firing is not None else Action.NONE
    if firing is None:
        return Action.RESOLVE if now_s - current.last_firing_at >= resolve_after_s else Action.QUIET
    if firing.tier_rank < current.tier_rank:
        return Action.ESCALATE
    if firing.tier_rank > current.tier_rank:
        return Action.EASE
    return Action.UPDATE
