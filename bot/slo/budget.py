"""An objective's error budget over its SLO window (30 days unless the journey says).

The budget is the bad events the window may hold: ``(1 - objective)`` of the window's
events. Until the window is full of history (a new install, the demo, retention shorter
than the window) the events seen are only part of the window's; counting the budget from
them alone made 20 minutes of traffic the whole month's, and ``Budget left: -1095%``. So
the events seen are taken as a sample of the window at the rate they came in:
``expected = seen * window / covered``, where ``covered`` is how far back the events go.

How far back they go is read from the counts themselves, which every SLI source can give:
the shortest window holding as many events as the SLO window holds all of them. A second
call narrows that between two of the tiers' windows, only while history is short. A
journey idle for most of its window is read as if its history began with its traffic.

Pure arithmetic; the source is asked in ``bot.slo.evaluate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

REFINE_STEPS = 8
"""Windows asked between two of the tiers' windows to find how far back history goes:
eight steps between 30 min and 1 h are 9 % apart."""


@dataclass(frozen=True, slots=True)
class WindowBudget:
    window_s: int
    objective: float
    events: float
    """Events counted in the window."""
    bad: float
    covered_s: int
    """How far back the counted events go (at most the window)."""

    @property
    def expected_events(self) -> float:
        """The window's events, the unseen part at the rate of the seen one."""
        if self.covered_s <= 0 or self.covered_s >= self.window_s:
            return self.events
        return self.events * self.window_s / self.covered_s

    @property
    def allowed_bad(self) -> float:
        return (1 - self.objective) * self.expected_events

    @property
    def left(self) -> float:
        """Share of the budget not spent, 0..1 (0 is exhausted, however far over)."""
        if self.allowed_bad <= 0:
            return 1.0
        return max(0.0, 1.0 - self.bad / self.allowed_bad)

    def share(self, bad_events: float) -> float:
        """``bad_events`` as a share of the window's budget (above 1 when they alone are
        more than the whole budget)."""
        if self.allowed_bad <= 0:
            return 0.0
        return bad_events / self.allowed_bad


def covered(totals: Mapping[int, float], window_s: int) -> int:
    """How far back the events of ``window_s`` go: the shortest window counted that holds
    all of them (the window itself when it has none)."""
    everything = totals[window_s]
    if everything <= 0:
        return window_s
    return min(w for w, total in totals.items() if w <= window_s and total >= everything)


def refinement(totals: Mapping[int, float], window_s: int) -> list[int]:
    """Windows to count to place the start of history more precisely, when it lies
    inside the SLO window: geometric steps between the longest window holding fewer
    events than the SLO window and the shortest holding them all. Empty when history
    fills the window or there are no events."""
    top = covered(totals, window_s)
    if top >= window_s:
        return []
    below = [w for w, total in totals.items() if w < top and total < totals[window_s]]
    low = max(below, default=0)
    if low <= 0:
        low = max(1, top // 2**REFINE_STEPS)
    steps = [round(low * (top / low) ** (k / REFINE_STEPS)) for k in range(1, REFINE_STEPS)]
    return sorted({s for s in steps if low < s < top})
