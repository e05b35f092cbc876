"""One scheduler leader among replicas sharing a database, on the PostgreSQL server the
tests start (and on SQLite): only the leader runs jobs; when it dies, another replica
takes over once its lease expires."""

from __future__ import annotations

import threading
import time

from bot.scheduling import Job, Lease, Scheduling
from bot.store import Store


def test_a_lease_has_one_holder_until_it_expires(any_store: Store) -> None:
    store = any_store
    one, two = Lease(store.engine, "one", ttl_s=30), Lease(store.engine, "two", ttl_s=30)
    assert one.try_hold(now_s=1000)
    assert not two.try_hold(now_s=1010)
    assert one.try_hold(now_s=1020)  # renewal extends it to 1050
    assert not two.try_hold(now_s=1049)
    assert two.try_hold(now_s=1051)
    assert not one.try_hold(now_s=1052)
    assert not one.held(now_s=1052)


def replica(store: Store, name: str, runs: list[str]) -> Scheduling:
    lock = threading.Lock()

    def evaluate() -> None:
        with lock:
            runs.append(name)

    return Scheduling(store.engine, [Job("evaluate", 0.2, evaluate)], ttl_s=2.0, renew_s=0.5, replica=name)


def test_only_the_leader_runs_jobs_and_a_survivor_takes_over(any_store: Store) -> None:
    store = any_store
    runs: list[str] = []
    first, second = replica(store, "first", runs), replica(store, "second", runs)
    first.start()
    time.sleep(0.3)
    second.start()
    time.sleep(1.5)
    assert first.leading and not second.leading
    assert runs and set(runs) == {"first"}

    # the leader dies: its elector and scheduler stop, and it never releases the lease
    first._stop.set()
    first._thread.join(timeout=5)  # type: ignore[union-attr]
    first._step_down()
    died = time.monotonic()
    runs.clear()
    deadline = died + 10
    while not second.leading and time.monotonic() < deadline:
        time.sleep(0.1)
    took = time.monotonic() - died
    assert second.leading
    assert took <= 2.0 + 0.5 + 0.5  # ttl + one renewal period + margin
    time.sleep(0.6)
    assert runs and set(runs) == {"second"}
    second.stop()
