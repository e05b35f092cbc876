"""Users playing the shop's journeys: log in, search a few times, often check out.

::

    with Traffic(shop.frontend_url, rate=10.0, seed=7) as traffic:
        time.sleep(30)
        print(traffic.summary())   # login 75 req 0 err 48 ms | search ...

Arrivals are open-loop (a Poisson process at ``rate`` journeys per second, like real
users who do not wait for each other), so a slow shop piles up work the way a real one
does; a cap on requests in flight drops arrivals beyond it (counted as ``dropped``)
instead of queueing without bound. Which user does what, and when, comes from one seeded
random generator: the same seed plays the same sequence of requests.

Each visit has a session id; the user's tier and the ``new_pricing`` flag follow from the
user id (``demo.data``), as the frontend derives them.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from types import TracebackType

import httpx

from demo import data

JOURNEYS = ("login", "search", "checkout")
OPEN_VISITS = 24
"""Visits in progress at once; each arrival advances one of them by a step."""
TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class Step:
    journey: str
    user: str
    session: str
    query: str = ""
    items: tuple[str, ...] = ()


@dataclass(slots=True)
class JourneyStats:
    requests: int = 0
    errors: int = 0
    """5xx answers and failed connections: what burns the journey's error budget."""
    rejected: int = 0
    """4xx answers: the shop refused the request (none are expected)."""
    total_ms: float = 0.0

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.requests if self.requests else 0.0


@dataclass(slots=True)
class Stats:
    journeys: dict[str, JourneyStats] = field(default_factory=lambda: {j: JourneyStats() for j in JOURNEYS})
    dropped: int = 0
    """Arrivals skipped because too many requests were already in flight."""


def visits(rng: random.Random) -> Iterator[list[Step]]:
    """Endless visits: log in, search one to three times, check out 80% of the time."""
    users = data.user_ids()
    words = data.search_words()
    catalogue = [p.id for p in data.products()]
    while True:
        user = rng.choice(users)
        session = uuid.UUID(int=rng.getrandbits(128), version=4).hex[:16]
        steps = [Step("login", user, session)]
        steps += [Step("search", user, session, query=rng.choice(words)) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.8:
            steps.append(
                Step("checkout", user, session, items=tuple(rng.sample(catalogue, rng.randint(1, 3))))
            )
        yield steps


class Traffic:
    """Plays visits against the frontend from a background thread until stopped."""

    def __init__(
        self, frontend_url: str, *, rate: float = 10.0, seed: int = 0, max_in_flight: int = 64
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive (journeys per second)")
        self.frontend_url = frontend_url.rstrip("/")
        self.rate = rate
        self.seed = seed
        self.max_in_flight = max_in_flight
        self._stats = Stats()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._client: httpx.Client | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Traffic:
        if self._thread is not None:
            raise RuntimeError("traffic already started")
        self._stop.clear()
        self._client = httpx.Client(
            base_url=self.frontend_url,
            timeout=TIMEOUT_S,
            limits=httpx.Limits(max_connections=self.max_in_flight, max_keepalive_connections=16),
        )
        self._pool = ThreadPoolExecutor(max_workers=min(self.max_in_flight, 32), thread_name_prefix="user")
        self._thread = threading.Thread(target=self._schedule, name="traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop arrivals, let requests in flight finish, close connections; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Traffic:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- progress --------------------------------------------------------------------

    def stats(self) -> Stats:
        """A copy of the counters so far."""
        with self._lock:
            return Stats({j: replace(s) for j, s in self._stats.journeys.items()}, self._stats.dropped)

    def summary(self) -> str:
        stats = self.stats()
        parts = [
            f"{name} {s.requests} req {s.errors} err {s.mean_ms:.0f} ms" for name, s in stats.journeys.items()
        ]
        return " | ".join(parts) + (f" | dropped {stats.dropped}" if stats.dropped else "")

    # -- the work --------------------------------------------------------------------

    def _schedule(self) -> None:
        rng = random.Random(self.seed)
        plays = visits(rng)
        # Visits already under way when the generator starts, at a random step each, so
        # the first seconds are not all logins.
        open_visits = []
        for _ in range(OPEN_VISITS):
            visit = next(plays)
            open_visits.append(visit[rng.randrange(len(visit)) :])
        due = time.monotonic()
        while not self._stop.is_set():
            slot = rng.randrange(len(open_visits))
            step = open_visits[slot].pop(0)
            if not open_visits[slot]:
                open_visits[slot] = next(plays)
            due += rng.expovariate(self.rate)
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            with self._lock:
                if self._in_flight >= self.max_in_flight:
                    self._stats.dropped += 1
                    continue
                self._in_flight += 1
            assert self._pool is not None
            self._pool.submit(self._play, step)

    def _play(self, step: Step) -> None:
        started = time.perf_counter()
        try:
            status = self._send(step)
        except httpx.HTTPError:
            status = 599
        elapsed_ms = (time.perf_counter() - started) * 1000
        with self._lock:
            self._in_flight -= 1
            stats = self._stats.journeys[step.journey]
            stats.requests += 1
            stats.total_ms += elapsed_ms
            if status >= 500:
                stats.errors += 1
            elif status >= 400:
                stats.rejected += 1

    def _send(self, step: Step) -> int:
        assert self._client is not None
        headers = {"x-user-id": step.user, "x-session-id": step.session}
        if step.journey == "login":
            response = self._client.post("/login", json={"user": step.user}, headers=headers)
        elif step.journey == "search":
            response = self._client.get("/search", params={"q": step.query}, headers=headers)
        else:
            response = self._client.post("/checkout", json={"items": list(step.items)}, headers=headers)
        return response.status_code
