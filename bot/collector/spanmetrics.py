"""Span metrics: RED counts per journey, service, operation and status, before sampling.

(Skeleton: the row type is fixed here so the store and the aggregator agree on it.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

LATENCY_BOUNDS_MS: tuple[float, ...] = (
    5, 10, 25, 50, 100, 250, 500, 750, 1000, 2500, 5000, 10000,
)
"""Upper bounds of the latency histogram buckets; one more bucket counts the overflow."""


@dataclass(slots=True)
class SpanMetricRow:
    """One bucket of one series. Rows with the same key are summed when read, so a late
    trace adds a row instead of rewriting one."""

    bucket_start_s: int
    journey: str
    service: str
    operation: str
    root: bool
    """True for the row counting the journey's entry spans: the journey-level SLI."""
    requests: int = 0
    errors: int = 0
    slow: int = 0
    """Requests over the journey's latency objective threshold (root rows only)."""
    duration_sum_ms: float = 0.0
    histogram: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_MS) + 1))
    exemplars: list[str] = field(default_factory=list)
    """Trace ids of kept traces in this bucket, errors and slow ones first."""
