"""Who may read and do what: one set of decisions for the API, the pages and Slack.

Pure: a :class:`Principal` and a journey in, yes or no out; no request, no database, no
Slack. Each edge works out its principal its own way (the API token or an access key for
the API and the pages, ``bot.keys.readers``; a Slack user's user-group rule for Slack,
``bot.slack.access``) and asks the same questions here, so a viewer of checkout reads the
same incidents through ``GET /api/incidents``, ``/incidents`` and ``/journeywatch
incidents``.

Roles are ordered, each holding what the one below holds:

* viewer: read the incidents, traces, sessions, investigations and journeys in scope;
* responder: and act on incidents in scope (acknowledge, resolve, mute, grade,
  re-investigate) and start investigations of journeys in scope;
* admin: every journey, and the audit page and keys.

Reading what belongs to no journey (a trace none matched, the quarantine) and posting
changes (of services, which serve every journey) take a principal of every journey.

A scope is a set of journeys (those its team owns in journeys.yaml, and any it names);
None is every journey, and only such a principal reads what belongs to none (a trace no
journey matched, the quarantine), since nothing says whose it is. An edge answers a read
out of scope as it answers a read of nothing (404), so ids do not tell what exists.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class Role(enum.IntEnum):
    VIEWER = 1
    RESPONDER = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


ROLE_NAMES = tuple(role.label for role in Role)


def role_named(name: str) -> Role | None:
    """The role of a name as keys and settings spell it (``viewer``), None for another."""
    return next((role for role in Role if role.label == name), None)


@dataclass(frozen=True, slots=True)
class Principal:
    """Whoever a read or an action comes from."""

    actor: str
    """As the audit trail names it: ``api-token``, ``key:<id>``, a Slack user id, ``anonymous``."""
    role: Role
    journeys: frozenset[str] | None = None
    """The journeys it may see; None for every one (and what belongs to none)."""

    @property
    def unscoped(self) -> bool:
        return self.journeys is None


def may_read(principal: Principal, journey: str | None) -> bool:
    """An incident, trace, session trace, investigation or journey of ``journey`` (None:
    of no journey)."""
    if principal.journeys is None:
        return True
    return journey is not None and journey in principal.journeys


def may_act(principal: Principal, journey: str | None) -> bool:
    """Acknowledge, resolve, mute, grade or re-investigate an incident of ``journey``,
    or investigate the journey."""
    return principal.role >= Role.RESPONDER and may_read(principal, journey)


def may_post_changes(principal: Principal) -> bool:
    """A deploy or flag flip is of services, which serve every journey: a responder of
    every journey's (and ingest keys with the ``changes`` scope, ``bot.keys``)."""
    return principal.role >= Role.RESPONDER and principal.unscoped


def may_administer(principal: Principal) -> bool:
    """The audit page, the quarantine's raw rows, keys and changes: an admin's, who
    reads every journey."""
    return principal.role is Role.ADMIN and principal.unscoped


def readable(principal: Principal, journeys: Iterable[str]) -> list[str]:
    """Those of ``journeys`` in scope, in their order: the filter of every list."""
    return [name for name in journeys if may_read(principal, name)]


def scope_of(
    owners: Mapping[str, str | None], teams: Iterable[str], journeys: Iterable[str]
) -> frozenset[str]:
    """The journeys ``teams`` own (``owner`` in journeys.yaml, by ``owners``: journey ->
    owner) and those named in ``journeys``. A named journey need not be configured yet:
    traces keep the journey name they were stored under."""
    wanted = frozenset(teams)
    return frozenset(name for name, owner in owners.items() if owner in wanted) | frozenset(journeys)
