"""``sources:`` in journeys.yaml: which backend answers for each signal, and how to reach it.

Everything a team edits by hand is here (URLs, index patterns, field maps, PromQL
templates); credentials are not: they come from the environment (``bot.settings``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrometheusConfig(_Strict):
    url: str = "http://127.0.0.1:9090"
    queries: dict[str, str] = {}
    """Extra or replacement PromQL templates for service metrics, by series name;
    ``{match}`` (the service's matcher), ``{service}``, ``{label}``, ``{range}`` and
    ``{step}`` are filled in. See ``bot.sources.promql``."""
    service_label: str = Field(default="service_name", pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")
    """The label that names the service in the RED and runtime metrics: ``service_name``
    where ``service.name`` became a label (span metrics, Prometheus' own OTLP receiver,
    the Collector's exporter with ``resource_to_telemetry_conversion``), or ``job``, which
    the Collector's Prometheus exporter sets by default (``<namespace>/<name>`` with a
    service namespace, which is matched too) and which needs ``honor_labels: true`` in
    the scrape config to survive the scrape."""


class ElasticsearchConfig(_Strict):
    url: str = "http://127.0.0.1:9200"
    index: str = "logs-*"
    mapping: Literal["ecs", "otel"] = "ecs"
    """The documents' field names: ``ecs`` (trace.id, span.id, service.name, log.level,
    message, @timestamp), or ``otel``, what the OpenTelemetry Collector's elasticsearch
    exporter writes in its default mapping mode (trace_id, body.text,
    resource.attributes.service.name, ...)."""
    fields: dict[str, str] = {}
    """Model field -> document field, renames on top of ``mapping``."""
    max_logs: int = Field(default=2000, gt=0)


_LABEL = r"^[a-zA-Z_][a-zA-Z0-9_]*$"


class LokiConfig(_Strict):
    url: str = "http://127.0.0.1:3100"
    tenant: str | None = None
    """Sent as ``X-Scope-OrgID`` (``a|b`` reads several tenants): a multi-tenant Loki
    answers 401 "no org id" without it."""
    service_label: str = Field(default="service_name", pattern=_LABEL)
    """The stream label that names the service: ``service_name`` is what Loki makes of
    OTLP's ``service.name`` (and what it derives for other senders); ``app``, ``job`` or
    ``container`` for Promtail/Alloy streams labelled otherwise."""
    instance_label: str = Field(default="service_instance_id", pattern=_LABEL)
    """The label of the instance; ``pod`` and ``host_name`` are read when it is absent."""
    trace_id_label: str = Field(default="trace_id", pattern=_LABEL)
    """Where a line's trace id is: structured metadata (Loki's OTLP ingest writes
    ``trace_id``) or a stream label of that name, filtered as ``| trace_id=~"..."``."""
    trace_selector: str = Field(default='{service_name=~".+"}', pattern=r"^\{.*\}$")
    """The streams a search by trace id reads (LogQL needs a stream selector that is not
    empty); narrow it (``{namespace="shop"}``) on a large Loki."""
    line_filter_fallback: bool = True
    """When the trace id filter finds nothing, search the lines' text for the ids
    (``|~ "id1|id2"``): loggers that print the id in the message but never set it as
    metadata. Costs a second, slower query for traces that wrote no logs."""
    max_logs: int = Field(default=2000, gt=0, le=5000)
    """Lines read per call; 5,000 is Loki's default ``max_entries_limit_per_query``."""
    max_response_bytes: int = Field(default=32 * 1024 * 1024, ge=64 * 1024)
    """An answer longer than this is given up with an error (long lines times
    ``max_logs`` could otherwise fill the bot's memory)."""


class JaegerConfig(_Strict):
    url: str = "http://127.0.0.1:16686"


class TempoConfig(_Strict):
    url: str = "http://127.0.0.1:3200"
    tenant: str | None = None
    """Sent as ``X-Scope-OrgID``: a multi-tenant Tempo answers 401 "no org id" without it."""


class SourcesConfig(_Strict):
    traces: Literal["builtin", "jaeger", "tempo"] = "builtin"
    logs: Literal["builtin", "elasticsearch", "opensearch", "loki"] = "builtin"
    metrics: Literal["builtin", "prometheus"] = "builtin"
    exemplars: Literal["builtin", "prometheus"] = "builtin"
    prometheus: PrometheusConfig = PrometheusConfig()
    elasticsearch: ElasticsearchConfig = ElasticsearchConfig()
    opensearch: ElasticsearchConfig = ElasticsearchConfig()
    """The same settings for an OpenSearch cluster (its own client; see bot.sources.search_wire)."""
    loki: LokiConfig = LokiConfig()
    jaeger: JaegerConfig = JaegerConfig()
    tempo: TempoConfig = TempoConfig()
