"""Each signed Slack request is taken once, and only while it is fresh.

Bolt checks a request's signature and refuses a timestamp more than five minutes from
our clock either way. That leaves two holes, which :class:`FreshOnce` closes for the
requests that reach ``/slack/events`` (a Socket Mode envelope comes over the app-level
token's own connection and is not signed):

- a captured request could be sent again as often as wished within those five minutes
  (a slash command answered again to its ``response_url``, a button pressed again); so
  a signature seen once is refused the second time;
- a request dated up to five minutes ahead was taken, and would stay fresh for up to ten.
  Slack stamps a request as it sends it, and both clocks follow NTP, so a request from
  Slack is never more than network delay ahead; past ``future_skew_s`` it is refused.

The signatures seen are remembered for the validity window only: one older than that is
refused as stale by Bolt, so forgetting it lets nothing through. The memory is bounded in
bytes too (``max_bytes``); when it is full the oldest signature is forgotten and every
request no newer than it is refused from then on, as if the window had shrunk, so a
replay is never taken even under a flood of real requests. Only requests Bolt verified
are remembered, so nobody without the signing secret can fill it.

Each process remembers its own: with several replicas behind one ``/slack/events``, a
replay sent to another replica within the window is still taken (Socket Mode, or one
replica for Slack's route, closes that).
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
from collections.abc import Callable

from slack_bolt.middleware.middleware import Middleware
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

log = logging.getLogger("journeywatch.slack")

VALIDITY_S = 5 * 60
"""Bolt's window (``slack_sdk.signature.SignatureVerifier``): older requests are refused."""
ENTRY_BYTES = 240
"""What one remembered signature costs: tracemalloc measured 213 bytes an entry over
100,000 of them (the 32-byte digest 65, its timestamp, the dict slot and the heap's
tuple 148); rounded up."""


class SeenSignatures:
    """The signatures of the requests taken within the validity window; thread-safe,
    since Bolt dispatches each HTTP request in a thread of the pool."""

    def __init__(self, max_bytes: int, window_s: float = VALIDITY_S) -> None:
        self._max_entries = max(1, max_bytes // ENTRY_BYTES)
        self._window_s = window_s
        self._seen: dict[bytes, int] = {}
        self._by_age: list[tuple[int, bytes]] = []
        self._floor = -math.inf
        """Timestamps at or below this are refused: their signatures may be forgotten."""
        self._lock = threading.Lock()

    def first_time(self, timestamp: int, digest: bytes, now: float) -> bool:
        """Remember the signature; False when it was seen already (or may have been)."""
        with self._lock:
            self._forget_older_than(now - self._window_s)
            if timestamp <= self._floor or digest in self._seen:
                return False
            self._seen[digest] = timestamp
            heapq.heappush(self._by_age, (timestamp, digest))
            while len(self._seen) > self._max_entries:
                oldest, _ = self._pop()
                self._floor = max(self._floor, oldest)
            return True

    @property
    def size_bytes(self) -> int:
        return len(self._seen) * ENTRY_BYTES

    def _forget_older_than(self, horizon: float) -> None:
        while self._by_age and self._by_age[0][0] < horizon:
            self._pop()

    def _pop(self) -> tuple[int, bytes]:
        timestamp, digest = heapq.heappop(self._by_age)
        del self._seen[digest]
        return timestamp, digest


class FreshOnce(Middleware):
    """Bolt middleware, run after Bolt's own signature check (``App.use`` appends it to
    the built-in ones), so every request it sees is signed with our secret."""

    def __init__(self, seen: SeenSignatures, future_skew_s: float, clock: Callable[[], float]) -> None:
        self._seen = seen
        self._future_skew_s = future_skew_s
        self._clock = clock

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        if req.mode == "socket_mode":
            return next()
        timestamp = int(req.headers.get("x-slack-request-timestamp", ["0"])[0])
        signature = req.headers.get("x-slack-signature", [""])[0]
        now = self._clock()
        if timestamp > now + self._future_skew_s:
            log.warning("Slack request refused: dated %d s ahead of our clock", timestamp - now)
            return _refused()
        if not self._seen.first_time(timestamp, bytes.fromhex(signature.removeprefix("v0=")), now):
            log.warning("Slack request refused: its signature was already used (a replay)")
            return _refused()
        return next()


def _refused() -> BoltResponse:
    """What Bolt answers a bad signature, so a prober learns nothing more."""
    return BoltResponse(status=401, body={"error": "invalid request"})
