"""Incident groups in the database (``incidents.group_primary``, ``group_cause``).

Each time a report is stored, the incidents whose burns began near that incident's, and
the groups they are in, are grouped again by ``bot.incidents.grouping``: a new verdict
may join a group, leave it, or take a group's primary away from its members. What changed
becomes a ``grouped`` or ``ungrouped`` event on the timelines of both incidents of each
link, with the shared cause and both verdicts, so the edges can say it in their words
(the Slack thread once per event, the incident page in its timeline).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.incidents.grouping import Cause, Incident, Verdict, assign
from bot.incidents.stored import read_report
from bot.store.state import IncidentEventRow, IncidentRow

GROUPED = "grouped"
UNGROUPED = "ungrouped"
BOT = "journeywatch"


@dataclass(frozen=True, slots=True)
class Mate:
    """An incident of a group, as the others link to it."""

    id: int
    journey: str
    status: str
    verdict: Verdict | None
    """What its own analysis said."""
    thread_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "journey": self.journey,
            "status": self.status,
            "verdict": self.verdict.to_json() if self.verdict else None,
            "thread_url": self.thread_url,
        }


@dataclass(frozen=True, slots=True)
class Group:
    """The incidents of one cause: the first opened is the primary."""

    cause: Cause
    primary: Mate
    members: list[Mate] = field(default_factory=list)
    """The others, in the order they opened."""

    def is_primary(self, incident_id: int) -> bool:
        return self.primary.id == incident_id

    def others(self, incident_id: int) -> list[Mate]:
        """Whom the incident links to: the primary its members, a member its primary."""
        return list(self.members) if self.is_primary(incident_id) else [self.primary]

    def own_verdict(self, incident_id: int) -> Verdict | None:
        """What the incident's own analysis said, when it said something else than the
        shared cause (login's "dependency" of checkout's shared database)."""
        mine = next((m for m in [self.primary, *self.members] if m.id == incident_id), None)
        verdict = mine.verdict if mine else None
        return None if verdict is None or verdict.said(self.cause) else verdict

    def within(self, journeys: frozenset[str] | None) -> Group | None:
        """The group as a reader of ``journeys`` (None: every one) may see it: mates of
        other journeys are left out, so their ids do not show; None when the primary is
        out of scope or no member is left, since a group of one links nowhere."""
        if journeys is None:
            return self
        members = [m for m in self.members if m.journey in journeys]
        if self.primary.journey not in journeys or not members:
            return None
        return Group(self.cause, self.primary, members)

    def to_json(self) -> dict[str, Any]:
        return {
            "cause": self.cause.to_json(),
            "primary": self.primary.to_json(),
            "members": [m.to_json() for m in self.members],
        }


def regroup(session: Session, row: IncidentRow, within_s: float, now_s: float) -> None:
    """Group ``row`` and the incidents around it again, recording what changed."""
    rows = _around(session, row, within_s)
    before = {r.id: (r.group_primary, r.group_cause) for r in rows}
    assigned = assign([i for i in map(_incident, rows) if i is not None], within_s)
    for r in rows:
        new = assigned.get(r.id)
        r.group_primary = new.primary if new else None
        r.group_cause = json.dumps(new.cause.to_json()) if new else None
    by_id = {r.id: r for r in rows}
    old_links = {(i, p): cause for i, (p, cause) in before.items() if p is not None and p != i}
    new_links = {(i, a.primary): a for i, a in assigned.items() if a.primary != i}
    for member, primary in sorted(set(old_links) - set(new_links)):
        cause = Cause.from_json(json.loads(old_links[member, primary] or "{}"))
        _link_events(session, UNGROUPED, by_id[member], by_id[primary], cause, now_s)
    for (member, primary), assignment in sorted(new_links.items()):
        if (member, primary) not in old_links:
            _link_events(session, GROUPED, by_id[member], by_id[primary], assignment.cause, now_s)


def group_rows(session: Session, incident_id: int) -> list[IncidentRow]:
    """The rows of the incident's group, primary first; empty when it is alone."""
    row = session.get(IncidentRow, incident_id)
    if row is None or row.group_primary is None:
        return []
    rows = session.scalars(
        select(IncidentRow)
        .where(IncidentRow.group_primary == row.group_primary)
        .order_by(IncidentRow.opened_at, IncidentRow.id)
    ).all()
    return sorted(rows, key=lambda r: r.id != r.group_primary)


def mate(row: IncidentRow, thread_url: str | None) -> Mate:
    return Mate(row.id, row.journey, row.status, _verdict(row), thread_url)


def cause_of(row: IncidentRow) -> Cause | None:
    return Cause.from_json(json.loads(row.group_cause)) if row.group_cause else None


def _around(session: Session, row: IncidentRow, within_s: float) -> list[IncidentRow]:
    """Incidents whose burns began within ``within_s`` of this one's, with the whole of
    every group they are in (a group is regrouped whole, or its primary could change
    under members the query did not read)."""
    near = session.scalars(
        select(IncidentRow)
        .where(
            IncidentRow.burn_start >= row.burn_start - within_s,
            IncidentRow.burn_start <= row.burn_start + within_s,
        )
        .order_by(IncidentRow.id)
        .with_for_update()
    ).all()
    primaries = {r.group_primary for r in near if r.group_primary is not None}
    grouped = (
        session.scalars(
            select(IncidentRow)
            .where(or_(IncidentRow.group_primary.in_(primaries), IncidentRow.id.in_(primaries)))
            .order_by(IncidentRow.id)
            .with_for_update()
        ).all()
        if primaries
        else []
    )
    found = {r.id: r for r in [*near, *grouped]}
    found.setdefault(row.id, row)
    return list(found.values())


def _incident(row: IncidentRow) -> Incident | None:
    report = read_report(row.report, owner=f"incident {row.id}")
    return Incident(row.id, row.opened_at, row.resolved_at, row.burn_start, report) if report else None


def _verdict(row: IncidentRow) -> Verdict | None:
    report = read_report(row.report, owner=f"incident {row.id}")
    return Verdict.of(report) if report else None


def _link_events(
    session: Session, kind: str, member: IncidentRow, primary: IncidentRow, cause: Cause, now_s: float
) -> None:
    """The same link told on both timelines, each from its own side."""
    for this, other, role in ((member, primary, "member"), (primary, member, "primary")):
        own, theirs = _verdict(this), _verdict(other)
        detail = {
            "with": other.id,
            "journey": other.journey,
            "role": role,
            "cause": cause.to_json(),
            "own": own.to_json() if own else None,
            "other": theirs.to_json() if theirs else None,
        }
        session.add(
            IncidentEventRow(incident_id=this.id, at=now_s, kind=kind, actor=BOT, detail=json.dumps(detail))
        )
