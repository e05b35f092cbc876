"""The tests a release comparison rests on: is the new side slower (a rank test), does
it fail more often (an exact test), and how far off could a percentile be (an interval),
with the family of tests corrected for how many were run.

Each is a textbook formula in a few lines of the standard library, for samples of a few
thousand values: the Mann-Whitney U test with the normal approximation (tie-corrected,
with continuity correction, as scipy's ``method="asymptotic"``), Fisher's exact test
one-sided (the hypergeometric tail, summed in logs), Holm's step-down adjustment, and the
distribution-free interval of a quantile from its order statistics (the binomial's
normal approximation). No resampling: the same input gives the same answer, and a
comparison of 2,000 traces stays in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

_NORMAL = NormalDist()


def slower(old: Sequence[float], new: Sequence[float]) -> float:
    """One-sided p-value that ``new`` tends to be larger than ``old`` (Mann-Whitney U).
    1.0 when either side is empty or every value is equal."""
    n_old, n_new = len(old), len(new)
    if not n_old or not n_new:
        return 1.0
    pooled = sorted([(value, 0) for value in old] + [(value, 1) for value in new])
    rank_new = 0.0
    ties = 0.0
    i = 0
    n = len(pooled)
    while i < n:
        j = i
        while j + 1 < n and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        run = j - i + 1
        average = (i + j) / 2 + 1
        rank_new += average * sum(side for _, side in pooled[i : j + 1])
        ties += run**3 - run
        i = j + 1
    u = rank_new - n_new * (n_new + 1) / 2
    mean = n_old * n_new / 2
    variance = n_old * n_new / 12 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:
        return 1.0
    z = (u - mean - 0.5) / math.sqrt(variance)
    return 1.0 - _NORMAL.cdf(z)


def fails_more(old_failed: int, old_total: int, new_failed: int, new_total: int) -> float:
    """One-sided p-value of Fisher's exact test that the new side's failure rate is the
    higher: the chance, with the failures dealt at random over both sides' items, that the
    new side gets ``new_failed`` of them or more."""
    failed = old_failed + new_failed
    total = old_total + new_total
    if not new_total or not failed:
        return 1.0
    top = min(failed, new_total)
    log_all = _log_choose(total, new_total)
    chance = sum(
        math.exp(_log_choose(failed, k) + _log_choose(total - failed, new_total - k) - log_all)
        for k in range(new_failed, top + 1)
        if new_total - k <= total - failed
    )
    return min(1.0, chance)


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's adjusted p-values, in the order given: the family-wise error rate stays at
    the level each adjusted value is compared with, however many tests were run."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    m = len(p_values)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def quantile_interval(ordered: Sequence[float], q: float, confidence: float) -> tuple[float, float]:
    """A distribution-free interval for the ``q`` quantile of the population ``ordered``
    (sorted) was drawn from: the order statistics whose ranks bound the binomial count of
    values below the quantile at ``confidence``."""
    n = len(ordered)
    if not n:
        return 0.0, 0.0
    z = _NORMAL.inv_cdf((1 + confidence) / 2)
    spread = z * math.sqrt(n * q * (1 - q))
    low = max(0, math.floor(n * q - spread) - 1)
    high = min(n - 1, math.ceil(n * q + spread))
    return ordered[low], ordered[high]


def quantile(ordered: Sequence[float], q: float) -> float:
    """Nearest rank on sorted values, as :func:`correlators.advice.percentile`."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
