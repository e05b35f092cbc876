"""Multiwindow, multi-burn-rate evaluation on replayed event streams: exact answers."""

from __future__ import annotations

import pytest

from correlators.burn import DEFAULT_TIERS, Bucket, BurnSeries, fastest_firing

BUCKET_S = 10


def stream(seconds: int, per_bucket: int, bad_ratio_at) -> list[Bucket]:  # type: ignore[no-untyped-def]
    return [Bucket(t, per_bucket, round(per_bucket * bad_ratio_at(t))) for t in range(0, seconds, BUCKET_S)]


def first_page(buckets: list[Bucket], start_s: int, until_s: int, step_s: int = 30) -> int | None:
    series = BurnSeries(buckets, objective=0.999)
    for now in range(start_s, until_s + 1, step_s):
        firing = fastest_firing(series.evaluate(now))
        if firing is not None and firing.tier.severity == "page":
            return now - start_s
    return None


def test_burn_rate_and_budget_left_are_exact() -> None:
    series = BurnSeries([Bucket(0, 1000, 2), Bucket(10, 1000, 0)], objective=0.999)
    assert series.burn(20, 20) == pytest.approx(1.0)  # 2 bad of 2000 = the budget exactly
    assert series.burn(20, 10) == 0.0
    assert series.budget_left(20, 30 * 24 * 3600) == pytest.approx(0.0)
    assert series.window(20, 10) == (1000, 0)


def test_a_total_outage_pages_within_a_minute() -> None:
    """The 1-hour window needs 1.44 % bad events: six 10-second buckets of 100 % errors."""
    onset = 7 * 3600  # a full 6-hour history before it
    buckets = stream(10 * 3600, 100, lambda t: 1.0 if t >= onset else 0.0)
    assert first_page(buckets, onset, onset + 600, step_s=10) == 60


def test_half_a_per_mille_for_six_hours_never_pages() -> None:
    buckets = stream(8 * 3600, 200, lambda t: 0.0005 if t >= 3600 else 0.0)
    assert first_page(buckets, 0, 8 * 3600) is None


def test_a_two_percent_error_rate_pages_once_the_long_window_agrees() -> None:
    """2 % errors against 99.9 % is a 20x burn: the 5-minute window agrees within minutes,
    the 1-hour window once 14.4/20 of it has burned, i.e. after 43.2 minutes."""
    onset = 7 * 3600
    buckets = stream(10 * 3600, 100, lambda t: 0.02 if t >= onset else 0.0)
    assert first_page(buckets, onset, onset + 3600, step_s=10) == 2600  # 43 min 20 s


def test_severity_follows_the_fastest_firing_tier() -> None:
    buckets = stream(8 * 3600, 100, lambda t: 1.0 if t >= 7 * 3600 else 0.0)
    states = BurnSeries(buckets, objective=0.999).evaluate(8 * 3600)
    # an hour of total outage burns every window's budget many times over
    assert [s.tier.name for s in states if s.firing] == [t.name for t in DEFAULT_TIERS]
    assert fastest_firing(states).tier is DEFAULT_TIERS[0]  # type: ignore[union-attr]
