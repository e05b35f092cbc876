"""Span metrics: RED counts per journey, service, operation and status, before sampling.

Every decided trace is counted, kept or dropped, so the SLIs computed from these rows are
unbiased by sampling; only the exemplars point at kept traces, since an exemplar that
cannot be opened is useless.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from correlators.model import Span, SpanKind, Trace

LATENCY_BOUNDS_MS: tuple[float, ...] = (
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    750,
    1000,
    2500,
    5000,
    10000,
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


_ENTRY_KINDS = (SpanKind.SERVER, SpanKind.CONSUMER)
ROW_BYTES = 600
"""What a row costs in memory besides its names: the object, its key tuple, the
histogram's 13 ints and the dict slots (sys.getsizeof summed, rounded up)."""
EXEMPLAR_BYTES = 100
"""A trace id string and its rank."""
NO_JOURNEY = "_none"
_Key = tuple[int, str, str, str, bool]


def latency_bucket(duration_ms: float) -> int:
    """Index of the histogram bucket: the first bound the value does not exceed."""
    return bisect.bisect_left(LATENCY_BOUNDS_MS, duration_ms)


class SpanMetrics:
    """Aggregates decided traces into rows, in memory, until drained to the store.

    Buckets are by event time (the span's start), not arrival time, so a trace decided
    late still counts where it happened; a bucket drained before a late trace arrives just
    gets a second row, which the store sums on read.
    """

    def __init__(self, bucket_s: int, exemplars_per_bucket: int) -> None:
        self.bucket_s = bucket_s
        self.exemplars_per_bucket = exemplars_per_bucket
        self._rows: dict[_Key, SpanMetricRow] = {}
        self._exemplar_rank: dict[_Key, list[int]] = {}
        self.bytes = 0
        """What the rows held hold, estimated: their names and a fixed cost each."""

    def count(self, trace: Trace, latency_threshold_ms: float | None) -> None:
        for key, span in self._keys(trace):
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = SpanMetricRow(*key)
                self.bytes += _row_bytes(key, self.exemplars_per_bucket)
            duration_ms = span.duration_ns / 1e6
            row.requests += 1
            row.errors += span.is_error
            row.duration_sum_ms += duration_ms
            row.histogram[latency_bucket(duration_ms)] += 1
            if row.root and latency_threshold_ms is not None and duration_ms > latency_threshold_ms:
                row.slow += 1

    def add_exemplar(self, trace: Trace, *, slow: bool = False) -> None:
        """Offer a kept trace as an exemplar of its rows: errors and slow traces first."""
        rank = 2 if trace.has_error else 1 if slow else 0
        for key, _ in self._keys(trace):
            row = self._rows.get(key)
            if row is None or trace.trace_id in row.exemplars:
                continue
            ranks = self._exemplar_rank.setdefault(key, [])
            if len(row.exemplars) < self.exemplars_per_bucket:
                row.exemplars.append(trace.trace_id)
                ranks.append(rank)
            elif ranks and min(ranks) < rank:
                weakest = ranks.index(min(ranks))
                row.exemplars[weakest] = trace.trace_id
                ranks[weakest] = rank

    def drain(self, older_than_s: float | None = None) -> list[SpanMetricRow]:
        """Rows of buckets that ended before ``older_than_s`` (all rows when None)."""
        done = [key for key in self._rows if older_than_s is None or key[0] + self.bucket_s <= older_than_s]
        self._exemplar_rank = {k: v for k, v in self._exemplar_rank.items() if k not in done}
        self.bytes -= sum(_row_bytes(key, self.exemplars_per_bucket) for key in done)
        return [self._rows.pop(key) for key in done]

    def _keys(self, trace: Trace) -> list[tuple[_Key, Span]]:
        journey = trace.journey or NO_JOURNEY
        root = trace.root
        keys: list[tuple[_Key, Span]] = []
        if root is not None:
            keys.append(((self._bucket(root), journey, root.service, root.name, True), root))
        for span in trace.spans:
            if span.kind in _ENTRY_KINDS:
                keys.append(((self._bucket(span), journey, span.service, span.name, False), span))
        return keys

    def _bucket(self, span: Span) -> int:
        seconds = span.start_ns // 1_000_000_000
        return seconds - seconds % self.bucket_s


def _row_bytes(key: _Key, exemplars: int) -> int:
    """A row's estimated memory, exemplars counted at their most so the figure needs no
    update when one is added."""
    _, journey, service, operation, _ = key
    return ROW_BYTES + len(journey) + len(service) + len(operation) + exemplars * EXEMPLAR_BYTES
