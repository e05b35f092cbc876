"""One evaluation of one journey: each objective's tiers, budget left, and the fastest
tier firing, from whichever SLI source the journey names.

The arithmetic is ``correlators.burn``; this module only asks the source for the windows
the tiers need (plus the SLO window, for the budget) in one call per objective.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Journey
from bot.sources.base import ObjectiveKind, SliQuery, SliSource
from correlators.burn import TierState, budget_left, evaluate_counts, fastest_firing, windows_of

OBJECTIVE_KINDS: tuple[ObjectiveKind, ...] = ("availability", "latency")


@dataclass(frozen=True, slots=True)
class ObjectiveStatus:
    objective: ObjectiveKind
    target: float
    states: list[TierState]
    budget_left: float
    """Share of the SLO window's budget not yet spent (negative once overspent)."""
    events: float
    """Events in the SLO window: 0 means no traffic, not a perfect record."""

    @property
    def firing(self) -> TierState | None:
        return fastest_firing(self.states)


@dataclass(frozen=True, slots=True)
class JourneyStatus:
    journey: str
    at_s: int
    objectives: list[ObjectiveStatus]

    def fastest(self) -> tuple[ObjectiveStatus, TierState] | None:
        """The objective and tier an incident follows: pages before tickets, then the
        shortest long window, then the higher burn."""
        firing = [(o, state) for o in self.objectives if (state := o.firing) is not None]
        if not firing:
            return None
        return min(
            firing,
            key=lambda pair: (
                pair[1].tier.severity != "page",
                pair[1].tier.long_window_s,
                -pair[1].long_burn,
            ),
        )

    @property
    def budget_left(self) -> float:
        """The tightest objective's budget."""
        return min((o.budget_left for o in self.objectives), default=1.0)


def evaluate_journey(
    journey: Journey, source: SliSource, now_s: int, current_window_s: int | None = None
) -> JourneyStatus:
    tiers = journey.tiers()
    windows = sorted(
        {*windows_of(tiers), journey.slo_window, *([current_window_s] if current_window_s else [])}
    )
    statuses = []
    for kind in OBJECTIVE_KINDS:
        target = journey.objective(kind)
        if target is None:
            continue
        latency = journey.objectives.latency
        query = SliQuery(journey.name, kind, latency.threshold_ms if latency else None)
        counts = source.counts(query, now_s, windows)
        states = evaluate_counts(
            {w: (c.total, c.bad) for w, c in counts.items()}, target, tiers, current_window_s
        )
        budget = counts[journey.slo_window]
        statuses.append(
            ObjectiveStatus(kind, target, states, budget_left(budget.total, budget.bad, target), budget.total)
        )
    return JourneyStatus(journey.name, now_s, statuses)
