"""A release's verdict in words (``correlators.regression``): what got worse, by how
much, with the interval; the same sentences for Slack, the releases page and the change
line of an incident. Plain text: each edge escapes it its own way."""

from __future__ import annotations

import math

from correlators.regression import OperationComparison, Outcome, PatternGrowth, ReleaseVerdict, Shift

OUTCOME_WORDS = {
    Outcome.REGRESSED.value: "regressed",
    Outcome.FINE.value: "fine",
    Outcome.TOO_EARLY.value: "not enough traffic yet",
    "watching": "watching",
    "first": "first version seen",
}


def outcome_words(outcome: str) -> str:
    return OUTCOME_WORDS.get(outcome, outcome)


def percent(change: float) -> str:
    if math.isinf(change):
        return "from nothing"
    return f"{change:+.0%}"


def shift_words(shift: Shift) -> str:
    """ "p95 +31% [+24%, +38%] (28.1 → 36.9 ms)"."""
    q = f"p{round(shift.quantile * 100)}"
    return (
        f"{q} {percent(shift.change)} [{percent(shift.low)}, {percent(shift.high)}] "
        f"({shift.old_ns / 1e6:.1f} → {shift.new_ns / 1e6:.1f} ms)"
    )


def regression_words(o: OperationComparison) -> str:
    """One regressed operation: "SELECT items: p95 +31% [+24%, +38%] (28.1 → 36.9 ms)"."""
    parts = []
    size = o.size
    if o.slower and size is not None:
        parts.append(shift_words(size))
    if o.fails_more:
        parts.append(
            f"fails {o.new_rate:.2%} of calls, was {o.old_rate:.2%} ({o.new_errors} of {o.new_count})"
        )
    return f"{o.operation}: {'; '.join(parts)}"


def pattern_words(p: PatternGrowth) -> str:
    kind = p.kind.value.replace("_", " ")
    return (
        f"{p.operation}: new {kind} to {p.callee} ({p.target}) in {p.new_share:.0%} of requests, "
        f"was {p.old_share:.0%}; ~{p.saved_ns / 1e6:.0f} ms a request to win back"
    )


def verdict_lines(verdict: ReleaseVerdict) -> list[str]:
    """What got worse, one line each: operations, then patterns."""
    return [
        *(regression_words(o) for o in verdict.regressions),
        *(pattern_words(p) for p in verdict.patterns),
    ]


def verdict_summary(verdict: ReleaseVerdict | None, outcome: str) -> str:
    """The outcome with the first thing that got worse: "regressed: SELECT items: p95 +31% …"."""
    lines = verdict_lines(verdict) if verdict is not None else []
    words = outcome_words(outcome)
    return f"{words}: {lines[0]}" if lines else words
