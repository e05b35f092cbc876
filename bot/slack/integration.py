"""What the Slack side of a process is made of, built by ``bot.slack.app.build_slack``:
the outbox every message goes through, the notifier that writes them, and Bolt's app and
Web API client when a bot token is set (both None in local mode)."""

from __future__ import annotations

from dataclasses import dataclass

from slack_bolt import App
from slack_sdk import WebClient

from bot.slack.notifier import SlackNotifier
from bot.slack.outbox import Outbox


@dataclass
class SlackIntegration:
    outbox: Outbox
    notifier: SlackNotifier
    app: App | None
    client: WebClient | None
