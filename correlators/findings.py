"""What a piece of evidence found, in figures: the edges (``bot.render.report``) word it,
so no sentence a person reads is built here.

One small dataclass per kind of finding, told apart by its ``finding`` field, so a stored
report reads each back as the kind it was. Reports stored before figures existed carry
only the sentence in each evidence's ``summary``, and read so.
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


@dataclass(frozen=True, slots=True)
class ErrorLines:
    """The subject writes an error log template that is new or surging (``logs``)."""

    kind: str
    """"new" or "surging"."""
    lines: int
    """Lines of the template in the incident window."""
    rate_ratio: float | None
    """Incident rate over baseline rate; None for a new template."""
    sample: str
    relays: str | None = None
    """The callee whose error the line only relays (then it weighs nothing for the subject)."""
    finding: Literal["error_lines"] = field(default="error_lines", kw_only=True)


@dataclass(frozen=True, slots=True)
class NamedBehind:
    """A relayed error line of ``writer`` names ``named``, a failed callee of ``relayed``:
    the evidence is the subject's, ``named`` or the node below it where failures started."""

    writer: str
    lines: int
    named: str
    relayed: str
    sample: str
    finding: Literal["named_behind"] = field(default="named_behind", kw_only=True)


@dataclass(frozen=True, slots=True)
class PathEnds:
    """Spans of one kind now end right after a call (or now call nothing) far more often
    than they used to (``paths``); the subject is who decided it."""

    service: str
    operation: str
    after: str | None
    """The call after which they now end; None for "they call nothing"."""
    share_now: float
    share_before: float
    finding: Literal["path_ends"] = field(default="path_ends", kw_only=True)


@dataclass(frozen=True, slots=True)
class LineStopped:
    """An operation of the subject stopped doing what its calls did on nearly every call
    (``silenced``): writing a line, writing any line, writing two lines as often as each
    other. It took another path through its own code."""

    operation: str
    wrote_before: int
    """Baseline calls on which the regularity held."""
    calls_before: int
    calls_now: int
    sample: str
    broke: str = "line"
    """line | any line | in step"""
    paired_sample: str = ""
    """For "in step": the line the sample was written as often as."""
    caller: str | None = None
    """The calling operation, when only the calls from it broke the regularity."""
    finding: Literal["line_stopped"] = field(default="line_stopped", kw_only=True)


@dataclass(frozen=True, slots=True)
class ChangedBefore:
    """A change of the subject (a deploy, a config change, a flag flip) before the burn
    (``changes``)."""

    kind: str
    version: str | None
    minutes_before: float
    rank: int | None
    """The subject's rank among the candidates."""
    finding: Literal["changed_before"] = field(default="changed_before", kw_only=True)


Figures = Annotated[
    CriticalPathGrowth
    | SlowFromOneCaller
    | ErrorOrigins
    | MetricMove
    | OverRepresented
    | ErrorLines
    | NamedBehind
    | PathEnds
    | LineStopped
    | ChangedBefore,
    Field(discriminator="finding"),
]
KNOWN_FINDINGS = frozenset(
    str(kind.__dataclass_fields__["finding"].default)
    for kind in (
        CriticalPathGrowth,
        SlowFromOneCaller,
        ErrorOrigins,
        MetricMove,
        OverRepresented,
        ErrorLines,
        NamedBehind,
        PathEnds,
        LineStopped,
        ChangedBefore,
    )
)
"""The ``finding`` of each kind this release knows."""
