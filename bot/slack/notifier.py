"""Incident changes become Slack messages: one parent per incident, updated in place, and
the thread under it (the root-cause summary, the trace picture, what changed later).

It listens to the watcher (``IncidentListener``) and to people (buttons), renders with
``bot.slack.blocks`` (telemetry quoted: redacted, then escaped; our own ids, timestamps and
links never go through the redaction rules), and hands the messages to the outbox, which
owns idempotency and retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.config import DEFAULT_SLO_WINDOW_S, AppConfig
from bot.incidents.groups import GROUPED, UNGROUPED, Mate
from bot.incidents.headline import Headline, Headlines
from bot.incidents.hypothesis import Hypothesis, asked_by_person, latest_shift
from bot.incidents.lifecycle import Action
from bot.incidents.repository import BOT, THREAD_EVENT, Applied, IncidentRepository, thread_url
from bot.runbooks import matching_runbooks
from bot.slack import blocks
from bot.slack import messages as say
from bot.slack.mrkdwn import Mrkdwn, Quote
from bot.slack.outbox import Outbox
from bot.sources.base import TraceSource
from bot.telemetry.redact import Redactor
from correlators.report import Report

log = logging.getLogger("journeywatch.slack")
LOCAL_CHANNEL = "local"


class SlackNotifier:
    def __init__(
        self,
        config: AppConfig,
        incidents: IncidentRepository,
        outbox: Outbox,
        redactor: Redactor,
        traces: TraceSource,
        *,
        base_url: str,
        headlines: Headlines | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.incidents = incidents
        self.outbox = outbox
        self.quote = Quote(redactor.redact_text)
        """Telemetry text on its way into a message: what the store would not keep (an
        e-mail in a log line, a card number) is scrubbed, the rest escaped."""
        self.traces = traces
        self.base_url = base_url.rstrip("/")
        self.headlines = headlines
        self.clock = clock

    def incident_changed(self, change: Applied) -> None:
        incident = self.incidents.get(change.incident_id)
        if incident is None:
            return
        self.post_parent(incident)
        muted = incident.get("muted_until") is not None and self._muted(change.incident_id)
        if change.action is Action.INVESTIGATED:
            self._post_report(incident)
        elif change.action in (Action.ESCALATE, Action.EASE) and not muted:
            self._note(incident, _tier_note(incident, change.action))
        self.outbox.flush()
        self.link_thread(incident)
        if change.action is Action.INVESTIGATED:
            self.announce_grouping(change.incident_id)

    def refresh(self, incident_id: int, note: Mrkdwn | None = None) -> None:
        """After a button press: the parent again, and a line in the thread."""
        incident = self.incidents.get(incident_id)
        if incident is None:
            return
        self.post_parent(incident)
        if note:
            self._note(incident, note)
        self.outbox.flush()
        self.link_thread(incident)

    def link_thread(self, incident: dict[str, Any]) -> None:
        """Once the parent is posted, keep its permalink on the incident's timeline (the
        incident page links to the thread). Slack's own link, from chat.getPermalink: a
        URL built from the ts would miss the workspace; asked again at the next change
        when Slack did not answer."""
        client = self.outbox.client
        if client is None or any(e["kind"] == THREAD_EVENT for e in incident.get("timeline") or ()):
            return
        key = parent_key(incident["id"])
        parent = next((k for k in self.outbox.kept(incident["id"]) if k.key == key and k.ts), None)
        if parent is None or parent.ts is None:
            return
        try:
            answer = client.chat_getPermalink(channel=parent.channel, message_ts=parent.ts)
        except (SlackApiError, OSError) as exc:
            log.warning("no permalink for incident %s's thread yet: %s", incident["id"], exc)
            return
        detail = {"url": answer["permalink"], "channel": parent.channel, "ts": parent.ts}
        self.incidents.record(incident["id"], THREAD_EVENT, BOT, detail, self.clock())

    def post_parent(self, incident: dict[str, Any]) -> None:
        self.outbox.put(
            parent_key(incident["id"]),
            kind="parent",
            channel=self.channel_of(incident["journey"]),
            payload=self.parent_message(incident).payload(),
            incident_id=incident["id"],
        )

    def parent_message(self, incident: dict[str, Any]) -> blocks.SlackMessage:
        """The parent as it would be posted now (the demo prints its first line)."""
        journey = self.config.journey(incident["journey"])
        return blocks.incident_message(
            incident,
            owner=journey.owner if journey else None,
            slo_window_s=journey.slo_window if journey else DEFAULT_SLO_WINDOW_S,
            incident_url=self.incident_url(incident["id"]),
            journey_url=f"{self.base_url}/journeys/{incident['journey']}",
            quote=self.quote,
            headline=self.headline(incident),
            group=self.group_line(incident["id"]),
        )

    def headline(self, incident: dict[str, Any]) -> Headline | None:
        """The first line's figures; None (the parent then leads with its title) when
        they cannot be read, since a slow or broken store must not hold the parent up."""
        row = self.incidents.row(incident["id"])
        if self.headlines is None or row is None:
            return None
        end = row.resolved_at if row.resolved_at is not None else row.updated_at
        try:
            report = self.incidents.reports(incident["id"]).current
            return self.headlines.build(incident, report, row.burn_start, end)
        except Exception:
            log.exception("the first line of incident %s was not built", incident["id"])
            return None

    def channel_of(self, journey_name: str) -> str:
        journey = self.config.journey(journey_name)
        return (journey.channel if journey else None) or self.config.slack.default_channel or LOCAL_CHANNEL

    def incident_url(self, incident_id: int) -> str:
        return f"{self.base_url}/incidents/{incident_id}"

    # --- the thread ----------------------------------------------------------------------

    def _post_report(self, incident: dict[str, Any]) -> None:
        report, previous = self.incidents.reports(incident["id"])
        if report is None:
            return
        count = sum(1 for e in incident.get("timeline", []) if e["kind"] == "investigated")
        if previous is None:
            self._thread(incident, f"report:{count}", self._summary(incident, report).payload())
            self._picture_of(incident, report)
        else:
            self._post_shift(incident, report, f"report:{count}")

    def _summary(self, incident: dict[str, Any], report: Report) -> blocks.SlackMessage:
        """The root-cause summary with its evidence, runbooks and links."""
        journey = self.config.journey(incident["journey"])
        worst = report.worst_traces[0] if report.worst_traces else None
        return blocks.summary_message(
            report,
            runbooks=matching_runbooks(self.config, journey, report),
            incident_url=self.incident_url(incident["id"]),
            trace_url=f"{self.base_url}/traces/{worst}" if worst else None,
            quote=self.quote,
            trace_url_of=lambda trace_id: f"{self.base_url}/traces/{trace_id}",
        )

    def _post_shift(self, incident: dict[str, Any], report: Report, suffix: str) -> None:
        """A re-investigation reaches the thread only when its hypothesis moved (the
        investigator then recorded a ``hypothesis`` event after its report): what moved
        in one line, then the evidence as the first report gives it. The parent shows the
        latest either way. A person who pressed Re-investigate hears that nothing moved."""
        timeline = incident.get("timeline") or []
        posted = latest_shift(timeline)
        if posted is not None:
            lead = blocks.hypothesis_line(posted, self.quote)
            url = self.incident_url(incident["id"])
            self._thread(
                incident, suffix, blocks.led_by(lead, self._summary(incident, report), url).payload()
            )
            self._picture_of(incident, report)
        elif asked_by_person(timeline):
            now = Hypothesis.of_report(report)
            text = say.hypothesis_unchanged(blocks.hypothesis_words(now, self.quote), now.confidence)
            self._thread(incident, suffix, {"text": text, "blocks": blocks.to_dicts([blocks.section(text)])})

    def _picture_of(self, incident: dict[str, Any], report: Report) -> None:
        """The worst trace's picture, once per trace in a thread."""
        worst = report.worst_traces[0] if report.worst_traces else None
        picture = f"incident:{incident['id']}:picture:{worst}"
        if worst and not any(k.key == picture for k in self.outbox.kept(incident["id"])):
            self._picture(incident, worst)

    def _picture(self, incident: dict[str, Any], trace_id: str) -> None:
        """The worst exemplar as a waterfall PNG in the thread; skipped (and logged) when
        the trace cannot be read, since the summary already links to it."""
        try:
            found = self.traces.get_traces([trace_id])
            if not found:
                return
            from bot.render.waterfall import render_png

            png = render_png(found[0], title=f"{incident['journey']}: worst exemplar {trace_id}")
        except Exception:
            log.exception("waterfall of %s not rendered", trace_id)
            return
        self.outbox.put(
            f"incident:{incident['id']}:picture:{trace_id}",
            kind="file",
            channel=self.channel_of(incident["journey"]),
            payload={
                "filename": f"trace-{trace_id}.png",
                "title": say.picture_title(trace_id),
                "comment": say.open_trace_link(f"{self.base_url}/traces/{trace_id}"),
            },
            incident_id=incident["id"],
            parent_key=parent_key(incident["id"]),
            content=png,
        )

    def _note(self, incident: dict[str, Any], text: Mrkdwn) -> None:
        self._thread(
            incident,
            f"note:{time.time_ns()}",
            {"text": text, "blocks": blocks.to_dicts([blocks.section(text)])},
        )

    def _thread(self, incident: dict[str, Any], suffix: str, payload: dict[str, Any]) -> None:
        self.outbox.put(
            f"incident:{incident['id']}:{suffix}",
            kind="thread",
            channel=self.channel_of(incident["journey"]),
            payload=payload,
            incident_id=incident["id"],
            parent_key=parent_key(incident["id"]),
        )

    def _muted(self, incident_id: int) -> bool:
        row = self.incidents.row(incident_id)
        return row is not None and row.muted_until is not None and row.muted_until > self.clock()

    # --- one incident per cause ---------------------------------------------------------

    def group_line(self, incident_id: int) -> Mrkdwn | None:
        """The parent's line on the incidents of the same cause, read now."""
        group = self.incidents.group(incident_id)
        return blocks.group_line(group, incident_id, self.mate_url, self.quote) if group else None

    def mate_url(self, mate: Mate) -> str:
        """Where a link to another incident goes: its thread, else its page."""
        return mate.thread_url or self.incident_url(mate.id)

    def announce_grouping(self, incident_id: int) -> None:
        """Tell each grouping event once in its incident's thread (the outbox key is the
        event's id), and bring up to date the parents on the other side of each new one:
        a new verdict here may have joined, left or reshaped their group too."""
        queue, seen = [incident_id], set()
        while queue:
            current = queue.pop(0)
            incident = None if current in seen else self.incidents.get(current)
            seen.add(current)
            if incident is None:
                continue
            fresh = [e for e in _group_events(incident) if self._group_note(incident, e)]
            if fresh and current != incident_id:
                self.post_parent(incident)
            queue.extend(int(e["detail"]["with"]) for e in fresh)
        self.outbox.flush()

    def _group_note(self, incident: dict[str, Any], event: dict[str, Any]) -> bool:
        other = self.incidents.get(int(event["detail"]["with"]))
        url = (thread_url(other) if other else None) or self.incident_url(int(event["detail"]["with"]))
        return self.outbox.put(
            f"incident:{incident['id']}:group:{event['id']}",
            kind="thread",
            channel=self.channel_of(incident["journey"]),
            payload=blocks.group_note(event, url, self.quote).payload(),
            incident_id=incident["id"],
            parent_key=parent_key(incident["id"]),
        )


def _group_events(incident: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in incident.get("timeline") or () if e["kind"] in (GROUPED, UNGROUPED)]


def parent_key(incident_id: int) -> str:
    return f"incident:{incident_id}:parent"


def _tier_note(incident: dict[str, Any], action: Action) -> Mrkdwn:
    return say.tier_note(
        action is Action.ESCALATE, incident["tier"], incident["severity"], incident["burn_rate"]
    )
