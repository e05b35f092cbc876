"""Incidents and their timelines in the bot's database (SQLite or PostgreSQL).

Every change is one transaction. Opening relies on the unique ``open_key`` column: when
two replicas race to open the same journey's incident, the database lets one win and the
other reads the winner's row, so there is never a second open incident for a journey.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from bot.incidents import groups
from bot.incidents.groups import Group
from bot.incidents.lifecycle import Action, Firing, OpenIncident
from bot.incidents.stored import cited, read_report
from bot.render.report import missing_words, report_json, summary
from bot.store.state import IncidentEventRow, IncidentRow, VerdictRow
from correlators.report import Report
from correlators.similar import PastIncident

log = logging.getLogger("journeywatch.incidents")
BOT = "journeywatch"
GROUP_WITHIN_S = 600.0
OPEN_STATUSES = ("open", "acknowledged")
THREAD_EVENT = "slack_thread"
"""The timeline event holding the Slack thread's permalink (``detail["url"]``): an event,
not a column, so a second replica recording it too changes nothing but the timeline."""


def thread_url(incident: dict[str, Any]) -> str | None:
    """The incident's Slack thread, from its timeline (the latest one recorded)."""
    return _thread_in(incident.get("timeline") or ())


def _thread_in(timeline: Iterable[dict[str, Any]]) -> str | None:
    found = [e for e in timeline if e["kind"] == THREAD_EVENT]
    url = str(found[-1]["detail"].get("url") or "") if found else ""
    return url if url.startswith(("https://", "http://")) else None


class Reports(NamedTuple):
    """An incident's latest report and the one before it, typed (None: none yet, or one
    that does not read)."""

    current: Report | None
    previous: Report | None


@dataclass(frozen=True, slots=True)
class Applied:
    """What an evaluation did to an incident, for the listeners (Slack, console)."""

    incident_id: int
    action: Action
    journey: str


class IncidentRepository:
    def __init__(self, engine: Engine, *, group_within_s: float = GROUP_WITHIN_S) -> None:
        self.engine = engine
        self.group_within_s = group_within_s
        """Incidents whose burns began this close together may be one cause's group."""

    # --- the watcher's side --------------------------------------------------------------

    def open_state(self, journey: str) -> OpenIncident | None:
        with Session(self.engine) as session:
            row = session.scalars(select(IncidentRow).where(IncidentRow.open_key == journey)).first()
            if row is None:
                return None
            return OpenIncident(row.id, row.tier_rank, row.last_firing_at, row.burn_start, row.objective)

    def apply(
        self,
        journey: str,
        action: Action,
        firing: Firing | None,
        now_s: float,
        *,
        budget_spent: float | None = None,
    ) -> Applied | None:
        """Carry out a lifecycle action; None when it changed nothing worth telling.
        ``budget_spent``: the incident's bad events so far as a share of the SLO window's
        budget, kept as it grows (a button may resolve the incident at any time)."""
        if action is Action.NONE:
            return None
        if action is Action.OPEN:
            assert firing is not None
            return self._open(journey, firing, now_s, budget_spent)
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = session.scalars(
                select(IncidentRow).where(IncidentRow.open_key == journey).with_for_update()
            ).first()
            if row is None:
                return None
            row.updated_at = now_s
            if budget_spent is not None:
                row.budget_spent = budget_spent
            if action is Action.RESOLVE:
                self._resolve(session, row, now_s)
            elif action is not Action.QUIET:
                assert firing is not None
                self._follow(session, row, action, firing, now_s)
            if action in (Action.UPDATE, Action.QUIET):
                return None
            return Applied(row.id, action, journey)

    def _open(self, journey: str, firing: Firing, now_s: float, budget_spent: float | None) -> Applied | None:
        row = IncidentRow(
            journey=journey,
            status="open",
            open_key=journey,
            severity=firing.severity,
            tier=firing.tier,
            tier_rank=firing.tier_rank,
            objective=firing.objective,
            opened_at=now_s,
            updated_at=now_s,
            last_firing_at=now_s,
            burn_start=firing.burn_start_s,
            burn_rate=firing.burn_rate,
            peak_burn_rate=firing.burn_rate,
            budget_left_at_open=firing.budget_left,
            budget_left=firing.budget_left,
            budget_spent=budget_spent,
        )
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                session.add(row)
                session.flush()
                session.add(_event(row.id, now_s, "opened", _firing_detail(firing)))
        except IntegrityError:
            return None  # another replica opened it first; its row is the incident
        return Applied(row.id, Action.OPEN, journey)

    def _follow(
        self, session: Session, row: IncidentRow, action: Action, firing: Firing, now_s: float
    ) -> None:
        row.last_firing_at = now_s
        row.burn_rate = firing.burn_rate
        row.peak_burn_rate = max(row.peak_burn_rate, firing.burn_rate)
        row.budget_left = firing.budget_left
        if action in (Action.ESCALATE, Action.EASE):
            kind = "escalated" if action is Action.ESCALATE else "eased"
            session.add(_event(row.id, now_s, kind, {**_firing_detail(firing), "from_tier": row.tier}))
            row.tier, row.tier_rank = firing.tier, firing.tier_rank
            row.severity, row.objective = firing.severity, firing.objective

    def _resolve(self, session: Session, row: IncidentRow, now_s: float, actor: str = BOT) -> None:
        row.status = "resolved"
        row.open_key = None
        row.resolved_at = now_s
        detail = {
            "duration_s": round(row.last_firing_at - row.opened_at),
            "budget_spent": None if row.budget_spent is None else round(row.budget_spent, 4),
        }
        session.add(_event(row.id, now_s, "resolved", detail, actor))

    # --- people and the investigation ----------------------------------------------------

    def record(self, incident_id: int, kind: str, actor: str, detail: dict[str, Any], now_s: float) -> None:
        with Session(self.engine) as session, session.begin():
            session.add(_event(incident_id, now_s, kind, detail, actor))

    def set_status(self, incident_id: int, status: str, actor: str, now_s: float) -> bool:
        """Acknowledge or resolve by hand; False when the incident is not open."""
        with Session(self.engine) as session, session.begin():
            row = session.get(IncidentRow, incident_id, with_for_update=True)
            if row is None or row.status == "resolved":
                return False
            if status == "resolved":
                self._resolve(session, row, now_s, actor)
            else:
                row.status = status
                session.add(_event(incident_id, now_s, status, {}, actor))
            row.updated_at = now_s
            return True

    def mute(self, incident_id: int, until_s: float, actor: str, now_s: float) -> None:
        with Session(self.engine) as session, session.begin():
            row = session.get(IncidentRow, incident_id)
            if row is None:
                return
            row.muted_until = until_s
            session.add(_event(incident_id, now_s, "muted", {"until": iso(until_s)}, actor))

    def record_verdict(self, incident_id: int, user: str, verdict: str, now_s: float) -> None:
        """One verdict per person per incident; pressing again changes it."""
        with Session(self.engine) as session, session.begin():
            row = session.get(IncidentRow, incident_id)
            if row is None:
                return
            found = session.get(VerdictRow, (incident_id, user))
            if found is None:
                session.add(
                    VerdictRow(
                        incident_id=incident_id, user=user, journey=row.journey, verdict=verdict, at=now_s
                    )
                )
            else:
                found.verdict, found.at = verdict, now_s
            session.add(_event(incident_id, now_s, "verdict", {"verdict": verdict}, user))

    def accuracy(self) -> dict[str, dict[str, int]]:
        """Journey -> verdict -> how many incidents got it (the latest verdict of each
        person counts once)."""
        counts: dict[str, dict[str, int]] = {}
        with Session(self.engine) as session:
            for row in session.scalars(select(VerdictRow)):
                per = counts.setdefault(row.journey, {})
                per[row.verdict] = per.get(row.verdict, 0) + 1
        return counts

    def store_report(self, incident_id: int, report: Report, now_s: float, took_s: float) -> None:
        with Session(self.engine) as session, session.begin():
            row = session.get(IncidentRow, incident_id)
            if row is None:
                return
            row.previous_report = row.report
            row.report = json.dumps(report_json(report))
            row.investigated_at = now_s
            missing = [missing_words(m) for m in report.missing]
            detail = {"summary": summary(report), "took_s": round(took_s, 2), "missing": missing}
            session.add(_event(incident_id, now_s, "investigated", detail))
        self.regroup(incident_id, now_s)

    def regroup(self, incident_id: int, now_s: float) -> None:
        """Check the grouping again around a new verdict (``bot.incidents.groups``). In a
        transaction of its own: the report is kept even when grouping fails, and the next
        report tries again."""
        try:
            with Session(self.engine) as session, session.begin():
                row = session.get(IncidentRow, incident_id)
                if row is not None and row.report is not None:
                    groups.regroup(session, row, self.group_within_s, now_s)
        except SQLAlchemyError:
            log.exception("incident %s was not grouped again", incident_id)

    def group(self, incident_id: int, journeys: frozenset[str] | None = None) -> Group | None:
        """The group the incident is in, with each incident's Slack thread; None when alone.
        ``journeys``: a reader's scope (``Group.within``), None: every journey."""
        with Session(self.engine) as session:
            rows = groups.group_rows(session, incident_id)
            cause = groups.cause_of(rows[0]) if rows else None
            if cause is None:
                return None
            mates = [groups.mate(r, _thread_in(_timeline(_events(session, r.id)))) for r in rows]
            return Group(cause, mates[0], mates[1:]).within(journeys)

    def record_following(
        self,
        incident_id: int,
        kind: str,
        decide: Callable[[dict[str, Any] | None], dict[str, Any] | None],
        now_s: float,
    ) -> dict[str, Any] | None:
        """Record an event whose detail depends on the last one of its ``kind`` (given
        to ``decide`` as its detail, None when there is none); ``decide`` returning None
        records nothing. The incident's row is locked meanwhile, so two replicas that
        investigated at once do not both record the same move."""
        with Session(self.engine) as session, session.begin():
            if session.get(IncidentRow, incident_id, with_for_update=True) is None:
                return None
            last = session.scalars(
                select(IncidentEventRow)
                .where(IncidentEventRow.incident_id == incident_id, IncidentEventRow.kind == kind)
                .order_by(IncidentEventRow.id.desc())
                .limit(1)
            ).first()
            detail = decide(json.loads(last.detail) if last is not None else None)
            if detail is not None:
                session.add(_event(incident_id, now_s, kind, detail))
            return detail

    def due_for_investigation(self, before_s: float) -> list[int]:
        """Open incidents last investigated before ``before_s`` (or, never investigated,
        opened before it), oldest first: what the schedule investigates again."""
        last = func.coalesce(IncidentRow.investigated_at, IncidentRow.opened_at)
        statement = (
            select(IncidentRow.id)
            .where(IncidentRow.status.in_(OPEN_STATUSES), last < before_s)
            .order_by(last)
        )
        with Session(self.engine) as session:
            return list(session.scalars(statement))

    # --- reads ---------------------------------------------------------------------------

    def row(self, incident_id: int) -> IncidentRow | None:
        """The incident's row, detached (read its attributes, do not change them)."""
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(IncidentRow, incident_id)

    def reports(self, incident_id: int) -> Reports:
        """The incident's latest and previous reports, typed: what the edges read."""
        with Session(self.engine) as session:
            row = session.get(IncidentRow, incident_id)
            if row is None:
                return Reports(None, None)
            owner = f"incident {incident_id}"
            return Reports(
                read_report(row.report, owner=owner), read_report(row.previous_report, owner=owner)
            )

    def get(self, incident_id: int, journeys: frozenset[str] | None = None) -> dict[str, Any] | None:
        """The incident in the API's JSON form, its report as stored (``reports`` for a
        typed one); its group as a reader of ``journeys`` sees it (None: every journey)."""
        with Session(self.engine) as session:
            row = session.get(IncidentRow, incident_id)
            if row is None:
                return None
            body = _to_json(row, _events(session, row.id))
        group = self.group(incident_id, journeys) if body["group_primary"] is not None else None
        body["group"] = group.to_json() if group else None
        if journeys is not None and group is None:
            body["group_primary"] = None  # a primary out of scope is not named either
        return body

    def find(
        self,
        *,
        status: str | None = None,
        journey: str | None = None,
        journeys: frozenset[str] | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Newest first; ``journeys``: only incidents of these (a reader's scope), None: any."""
        statement = select(IncidentRow).order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc())
        if journeys is not None:
            statement = statement.where(IncidentRow.journey.in_(sorted(journeys)))
        if status == "open":
            statement = statement.where(IncidentRow.status.in_(OPEN_STATUSES))
        elif status:
            statement = statement.where(IncidentRow.status == status)
        if journey:
            statement = statement.where(IncidentRow.journey == journey)
        with Session(self.engine) as session:
            rows = session.scalars(statement.limit(max(1, min(limit, 500)))).all()
            found = [_to_json(row, None) for row in rows]
            if journeys is not None:
                _hide_foreign_primaries(session, found, journeys)
            return found

    def citing(self, trace_id: str, limit: int = 20) -> list[dict[str, Any]]:
        """Incidents whose report holds ``trace_id`` as evidence (a worst trace, or one
        whose logs it shows), newest first: the trace page links back to them. The text
        match narrows the rows; the parsed report decides."""
        statement = (
            select(IncidentRow)
            .where(IncidentRow.report.contains(trace_id, autoescape=True))
            .order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc())
            .limit(limit)
        )
        with Session(self.engine) as session:
            return [_to_json(row, None) for row in session.scalars(statement) if _cites(row, trace_id)]

    def past(self, journey: str, before_s: float, exclude: int, limit: int = 50) -> list[PastIncident]:
        """Earlier investigated incidents of the journey, for ``correlators.similar``."""
        statement = (
            select(IncidentRow)
            .where(
                IncidentRow.journey == journey,
                IncidentRow.id != exclude,
                IncidentRow.opened_at < before_s,
                IncidentRow.report.is_not(None),
            )
            .order_by(IncidentRow.opened_at.desc())
            .limit(limit)
        )
        with Session(self.engine) as session:
            found = (_past(row) for row in session.scalars(statement))
            return [p for p in found if p is not None]


def _firing_detail(firing: Firing) -> dict[str, Any]:
    return {
        "objective": firing.objective,
        "tier": firing.tier,
        "tier_rank": firing.tier_rank,
        "severity": firing.severity,
        "burn_rate": round(firing.burn_rate, 2),
        "budget_left": round(firing.budget_left, 4),
    }


def _event(
    incident_id: int, at: float, kind: str, detail: dict[str, Any], actor: str = BOT
) -> IncidentEventRow:
    return IncidentEventRow(incident_id=incident_id, at=at, kind=kind, actor=actor, detail=json.dumps(detail))


def _events(session: Session, incident_id: int) -> Sequence[IncidentEventRow]:
    return session.scalars(
        select(IncidentEventRow)
        .where(IncidentEventRow.incident_id == incident_id)
        .order_by(IncidentEventRow.id)
    ).all()


def _timeline(events: Sequence[IncidentEventRow]) -> list[dict[str, Any]]:
    """Events in their JSON form; the id lets an edge tell each one once."""
    return [
        {"id": e.id, "at": iso(e.at), "kind": e.kind, "actor": e.actor, "detail": json.loads(e.detail)}
        for e in events
    ]


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def _hide_foreign_primaries(session: Session, found: list[dict[str, Any]], journeys: frozenset[str]) -> None:
    """Unname the group primaries of other journeys than ``journeys`` in ``found``: a
    reader of checkout learns nothing of login's incident ids through a shared cause."""
    named = {i["group_primary"] for i in found if i["group_primary"] is not None}
    if not named:
        return
    statement = select(IncidentRow.id).where(IncidentRow.id.in_(named), IncidentRow.journey.in_(journeys))
    visible = set(session.scalars(statement))
    for incident in found:
        if incident["group_primary"] not in visible:
            incident["group_primary"] = None


def _to_json(row: IncidentRow, events: Sequence[IncidentEventRow] | None) -> dict[str, Any]:
    end = row.resolved_at if row.resolved_at is not None else row.updated_at
    body: dict[str, Any] = {
        "id": row.id,
        "journey": row.journey,
        "status": row.status,
        "severity": row.severity,
        "tier": row.tier,
        "objective": row.objective,
        "opened_at": iso(row.opened_at),
        "updated_at": iso(row.updated_at),
        "resolved_at": iso(row.resolved_at),
        "duration_s": round(end - row.opened_at),
        "burn_rate": round(row.burn_rate, 2),
        "peak_burn_rate": round(row.peak_burn_rate, 2),
        "budget_left_at_open": round(row.budget_left_at_open, 4),
        "budget_left": round(row.budget_left, 4),
        "budget_spent": None if row.budget_spent is None else round(row.budget_spent, 4),
        "muted_until": iso(row.muted_until),
        "investigated_at": iso(row.investigated_at),
        "summary": json.loads(row.report).get("summary") if row.report else None,
        "group_primary": row.group_primary,
    }
    if events is not None:
        body["timeline"] = _timeline(events)
        body["report"] = json.loads(row.report) if row.report else None
    return body


def _cites(row: IncidentRow, trace_id: str) -> bool:
    report = read_report(row.report, owner=f"incident {row.id}")
    return report is not None and trace_id in cited(report)


def _past(row: IncidentRow) -> PastIncident | None:
    report = read_report(row.report, owner=f"incident {row.id}")
    if report is None:
        return None
    return PastIncident(
        id=row.id,
        journey=row.journey,
        opened_at_s=row.opened_at,
        top_service=report.candidates[0].service if report.candidates else None,
        scope_level=report.scope.level,
        scope_subject=report.scope.subject,
        summary=summary(report),
    )
