"""A weekly digest per journey in its channel: the week's top advice (where the time
went and what would win it back), and what changed since last week's digest.

A leader job (``weekly-digest``) runs every few minutes; from the configured weekday and
hour (UTC, ``advice.digest_weekday``/``digest_hour``) on, each journey gets one message
for the ISO week under the outbox key ``digest:<journey>:<iso-week>``, so a second run, a
restart or another replica never posts it twice, and the week is worked out only while
its key is missing. It covers the seven days before that moment. A journey with no kept
traces in them gets nothing. Last week's figures are read back from last week's message
(its Slack ``metadata``, which the outbox keeps with the payload), so nothing else is
stored for the comparison.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from bot.config import AppConfig, Journey
from bot.journey_advice import rank
from bot.render.advice import advice_words, gain_words
from bot.render.fixes import ms_words
from bot.settings import AdviceSettings
from bot.slack import messages
from bot.slack.blocks import SlackMessage, section, to_dicts
from bot.slack.mrkdwn import Mrkdwn, Quote
from bot.slack.outbox import Outbox
from bot.sources.base import TraceSource
from correlators.advice import Advice, JourneyAdvice

KIND = "digest"
EVENT_TYPE = "journeywatch_digest"
TOP = 3
"""Pieces of advice a digest lists."""
SUMMARY_CHARS = 300
"""A piece's sentence as kept in the metadata, for next week's "gone from the top"."""
WEEK = dt.timedelta(days=7)


def due_moment(now: dt.datetime, weekday: int, hour: int) -> dt.datetime:
    """This ISO week's digest moment: its Monday, plus ``weekday`` days and ``hour`` hours."""
    monday = (now - dt.timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday + dt.timedelta(days=weekday, hours=hour)


def week_label(moment: dt.datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def digest_key(journey: str, week: str) -> str:
    return f"{KIND}:{journey}:{week}"


class WeeklyDigest:
    """The job: for each journey whose digest of this week is due and not stored, rank the
    week's kept traces and store the message in the outbox."""

    def __init__(
        self,
        config: AppConfig,
        traces: TraceSource,
        outbox: Outbox,
        settings: AdviceSettings,
        *,
        channel_of: Callable[[str], str],
        quote: Quote,
        base_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.traces = traces
        self.outbox = outbox
        self.settings = settings
        self.channel_of = channel_of
        self.quote = quote
        self.base_url = base_url.rstrip("/")
        self.clock = clock

    def run(self) -> int:
        """Store the digests that are due; returns how many were new."""
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        due = due_moment(now, self.settings.digest_weekday, self.settings.digest_hour)
        if now < due:
            return 0
        week, last_week = week_label(due), week_label(due - WEEK)
        stored = 0
        for journey in self.config.journeys:
            key = digest_key(journey.name, week)
            if self.outbox.stored(key) is not None:
                continue
            advice = self._week(journey, due)
            if advice is None or advice.requests == 0:
                continue  # no traffic: nothing to say, and nothing stored
            last = self.outbox.stored(digest_key(journey.name, last_week))
            message = self.message(advice, week, _figures(last.payload) if last else None)
            stored += self.outbox.put(key, kind=KIND, channel=self.channel_of(journey.name), payload=message)
        return stored

    def _week(self, journey: Journey, due: dt.datetime) -> JourneyAdvice | None:
        """The week's ranking; None when no trace of the journey was kept in it (one
        query, since a quiet journey is asked again at each run of the week)."""
        end_ns = int(due.timestamp() * 1e9)
        start_ns = int((due - WEEK).timestamp() * 1e9)
        service = journey.match.root_service
        if not self.traces.find_traces(
            journey=journey.name, service=service, start_ns=start_ns, end_ns=end_ns, limit=1
        ):
            return None
        return rank(self.traces, journey, start_ns, end_ns, self.settings.digest_traces)

    def message(self, advice: JourneyAdvice, week: str, last: dict[str, Any] | None) -> dict[str, Any]:
        """The payload: text, blocks, and the figures as Slack message metadata."""
        before = (ms_words(int(last["p50_ns"])), ms_words(int(last["p95_ns"]))) if last else None
        title = messages.digest_title(
            self.quote(advice.journey),
            week,
            advice.requests,
            ms_words(advice.p50_ns),
            ms_words(advice.p95_ns),
            before,
        )
        last_items = {str(i["place"]): i for i in (last or {}).get("advice", []) if isinstance(i, dict)}
        top = advice.advice[:TOP]
        lines = [
            self._line(rank, a, advice, last_items if last else None) for rank, a in enumerate(top, start=1)
        ]
        if not top:
            lines.append(Mrkdwn(messages.DIGEST_NOTHING))
        gone = [str(i["summary"]) for place, i in last_items.items() if place not in {_place(a) for a in top}]
        if gone:
            lines.append(messages.digest_gone(self.quote.all(gone)))
        blocks = [section(title), *(section(line) for line in lines)]
        return {
            **SlackMessage(title, blocks=to_dicts(blocks)).payload(),
            "metadata": {"event_type": EVENT_TYPE, "event_payload": _metadata(advice, top, week)},
        }

    def _line(
        self, rank: int, a: Advice, journey: JourneyAdvice, last: dict[str, dict[str, Any]] | None
    ) -> Mrkdwn:
        """One piece with its gain and, when there was a digest last week, how it stood then."""
        change = None
        if last is not None:
            before = last.get(_place(a))
            change = messages.digest_change(ms_words(int(before["p95_gain_ns"])) if before else None)
        url = f"{self.base_url}/traces/{a.examples[0]}" if a.examples else f"{self.base_url}/journeys"
        return messages.digest_line(
            rank, self.quote(advice_words(a)), self.quote(gain_words(a, journey)), change, url
        )


def _place(a: Advice) -> str:
    return "|".join(a.place)


def _metadata(advice: JourneyAdvice, top: list[Advice], week: str) -> dict[str, Any]:
    """What next week's digest compares with (Slack's metadata holds flat objects)."""
    return {
        "journey": advice.journey,
        "week": week,
        "requests": advice.requests,
        "p50_ns": advice.p50_ns,
        "p95_ns": advice.p95_ns,
        "advice": [
            {
                "place": _place(a),
                "summary": advice_words(a)[:SUMMARY_CHARS],
                "p95_gain_ns": a.p95_gain_ns,
                "p50_gain_ns": a.p50_gain_ns,
            }
            for a in top
        ],
    }


def _figures(payload: dict[str, Any]) -> dict[str, Any] | None:
    """Last week's figures from its stored message; None when it holds none."""
    metadata = payload.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != EVENT_TYPE:
        return None
    figures = metadata.get("event_payload")
    return figures if isinstance(figures, dict) and "p50_ns" in figures and "p95_ns" in figures else None
