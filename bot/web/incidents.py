"""What the incident pages show: the incident JSON (as the API gives it), its timeline
in words, the runbooks that match the report, and in local mode the Slack messages kept
for it. The report is the typed ``Report`` read back from the stored one, drawn by the
template field by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.config import Runbook
from bot.incidents.grouping import Verdict
from bot.incidents.groups import Group, Mate
from bot.incidents.repository import thread_url
from bot.runbooks import matching_runbooks
from bot.web import text
from bot.web.slack_preview import MessageView, messages
from bot.wiring import Bot
from correlators.report import Report

STATUSES = ("open", "acknowledged", "resolved")


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: str | None
    kind: str
    actor: str
    line: str
    summary: str | None
    missing: list[str]

    @property
    def by_person(self) -> bool:
        return self.actor != text.BOT_ACTOR


@dataclass(frozen=True, slots=True)
class IncidentPage:
    incident: dict[str, Any]
    report: Report | None
    timeline: list[TimelineEntry]
    runbooks: list[Runbook]
    slack: list[MessageView] | None
    """The kept messages in local mode; None when Slack is configured (they were posted)."""
    thread_url: str | None = None
    """The Slack thread's permalink, once Slack gave it."""
    group: Group | None = None
    """The incidents of the same cause, when there are others."""
    ungrouped: TimelineEntry | None = None
    """The last grouping event when it took the incident out of its group."""

    @property
    def mates(self) -> list[Mate]:
        return self.group.others(self.incident["id"]) if self.group else []

    @property
    def own_verdict(self) -> Verdict | None:
        return self.group.own_verdict(self.incident["id"]) if self.group else None


def incident_page(bot: Bot, incident_id: int, journeys: frozenset[str] | None = None) -> IncidentPage | None:
    """Blocking (database reads): call it from a worker thread. ``journeys``: the
    reader's scope, which the group's other incidents are shown within."""
    incident = bot.incidents.get(incident_id, journeys)
    if incident is None:
        return None
    report = bot.incidents.reports(incident_id).current
    journey = bot.config.journey(incident["journey"])
    local = bot.slack is not None and bot.slack.outbox.local
    timeline = [timeline_entry(e) for e in incident.get("timeline") or ()]
    grouping = [e for e in timeline if e.kind in ("grouped", "ungrouped")]
    group = bot.incidents.group(incident_id, journeys)
    return IncidentPage(
        incident=incident,
        report=report,
        timeline=timeline,
        runbooks=matching_runbooks(bot.config, journey, report),
        slack=messages(bot.slack.outbox.kept(incident_id)) if local and bot.slack is not None else None,
        thread_url=thread_url(incident),
        group=group,
        ungrouped=grouping[-1] if group is None and grouping and grouping[-1].kind == "ungrouped" else None,
    )


def timeline_entry(event: dict[str, Any]) -> TimelineEntry:
    detail = event.get("detail") or {}
    return TimelineEntry(
        at=event.get("at"),
        kind=event["kind"],
        actor=event.get("actor") or text.BOT_ACTOR,
        line=text.timeline_line(event["kind"], detail),
        summary=detail.get("summary") if event["kind"] == "investigated" else None,
        missing=list(detail.get("missing") or []),
    )


def incident_list(
    bot: Bot, status: str | None, journey: str | None, journeys: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """``journeys``: a reader's scope (None: every journey)."""
    return bot.incidents.find(status=status, journey=journey, journeys=journeys, limit=200)
