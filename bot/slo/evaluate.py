"""One evaluation of one journey: each objective's tiers, budget left, and the fastest
tier firing, from whichever SLI source the journey names.

The arithmetic is ``correlators.burn`` and ``bot.slo.budget``; this module only asks the
source for the windows the tiers need plus the SLO window, for the budget, in one call per
objective (and a second while history is shorter than the SLO window, to tell how much
shorter: see ``bot.slo.budget``).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Journey
from bot.slo.budget import WindowBudget, covered, refinement
from bot.sources.base import EventCounts, ObjectiveKind, SliQuery, SliSource
from correlators.burn import TierState, evaluate_counts, fastest_firing, windows_of

OBJECTIVE_KINDS: tuple[ObjectiveKind, ...] = ("availability", "latency")


@dataclass(frozen=True, slots=True)
class ObjectiveStatus:
    objective: ObjectiveKind
    target: float
    states: list[TierState]
    budget: WindowBudget

    @property
    def budget_left(self) -> float:
        """Share of the SLO window's budget not yet spent, 0..1."""
        return self.budget.left

    @property
    def events(self) -> float:
        """Events in the SLO window: 0 means no traffic, not a perfect record."""
        return self.budget.events

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
        statuses.append(
            ObjectiveStatus(kind, target, states, window_budget(journey, source, query, now_s, counts))
        )
    return JourneyStatus(journey.name, now_s, statuses)


def window_budget(
    journey: Journey, source: SliSource, query: SliQuery, now_s: int, counts: dict[int, EventCounts]
) -> WindowBudget:
    window = journey.slo_window
    target = journey.objective(query.objective)
    assert target is not None
    more = refinement({w: c.total for w, c in counts.items()}, window)
    if more:
        counts = {**counts, **source.counts(query, now_s, more)}
    totals = {w: c.total for w, c in counts.items()}
    return WindowBudget(window, target, counts[window].total, counts[window].bad, covered(totals, window))
