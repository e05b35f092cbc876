"""Multiwindow, multi-burn-rate evaluation on replayed event streams: exact answers."""

from __future__ import annotations

import pytest

from correlators.burn import DEFAULT_TIERS, WORKBOOK_TIERS, Bucket, BurnSeries, Tier, fastest_firing

BUCKET_S = 10


def stream(seconds: int, per_bucket: int, bad_ratio_at) -> list[Bucket]:  # type: ignore[no-untyped-def]
    return [Bucket(t, per_bucket, round(per_bucket * bad_ratio_at(t))) for t in range(0, seconds, BUCKET_S)]


def spread(seconds: int, per_bucket: int, bad_every: int, onset_s: int = 0) -> list[Bucket]:
    """One bad event every ``bad_every`` requests from ``onset_s`` on, spread exactly."""
    buckets, seen = [], 0
    for t in range(0, seconds, BUCKET_S):
        before = seen // bad_every if t >= onset_s else 0
        seen += per_bucket if t >= onset_s else 0
        buckets.append(Bucket(t, per_bucket, seen // bad_every - before))
    return buckets


def first_page(
    buckets: list[Bucket],
    start_s: int,
    until_s: int,
    step_s: int = 30,
    tiers: tuple[Tier, ...] = DEFAULT_TIERS,
) -> int | None:
    series = BurnSeries(buckets, objective=0.999)
    for now in range(start_s, until_s + 1, step_s):
        firing = fastest_firing(series.evaluate(now, tiers))
        if firing is not None and firing.tier.severity == "page":
            return now - start_s
    return None


def test_burn_rate_and_budget_left_are_exact() -> None:
    series = BurnSeries([Bucket(0, 1000, 2), Bucket(10, 1000, 0)], objective=0.999)
    assert series.burn(20, 20) == pytest.approx(1.0)  # 2 bad of 2000 = the budget exactly
    assert series.burn(20, 10) == 0.0
    assert series.budget_left(20, 30 * 24 * 3600) == pytest.approx(0.0)
    assert series.window(20, 10) == (1000, 0)


def test_a_total_outage_pages_within_a_bucket_or_two() -> None:
    """The 5-minute burst window needs 1.44 % bad events (and 20 of them): the first
    10-second bucket of 100 % errors holds 100."""
    onset = 7 * 3600  # a full 6-hour history before it
    buckets = stream(10 * 3600, 100, lambda t: 1.0 if t >= onset else 0.0)
    assert first_page(buckets, onset, onset + 600, step_s=10) == 10
    # with the workbook's tiers alone, the 1-hour window needs six such buckets
    assert first_page(buckets, onset, onset + 600, step_s=10, tiers=WORKBOOK_TIERS) == 60


def test_half_a_per_mille_for_six_hours_never_pages() -> None:
    """One bad request in every 2,000 (a 0.5x burn) from the first hour on."""
    buckets = spread(8 * 3600, 200, bad_every=2000, onset_s=3600)
    assert sum(b.bad for b in buckets) == 7 * 360 * 200 // 2000
    assert first_page(buckets, 0, 8 * 3600) is None


def test_a_two_percent_error_rate_pages_within_four_minutes() -> None:
    """2 % errors against 99.9 % is a 20x burn: the 5-minute window reaches 14.4x once
    14.4/20 of it has burned (216 s; the first evaluation after is at 220 s). The
    workbook's 1-hour window needs 43.2 minutes for the same."""
    onset = 7 * 3600
    buckets = spread(10 * 3600, 100, bad_every=50, onset_s=onset)
    assert first_page(buckets, onset, onset + 3600, step_s=10) == 220
    assert first_page(buckets, onset, onset + 3600, step_s=10, tiers=WORKBOOK_TIERS) == 2600


def test_a_quiet_journey_does_not_page_on_one_failed_request() -> None:
    """Two requests a minute: one failure is 5 % of the burst window, a 50x burn, but one
    bad event is far from the 20 the burst tier asks for."""
    buckets = [Bucket(t, 1 if t % 30 == 0 else 0, 1 if t == 7 * 3600 else 0) for t in range(0, 8 * 3600, 10)]
    assert first_page(buckets, 7 * 3600, 8 * 3600 - 10, step_s=10) is None


def test_severity_follows_the_fastest_firing_tier() -> None:
    buckets = stream(8 * 3600, 100, lambda t: 1.0 if t >= 7 * 3600 else 0.0)
    states = BurnSeries(buckets, objective=0.999).evaluate(8 * 3600)
    # an hour of total outage burns every window's budget many times over
    assert [s.tier.name for s in states if s.firing] == [t.name for t in DEFAULT_TIERS]
    assert fastest_firing(states).tier is DEFAULT_TIERS[0]  # type: ignore[union-attr]
