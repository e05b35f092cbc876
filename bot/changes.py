"""Change events: deploys, config changes and flag flips, posted by CI/CD or a flag system
to ``POST /api/changes`` and kept in the database, so an investigation can name the
release that began just before a burn."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from bot.release_verdicts import judged_of, store_verdict, verdict_from_json
from bot.store.state import ChangeRow
from correlators.changes import Change
from correlators.regression import ReleaseVerdict

S = 1_000_000_000


class ChangeIn(BaseModel):
    """The body of ``POST /api/changes``; ``time`` defaults to now (seconds or RFC 3339)."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=255)
    kind: str = Field(pattern=r"^(deploy|config|flag)$")
    version: str | None = Field(default=None, max_length=255)
    time: float | str | None = None
    link: str | None = Field(default=None, pattern=r"^https?://\S+$")
    description: str | None = Field(default=None, max_length=2000)


class ChangeLog:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        """``clock``: when a change is recorded (``arrived_at``), which retention goes by."""
        self.engine = engine
        self.clock = clock

    def add(self, change: Change) -> int:
        row = ChangeRow(
            service=change.service,
            version=change.version,
            kind=change.kind,
            at=change.time_ns / S,
            link=change.link,
            source=change.source,
            description=change.description,
            arrived_at=self.clock(),
        )
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            session.add(row)
        return row.id

    def purge(self, before_s: float) -> int:
        """Delete changes recorded before ``before_s``, whatever time their poster gave."""
        with Session(self.engine) as session, session.begin():
            result = session.execute(delete(ChangeRow).where(ChangeRow.arrived_at < before_s))
            return int(getattr(result, "rowcount", 0))

    def count(self) -> int:
        with Session(self.engine) as session:
            return int(session.execute(select(func.count()).select_from(ChangeRow)).scalar_one())

    def unsettled(self, since_s: float, limit: int = 100) -> list[tuple[int, Change]]:
        """Posted changes recorded since ``since_s`` whose before/after verdict is still
        open (``bot.releases``), oldest first, with their ids."""
        statement = (
            select(ChangeRow)
            .where(ChangeRow.source == "api", ChangeRow.arrived_at >= since_s)
            .where(ChangeRow.settled.is_(None) | ChangeRow.settled.is_(False))
            .order_by(ChangeRow.id)
            .limit(limit)
        )
        with Session(self.engine) as session:
            return [(r.id, _change(r)) for r in session.scalars(statement)]

    def judge(self, change_id: int, verdict: ReleaseVerdict, *, settled: bool, at: float) -> None:
        store_verdict(self.engine, ChangeRow, change_id, verdict, settled=settled, at=at)

    def between(self, start_s: float, end_s: float, services: Sequence[str] | None = None) -> list[Change]:
        statement = (
            select(ChangeRow).where(ChangeRow.at >= start_s, ChangeRow.at <= end_s).order_by(ChangeRow.at)
        )
        if services is not None:
            statement = statement.where(ChangeRow.service.in_(list(services)))
        with Session(self.engine) as session:
            return [_change(r) for r in session.scalars(statement)]


def _change(row: ChangeRow) -> Change:
    judged = judged_of(row.outcome, verdict_from_json(row.verdict)) if row.outcome else None
    return Change(
        service=row.service,
        kind=row.kind,
        time_ns=int(row.at * S),
        version=row.version,
        link=row.link,
        description=row.description,
        source=row.source,
        release=judged,
    )


def change_to_json(change: Change) -> dict[str, Any]:
    return {
        "service": change.service,
        "kind": change.kind,
        "version": change.version,
        "time_ns": change.time_ns,
        "link": change.link,
        "description": change.description,
        "source": change.source,
    }
