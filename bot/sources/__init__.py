"""Where each signal comes from, chosen by configuration (``sources:`` in journeys.yaml):
the built-in store by default; Prometheus, Elasticsearch/OpenSearch, Loki, Jaeger or Tempo when
a team already runs them. See ``bot.sources.base`` for the interfaces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.sources.base import ExemplarSource, LogSource, MetricSource, SliSource, TraceSource


@dataclass
class Sources:
    traces: TraceSource
    logs: LogSource
    metrics: MetricSource
    exemplars: ExemplarSource
    sli: SliSource
    """The built-in SLI source; journeys with ``sli.source: prometheus`` use ``sli_by_kind``."""
    sli_by_kind: dict[str, SliSource] = field(default_factory=dict)
    closers: list[Callable[[], None]] = field(default_factory=list)
    """Clients shared by several sources (one Prometheus client for three), closed once."""

    def sli_for(self, kind: str) -> SliSource:
        return self.sli_by_kind.get(kind, self.sli)

    def close(self) -> None:
        """Close the clients of external sources (the built-in ones hold nothing)."""
        every = [self.traces, self.logs, self.metrics, self.exemplars, self.sli, *self.sli_by_kind.values()]
        for source in {id(s): s for s in every}.values():
            close = getattr(source, "close", None)
            if callable(close):
                close()
        for closer in self.closers:
            closer()
