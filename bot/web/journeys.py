"""What the journey pages show: each journey's objectives, burn per tier with its recent
history as a sparkline, budget left, open incident, firing or not.

Built on :func:`bot.read_model.journey_json`, the same form the API and the Slack
``journey`` command give, plus the burn history for the sparklines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.config import Journey
from bot.read_model import journey_json
from bot.web import text
from bot.web.sparkline import Sparkline, sparkline
from bot.wiring import Bot

HISTORY_S = 6 * 3600
"""How far back the sparklines reach, from the journey's last evaluation (not from now,
so a replayed or paused bot still shows the burn it saw)."""

History = Sequence[tuple[float, str, dict[str, list[float]]]]


@dataclass(frozen=True, slots=True)
class TierView:
    objective: str
    tier: str
    severity: str
    threshold: float
    long_burn: float | None
    short_burn: float | None
    firing: bool
    firing_since: float | None
    spark: Sparkline


@dataclass(frozen=True, slots=True)
class JourneyView:
    name: str
    owner: str | None
    channel: str | None
    objectives: list[str]
    budget_left: dict[str, float]
    evaluated_at: float | None
    open_incident: dict[str, Any] | None
    tiers: list[TierView]

    @property
    def firing(self) -> bool:
        return any(t.firing for t in self.tiers)

    @property
    def firing_since(self) -> float | None:
        return min((t.firing_since for t in self.tiers if t.firing and t.firing_since), default=None)

    @property
    def status(self) -> str:
        return text.journey_status(self.firing, self.evaluated_at is not None)


def journey_views(bot: Bot, names: list[str]) -> list[JourneyView]:
    """The views of ``names`` (the journeys a reader may see), in their order."""
    return [journey_view(bot, name) for name in names]


def journey_view(bot: Bot, name: str) -> JourneyView:
    """One journey; blocking (database reads), so call it from a worker thread."""
    journey = bot.config.journey(name)
    assert journey is not None
    body = journey_json(bot, name)
    evaluated_at = body["evaluated_at"]
    history = bot.states.history(name, evaluated_at - HISTORY_S) if evaluated_at is not None else []
    return JourneyView(
        name=name,
        owner=body["owner"],
        channel=body["channel"],
        objectives=objective_lines(journey),
        budget_left=body["budget_left"],
        evaluated_at=evaluated_at,
        open_incident=body["open_incident"],
        tiers=tier_views(journey, body["tiers"], history),
    )


def objective_lines(journey: Journey) -> list[str]:
    lines = []
    if journey.objectives.availability is not None:
        lines.append(text.availability_objective(journey.objectives.availability))
    latency = journey.objectives.latency
    if latency is not None:
        lines.append(text.latency_objective(latency.threshold_ms, latency.target))
    return lines


def tier_views(journey: Journey, states: Sequence[dict[str, Any]], history: History) -> list[TierView]:
    """Every objective's tiers, in the order severity is read (fastest first); a tier that
    was never evaluated still shows, with no numbers."""
    now = {(s["objective"], s["tier"]): s for s in states}
    objectives = [o for o in ("availability", "latency") if journey.objective(o) is not None]
    views = []
    for objective in objectives:
        for tier in journey.tiers():
            state = now.get((objective, tier.name), {})
            series = [
                (at, burns[tier.name][0]) for at, o, burns in history if o == objective and tier.name in burns
            ]
            views.append(
                TierView(
                    objective=objective,
                    tier=tier.name,
                    severity=tier.severity,
                    threshold=tier.burn_rate,
                    long_burn=state.get("long_burn"),
                    short_burn=state.get("short_burn"),
                    firing=bool(state.get("firing")),
                    firing_since=state.get("firing_since"),
                    spark=sparkline(series, tier.burn_rate),
                )
            )
    return views
