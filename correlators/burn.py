"""Error-budget burn rates over multiple windows, as the SRE workbook alerts on them.

A tier fires when the burn rate (the bad-event ratio divided by the budget ratio,
1 - objective) is at least its threshold over both its long and its short window: the
long window makes it significant, the short one makes it current, so the alert stops soon
after the burning does. Pure arithmetic over event counts in time buckets; the bot feeds
it span-metric rows or PromQL results and decides what to page.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    severity: str
    """"page" or "ticket"."""
    burn_rate: float
    long_window_s: int
    short_window_s: int
    min_bad_events: int = 0
    """Bad events the long window must hold as well: on a quiet journey one failed request
    is a huge ratio, and a short window would page on it."""


WORKBOOK_TIERS = (
    Tier("page-fast", "page", 14.4, 3600, 300),
    Tier("page-slow", "page", 6.0, 6 * 3600, 1800),
    Tier("ticket-fast", "ticket", 3.0, 24 * 3600, 2 * 3600),
    Tier("ticket-slow", "ticket", 1.0, 3 * 24 * 3600, 6 * 3600),
)
"""The SRE workbook's multiwindow, multi-burn-rate set, fastest first."""

BURST_TIER = Tier("page-burst", "page", 14.4, 300, 60, min_bad_events=20)
"""14.4x over 5 minutes (and 1): pages on a 2 % error rate against 99.9 % within 4
minutes, where the workbook's 1-hour window needs 43. It costs 0.17 % of a 30-day budget
before it fires, and needs 20 bad events, so a quiet journey does not page on one error.
Switch it off per journey (``alerts: {page-burst: {enabled: false}}``) for the pure
workbook set."""

MIN_BAD_EVENTS = 5
"""Bad events every default tier's long window must hold: a journey with little traffic
(or little history yet) otherwise opens a ticket on its first failed request."""

DEFAULT_TIERS = (BURST_TIER, *(dataclasses.replace(t, min_bad_events=MIN_BAD_EVENTS) for t in WORKBOOK_TIERS))
"""Fastest first: the burst tier, then the workbook's, each wanting a few bad events."""


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
    long_bad: float = 0.0
    current_burn: float | None = None
    """The burn over the last few minutes, when evaluated with a current window."""

    @property
    def firing(self) -> bool:
        rate = self.tier.burn_rate
        return (
            self.long_burn >= rate
            and self.short_burn >= rate
            and self.long_bad >= self.tier.min_bad_events
            and (self.current_burn is None or self.current_burn >= 1.0)
        )


def burn_rate(total: float, bad: float, objective: float) -> float:
    """The bad-event ratio over the budget ratio; 0 for a window with no events."""
    if total <= 0:
        return 0.0
    return (bad / total) / (1 - objective)


def evaluate_counts(
    counts: Mapping[int, tuple[float, float]],
    objective: float,
    tiers: Sequence[Tier] = DEFAULT_TIERS,
    current_window_s: int | None = None,
) -> list[TierState]:
    """Tier states from (total, bad) per window length, as a PromQL source gives them.

    With ``current_window_s``, a tier fires only while that recent window still burns
    faster than the budget allows (1x): after a 10-minute outage the ticket tiers' 2 h and
    6 h windows stay above threshold for hours, but nothing is burning any more, and the
    incident should resolve once the hysteresis has passed, not six hours later.
    """
    current = None
    if current_window_s is not None:
        current = burn_rate(*counts[current_window_s], objective)
    states = []
    for tier in tiers:
        long_total, long_bad = counts[tier.long_window_s]
        short_total, short_bad = counts[tier.short_window_s]
        states.append(
            TierState(
                tier,
                burn_rate(long_total, long_bad, objective),
                burn_rate(short_total, short_bad, objective),
                long_bad,
                current,
            )
        )
    return states


def budget_left(total: float, bad: float, objective: float) -> float:
    """Share of a window's error budget not yet spent (negative once overspent); a window
    with no events has spent nothing."""
    if total <= 0:
        return 1.0
    return 1 - bad / (total * (1 - objective))


def windows_of(tiers: Sequence[Tier]) -> list[int]:
    """Every window length the tiers need, ascending."""
    return sorted({w for t in tiers for w in (t.long_window_s, t.short_window_s)})


class BurnSeries:
    """An objective's events in buckets with prefix sums, so any window's burn rate or
    budget costs two lookups."""

    def __init__(self, buckets: Sequence[Bucket], objective: float) -> None:
        if not 0 < objective < 1:
            raise ValueError("objective must be between 0 and 1")
        self.objective = objective
        ordered = sorted(buckets, key=lambda b: b.start_s)
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
        return burn_rate(total, bad, self.objective)

    def evaluate(
        self, now_s: int, tiers: Sequence[Tier] = DEFAULT_TIERS, current_window_s: int | None = None
    ) -> list[TierState]:
        windows = windows_of(tiers) + ([current_window_s] if current_window_s else [])
        counts = {w: self.window(now_s, w) for w in windows}
        return evaluate_counts(
            {w: (float(t), float(b)) for w, (t, b) in counts.items()}, self.objective, tiers, current_window_s
        )

    def budget_left(self, now_s: int, slo_window_s: int) -> float:
        """Share of the window's error budget not yet spent (negative once overspent)."""
        return budget_left(*self.window(now_s, slo_window_s), self.objective)


def fastest_firing(states: Sequence[TierState]) -> TierState | None:
    """The tier an incident's severity follows: the first firing one, fastest first."""
    return next((s for s in states if s.firing), None)
