"""Each evaluation's outcome per journey, objective and tier, kept in the database.

A restarted (or newly elected) watcher reads "firing since" from here, and the journey
pages and the ``journey`` command show burn rates without evaluating again. The burn
history (one row per journey and objective per evaluation) feeds the sparklines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from bot.slo.evaluate import JourneyStatus
from bot.store.state import BurnHistoryRow, JourneyStateRow


@dataclass(frozen=True, slots=True)
class TierRecord:
    objective: str
    tier: str
    long_burn: float
    short_burn: float
    firing: bool
    firing_since: float | None
    budget_left: float
    evaluated_at: float


class JourneyStates:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save(self, status: JourneyStatus) -> None:
        now = float(status.at_s)
        with Session(self.engine) as session, session.begin():
            before = {
                (r.objective, r.tier): r
                for r in session.scalars(
                    select(JourneyStateRow).where(JourneyStateRow.journey == status.journey)
                )
            }
            session.execute(delete(JourneyStateRow).where(JourneyStateRow.journey == status.journey))
            for objective in status.objectives:
                for state in objective.states:
                    previous = before.get((objective.objective, state.tier.name))
                    since = None
                    if state.firing:
                        since = previous.firing_since if previous and previous.firing_since else now
                    session.add(
                        JourneyStateRow(
                            journey=status.journey,
                            objective=objective.objective,
                            tier=state.tier.name,
                            long_burn=state.long_burn,
                            short_burn=state.short_burn,
                            firing=state.firing,
                            firing_since=since,
                            budget_left=objective.budget_left,
                            evaluated_at=now,
                        )
                    )
                burns = {
                    s.tier.name: [round(s.long_burn, 3), round(s.short_burn, 3)] for s in objective.states
                }
                session.add(
                    BurnHistoryRow(
                        journey=status.journey, objective=objective.objective, at=now, burn=json.dumps(burns)
                    )
                )

    def current(self, journey: str) -> list[TierRecord]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(JourneyStateRow)
                .where(JourneyStateRow.journey == journey)
                .order_by(JourneyStateRow.objective)
            ).all()
            return [
                TierRecord(
                    r.objective,
                    r.tier,
                    r.long_burn,
                    r.short_burn,
                    r.firing,
                    r.firing_since,
                    r.budget_left,
                    r.evaluated_at,
                )
                for r in rows
            ]

    def history(self, journey: str, since_s: float) -> list[tuple[float, str, dict[str, list[float]]]]:
        """(time, objective, tier -> [long, short]) oldest first."""
        with Session(self.engine) as session:
            rows = session.scalars(
                select(BurnHistoryRow)
                .where(BurnHistoryRow.journey == journey, BurnHistoryRow.at >= since_s)
                .order_by(BurnHistoryRow.at)
            ).all()
            return [(r.at, r.objective, json.loads(r.burn)) for r in rows]

    def purge(self, before_s: float) -> int:
        with Session(self.engine) as session, session.begin():
            return session.execute(delete(BurnHistoryRow).where(BurnHistoryRow.at < before_s)).rowcount  # type: ignore[attr-defined,no-any-return]
