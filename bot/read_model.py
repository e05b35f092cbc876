"""What the API, the pages and the Slack commands read about a journey, in one form.

Each edge words it its own way (JSON, HTML, mrkdwn); the figures come from here, so the
three never disagree, and none of the edges has to import another to get them.
"""

from __future__ import annotations

from typing import Any

from bot.wiring import Bot


def journey_json(bot: Bot, name: str) -> dict[str, Any]:
    """A journey's objectives, last evaluation per tier, budget left and open incident."""
    journey = bot.config.journey(name)
    assert journey is not None
    states = bot.states.current(name)
    open_incidents = bot.incidents.find(status="open", journey=name, limit=1)
    latency = journey.objectives.latency
    return {
        "name": name,
        "owner": journey.owner,
        "channel": journey.channel,
        "objectives": {
            "availability": journey.objectives.availability,
            "latency": {"threshold_ms": latency.threshold_ms, "target": latency.target} if latency else None,
        },
        "slo_window_s": journey.slo_window,
        "tiers": [
            {
                "objective": s.objective,
                "tier": s.tier,
                "long_burn": round(s.long_burn, 3),
                "short_burn": round(s.short_burn, 3),
                "firing": s.firing,
                "firing_since": s.firing_since,
            }
            for s in states
        ],
        "budget_left": {s.objective: round(s.budget_left, 4) for s in states},
        "evaluated_at": max((s.evaluated_at for s in states), default=None),
        "open_incident": open_incidents[0] if open_incidents else None,
    }
