"""Local mode's voice: without Slack tokens, each incident change is printed as one line
on the console (the Block Kit messages themselves are kept by the outbox and shown on the
incident page)."""

from __future__ import annotations

import sys
from typing import TextIO

from bot.incidents.hypothesis import latest_shift
from bot.incidents.lifecycle import Action
from bot.incidents.repository import Applied, IncidentRepository
from bot.slack import messages as say


class ConsoleListener:
    def __init__(self, incidents: IncidentRepository, out: TextIO | None = None) -> None:
        self.incidents = incidents
        self.out = out

    def incident_changed(self, change: Applied) -> None:
        incident = self.incidents.get(change.incident_id)
        if incident is None:
            return
        if change.action is Action.INVESTIGATED and latest_shift(incident.get("timeline") or []) is None:
            return  # a re-investigation that moved nothing, as in the Slack thread
        line = f"[incident #{incident['id']}] " + say.incident_fallback(
            incident["journey"],
            incident["severity"],
            incident["status"],
            incident["burn_rate"],
            incident["duration_s"],
        )
        if change.action is Action.INVESTIGATED and incident.get("summary"):
            line += f" — {incident['summary']}"
        out = self.out or sys.stdout
        print(line, file=out, flush=True)
