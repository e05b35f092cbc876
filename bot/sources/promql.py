"""PromQL text for the Prometheus source: SLI queries, service-metric templates, formatting.

Pure string work, apart from the network, so every query the source sends can be read
(and tested) on its own. Templates use named placeholders (``{window}``, ``{service}``,
``{label}``, ``{step}``, ``{range}``) that are replaced by name only: PromQL's own braces
(``metric{job="x"}``) stay as written, so a template in journeys.yaml reads like the
PromQL a team already has in its dashboards.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from bot.durations import format_duration

_PLACEHOLDER = re.compile(r"\{(window|service|label|step|range)\}")


def fill(template: str, **values: str) -> str:
    """Replace the named placeholders that ``values`` gives; other braces are PromQL."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def duration(seconds: int) -> str:
    """A window as a Prometheus duration: 300 -> ``5m``, 5400 -> ``1h30m``, 259200 -> ``3d``."""
    return format_duration(int(seconds))


def quote(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def go_float(value: float) -> str:
    """A bucket bound as prometheus_client writes ``le`` (1 -> ``1.0``, 0.8 -> ``0.8``).

    Python's ``repr``, except that Go switches to exponent form from 1e+06 on.
    """
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(float(value))
    dot = text.find(".")
    if value > 0 and dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+0{dot - 1}"
    return text


def le_matcher(bound: float) -> str:
    """``le`` matching the bound however the exporter spelled it.

    prometheus_client writes ``1.0`` where the Go client and the OpenTelemetry Collector
    write ``1``; Prometheus 2 keeps the label as scraped, so both spellings are accepted.
    """
    python = go_float(bound)
    go = python[:-2] if python.endswith(".0") else python
    if go == python:
        return f"le={quote(python)}"
    return f"le=~{quote(re.escape(go) + '|' + re.escape(python))}"


def selector(*matchers: str) -> str:
    """``{a,b}`` from the non-empty matcher lists given, or nothing when all are empty."""
    parts = [m.strip().strip(",") for m in matchers if m and m.strip().strip(",")]
    return "{" + ",".join(parts) + "}" if parts else ""


def histogram_count(histogram: str, matchers: str, window: str) -> str:
    return f"sum(increase({histogram}_count{matchers}[{window}]))"


def histogram_bucket(histogram: str, matchers: str, window: str) -> str:
    return f"sum(increase({histogram}_bucket{matchers}[{window}]))"


# --- service metrics ----------------------------------------------------------------------

_SVC = '{label}="{service}"'
_JOB = 'job="{service}"'
_NEW = "http_server_request_duration_seconds"
"""OpenTelemetry HTTP semantic conventions (stable, 2023 on): seconds, http_response_status_code."""
_OLD = "http_server_duration_milliseconds"
"""The semantic conventions before 1.20: milliseconds, http_status_code."""


def _rate(metric: str, matchers: str, by: str = "instance") -> str:
    return f"sum by ({by}) (rate({metric}{{{matchers}}}[{{range}}]))"


def _either(metric: str, by: str = "instance") -> str:
    """The metric labelled by the configured service label, or else by the scrape job
    (classic exporters such as prometheus_client's process collector only have ``job``)."""
    return f"{_rate(metric, _SVC, by)} or {_rate(metric, _JOB, by)}"


_REQUESTS = f"{_rate(_NEW + '_count', _SVC)} or {_rate(_OLD + '_count', _SVC)}"
_NEW_5XX = _SVC + ',http_response_status_code=~"5.."'
_OLD_5XX = _SVC + ',http_status_code=~"5.."'

DEFAULT_QUERIES: dict[str, str] = {
    # RED, from whichever HTTP server histogram the service's SDK writes.
    "requests_per_s": _REQUESTS,
    "errors_per_s": (
        f"{_rate(_NEW + '_count', _NEW_5XX)} or {_rate(_OLD + '_count', _OLD_5XX)}"
        # a service that serves but has no 5xx series yet has 0 errors, not no data
        f" or 0 * ({_REQUESTS})"
    ),
    "duration_mean_ms": (
        f"1000 * {_rate(_NEW + '_sum', _SVC)} / {_rate(_NEW + '_count', _SVC)}"
        f" or {_rate(_OLD + '_sum', _SVC)} / {_rate(_OLD + '_count', _SVC)}"
    ),
    "duration_p95_ms": (
        f"1000 * histogram_quantile(0.95, {_rate(_NEW + '_bucket', _SVC, 'instance, le')})"
        f" or histogram_quantile(0.95, {_rate(_OLD + '_bucket', _SVC, 'instance, le')})"
    ),
    # Saturation, from the exporters most services already have.
    "cpu_cores": _either("process_cpu_seconds_total"),
    "memory_rss_bytes": (
        f"sum by (instance) (process_resident_memory_bytes{{{_SVC}}})"
        f" or sum by (instance) (process_resident_memory_bytes{{{_JOB}}})"
    ),
    "container_cpu_cores": _rate("container_cpu_usage_seconds_total", 'container="{service}"', "pod"),
    "container_memory_bytes": 'sum by (pod) (container_memory_working_set_bytes{container="{service}"})',
    "gc_per_s": f"{_either('python_gc_collections_total')} or {_either('go_gc_duration_seconds_count')}",
}
"""Series name -> PromQL template. ``{service}`` is the service, ``{label}`` the label that
names it (``sources.prometheus.service_label``), ``{range}`` the lookback of ``rate()``
and ``{step}`` the step, both as durations. Durations are in milliseconds, like the
built-in source's, so the same series name means the same thing whichever source answers."""

_UNITS = {"_per_s": "1/s", "_ms": "ms", "_bytes": "By", "_cores": "1", "_seconds": "s", "_ratio": "1"}


def unit_of(name: str) -> str:
    """The unit a series name announces by its suffix (``_ms``, ``_per_s``, ``_bytes``)."""
    return next((unit for suffix, unit in _UNITS.items() if name.endswith(suffix)), "")


def service_queries(overrides: Mapping[str, str]) -> dict[str, str]:
    """The defaults with a team's own templates added or replacing them; an empty
    template switches a default off."""
    merged = {**DEFAULT_QUERIES, **overrides}
    return {name: template for name, template in merged.items() if template.strip()}
