"""How much each ingest key may send: a token bucket of body bytes per key.

One team's runaway exporter (a retry loop, a debug flag left on) must not take the
collector from everyone else; the queue and writer only push back on all senders at once
(503), so each key gets its own share. Bytes, not requests or spans: a request's size is
known before it is decoded and is what decoding costs.

A request is let in while its key's bucket is not in debt, and its bytes are then taken
out, so one request larger than the burst still passes once and the debt it leaves keeps
the key's average at its rate. A refused sender is told when its bucket is out of debt
(``Retry-After``), which OTLP exporters honour.

Buckets live in memory bounded in bytes, least recently used forgotten first; a
forgotten bucket comes back full, which only lets a key burst once more.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache

from correlators.errors import RateLimited

_ENTRY_OVERHEAD = 200
"""The cache's own bookkeeping per entry (its dict slot, the LRU link)."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class KeyRates:
    """``bytes_per_s``: each key's sustained rate; ``burst_bytes``: what it may send at
    once after a quiet spell."""

    def __init__(
        self,
        *,
        bytes_per_s: float,
        burst_bytes: float,
        memory_bytes: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bytes_per_s = bytes_per_s
        self.burst_bytes = burst_bytes
        self.monotonic = monotonic
        self._buckets: LRUCache[str, _Bucket] = LRUCache(maxsize=memory_bytes, getsizeof=_entry_size)
        self.refused = 0
        """Requests refused with 429, for /healthz."""

    @property
    def held_bytes(self) -> int:
        return int(self._buckets.currsize)

    def admit(self, key_id: str) -> None:
        """:class:`RateLimited` while ``key_id``'s bucket is in debt."""
        bucket = self._filled(key_id)
        if bucket.tokens < 0:
            self.refused += 1
            wait = math.ceil(-bucket.tokens / self.bytes_per_s)
            raise RateLimited(
                f"ingest key {key_id} is over its rate of {self.bytes_per_s:,.0f} bytes/s; retry in {wait} s",
                retry_after=max(1, wait),
            )

    def charge(self, key_id: str, size: int) -> None:
        """Take an admitted request's ``size`` bytes out of its key's bucket."""
        self._filled(key_id).tokens -= size

    def _filled(self, key_id: str) -> _Bucket:
        now = self.monotonic()
        bucket: _Bucket | None = self._buckets.get(key_id)
        if bucket is None:
            bucket = _Bucket(self.burst_bytes, now)
            self._buckets[key_id] = bucket
            return bucket
        bucket.tokens = min(self.burst_bytes, bucket.tokens + (now - bucket.updated) * self.bytes_per_s)
        bucket.updated = now
        return bucket


def _entry_size(bucket: _Bucket) -> int:
    return _ENTRY_OVERHEAD + sys.getsizeof(bucket) + 2 * sys.getsizeof(0.0) + 64  # the id
