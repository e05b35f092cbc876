"""Who may use which command where: ``slack.access`` in journeys.yaml.

A channel rule names channels (``#checkout-oncall`` or ``C0123``); a user-group rule names
Slack user groups (``S0123`` or ``@oncall``), whose members are read with
usergroups.users.list and cached for a few minutes, so a busy channel does not hit
Slack's rate limits. When the group cannot be read the command is refused (fail closed).

A person the rule lets in becomes a principal of ``bot.policy``, as a request with a
token or key does on the API and pages: the role the command needs (a responder for the
buttons and ``investigate``, a viewer for the rest) over the rule's journeys (those it
names and those its teams own; every journey when it names neither), so the same
decisions say which traces, incidents and journeys they see and which buttons work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.policy import Principal, Role, scope_of
from bot.slack.config import SlackConfig

log = logging.getLogger("journeywatch.slack")
CACHE_S = 300.0
RESPONDER_COMMANDS: frozenset[str] = frozenset({"buttons", "investigate"})
"""Commands that act (on an incident, or by starting an investigation); the rest read."""


class AccessCheck:
    """``owners``: each journey's owner team (journeys.yaml), for rules that name teams."""

    def __init__(
        self,
        config: SlackConfig,
        client: WebClient | None,
        owners: Callable[[], Mapping[str, str | None]] = dict,
    ) -> None:
        self.config = config
        self.client = client
        self.owners = owners
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._handles: dict[str, str] = {}
        self._lock = threading.Lock()

    def principal(self, command: str, channel_id: str, channel_name: str, user: str) -> Principal | str:
        """Who ``user`` is for ``command`` here, or the reason they may not use it."""
        denied = self.refusal(command, channel_id, channel_name, user)
        if denied is not None:
            return denied
        role = Role.RESPONDER if command in RESPONDER_COMMANDS else Role.VIEWER
        rule = self.config.access.get(command)  # type: ignore[call-overload]
        if rule is None or not (rule.journeys or rule.teams):
            return Principal(user, role)
        return Principal(user, role, scope_of(self.owners(), rule.teams, rule.journeys))

    def refusal(self, command: str, channel_id: str, channel_name: str, user: str) -> str | None:
        """None when allowed, else the reason in words (said privately to the user)."""
        rule = self.config.access.get(command)  # type: ignore[call-overload]
        if rule is None:
            return None
        if rule.channels and not _in_channels(rule.channels, channel_id, channel_name):
            return f"in this channel (allowed: {', '.join(rule.channels)})"
        if rule.user_groups and not any(user in self._group(g) for g in rule.user_groups):
            return f"for you (it is for members of {', '.join(rule.user_groups)})"
        return None

    def _group(self, group: str) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._members.get(group)
            if cached and now - cached[0] < CACHE_S:
                return cached[1]
        members = self._read(group)
        with self._lock:
            self._members[group] = (now, members)
        return members

    def _read(self, group: str) -> frozenset[str]:
        if self.client is None:
            return frozenset()
        try:
            group_id = self._group_id(group)
            if group_id is None:
                return frozenset()
            return frozenset(self.client.usergroups_users_list(usergroup=group_id).get("users") or [])
        except SlackApiError as exc:
            log.warning("user group %s could not be read (%s); refusing", group, exc.response.get("error"))
            return frozenset()

    def _group_id(self, group: str) -> str | None:
        if not group.startswith("@"):
            return group
        if not self._handles:
            assert self.client is not None
            for found in self.client.usergroups_list().get("usergroups") or []:
                self._handles[f"@{found['handle']}"] = found["id"]
        return self._handles.get(group)


def _in_channels(allowed: list[str], channel_id: str, channel_name: str) -> bool:
    names = {channel_id, channel_name, f"#{channel_name}"}
    return any(a in names for a in allowed)
