"""``slack:`` in journeys.yaml: the slash command's name and who may use what.

Tokens are not here: they come from the environment as Bolt names them
(SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN; see ``bot.settings``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CommandName = Literal["trace", "journey", "incidents", "investigate", "help", "buttons"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommandAccess(_Strict):
    """Where and by whom a command may be used, and over which journeys; empty lists mean
    anywhere, anyone, every journey. Channels by name (``#checkout-oncall``) or id
    (``C0123``); user groups by id (``S0123``) or handle (``@oncall``); journeys by name,
    or by the teams that own them (``owner`` of a journey). Those the rule lets in get the
    role its command needs (``bot.slack.access``): a viewer for ``trace``, ``journey`` and
    ``incidents``, a responder for ``investigate`` and ``buttons``."""

    channels: list[str] = []
    user_groups: list[str] = []
    journeys: list[str] = []
    teams: list[str] = []


class SlackConfig(_Strict):
    command: str = Field(default="/journeywatch", pattern=r"^/[a-z0-9_\-]{1,31}$")
    default_channel: str | None = None
    """Where incidents of journeys without a ``channel`` are posted."""
    access: dict[CommandName, CommandAccess] = {}
    """Per command; ``buttons`` covers Acknowledge, Resolve, Re-investigate and Mute."""
