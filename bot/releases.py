"""Release regressions, on the leader: a new ``service.version`` in stored spans is
compared with the version before it (``correlators.regression``) until it is called or
its watch ends, and a regression on a journey's critical path is told to the journey's
channel even when no SLO burns.

Each look (``releases.every_s``):

1. New versions come from the ``resources`` table (one row per instance and version, so
   reading it is cheap): a (service, version) not yet in ``releases`` is recorded, the
   first version of a service as ``first`` (nothing to compare it with), a later one as
   ``watching`` with the service's latest recorded version as the one before it. The
   unique (service, version) makes a second replica's insert a no-op.
2. Each watched release is judged on at most ``max_traces_per_side`` traces a version:
   the newest traces through the service, and those before the new version's earliest
   of them, each side taken by the version its spans ran (so a canary, both versions at
   once, is read the same way). Only traces the sampler kept at random count (their id
   passes the journey's keep fraction, as ``bot.collector.sampling`` decided): errors
   and slow requests are kept whatever their id, and counting them would make every
   version look slower and worse than it is.
3. The verdict is stored; ``regressed`` settles the release and is told to the channels
   of the journeys it lies on (``bot.slack.release_notices``: one message per channel in
   the outbox under ``release:<id>:<channel>``, so a second look, a restart or another
   replica never posts it twice). A release not called within
   ``releases.watch_hours`` settles as its last verdict. A fine release posts nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from sqlalchemy import Engine, delete, func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.changes import ChangeLog
from bot.collector.sampling import sampled
from bot.config import AppConfig
from bot.release_verdicts import judged_of, store_verdict, verdict_from_json
from bot.settings import ReleaseSettings
from bot.store import Store
from bot.store.state import ReleaseRow
from bot.store.store import TraceQuery
from correlators.changes import Change
from correlators.model import Trace
from correlators.regression import ChangeComparison, Outcome, ReleaseComparison, ReleaseVerdict
from correlators.traces import assemble

log = logging.getLogger("journeywatch.releases")

WATCHING = "watching"
FIRST = "first"
S = 1_000_000_000
RECENT_S = 2 * 3600
"""Resources refreshed within this are read for versions: a resource still in use is
refreshed hourly (``bot.store.dialect.resource_upsert_sql``)."""


@dataclass(frozen=True, slots=True)
class Release:
    id: int
    service: str
    version: str
    previous: str | None
    first_seen: float
    outcome: str
    judged_at: float | None
    settled: bool
    verdict: ReleaseVerdict | None


def _release(row: ReleaseRow) -> Release:
    return Release(
        row.id,
        row.service,
        row.version,
        row.previous,
        row.first_seen,
        row.outcome,
        row.judged_at,
        bool(row.settled),
        verdict_from_json(row.verdict),
    )


class ReleaseLog:
    """The ``releases`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def known(self) -> set[tuple[str, str]]:
        with Session(self.engine) as session:
            return {(s, v) for s, v in session.execute(select(ReleaseRow.service, ReleaseRow.version))}

    def latest_version(self, service: str) -> str | None:
        statement = (
            select(ReleaseRow.version)
            .where(ReleaseRow.service == service)
            .order_by(ReleaseRow.first_seen.desc(), ReleaseRow.id.desc())
            .limit(1)
        )
        with Session(self.engine) as session:
            return session.scalars(statement).first()

    def record(self, service: str, version: str, previous: str | None, first_seen: float) -> int | None:
        """The new release's id; None when another replica recorded it first."""
        row = ReleaseRow(
            service=service,
            version=version,
            previous=previous,
            first_seen=first_seen,
            outcome=WATCHING if previous is not None else FIRST,
            settled=previous is None,
        )
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                session.add(row)
        except IntegrityError:
            return None
        return row.id

    def watched(self) -> list[Release]:
        statement = select(ReleaseRow).where(ReleaseRow.settled.is_(False)).order_by(ReleaseRow.id)
        with Session(self.engine) as session:
            return [_release(r) for r in session.scalars(statement)]

    def judge(self, release_id: int, verdict: ReleaseVerdict, *, settled: bool, at: float) -> None:
        store_verdict(self.engine, ReleaseRow, release_id, verdict, settled=settled, at=at)

    def purge(self, before_s: float) -> int:
        """Delete settled releases first seen before ``before_s``, each service's newest
        kept whatever its age: it is what the next version is compared with, and a
        version still running must not be taken for a new one."""
        newest = select(func.max(ReleaseRow.id)).group_by(ReleaseRow.service).scalar_subquery()
        statement = delete(ReleaseRow).where(
            ReleaseRow.settled.is_(True), ReleaseRow.first_seen < before_s, ReleaseRow.id.not_in(newest)
        )
        with Session(self.engine) as session, session.begin():
            return int(getattr(session.execute(statement), "rowcount", 0))

    def listed(self, limit: int = 500) -> list[Release]:
        """The newest releases first."""
        statement = (
            select(ReleaseRow).order_by(ReleaseRow.first_seen.desc(), ReleaseRow.id.desc()).limit(limit)
        )
        with Session(self.engine) as session:
            return [_release(r) for r in session.scalars(statement)]

    def of(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Release]:
        """The releases of these (service, version) pairs that are recorded."""
        wanted = sorted(set(pairs))
        if not wanted:
            return {}
        statement = select(ReleaseRow).where(tuple_(ReleaseRow.service, ReleaseRow.version).in_(wanted))
        with Session(self.engine) as session:
            return {(r.service, r.version): _release(r) for r in session.scalars(statement)}


Tell = Callable[[Release, ReleaseVerdict], int]
TellChange = Callable[[int, Change, ReleaseVerdict], int]


class ReleaseWatch:
    """The leader's job (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        releases: ReleaseLog,
        config: AppConfig,
        settings: ReleaseSettings,
        tell: Tell,
        *,
        changes: ChangeLog | None = None,
        tell_change: TellChange | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``tell``: says a regression where its journeys' people read (Slack's
        ``bot.slack.release_notices``); returns the messages it stored. With
        ``changes`` and ``tell_change``, posted changes are judged before against after
        the same way."""
        self.store = store
        self.releases = releases
        self.config = config
        self.settings = settings
        self.tell = tell
        self.changes = changes
        self.tell_change = tell_change
        self.clock = clock

    def run(self) -> int:
        """Notice new versions, judge the watched ones; returns the messages stored."""
        self.notice()
        posted = 0
        for release in self.releases.watched():
            try:
                posted += self.judge(release)
            except Exception:  # one release that cannot be judged must not stop the others
                log.exception("release %s %s was not judged", release.service, release.version)
        if self.changes is not None:
            since = self.clock() - self.settings.watch_hours * 3600
            for change_id, change in self.changes.unsettled(since):
                try:
                    posted += self.judge_change(change_id, change)
                except Exception:
                    log.exception("change %s of %s was not judged", change_id, change.service)
        return posted

    def notice(self) -> list[int]:
        now = self.clock()
        seen = self.store.service_versions(int((now - RECENT_S) * S))
        known = self.releases.known()
        recorded = []
        for (service, version), seen_ns in sorted(seen.items(), key=lambda kv: (kv[1], kv[0])):
            if (service, version) in known:
                continue
            previous = self.releases.latest_version(service)
            found = self.releases.record(service, version, previous, min(now, seen_ns / S))
            if found is not None:
                recorded.append(found)
                known.add((service, version))
        return recorded

    def judge(self, release: Release) -> int:
        now = self.clock()
        assert release.previous is not None  # a watched release always has one
        comparison = ReleaseComparison(release.service, release.previous, release.version)
        for trace in self._traces(release):
            comparison.add(assemble(trace))
        verdict = comparison.verdict()
        regressed = verdict.outcome is Outcome.REGRESSED
        over = now - release.first_seen >= self.settings.watch_hours * 3600
        # told before settled: a failure between them tells again under the same key
        told = self.tell(release, verdict) if regressed and verdict.journeys else 0
        self.releases.judge(release.id, verdict, settled=regressed or over, at=now)
        return told

    def judge_change(self, change_id: int, change: Change) -> int:
        """A posted change (a flag flip, a config rollout, a deploy): the service's
        traces after it against those before, on the same rules as a release."""
        assert self.changes is not None
        now = self.clock()
        comparison = ChangeComparison(change.service, change.time_ns)
        limit = self.settings.max_traces_per_side
        after = self._read(TraceQuery(service=change.service, start_ns=change.time_ns, limit=limit))
        before = self._read(TraceQuery(service=change.service, end_ns=change.time_ns, limit=limit))
        for trace in [*before, *after]:
            comparison.add(assemble(trace))
        verdict = comparison.verdict()
        regressed = verdict.outcome is Outcome.REGRESSED
        over = now - change.time_ns / S >= self.settings.watch_hours * 3600
        tell = self.tell_change if regressed and verdict.journeys else None
        told = tell(change_id, change, verdict) if tell is not None else 0
        self.changes.judge(change_id, verdict, settled=regressed or over, at=now)
        return told

    def _traces(self, release: Release) -> list[Trace]:
        """The newest traces through the service, and as many before the new version's
        earliest of them; only those kept at random."""
        limit = self.settings.max_traces_per_side
        newest = self._read(TraceQuery(service=release.service, limit=limit))
        starts = [t.spans[0].start_ns for t in newest if _runs(t, release.service, release.version)]
        if not starts:
            return newest
        before = self._read(TraceQuery(service=release.service, end_ns=min(starts), limit=limit))
        return list({t.trace_id: t for t in [*newest, *before]}.values())

    def _read(self, query: TraceQuery) -> list[Trace]:
        ids = [s.trace_id for s in self.store.find_traces(query)]
        return [t for t in self.store.get_traces(ids) if t.spans and self._at_random(t)]

    def _at_random(self, trace: Trace) -> bool:
        journey = self.config.journey(trace.journey) if trace.journey else None
        fraction = journey.keep_fraction if journey and journey.keep_fraction is not None else None
        if fraction is None:
            fraction = self.config.sampling.default_keep_fraction
        return sampled(trace.trace_id, fraction)


def with_verdicts(changes: list[Change], releases: ReleaseLog) -> list[Change]:
    """Each deploy of a version the release job judged, with that verdict (a posted
    deploy's own before/after verdict gives way to it: the version's is by version)."""
    known = releases.of((c.service, c.version) for c in changes if c.kind == "deploy" and c.version)
    found = []
    for change in changes:
        release = known.get((change.service, change.version or ""))
        if change.kind == "deploy" and release is not None and release.outcome != FIRST:
            change = replace(change, release=judged_of(release.outcome, release.verdict))
        found.append(change)
    return found


def _runs(trace: Trace, service: str, version: str) -> bool:
    return any(s.service == service and s.service_version == version for s in trace.spans)
