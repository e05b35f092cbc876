"""Where each signal comes from, chosen by configuration (``sources:`` in journeys.yaml):
the built-in store by default; Prometheus, Elasticsearch/OpenSearch, Jaeger or Tempo when
a team already runs them. See ``bot.sources.base`` for the interfaces."""

from __future__ import annotations

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

    def sli_for(self, kind: str) -> SliSource:
        return self.sli_by_kind.get(kind, self.sli)
