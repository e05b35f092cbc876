"""Why a scope is what it is, in figures: the edges (``bot.render.report``) word each
ground, so the verdict's reasons read the same in Slack, on the pages and in the CLI and no
sentence is built here.

One small dataclass per kind of ground, told apart by its ``ground`` field, as the
evidence's findings are (``correlators.findings``). A report stored before grounds existed
has its reasons as sentences only (``Scope.reasons``), and reads so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import Field


@dataclass(frozen=True, slots=True)
class ServiceRates:
    """A service's share of spans gone wrong inside a group (a zone, a flag value, a new
    version) against outside it."""

    service: str
    inside: float
    outside: float


@dataclass(frozen=True, slots=True)
class Surge:
    """The journey's entry services got ``ratio`` times their baseline rate."""

    ratio: float
    counted: Literal["requests", "kept_traces"]
    """What was counted: requests (metrics), or the traces a sampler kept (none)."""
    ground: Literal["surge"] = field(default="surge", kw_only=True)


@dataclass(frozen=True, slots=True)
class ZoneWentWrong:
    """Services that run in several zones went wrong far more in ``zone``."""

    zone: str
    eligible: int
    """Services seen in more than one zone."""
    rates: list[ServiceRates]
    ground: Literal["zone_went_wrong"] = field(default="zone_went_wrong", kw_only=True)


@dataclass(frozen=True, slots=True)
class EdgeTimes:
    """The median time of a service edge's calls outside their callee, before and now."""

    caller: str
    callee: str
    before_ms: float
    now_ms: float


@dataclass(frozen=True, slots=True)
class EdgesSlower:
    """Calls got slower outside their callee on ``grown`` of ``measured`` service edges."""

    grown: int
    measured: int
    slowest: list[EdgeTimes]
    """The edges that grew most, up to three."""
    ground: Literal["edges_slower"] = field(default="edges_slower", kw_only=True)


@dataclass(frozen=True, slots=True)
class CallsUnanswered:
    """``failed`` of ``origins`` failures started in a call nothing answered, spread over
    many callers and callees."""

    failed: int
    origins: int
    counted: Literal["requests", "log_lines"]
    """What a failure is: a failed request (traces) or a new error log line."""
    callers: int
    callees: int
    ground: Literal["calls_unanswered"] = field(default="calls_unanswered", kw_only=True)


@dataclass(frozen=True, slots=True)
class VersionRates:
    """A service's spans gone wrong on its new version against on the old one."""

    service: str
    version: str
    inside: float
    outside: float


@dataclass(frozen=True, slots=True)
class NewVersionsWentWrong:
    """Spans went wrong on versions the baseline never ran."""

    services: list[VersionRates]
    ground: Literal["new_versions_went_wrong"] = field(default="new_versions_went_wrong", kw_only=True)


@dataclass(frozen=True, slots=True)
class OnlyOneRelease:
    """Of the new versions, only ``service``'s went wrong: the service, not a release."""

    service: str
    ground: Literal["only_one_release"] = field(default="only_one_release", kw_only=True)


@dataclass(frozen=True, slots=True)
class FlagOn:
    """A flag value on far more of the bad requests than of the healthy ones."""

    key: str
    value: str
    bad_share: float
    healthy_share: float
    ground: Literal["flag_on"] = field(default="flag_on", kw_only=True)


@dataclass(frozen=True, slots=True)
class WrongWithFlag:
    """Services whose spans went wrong with the flag on, against without."""

    rates: list[ServiceRates]
    ground: Literal["wrong_with_flag"] = field(default="wrong_with_flag", kw_only=True)


@dataclass(frozen=True, slots=True)
class TopDependency:
    """The top candidate is a dependency; ``callers`` are the services that call it."""

    dependency: str
    callers: list[str]
    ground: Literal["top_dependency"] = field(default="top_dependency", kw_only=True)


@dataclass(frozen=True, slots=True)
class InstanceWentWrong:
    """One instance's own spans went wrong far more than its siblings'."""

    instance: str
    inside: float
    outside: float
    siblings: int
    ground: Literal["instance_went_wrong"] = field(default="instance_went_wrong", kw_only=True)


@dataclass(frozen=True, slots=True)
class EveryInstance:
    """The top candidate is a service, and no one instance of it stands out."""

    service: str
    ground: Literal["every_instance"] = field(default="every_instance", kw_only=True)


@dataclass(frozen=True, slots=True)
class NothingStoodOut:
    """No candidate scored above nothing."""

    ground: Literal["nothing_stood_out"] = field(default="nothing_stood_out", kw_only=True)


Ground = Annotated[
    Surge
    | ZoneWentWrong
    | EdgesSlower
    | CallsUnanswered
    | NewVersionsWentWrong
    | OnlyOneRelease
    | FlagOn
    | WrongWithFlag
    | TopDependency
    | InstanceWentWrong
    | EveryInstance
    | NothingStoodOut,
    Field(discriminator="ground"),
]
KNOWN_GROUNDS = frozenset(
    str(kind.__dataclass_fields__["ground"].default)
    for kind in (
        Surge,
        ZoneWentWrong,
        EdgesSlower,
        CallsUnanswered,
        NewVersionsWentWrong,
        OnlyOneRelease,
        FlagOn,
        WrongWithFlag,
        TopDependency,
        InstanceWentWrong,
        EveryInstance,
        NothingStoodOut,
    )
)
"""The ``ground`` of each kind this release knows."""
