"""Prometheus as the source of SLIs, exemplars and service metrics.

Each source asks :class:`~bot.sources.prometheus_api.PrometheusClient`, whose every
failure is a :class:`~correlators.errors.DataSourceError` naming ``prometheus <url>`` and
the PromQL, so the investigation can say which signal is missing and why.

Exemplars need Prometheus started with ``--enable-feature=exemplar-storage`` and targets
scraped in the OpenMetrics format; without them the exemplar API answers with nothing.
A histogram keeps one exemplar per bucket series at a time, so exemplars are a sample of
the bad requests, not all of them. The PromQL itself is built in :mod:`bot.sources.promql`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import SecretStr

from bot.config import Journey
from bot.slo.config import PrometheusSli, SliConfig
from bot.sources import promql
from bot.sources.base import EventCounts, Exemplar, SliQuery
from bot.sources.config import PrometheusConfig
from bot.sources.prometheus_api import PrometheusClient, RangeSeries, SeriesExemplar
from correlators.errors import DataSourceError
from correlators.model import MetricPoint, MetricSeries

__all__ = [
    "PrometheusClient",
    "PrometheusExemplarSource",
    "PrometheusMetricSource",
    "PrometheusSliSource",
    "PrometheusSources",
    "build_prometheus_sources",
]

S = 1_000_000_000
TRACE_ID_LABELS = ("trace_id", "traceID", "trace.id")
"""Exemplar labels that carry the trace id: prometheus_client and OpenTelemetry SDKs write
``trace_id``, Grafana Agent/Tempo ``traceID``, some OTLP bridges ``trace.id``."""


# --- SLIs ---------------------------------------------------------------------------------


class _JourneySlis:
    """The PromQL of each journey objective, shared by the SLI and exemplar sources."""

    name = "prometheus"

    def __init__(
        self, client: PrometheusClient, slis: Mapping[str, SliConfig], timeout_s: float | None = None
    ) -> None:
        self.client = client
        self.slis = dict(slis)
        self.timeout_s = timeout_s

    def _sli(self, query: SliQuery) -> PrometheusSli:
        config = self.slis.get(query.journey)
        sli: PrometheusSli | None = getattr(config, query.objective, None) if config else None
        if sli is None:
            raise DataSourceError(
                self.client.source,
                f"sli.{query.objective} of journey {query.journey}",
                "the journey has no Prometheus SLI for this objective",
            )
        return sli

    def _threshold(self, query: SliQuery, sli: PrometheusSli) -> float:
        """The latency threshold in the histogram's own unit: its ``le`` bound."""
        if query.latency_threshold_ms is None:
            raise DataSourceError(
                self.client.source, f"sli.latency of journey {query.journey}", "no latency threshold given"
            )
        ms = query.latency_threshold_ms
        return ms / 1000 if sli.histogram_unit == "s" else ms

    def _value(self, promql_text: str, end_s: int) -> float | None:
        """Sum of the answer's samples; None when Prometheus has no series at all."""
        samples = self.client.instant(promql_text, end_s, self.timeout_s)
        values = [s.value for s in samples if not math.isnan(s.value)]
        return sum(values) if samples else None


class PrometheusSliSource(_JourneySlis):
    """Event counts from PromQL, one instant query per count and window, at ``end_s``.

    ``increase()`` extrapolates to the window's edges, so counts are not whole numbers;
    ``bad`` is kept within ``[0, total]`` so that burn rates stay meaningful.
    """

    def counts(self, query: SliQuery, end_s: int, windows_s: Sequence[int]) -> dict[int, EventCounts]:
        sli = self._sli(query)
        return {w: self._counts(query, sli, end_s, promql.duration(w)) for w in windows_s}

    def _counts(self, query: SliQuery, sli: PrometheusSli, end_s: int, window: str) -> EventCounts:
        if sli.histogram is None:
            assert sli.total is not None  # PrometheusSli validates the form
            total = self._value(promql.fill(sli.total, window=window), end_s) or 0.0
            if sli.bad is not None:
                bad = self._value(promql.fill(sli.bad, window=window), end_s) or 0.0
            else:
                bad = total - (self._value(promql.fill(sli.good or "", window=window), end_s) or 0.0)
            return _clamped(total, bad)
        counted = promql.histogram_count(sli.histogram, promql.selector(sli.requests), window)
        total_value = self._value(counted, end_s)
        total = total_value or 0.0
        if query.objective == "availability":
            matchers = promql.selector(sli.requests, sli.errors)
            bad = self._value(promql.histogram_count(sli.histogram, matchers, window), end_s) or 0.0
            return _clamped(total, bad)
        threshold = self._threshold(query, sli)
        matchers = promql.selector(sli.requests, promql.le_matcher(threshold))
        within = promql.histogram_bucket(sli.histogram, matchers, window)
        good = self._value(within, end_s)
        if good is None and total_value is not None:
            raise DataSourceError(
                self.client.source,
                within,
                f"{sli.histogram} has no bucket le={promql.go_float(threshold)} "
                f"({query.latency_threshold_ms:g} ms in {_UNIT_NAMES[sli.histogram_unit]}): the "
                "latency threshold must be one of the histogram's bucket bounds",
            )
        return _clamped(total, total - (good or 0.0))


def _clamped(total: float, bad: float) -> EventCounts:
    total = max(0.0, total)
    return EventCounts(total, min(max(0.0, bad), total))


# --- exemplars ----------------------------------------------------------------------------


class PrometheusExemplarSource(_JourneySlis):
    """Trace ids of the exemplars on the series that count a journey's bad requests."""

    def exemplars(self, query: SliQuery, start_ns: int, end_ns: int, limit: int) -> list[Exemplar]:
        sli = self._sli(query)
        threshold: float | None = None
        if sli.histogram is None:
            if sli.bad is None:
                raise DataSourceError(
                    self.client.source,
                    sli.good or "",
                    "the objective is given as total and good: no PromQL selects its bad requests",
                )
            text = promql.fill(sli.bad, window=promql.duration(max(1, (end_ns - start_ns) // S)))
        elif query.objective == "availability":
            text = f"{sli.histogram}_bucket{promql.selector(sli.requests, sli.errors)}"
        else:
            threshold = self._threshold(query, sli)
            text = f"{sli.histogram}_bucket{promql.selector(sli.requests)}"
        found = self.client.exemplars(text, start_ns / S, end_ns / S, self.timeout_s)
        wanted = (
            e for e in found if start_ns <= e.time_ns < end_ns and (threshold is None or _above(e, threshold))
        )
        per_second = 1000.0 if sli.histogram is not None and sli.histogram_unit == "ms" else 1.0
        return _newest_unique(wanted, limit, per_second)


_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds"}


def _above(exemplar: SeriesExemplar, threshold: float) -> bool:
    """Over the threshold (in the histogram's unit): in a bucket above it, and (the bucket
    is coarse) by its own value."""
    try:
        bound = float(exemplar.series.get("le", "+Inf"))
    except ValueError:
        return False
    return bound > threshold and exemplar.value > threshold


def _newest_unique(found: Iterable[SeriesExemplar], limit: int, per_second: float = 1.0) -> list[Exemplar]:
    """The newest exemplar of each trace, its value in seconds (``per_second``: the
    histogram's units in a second)."""
    seen: set[str] = set()
    out: list[Exemplar] = []
    for e in sorted(found, key=lambda e: e.time_ns, reverse=True):
        trace_id = next((e.labels[k] for k in TRACE_ID_LABELS if e.labels.get(k)), None)
        if trace_id and trace_id not in seen:
            seen.add(trace_id)
            out.append(Exemplar(trace_id, e.time_ns, e.value / per_second))
            if len(out) >= limit:
                break
    return out


# --- service metrics ----------------------------------------------------------------------


class PrometheusMetricSource:
    """RED and saturation series per service, one range query per template and service.

    A template that matches nothing is normal (a Go service has no Python GC, a VM no
    container); NaN and infinite points (0/0 rates, quantiles in the +Inf bucket) are
    dropped. ``rate()`` looks back ``max(2 * step, min_range_s)`` so that each point
    spans at least two scrapes even at a one-minute scrape interval.
    """

    name = "prometheus"

    def __init__(
        self,
        client: PrometheusClient,
        *,
        queries: Mapping[str, str] | None = None,
        service_label: str = "service_name",
        timeout_s: float | None = None,
        min_range_s: int = 120,
    ) -> None:
        self.client = client
        self.queries = promql.service_queries(queries or {})
        self.service_label = service_label
        self.timeout_s = timeout_s
        self.min_range_s = min_range_s

    def service_metrics(
        self, services: Sequence[str], start_ns: int, end_ns: int, step_s: int
    ) -> list[MetricSeries]:
        values = {
            "label": self.service_label,
            "step": promql.duration(step_s),
            "range": promql.duration(max(2 * step_s, self.min_range_s)),
        }
        series: list[MetricSeries] = []
        for service in services:
            escaped = promql.quote(service)[1:-1]
            per_service = {
                "service": escaped,
                "match": promql.service_matcher(self.service_label, service),
                "job": promql.quote(promql.job_regex(service))[1:-1],
            }
            for name, template in self.queries.items():
                text = promql.fill(template, **per_service, **values)
                for found in self.client.range(text, start_ns / S, end_ns / S, step_s, self.timeout_s):
                    series.append(self._series(name, service, found, start_ns, end_ns))
        return series

    def _series(
        self, name: str, service: str, found: RangeSeries, start_ns: int, end_ns: int
    ) -> MetricSeries:
        labels = {k: v for k, v in found.labels.items() if k not in ("__name__", self.service_label)}
        labels["service.name"] = service
        points = [MetricPoint(t, v) for t, v in found.points if math.isfinite(v) and start_ns <= t < end_ns]
        return MetricSeries(name=name, labels=labels, points=points, unit=promql.unit_of(name))


# --- wiring -------------------------------------------------------------------------------


@dataclass
class PrometheusSources:
    client: PrometheusClient
    slis: PrometheusSliSource
    exemplars: PrometheusExemplarSource
    metrics: PrometheusMetricSource

    def close(self) -> None:
        self.client.close()


def build_prometheus_sources(
    config: PrometheusConfig,
    token: SecretStr | None,
    journeys: Iterable[Journey],
    timeout_s: float,
) -> PrometheusSources:
    """The three Prometheus sources over one client, for ``sources.prometheus`` and the
    journeys' ``sli`` sections; ``timeout_s`` is each call's (``watcher.source_timeout``)."""
    slis = {j.name: j.sli for j in journeys}
    client = PrometheusClient(config.url, token, timeout_s=timeout_s)
    return PrometheusSources(
        client=client,
        slis=PrometheusSliSource(client, slis, timeout_s),
        exemplars=PrometheusExemplarSource(client, slis, timeout_s),
        metrics=PrometheusMetricSource(
            client, queries=config.queries, service_label=config.service_label, timeout_s=timeout_s
        ),
    )
