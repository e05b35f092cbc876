"""Checking a presented key on every request, without a database read on every request.

Lookups are cached by key id for ``ttl_s`` (a key unknown to the database too, so junk
ids cost one read each per ``ttl_s``), in a cache bounded in bytes: each entry is counted
as ``sys.getsizeof`` of its parts, the least recently used go first. What the cache holds
is the row, never a verdict: expiry is checked against the clock at each request, so a
rotated key stops at the end of its overlap to the second, while a revocation (made by
``journeywatch keys revoke`` in another process, maybe on another replica) is seen once
the entry is older than ``ttl_s``.

The cache is the event loop's alone: a miss reads the database in a worker thread and
the result is put in the cache back on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

from bot.keys.registry import KeyInfo, KeyRegistry, secret_hash, split_key
from correlators.errors import NotPermitted, Unauthenticated

_ENTRY_OVERHEAD = 200
"""The cache's own bookkeeping per entry (its dict slot, the TTL link, the tuple)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """Who a request came from, and what it may send."""

    key_id: str
    team: str
    services: frozenset[str] | None

    def may_send(self, service: str) -> bool:
        return self.services is None or service in self.services


Entry = tuple[KeyInfo, str] | None
_MISSING = object()


class Keyring:
    """``clock``: the wall clock (expiry); ``monotonic``: the cache's timer."""

    def __init__(
        self,
        registry: KeyRegistry,
        *,
        cache_bytes: int,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self._cache: TTLCache = TTLCache(
            maxsize=cache_bytes, ttl=ttl_s, timer=monotonic, getsizeof=_entry_size
        )
        self.lookups = 0
        """Database reads made for a key (cache misses), for /healthz."""

    @property
    def cached_bytes(self) -> int:
        return int(self._cache.currsize)

    async def check(self, presented: str | None, scope: str) -> Grant:
        """The grant of ``presented``, or :class:`Unauthenticated` (no key, unknown, wrong
        secret, revoked, expired) / :class:`NotPermitted` (no ``scope``) saying which."""
        info = await self.identify(presented, kind="ingest key")
        if scope not in info.scopes:
            raise NotPermitted(f"ingest key {info.id} has no {scope!r} scope")
        return Grant(info.id, info.team, info.services)

    async def identify(self, presented: str | None, *, kind: str = "key") -> KeyInfo:
        """The active key ``presented`` is, or :class:`Unauthenticated` saying why not
        (``kind`` names the key in the message)."""
        if not presented:
            raise Unauthenticated(f"no {kind}")
        parts = split_key(presented)
        if parts is None:
            raise Unauthenticated(f"not a journeywatch {kind}")
        key_id, secret = parts
        entry = await self._entry(key_id)
        if entry is None or not hmac.compare_digest(entry[1], secret_hash(secret)):
            raise Unauthenticated(f"unknown or wrong {kind}")
        return self._active(entry[0], kind)

    async def active(self, key_id: str, *, kind: str = "key") -> KeyInfo:
        """The key of ``key_id`` while it is active, without its secret: for a credential
        we issued after its secret was checked (the pages' cookie), which must still end
        when the key is revoked or expires."""
        entry = await self._entry(key_id)
        if entry is None:
            raise Unauthenticated(f"unknown {kind}")
        return self._active(entry[0], kind)

    async def _entry(self, key_id: str) -> Entry:
        entry = self._cache.get(key_id, _MISSING)
        if entry is _MISSING:
            entry = await asyncio.to_thread(self.registry.lookup, key_id)
            self.lookups += 1
            with contextlib.suppress(ValueError):  # larger than the whole cache: not kept
                self._cache[key_id] = entry
        return entry  # type: ignore[no-any-return]

    def _active(self, info: KeyInfo, kind: str) -> KeyInfo:
        state = info.state(self.clock())
        if state != "active":
            raise Unauthenticated(f"{kind} {info.id} is {state}")
        return info


def _entry_size(entry: Entry) -> int:
    if entry is None:
        return _ENTRY_OVERHEAD + 16  # the id, interned by the cache key
    info, digest = entry
    names = info.services or frozenset()
    return (
        _ENTRY_OVERHEAD
        + sys.getsizeof(info)
        + sys.getsizeof(digest)
        + sys.getsizeof(info.id)
        + sys.getsizeof(info.team)
        + sys.getsizeof(names)
        + sum(sys.getsizeof(n) for n in names)
        + sys.getsizeof(info.scopes)
        + sys.getsizeof(info.journeys or frozenset())
        + sum(sys.getsizeof(j) for j in info.journeys or ())
    )
