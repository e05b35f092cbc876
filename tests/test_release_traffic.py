"""Release regressions on generated traffic at 10 requests/s (tests/release_traffic.py):
a 30 % slower statement and 1 % more failures are called within ten minutes of the new
version's traffic, and a release that changed nothing is not called. The false alarm
rate of the full ten minutes is bench/release_regressions.py's (docs/benchmarks.md)."""

from __future__ import annotations

import time

import pytest

from correlators.regression import Outcome, compare_versions
from correlators.traces import assemble
from tests.release_traffic import CASES, NEW, OLD, SERVICE, Release, minutes_to_call, traffic


@pytest.mark.parametrize("case", ["latency +30%", "errors +1%"])
def test_a_regression_is_called_within_ten_minutes(case: str) -> None:
    planted = CASES[case]
    release = Release(slower=planted.slower, errors=planted.errors, before_s=180, after_s=600)
    for seed in range(5):
        called = minutes_to_call(seed, release, 10)
        assert called is not None and called <= 10, (case, seed)


def test_no_change_is_silent_over_50_seeds() -> None:
    """Two minutes a side, looked at after each minute: fewer spans than ten minutes give
    the effect-size floors more chance shifts to pass, so this is the harder case for
    them."""
    release = Release(before_s=120, after_s=120)
    called = [seed for seed in range(50) if minutes_to_call(seed, release, 2) is not None]
    assert called == []


def test_2000_traces_are_compared_well_under_a_second() -> None:
    trees = [assemble(t) for t in traffic(0, Release(slower=0.3, before_s=100, after_s=100))[:2000]]
    started = time.perf_counter()
    verdict = compare_versions(trees, SERVICE, OLD, NEW)
    elapsed = time.perf_counter() - started
    assert verdict.outcome is Outcome.REGRESSED
    assert elapsed < 0.5  # 66 ms measured here; slack for a shared machine
