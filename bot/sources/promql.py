"""PromQL text for the Prometheus source: SLI queries, service-metric templates, formatting.

Pure string work, apart from the network, so every query the source sends can be read
(and tested) on its own. Templates use named placeholders (``{window}``, ``{service}``,
``{label}``, ``{match}``, ``{job}``, ``{step}``, ``{range}``) that are replaced by name
only: PromQL's own braces (``metric{job="x"}``) stay as written, so a template in
journeys.yaml reads like the PromQL a team already has in its dashboards. Which histogram
names mean what (units, error labels) is :mod:`bot.sources.conventions`."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

from bot.durations import format_duration
from bot.sources.conventions import SERVER_FAMILIES, Family

_PLACEHOLDER = re.compile(r"\{(window|service|label|match|job|step|range)\}")


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

_MATCH = "{match}"
"""The service's matcher, filled in per source (:func:`service_matcher`)."""
_JOB = 'job=~"{job}"'
"""The scrape job or the Collector's ``job`` (``service.namespace/service.name``): what
classic exporters and resource-less series (prometheus_client's process collector) have."""


def service_matcher(label: str, service: str) -> str:
    """The matcher that selects a service by ``label``: equality, except for ``job``,
    which the Collector's Prometheus exporter writes as ``<service.namespace>/<name>``
    when a namespace is set, so the namespace is allowed in front."""
    if label == "job":
        return f"job=~{quote(job_regex(service))}"
    return f"{label}={quote(service)}"


def job_regex(service: str) -> str:
    """``job`` values naming this service, with or without a namespace (RE2, anchored)."""
    return "(?:[^/]+/)?" + re.escape(service)


def _join(*matchers: str) -> str:
    return ",".join(m for m in matchers if m)


def _rate(metric: str, matchers: str, by: str = "instance") -> str:
    return f"sum by ({by}) (rate({metric}{{{matchers}}}[{{range}}]))"


def _either(metric: str, by: str = "instance", extra: str = "") -> str:
    """The metric labelled by the configured service label, or else by the scrape job
    (classic exporters such as prometheus_client's process collector only have ``job``)."""
    return f"{_rate(metric, _join(_MATCH, extra), by)} or {_rate(metric, _join(_JOB, extra), by)}"


def _gauge(metric: str, extra: str = "") -> str:
    return (
        f"sum by (instance) ({metric}{{{_join(_MATCH, extra)}}})"
        f" or sum by (instance) ({metric}{{{_join(_JOB, extra)}}})"
    )


def _in_ms(family: Family, expression: str) -> str:
    return expression if family.unit == "ms" else f"{family.to_ms} * {expression}"


def _requests(f: Family) -> str:
    return _rate(f"{f.name}_count", _join(_MATCH, f.requests))


def _errors(f: Family) -> str:
    return _rate(f"{f.name}_count", _join(_MATCH, f.requests, f.errors))


def _mean_ms(f: Family) -> str:
    matchers = _join(_MATCH, f.requests)
    return _in_ms(f, f"{_rate(f.name + '_sum', matchers)} / {_rate(f.name + '_count', matchers)}")


def _p95_ms(f: Family) -> str:
    buckets = _rate(f"{f.name}_bucket", _join(_MATCH, f.requests), "instance, le")
    return _in_ms(f, f"histogram_quantile(0.95, {buckets})")


def _first(render: Callable[[Family], str]) -> str:
    """One expression per server-duration family, the first family with series winning
    for each instance (``or`` keeps the left side's label sets)."""
    return " or ".join(render(f) for f in SERVER_FAMILIES)


_REQUESTS = _first(_requests)

DEFAULT_QUERIES: dict[str, str] = {
    # RED, from whichever server-duration histogram the service has: HTTP (stable or
    # pre-1.20 conventions), RPC, or the Collector's span metrics (server spans)
    "requests_per_s": _REQUESTS,
    # a service that serves but has no error series yet has 0 errors, not no data
    "errors_per_s": f"{_first(_errors)} or 0 * ({_REQUESTS})",
    "duration_mean_ms": _first(_mean_ms),
    "duration_p95_ms": _first(_p95_ms),
    # Saturation, from prometheus_client's and the Go client's collectors, then
    # OpenTelemetry's process and runtime conventions (JVM, CPython, Node.js, Go)
    "cpu_cores": " or ".join(
        _either(m)
        for m in (
            "process_cpu_seconds_total",
            "process_cpu_time_seconds_total",
            "process_runtime_cpython_cpu_time_seconds_total",
            "jvm_cpu_time_seconds_total",
        )
    ),
    "memory_rss_bytes": " or ".join(
        (
            _gauge("process_resident_memory_bytes"),
            _gauge("process_memory_usage_bytes"),
            _gauge("process_runtime_cpython_memory_bytes", 'type="rss"'),
        )
    ),
    "heap_used_bytes": " or ".join(
        (
            _gauge("jvm_memory_used_bytes", 'jvm_memory_type="heap"'),
            _gauge("process_runtime_jvm_memory_usage_bytes", 'type="heap"'),
            _gauge("v8js_memory_heap_used_bytes"),
            _gauge("go_memory_used_bytes"),
            _gauge("process_runtime_go_mem_heap_alloc_bytes"),
        )
    ),
    "container_cpu_cores": _rate("container_cpu_usage_seconds_total", 'container="{service}"', "pod"),
    "container_memory_bytes": 'sum by (pod) (container_memory_working_set_bytes{container="{service}"})',
    "gc_per_s": " or ".join(
        _either(m)
        for m in (
            "python_gc_collections_total",
            "go_gc_duration_seconds_count",
            "jvm_gc_duration_seconds_count",
            "process_runtime_jvm_gc_duration_milliseconds_count",
            "process_runtime_cpython_gc_count_total",
            "v8js_gc_duration_seconds_count",
        )
    ),
    "event_loop_delay_p99_ms": (
        f"1000 * max by (instance) (nodejs_eventloop_delay_p99_seconds{{{_MATCH}}})"
        f" or 1000 * max by (instance) (nodejs_eventloop_delay_p99_seconds{{{_JOB}}})"
    ),
}
"""Series name -> PromQL template. ``{match}`` is the service's matcher by the source's
service label (``sources.prometheus.service_label``; see :func:`service_matcher`),
``{job}`` a regex of its ``job`` values, ``{service}`` the service and ``{label}`` the
label for a team's own templates, ``{range}`` the lookback of ``rate()`` and ``{step}``
the step, both as durations. Durations are in milliseconds whatever the histogram's unit,
like the built-in source's, so the same series name means the same thing whichever source
answers."""

_UNITS = {"_per_s": "1/s", "_ms": "ms", "_bytes": "By", "_cores": "1", "_seconds": "s", "_ratio": "1"}


def unit_of(name: str) -> str:
    """The unit a series name announces by its suffix (``_ms``, ``_per_s``, ``_bytes``)."""
    return next((unit for suffix, unit in _UNITS.items() if name.endswith(suffix)), "")


def service_queries(overrides: Mapping[str, str]) -> dict[str, str]:
    """The defaults with a team's own templates added or replacing them; an empty
    template switches a default off."""
    merged = {**DEFAULT_QUERIES, **overrides}
    return {name: template for name, template in merged.items() if template.strip()}
