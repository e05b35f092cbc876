"""What a piece of evidence found, in figures: the edges (``bot.render.report``) word it,
so no sentence a person reads is built here.

One small dataclass per kind of finding, told apart by its ``finding`` field, so a stored
report reads each back as the kind it was. A kind not yet converted carries no figures,
only the sentence in its evidence's ``summary``; reports stored before figures existed
read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import Field


@dataclass(frozen=True, slots=True)
class CriticalPathGrowth:
    """An operation whose time on the critical path grew (``bottleneck``)."""

    operation: str
    delta_ms: float
    baseline_ms: float
    incident_ms: float
    share: float
    """Of all the critical-path time the incident added (0..1)."""
    finding: Literal["critical_path_growth"] = field(default="critical_path_growth", kw_only=True)


@dataclass(frozen=True, slots=True)
class SlowFromOneCaller:
    """A dependency slow only from one caller instance: that instance is slow."""

    instance: str
    dependency: str
    share: float
    """Of the dependency's added time, on that instance's calls (0..1)."""
    finding: Literal["slow_from_one_caller"] = field(default="slow_from_one_caller", kw_only=True)


@dataclass(frozen=True, slots=True)
class ErrorOrigins:
    """Failed traces whose error originated in the subject."""

    originated: int
    failed: int
    finding: Literal["error_origins"] = field(default="error_origins", kw_only=True)


@dataclass(frozen=True, slots=True)
class MetricMove:
    """A series of the subject that moved against its history (``metrics``)."""

    name: str
    instance: str | None
    """The instance the series is of, when it is not the service itself."""
    direction: str
    baseline_median: float
    incident_median: float
    score: float
    finding: Literal["metric_move"] = field(default="metric_move", kw_only=True)


@dataclass(frozen=True, slots=True)
class OverRepresented:
    """An attribute value (an instance) serving more of the bad traces than of the healthy
    ones, among those that reached the subject."""

    key: str
    value: str
    bad_share: float
    healthy_share: float
    finding: Literal["over_represented"] = field(default="over_represented", kw_only=True)


Figures = Annotated[
    CriticalPathGrowth | SlowFromOneCaller | ErrorOrigins | MetricMove | OverRepresented,
    Field(discriminator="finding"),
]
KNOWN_FINDINGS = frozenset(
    str(kind.__dataclass_fields__["finding"].default)
    for kind in (CriticalPathGrowth, SlowFromOneCaller, ErrorOrigins, MetricMove, OverRepresented)
)
"""The ``finding`` of each kind this release knows."""
