"""Which journey a trace belongs to.

A ``journey.name`` attribute (set by the entry service or carried as W3C baggage) wins,
because the service that knows it is the best judge; otherwise the root span is matched
against each journey's root service and operation pattern, in config order.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.config import AppConfig
from bot.telemetry.assembly import TraceAssembly
from correlators.model import Span, Trace, root_of


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


def assemble_traces(spans: list[Span], config: AppConfig) -> list[Trace]:
    """Spans of files grouped into traces, each with its journey (the config's match, else
    its entry point) and its session and user (``bot.telemetry.assembly``)."""
    return TraceAssembly(JourneyMatcher(config), entry_point_journeys=True).traces(spans)
