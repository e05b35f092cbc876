"""Error-budget burn rates over multiple windows, as the SRE workbook alerts on them.

A tier fires when the burn rate (the bad-event ratio divided by the budget ratio,
1 - objective) is at least its threshold over both its long and its short window: the
long window makes it significant, the short one makes it current, so the alert stops soon
after the burning does. Pure arithmetic over event counts in time buckets; the bot feeds
it span-metric rows or PromQL results and decides what to page.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    severity: str
    """"page" or "ticket"."""
    burn_rate: float
    long_window_s: int
    short_window_s: int


DEFAULT_TIERS = (
    Tier("page-fast", "page", 14.4, 3600, 300),
    Tier("page-slow", "page", 6.0, 6 * 3600, 1800),
    Tier("ticket-fast", "ticket", 3.0, 24 * 3600, 2 * 3600),
    Tier("ticket-slow", "ticket", 1.0, 3 * 24 * 3600, 6 * 3600),
)
"""The workbook's multiwindow, multi-burn-rate set, fastest first."""


@dataclass(frozen=True, slots=True)
class Bucket:
    start_s: int
    total: int
    bad: int


@dataclass(frozen=True, slots=True)
class TierState:
    tier: Tier
    long_burn: float
    short_burn: float

    @property
    def firing(self) -> bool:
        return self.long_burn >= self.tier.burn_rate and self.short_burn >= self.tier.burn_rate


class BurnSeries:
    """Buckets in time order with prefix sums, so any window's totals cost two lookups."""

    def __init__(self, buckets: Sequence[Bucket], objective: float) -> None:
        if not 0 < objective < 1:
            raise ValueError("objective must be between 0 and 1")
        ordered = sorted(buckets, key=lambda b: b.start_s)
        self.objective = objective
        self._starts = [b.start_s for b in ordered]
        self._total = [0]
        self._bad = [0]
        for bucket in ordered:
            self._total.append(self._total[-1] + bucket.total)
            self._bad.append(self._bad[-1] + bucket.bad)

    def window(self, end_s: int, length_s: int) -> tuple[int, int]:
        """(total, bad) of the buckets starting in [end_s - length_s, end_s)."""
        lo = bisect.bisect_left(self._starts, end_s - length_s)
        hi = bisect.bisect_left(self._starts, end_s)
        return self._total[hi] - self._total[lo], self._bad[hi] - self._bad[lo]

    def burn(self, end_s: int, length_s: int) -> float:
        total, bad = self.window(end_s, length_s)
        if total == 0:
            return 0.0
        return (bad / total) / (1 - self.objective)

    def evaluate(self, now_s: int, tiers: Sequence[Tier] = DEFAULT_TIERS) -> list[TierState]:
        return [
            TierState(tier, self.burn(now_s, tier.long_window_s), self.burn(now_s, tier.short_window_s))
            for tier in tiers
        ]

    def budget_left(self, now_s: int, slo_window_s: int) -> float:
        """Share of the window's error budget not yet spent (negative once overspent)."""
        total, bad = self.window(now_s, slo_window_s)
        if total == 0:
            return 1.0
        allowed = total * (1 - self.objective)
        return 1 - bad / allowed


def fastest_firing(states: Sequence[TierState]) -> TierState | None:
    """The tier an incident's severity follows: the first firing one, fastest first."""
    return next((s for s in states if s.firing), None)
