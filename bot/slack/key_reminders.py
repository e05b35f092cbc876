"""Reminders in Slack before a key (ingest or access) expires, so a rotation is planned, not found
out from a silent exporter.

Each key is reminded once per threshold (``remind_before_days``, 14 and 3 by default) as
its expiry comes within it. The message goes through the outbox under a key of its own
(``key-expiry:<id>:<days>d``) and reads the same every time it is built (it names the
date), so the job may run on any replica, as often as it likes, and after a restart:
a reminder already stored is never sent again. A key revoked, expired, replaced by a
rotation (its expiry is the end of the overlap the rotation chose) or made without an
expiry gets none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.keys import KeyInfo, KeyRegistry
from bot.slack import messages
from bot.slack.blocks import SlackMessage, section, to_dicts
from bot.slack.outbox import Outbox

DAY_S = 86400.0
KIND = "key-expiry"


@dataclass(frozen=True, slots=True)
class Due:
    key: KeyInfo
    within_days: int
    """The smallest threshold the key's expiry is now within."""


def due(keys: Iterable[KeyInfo], now: float, before_days: Sequence[int]) -> list[Due]:
    """The reminders ``keys`` call for at ``now``: one per key, for the nearest threshold
    crossed (a key first seen two days before expiry is told "3 days", not "14")."""
    found = []
    for key in keys:
        if key.expires_at is None or key.replaced_by is not None or key.state(now) != "active":
            continue
        left_days = (key.expires_at - now) / DAY_S
        crossed = [days for days in before_days if left_days <= days]
        if crossed:
            found.append(Due(key, min(crossed)))
    return found


def reminder(item: Due) -> SlackMessage:
    key = item.key
    services = sorted(key.services) if key.services else None
    role = None if key.role is None else key.role.label
    text = messages.key_expiry(key.id, key.team, services, key.expires_at or 0.0, item.within_days, role)
    return SlackMessage(text=text, blocks=to_dicts([section(text)]))


class KeyReminders:
    """The job: read the keys, store the reminders that are due in the outbox."""

    def __init__(
        self,
        registry: KeyRegistry,
        outbox: Outbox,
        channel: str,
        before_days: Sequence[int],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.outbox = outbox
        self.channel = channel
        self.before_days = before_days
        self.clock = clock

    def run(self) -> int:
        """Store what is due; returns how many reminders were new."""
        stored = 0
        for item in due(self.registry.listed(), self.clock(), self.before_days):
            stored += self.outbox.put(
                f"{KIND}:{item.key.id}:{item.within_days}d",
                kind=KIND,
                channel=self.channel,
                payload=reminder(item).payload(),
            )
        return stored
