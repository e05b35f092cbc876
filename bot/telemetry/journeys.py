"""Which journey a trace belongs to, and which session and user it came from.

A ``journey.name`` attribute (set by the entry service or carried as W3C baggage) wins,
because the service that knows it is the best judge; otherwise the root span is matched
against each journey's root service and operation pattern, in config order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from bot.config import AppConfig
from correlators.model import Span, Trace, root_of

SESSION_KEYS = ("session.id",)
USER_KEYS = ("enduser.id",)


class JourneyMatcher:
    def __init__(self, config: AppConfig) -> None:
        self._journeys = config.journeys
        self._names = {j.name for j in config.journeys}
        self._attribute_keys = sorted({j.match.attribute for j in config.journeys})

    def journey_of(self, spans: Sequence[Span]) -> str | None:
        for span in spans:
            for key in self._attribute_keys:
                value = span.attribute(key)
                if isinstance(value, str) and value in self._names:
                    return value
        root = root_of(spans)
        if root is None:
            return None
        route = root.attributes.get("http.route")
        route_text = route if isinstance(route, str) else None
        for journey in self._journeys:
            if journey.match.matches_root(root.service, root.name, route_text):
                return journey.name
        return None


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


def assemble_traces(spans: list[Span], config: AppConfig) -> list[Trace]:
    """Spans grouped into traces, each with its journey (the config's match, else its root
    operation's name) and its session and user."""
    matcher = JourneyMatcher(config)
    grouped: defaultdict[str, list[Span]] = defaultdict(list)
    for span in spans:
        grouped[span.trace_id].append(span)
    traces = []
    for trace_id, members in grouped.items():
        session_id, user_id = session_of(members)
        traces.append(Trace(trace_id, members, _journey(matcher, members), session_id, user_id))
    return traces


def _journey(matcher: JourneyMatcher, spans: list[Span]) -> str | None:
    found = matcher.journey_of(spans)
    if found is not None:
        return found
    root = root_of(spans)
    return f"{root.service} {root.name}" if root else None
