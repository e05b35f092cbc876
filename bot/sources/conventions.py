"""What the names of the server-duration histograms people already have tell us.

Prometheus series from OpenTelemetry carry their unit in their name (the Collector's
Prometheus exporter and Prometheus' own OTLP receiver add ``_seconds`` or
``_milliseconds``), and each convention marks a failed request with a label of its own.
The PromQL templates (:mod:`bot.sources.promql`) and the SLI settings
(:class:`bot.slo.config.PrometheusSli`) both read them here, so a millisecond histogram's
``le`` is never a threshold in seconds, and no family's error label is guessed twice.

Pure data and string work: no imports from the rest of the bot, so the config layer can
use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Unit = Literal["s", "ms"]

HTTP_5XX = 'http_response_status_code=~"5.."'
"""HTTP semantic conventions since 1.20 (the stable ones)."""
OLD_HTTP_5XX = 'http_status_code=~"5.."'
"""HTTP semantic conventions before 1.20."""
GRPC_SERVER_ERRORS = 'rpc_grpc_status_code=~"2|4|12|13|14|15"'
"""The gRPC codes the RPC conventions call a server's error (UNKNOWN, DEADLINE_EXCEEDED,
UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS); NOT_FOUND and the like are the
client's."""
SPAN_ERROR = 'status_code="STATUS_CODE_ERROR"'
"""The spanmetrics connector's label for a span with an error status."""
SERVER_SPANS = 'span_kind="SPAN_KIND_SERVER"'
"""Spanmetrics count every span; a service's requests are its server spans."""


@dataclass(frozen=True)
class Family:
    """One server-duration histogram as Prometheus stores it (``<name>_bucket`` ...)."""

    name: str
    unit: Unit
    errors: str
    """Label matchers of a failed request."""
    requests: str = ""
    """Label matchers that keep the series counting requests served (for span metrics,
    server spans only)."""

    @property
    def to_ms(self) -> str:
        """The factor that turns the histogram's unit into milliseconds, as PromQL text."""
        return "1000" if self.unit == "s" else "1"


SERVER_FAMILIES: tuple[Family, ...] = (
    Family("http_server_request_duration_seconds", "s", HTTP_5XX),
    Family("http_server_duration_milliseconds", "ms", OLD_HTTP_5XX),
    Family("rpc_server_call_duration_seconds", "s", GRPC_SERVER_ERRORS),
    Family("rpc_server_duration_milliseconds", "ms", GRPC_SERVER_ERRORS),
    # the Collector's spanmetrics connector: namespace traces.span.metrics (v0.94 on),
    # traces.spanmetrics before it, none at first; unit ms unless configured otherwise
    Family("traces_span_metrics_duration_milliseconds", "ms", SPAN_ERROR, SERVER_SPANS),
    Family("traces_span_metrics_duration_seconds", "s", SPAN_ERROR, SERVER_SPANS),
    Family("traces_spanmetrics_duration_milliseconds", "ms", SPAN_ERROR, SERVER_SPANS),
    Family("duration_milliseconds", "ms", SPAN_ERROR, SERVER_SPANS),
)
"""Every family the RED templates read, in the order they are preferred: a service whose
SDK writes the stable HTTP histogram is read from it, even if span metrics exist too."""

_UNIT_SUFFIXES: tuple[tuple[str, Unit], ...] = (
    ("_seconds", "s"),
    ("_milliseconds", "ms"),
    ("_ms", "ms"),
)


def histogram_unit(histogram: str) -> Unit | None:
    """The unit a histogram's base name announces (``..._seconds``, ``..._milliseconds``,
    ``..._ms``), or None when it announces none."""
    return next((unit for suffix, unit in _UNIT_SUFFIXES if histogram.endswith(suffix)), None)


def request_matchers(histogram: str, selector: str) -> str:
    """Matchers a histogram SLI adds to its selector so that it counts requests served:
    server spans of span metrics, unless the selector already picks a span kind."""
    if _is_span_metrics(histogram) and "span_kind" not in selector:
        return SERVER_SPANS
    return ""


def _is_span_metrics(histogram: str) -> bool:
    known = next((f for f in SERVER_FAMILIES if f.name == histogram), None)
    return (
        known.errors == SPAN_ERROR if known else ("spanmetrics" in histogram or "span_metrics" in histogram)
    )


def error_matchers(histogram: str) -> str:
    """The label matchers of a failed request for a histogram, by its family: gRPC codes
    for ``rpc_server_*``, the span status for span metrics, the HTTP status otherwise."""
    known = next((f for f in SERVER_FAMILIES if f.name == histogram), None)
    if known is not None:
        return known.errors
    if histogram.startswith("rpc_server_"):
        return GRPC_SERVER_ERRORS
    if _is_span_metrics(histogram):
        return SPAN_ERROR
    if histogram.startswith("http_server_duration"):
        return OLD_HTTP_5XX
    return HTTP_5XX
