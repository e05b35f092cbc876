"""Sources from configuration: the built-in store for every signal unless ``sources:``
names a backend for it. External clients are imported only when configured, so the
embedded default never loads them."""

from __future__ import annotations

from bot.config import AppConfig
from bot.settings import Settings
from bot.sources import Sources
from bot.sources.base import LogSource, TraceSource
from bot.sources.builtin import (
    BuiltinExemplarSource,
    BuiltinLogSource,
    BuiltinMetricSource,
    BuiltinSliSource,
    BuiltinTraceSource,
)
from bot.sources.metric_sli import MetricSliSource
from bot.sources.redacted import RedactedLogSource, RedactedTraceSource
from bot.store import Store
from bot.telemetry.journeys import JourneyMatcher
from bot.telemetry.redact import Redactor


def build_sources(
    config: AppConfig, settings: Settings, store: Store, redactor: Redactor | None = None
) -> Sources:
    """``redactor``: the collector's, applied to the traces and logs other backends give
    (:mod:`bot.sources.redacted`); None where nothing read is kept or shown beyond the
    caller's own files."""
    traces = _traces(config, settings, store)
    logs = _logs(config, settings, store)
    if redactor is not None and config.sources.traces != "builtin":
        traces = RedactedTraceSource(traces, redactor)
    if redactor is not None and config.sources.logs != "builtin":
        logs = RedactedLogSource(logs, redactor)
    sources = Sources(
        traces=traces,
        logs=logs,
        metrics=BuiltinMetricSource(store),
        exemplars=BuiltinExemplarSource(store),
        sli=BuiltinSliSource(store),
    )
    metric_slis = {j.name: j.sli.metrics for j in config.journeys if j.sli.metrics is not None}
    if metric_slis:
        sources.sli_by_kind["metrics"] = MetricSliSource(
            store, metric_slis, keep_s=settings.retention.metric_points_hours * 3600
        )
    if _uses_prometheus(config):
        from bot.sources.prometheus import build_prometheus_sources

        prometheus = build_prometheus_sources(
            config.sources.prometheus,
            settings.sources.prometheus_token,
            config.journeys,
            float(config.watcher.source_timeout),
        )
        sources.closers.append(prometheus.close)
        sources.sli_by_kind["prometheus"] = prometheus.slis
        if config.sources.metrics == "prometheus":
            sources.metrics = prometheus.metrics
        if config.sources.exemplars == "prometheus":
            sources.exemplars = prometheus.exemplars
    return sources


def _uses_prometheus(config: AppConfig) -> bool:
    chosen = (config.sources.metrics, config.sources.exemplars)
    return "prometheus" in chosen or any(j.sli.source == "prometheus" for j in config.journeys)


def _traces(config: AppConfig, settings: Settings, store: Store) -> TraceSource:
    timeout = float(config.watcher.source_timeout)
    kind = config.sources.traces
    if kind == "jaeger":
        from bot.sources.jaeger import JaegerTraceSource

        return JaegerTraceSource(
            config.sources.jaeger, settings.sources, matcher=JourneyMatcher(config), timeout=timeout
        )
    if kind == "tempo":
        from bot.sources.tempo import TempoTraceSource

        attributes = {j.match.attribute for j in config.journeys}
        return TempoTraceSource(
            config.sources.tempo,
            settings.sources,
            matcher=JourneyMatcher(config),
            journey_attribute=attributes.pop() if len(attributes) == 1 else None,
            timeout=timeout,
        )
    return BuiltinTraceSource(store)


def _logs(config: AppConfig, settings: Settings, store: Store) -> LogSource:
    kind = config.sources.logs
    if kind == "loki":
        from bot.sources.loki import LokiLogSource

        return LokiLogSource(
            config.sources.loki, settings.sources, timeout=float(config.watcher.source_timeout)
        )
    if kind == "elasticsearch" or kind == "opensearch":
        from bot.sources.elasticsearch import ElasticsearchLogSource

        server = config.sources.opensearch if kind == "opensearch" else config.sources.elasticsearch
        return ElasticsearchLogSource(
            server, settings.sources, timeout=float(config.watcher.source_timeout), flavor=kind
        )
    return BuiltinLogSource(store)
