"""Write the model out as the OpenTelemetry Collector's file exporter would (OTLP JSON
Lines, hex ids), and metrics as a Prometheus query_range response, for CLI tests."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from correlators.model import LogRecord, MetricSeries, Span, Trace
from tests.scenarios import Scenario

_KINDS = {"unspecified": 0, "internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_STATUS = {"unset": 0, "ok": 1, "error": 2}


def json_value(value: object) -> dict[str, object]:
    """An OTLP/JSON AnyValue: bytes as base64, a dict as a key-value list."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": json_attributes(value)}}
    return {"stringValue": str(value)}


def json_attributes(attributes: dict[str, object]) -> list[dict[str, object]]:
    return [{"key": k, "value": json_value(v)} for k, v in attributes.items() if v is not None]


def _resource(service: str, span_or_log: Span | LogRecord) -> dict[str, object]:
    attrs: dict[str, object] = {"service.name": service}
    if span_or_log.instance:
        attrs["service.instance.id"] = span_or_log.instance
    if isinstance(span_or_log, Span):
        for key, value in (
            ("service.version", span_or_log.service_version),
            ("cloud.availability_zone", span_or_log.zone),
            ("cloud.region", span_or_log.region),
            ("telemetry.sdk.language", span_or_log.language),
        ):
            if value:
                attrs[key] = value
    return {"attributes": json_attributes(attrs)}


def _span(span: Span) -> dict[str, object]:
    out: dict[str, object] = {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "name": span.name,
        "kind": _KINDS[span.kind.value],
        "startTimeUnixNano": str(span.start_ns),
        "endTimeUnixNano": str(span.end_ns),
        "attributes": json_attributes(dict(span.attributes)),
        "status": {"code": _STATUS[span.status.value], "message": span.status_message},
    }
    if span.parent_span_id:
        out["parentSpanId"] = span.parent_span_id
    if span.events:  # only the worlds generator sets events and links: older output is unchanged
        out["events"] = [
            {
                "name": e.name,
                "timeUnixNano": str(e.time_ns),
                "attributes": json_attributes(dict(e.attributes)),
            }
            for e in span.events
        ]
    if span.links:
        out["links"] = [
            {"traceId": ln.trace_id, "spanId": ln.span_id, "attributes": json_attributes(dict(ln.attributes))}
            for ln in span.links
        ]
    return out


def write_traces(path: Path, traces: Sequence[Trace], per_line: int = 50) -> None:
    lines = []
    for i in range(0, len(traces), per_line):
        groups: defaultdict[tuple[str, ...], list[Span]] = defaultdict(list)
        for trace in traces[i : i + per_line]:
            for span in trace.spans:
                key = (span.service, span.instance or "", span.service_version or "", span.zone or "")
                groups[key].append(span)
        lines.append(
            json.dumps(
                {
                    "resourceSpans": [
                        {
                            "resource": _resource(spans[0].service, spans[0]),
                            "scopeSpans": [{"spans": [_span(s) for s in spans]}],
                        }
                        for spans in groups.values()
                    ]
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")


def write_logs(path: Path, logs: Iterable[LogRecord]) -> None:
    lines = []
    for record in logs:
        body: dict[str, object] = {
            "timeUnixNano": str(record.time_ns),
            "severityNumber": record.severity_number,
            "severityText": record.severity_text,
            "body": {"stringValue": record.body},
        }
        if record.trace_id:
            body["traceId"], body["spanId"] = record.trace_id, record.span_id
        lines.append(
            json.dumps(
                {
                    "resourceLogs": [
                        {"resource": _resource(record.service, record), "scopeLogs": [{"logRecords": [body]}]}
                    ]
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")


def write_prometheus(path: Path, series: Iterable[MetricSeries]) -> None:
    result = [
        {
            "metric": {"__name__": s.name, **s.labels},
            "values": [[p.time_ns / 1e9, str(p.value)] for p in s.points],
        }
        for s in series
    ]
    path.write_text(json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}}))


def write_otlp_metrics(path: Path, series: Iterable[MetricSeries]) -> None:
    """Each series as an OTLP gauge, one ExportMetricsServiceRequest per series and line."""
    lines = []
    for s in series:
        resource = {k: v for k, v in s.labels.items() if k.startswith("service.")}
        point_attributes = {k: v for k, v in s.labels.items() if k not in resource}
        points = [
            {
                "timeUnixNano": str(p.time_ns),
                "asDouble": p.value,
                "attributes": json_attributes(point_attributes),
            }
            for p in s.points
        ]
        lines.append(
            json.dumps(
                {
                    "resourceMetrics": [
                        {
                            "resource": {"attributes": json_attributes(resource)},
                            "scopeMetrics": [
                                {
                                    "metrics": [
                                        {"name": s.name, "unit": s.unit, "gauge": {"dataPoints": points}}
                                    ]
                                }
                            ],
                        }
                    ]
                }
            )
        )
    path.write_text("\n".join(lines) + "\n")


def write_case(folder: Path, scenario: Scenario, *, metrics: str = "otlp") -> list[str]:
    """Write a generated incident as telemetry files; the `journeywatch analyze` arguments
    that read them back, windows included."""
    write_traces(folder / "traces.jsonl", scenario.traces)
    write_logs(folder / "logs.jsonl", scenario.logs)
    metrics_path = folder / ("metrics.jsonl" if metrics == "otlp" else "metrics.json")
    if metrics == "otlp":
        write_otlp_metrics(metrics_path, scenario.metrics)
    else:
        write_prometheus(metrics_path, scenario.metrics)
    b0, b1 = (t // 1_000_000_000 for t in scenario.baseline)
    i0, i1 = (t // 1_000_000_000 for t in scenario.incident)
    return [
        "analyze",
        "--traces",
        str(folder / "traces.jsonl"),
        "--logs",
        str(folder / "logs.jsonl"),
        "--metrics",
        str(metrics_path),
        "--baseline-start",
        str(b0),
        "--baseline-end",
        str(b1),
        "--incident-start",
        str(i0),
        "--incident-end",
        str(i1),
    ]
