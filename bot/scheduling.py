"""Periodic jobs on one leader among the bot's replicas.

Every replica runs a small elector thread that tries to take or renew a lease row in the
shared database (``leases``; an atomic conditional UPDATE, the same SQL on SQLite and
PostgreSQL). The replica holding it runs APScheduler with its job store in that database;
the others wait. A leader that dies stops renewing, its lease expires after ``ttl_s``, and
the next replica to try takes over: within ``ttl_s + renew_s`` (40 s by default), under
the minute the issue asks for. Each job checks the lease again before it runs, so a
leader that lost the lease while paused (GC, a stopped VM) does not evaluate twice.

Jobs are stored by textual reference (``bot.scheduling:run_job``) with the replica's id
and the job's name, since a job store in a database needs jobs it can pickle; the
functions behind the names live in this process's registry.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, Table, insert, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.store.state import LeaseRow

log = logging.getLogger("journeywatch.scheduling")

LEASE_NAME = "scheduler"
_LEASES = cast(Table, LeaseRow.__table__)
_REGISTRY: dict[str, dict[str, Callable[[], object]]] = {}


def run_job(replica: str, name: str) -> None:
    """The stored job: look up this replica's function for ``name`` and run it."""
    jobs = _REGISTRY.get(replica)
    if jobs is None or name not in jobs:
        log.warning("job %s of replica %s has no function here; skipped", name, replica)
        return
    jobs[name]()


class Lease:
    """A named lease in the database; ``try_hold`` takes it if free or renews our own."""

    def __init__(self, engine: Engine, holder: str, ttl_s: float, name: str = LEASE_NAME) -> None:
        self.engine = engine
        self.holder = holder
        self.ttl_s = ttl_s
        self.name = name
        self._valid_until = 0.0

    def try_hold(self, now_s: float | None = None) -> bool:
        now = time.time() if now_s is None else now_s
        expires = now + self.ttl_s
        table = _LEASES
        try:
            with self.engine.begin() as connection:
                renewed = connection.execute(
                    update(table)
                    .where(table.c.name == self.name)
                    .where((table.c.holder == self.holder) | (table.c.expires_at < now))
                    .values(holder=self.holder, expires_at=expires)
                ).rowcount
                if not renewed:
                    try:
                        with connection.begin_nested():
                            connection.execute(
                                insert(table).values(name=self.name, holder=self.holder, expires_at=expires)
                            )
                        renewed = 1
                    except IntegrityError:
                        renewed = 0  # someone else holds it
        except SQLAlchemyError as exc:
            log.warning("lease %s: database unavailable (%s); not leading", self.name, exc.__class__.__name__)
            renewed = 0
        # keep a margin: stop acting a little before the database would let others take over
        self._valid_until = now + self.ttl_s * 0.8 if renewed else 0.0
        return bool(renewed)

    def held(self, now_s: float | None = None) -> bool:
        return (time.time() if now_s is None else now_s) < self._valid_until

    def release(self) -> None:
        table = _LEASES
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    update(table)
                    .where(table.c.name == self.name, table.c.holder == self.holder)
                    .values(expires_at=0.0)
                )
        except SQLAlchemyError:
            pass
        self._valid_until = 0.0


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    every_s: float
    run: Callable[[], object]


class Scheduling:
    """The elector thread and, while this replica leads, the APScheduler instance."""

    def __init__(
        self,
        engine: Engine,
        jobs: list[Job],
        *,
        ttl_s: float = 30.0,
        renew_s: float = 10.0,
        replica: str | None = None,
    ) -> None:
        self.replica = replica or f"{uuid.uuid4().hex[:12]}"
        self.lease = Lease(engine, self.replica, ttl_s)
        self.engine = engine
        self.jobs = jobs
        self.renew_s = renew_s
        self.scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.terms = 0
        """How many times this replica became leader."""

    @property
    def leading(self) -> bool:
        return self.scheduler is not None and self.lease.held()

    def start(self) -> None:
        _REGISTRY[self.replica] = {job.name: self._guarded(job) for job in self.jobs}
        self._thread = threading.Thread(target=self._elect_forever, name="jw-elector", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._step_down()
        self.lease.release()
        _REGISTRY.pop(self.replica, None)

    def _elect_forever(self) -> None:
        while not self._stop.is_set():
            self.elect_once()
            self._stop.wait(self.renew_s)

    def elect_once(self) -> bool:
        """Take or renew the lease, and start or stop the scheduler to match."""
        if self.lease.try_hold():
            if self.scheduler is None:
                self._step_up()
            return True
        self._step_down()
        return False

    def _step_up(self) -> None:
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
            timezone="UTC",
        )
        for job in self.jobs:
            scheduler.add_job(
                "bot.scheduling:run_job",
                "interval",
                seconds=job.every_s,
                args=[self.replica, job.name],
                id=job.name,
                replace_existing=True,
                next_run_time=dt.datetime.now(dt.UTC),
            )
        scheduler.start()
        self.scheduler = scheduler
        self.terms += 1
        log.info("replica %s leads the scheduler", self.replica)

    def _step_down(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
            log.info("replica %s no longer leads the scheduler", self.replica)

    def _guarded(self, job: Job) -> Callable[[], object]:
        def run() -> None:
            if not self.lease.held():
                log.info("job %s skipped: replica %s lost the lease", job.name, self.replica)
                return
            try:
                job.run()
            except Exception:  # a failing job must not stop the scheduler
                log.exception("job %s failed", job.name)

        return run
