"""A release (or a posted change) that regressed on a journey's critical path, told in
the journey's channel (``bot.releases`` calls it). One message per channel, stored in
the outbox under ``release:<id>:<channel>`` (``change:<id>:<channel>``) before it is
sent: the job may look again, restart or run on another replica, and the message is
still posted once."""

from __future__ import annotations

from collections.abc import Sequence

from bot.config import AppConfig
from bot.releases import Release
from bot.render.releases import verdict_lines
from bot.slack import messages
from bot.slack.blocks import SlackMessage, section, to_dicts
from bot.slack.mrkdwn import Quote
from bot.slack.notifier import LOCAL_CHANNEL
from bot.slack.outbox import Outbox
from correlators.changes import Change
from correlators.regression import ReleaseVerdict

KIND = "release"
CHANGE_KIND = "change-verdict"
EVIDENCE = 3
"""Trace links in a message: the worst of the first regressions."""


class ReleaseNotices:
    def __init__(self, config: AppConfig, outbox: Outbox, quote: Quote, base_url: str) -> None:
        """``quote``: the notifier's, so telemetry text (a service, an operation) is
        redacted and escaped as in incident threads."""
        self.config = config
        self.outbox = outbox
        self.quote = quote
        self.base_url = base_url.rstrip("/")

    def __call__(self, release: Release, verdict: ReleaseVerdict) -> int:
        stored = 0
        for channel, journeys in self._channels(verdict):
            stored += self.outbox.put(
                f"{KIND}:{release.id}:{channel}",
                kind=KIND,
                channel=channel,
                payload=self.message(release, verdict, journeys).payload(),
            )
        return stored

    def change(self, change_id: int, change: Change, verdict: ReleaseVerdict) -> int:
        """A posted change that made things worse, under ``change:<id>:<channel>``."""
        stored = 0
        for channel, journeys in self._channels(verdict):
            text = messages.change_regressed(
                change.kind,
                self.quote(change.service),
                self.quote(change.version or ""),
                self.quote(change.description or ""),
                journeys,
                self.quote.all(verdict_lines(verdict)),
                self._traces(verdict),
            )
            message = SlackMessage(text=text, blocks=to_dicts([section(text)]))
            stored += self.outbox.put(
                f"change:{change_id}:{channel}", kind=CHANGE_KIND, channel=channel, payload=message.payload()
            )
        return stored

    def _channels(self, verdict: ReleaseVerdict) -> list[tuple[str, list[str]]]:
        by_channel: dict[str, list[str]] = {}
        for journey in verdict.journeys:
            by_channel.setdefault(self.channel_of(journey), []).append(journey)
        return sorted(by_channel.items())

    def _traces(self, verdict: ReleaseVerdict) -> list[tuple[str, str]]:
        return [(t, f"{self.base_url}/traces/{t}") for t in evidence(verdict)]

    def channel_of(self, journey: str) -> str:
        found = self.config.journey(journey)
        return (found.channel if found else None) or self.config.slack.default_channel or LOCAL_CHANNEL

    def message(self, release: Release, verdict: ReleaseVerdict, journeys: Sequence[str]) -> SlackMessage:
        traces = self._traces(verdict)
        text = messages.release_regressed(
            self.quote(release.service),
            self.quote(release.version),
            self.quote(release.previous or ""),
            list(journeys),
            self.quote.all(verdict_lines(verdict)),
            traces,
            f"{self.base_url}/releases",
        )
        return SlackMessage(text=text, blocks=to_dicts([section(text)]))


def evidence(verdict: ReleaseVerdict) -> list[str]:
    """Trace ids that show the regression: the first two of each regressed operation,
    one of each grown pattern."""
    found: list[str] = []
    for o in verdict.regressions:
        found.extend(o.evidence[:2])
    for p in verdict.patterns:
        found.extend(p.evidence[:1])
    return list(dict.fromkeys(found))[:EVIDENCE]
