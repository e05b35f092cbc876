"""Spans made into traces: the one way every reader of spans does it.

The collector's sampler, the store, the Jaeger and Tempo sources and the file reader all
receive spans and hand out :class:`~correlators.model.Trace` objects. Each used to do it
itself, and they drifted: Jaeger and Tempo marked orphans, the file reader did not; the
store trusted flags written when the trace was decided, before a late parent could arrive.
Here it is done once, in one order: the spans of a trace as they were given (the store
gives them by start, a backend as it answers), orphans marked (a parent named but not
among them), then what was decided about the trace where it was kept (the store's trace
row: journey, session, user, sampling) or, where nothing was, what the spans say (the
journey matcher, the session and user attributes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from correlators.model import Span, Trace, root_of

SESSION_KEYS = ("session.id",)
USER_KEYS = ("enduser.id",)


class JourneyOf(Protocol):
    """What names a trace's journey from its spans (``bot.telemetry.journeys.JourneyMatcher``,
    which needs the config: the store, and the writer process with it, assemble without)."""

    def journey_of(self, spans: Sequence[Span]) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Kept:
    """What the collector decided about a trace when it kept it (the store's trace row).
    It wins over what the stored spans would say: the journey was matched on every span
    the collector saw, and the sampling weight cannot be read from spans at all."""

    journey: str | None
    session_id: str | None
    user_id: str | None
    sampling_weight: float = 1.0
    sampling_reason: str | None = None


class TraceAssembly:
    """Traces of spans, with their journey by ``matcher`` (none without one).

    ``entry_point_journeys``: a trace no journey matches is named by its entry point
    (``frontend GET /x``), as `journeywatch analyze` wants before anyone has written a
    journeys file; elsewhere such a trace has no journey.
    """

    def __init__(self, matcher: JourneyOf | None = None, *, entry_point_journeys: bool = False) -> None:
        self._matcher = matcher
        self._entry_points = entry_point_journeys

    def trace(self, trace_id: str, spans: list[Span], kept: Kept | None = None) -> Trace:
        """One trace of ``spans`` (all of ``trace_id``), which are marked, not copied."""
        mark_orphans(spans)
        if kept is not None:
            return Trace(
                trace_id,
                spans,
                kept.journey,
                kept.session_id,
                kept.user_id,
                kept.sampling_weight,
                kept.sampling_reason,
            )
        session_id, user_id = session_of(spans)
        return Trace(trace_id, spans, self.journey_of(spans), session_id, user_id)

    def traces(self, spans: Iterable[Span]) -> list[Trace]:
        """Spans of any traces grouped by trace id, traces in the order first seen."""
        grouped: dict[str, list[Span]] = {}
        for span in spans:
            members = grouped.get(span.trace_id)
            if members is None:
                grouped[span.trace_id] = [span]
            else:
                members.append(span)
        return [self.trace(trace_id, members) for trace_id, members in grouped.items()]

    def journey_of(self, spans: list[Span]) -> str | None:
        found = self._matcher.journey_of(spans) if self._matcher is not None else None
        if found is None and self._entry_points:
            root = root_of(spans)
            return f"{root.service} {root.name}" if root else None
        return found


def mark_orphans(spans: list[Span]) -> None:
    """A span whose parent is named but not among ``spans`` is an orphan: kept, since a
    service that breaks propagation is itself a finding; one whose parent is there is not,
    whatever an earlier, smaller set of its trace's spans said."""
    ids = {span.span_id for span in spans}
    for span in spans:
        parent = span.parent_span_id
        span.orphan = parent is not None and parent not in ids


def session_of(spans: Sequence[Span]) -> tuple[str | None, str | None]:
    """(session id, user id) from the spans, root span first."""
    root = root_of(spans)
    ordered = [root, *spans] if root is not None else list(spans)
    return _first(ordered, SESSION_KEYS), _first(ordered, USER_KEYS)


def _first(spans: Sequence[Span], keys: Sequence[str]) -> str | None:
    for span in spans:
        for key in keys:
            value = span.attribute(key)
            if value not in (None, ""):
                return str(value)
    return None
