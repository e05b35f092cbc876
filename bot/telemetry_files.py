"""Telemetry from files: OTLP JSON Lines as the OpenTelemetry Collector's file exporter
writes them, and Prometheus ``query_range`` responses, plain or gzip-compressed.

This is how `journeywatch analyze` is fed without a running bot: one export request per
line, hex ids, the OTLP JSON encoding. Traces and logs go through the collector's own
decoders, so a file and a live exporter give the same model. A line that does not decode
stops the read with the file and line number, because an analysis over silently partial
data would be worse than none.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson

from bot.collector.otlp import decode_logs, decode_traces
from correlators.errors import InputFileError, MalformedPayload
from correlators.model import LogRecord, MetricPoint, MetricSeries, Span

_GZIP_MAGIC = b"\x1f\x8b"
T = TypeVar("T")


def read_spans(path: Path) -> list[Span]:
    return _decode_lines(path, lambda line: decode_traces(line, "json").items)


def read_logs(path: Path) -> list[LogRecord]:
    return _decode_lines(path, lambda line: decode_logs(line, "json").items)


def _decode_lines(path: Path, decode: Callable[[bytes], list[T]]) -> list[T]:
    """Every line through the collector's decoder; the first bad one stops the read."""
    items: list[T] = []
    for number, line in _lines(path):
        try:
            items.extend(decode(line))
        except MalformedPayload as exc:
            raise InputFileError(str(exc), file=str(path), line=number) from None
    return items


def read_metrics(path: Path) -> list[MetricSeries]:
    """OTLP metrics JSON Lines, or a Prometheus query_range JSON response."""
    series: dict[tuple[str, tuple[tuple[str, str], ...]], MetricSeries] = {}
    for number, line in _lines(path):
        data = _json(line, path, number)
        try:
            if "resourceMetrics" in data:
                _otlp_metrics(data, series)
            elif "status" in data:
                _prometheus(data, series)
            else:
                raise ValueError("neither an OTLP metrics request nor a Prometheus response")
        except (KeyError, TypeError, ValueError) as exc:
            raise InputFileError(f"cannot read metrics: {exc}", file=str(path), line=number) from None
    for found in series.values():
        found.points.sort(key=lambda p: p.time_ns)
    return list(series.values())


# --- files -------------------------------------------------------------------------------


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    if raw.startswith(_GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputFileError(f"broken gzip: {exc}", file=str(path)) from None
    for number, line in enumerate(raw.splitlines(), start=1):
        if line.strip():
            yield number, line


def _json(line: bytes, path: Path, number: int) -> dict[str, Any]:
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InputFileError(f"not JSON: {exc}", file=str(path), line=number) from None
    if not isinstance(data, dict):
        raise InputFileError("each line must be a JSON object", file=str(path), line=number)
    return data


# --- OTLP metrics --------------------------------------------------------------------------

SeriesIndex = dict[tuple[str, tuple[tuple[str, str], ...]], MetricSeries]


def _otlp_metrics(data: dict[str, Any], out: SeriesIndex) -> None:
    for resource_metrics in data["resourceMetrics"]:
        resource = _labels((resource_metrics.get("resource") or {}).get("attributes") or [])
        for scope in resource_metrics.get("scopeMetrics") or []:
            for metric in scope.get("metrics") or []:
                _metric(metric, resource, out)


def _metric(metric: dict[str, Any], resource: dict[str, str], out: SeriesIndex) -> None:
    name, unit = metric["name"], metric.get("unit", "")
    if "gauge" in metric:
        for point in metric["gauge"].get("dataPoints") or []:
            _add(out, name, unit, resource, point, _number(point))
    elif "sum" in metric:
        _sum(metric["sum"], name, unit, resource, out)
    elif "histogram" in metric:
        _histogram(metric["histogram"], name, unit, resource, out)


def _sum(body: dict[str, Any], name: str, unit: str, resource: dict[str, str], out: SeriesIndex) -> None:
    """Counters become per-second rates; a cumulative counter's first point has no rate."""
    cumulative = body.get("aggregationTemporality") in (2, "AGGREGATION_TEMPORALITY_CUMULATIVE")
    previous: dict[tuple[tuple[str, str], ...], tuple[int, float]] = {}
    points = sorted(body.get("dataPoints") or [], key=lambda p: int(p["timeUnixNano"]))
    for point in points:
        labels = _point_labels(resource, point)
        key = tuple(sorted(labels.items()))
        time_ns, value = int(point["timeUnixNano"]), _number(point)
        if not body.get("isMonotonic", cumulative):
            _add(out, name, unit, resource, point, value)
            continue
        if cumulative:
            before = previous.get(key)
            previous[key] = (time_ns, value)
            if before is None or time_ns <= before[0]:
                continue
            rate = max(0.0, value - before[1]) / ((time_ns - before[0]) / 1e9)
        else:
            interval = (time_ns - int(point.get("startTimeUnixNano") or 0)) / 1e9
            rate = value / interval if interval > 0 else 0.0
        _add(out, f"{name}:rate", unit, resource, point, rate)


def _histogram(
    body: dict[str, Any], name: str, unit: str, resource: dict[str, str], out: SeriesIndex
) -> None:
    """Histograms become the mean of each interval (delta of sum over delta of count)."""
    cumulative = body.get("aggregationTemporality") in (2, "AGGREGATION_TEMPORALITY_CUMULATIVE")
    previous: dict[tuple[tuple[str, str], ...], tuple[float, float]] = {}
    points = sorted(body.get("dataPoints") or [], key=lambda p: int(p["timeUnixNano"]))
    for point in points:
        key = tuple(sorted(_point_labels(resource, point).items()))
        count, total = float(point.get("count") or 0), float(point.get("sum") or 0)
        if cumulative:
            before = previous.get(key)
            previous[key] = (count, total)
            if before is None:
                continue
            count, total = count - before[0], total - before[1]
        if count > 0:
            _add(out, f"{name}:mean", unit, resource, point, total / count)


def _number(point: dict[str, Any]) -> float:
    if "asDouble" in point:
        return float(point["asDouble"])
    return float(point.get("asInt") or 0)


def _labels(attributes: list[dict[str, Any]]) -> dict[str, str]:
    labels = {}
    for attribute in attributes:
        value = attribute.get("value") or {}
        scalar = next(iter(value.values()), "") if value else ""
        labels[attribute["key"]] = str(scalar)
    return labels


def _point_labels(resource: dict[str, str], point: dict[str, Any]) -> dict[str, str]:
    return {**resource, **_labels(point.get("attributes") or [])}


def _add(
    out: SeriesIndex,
    name: str,
    unit: str,
    resource: dict[str, str],
    point: dict[str, Any],
    value: float,
) -> None:
    labels = _point_labels(resource, point)
    key = (name, tuple(sorted(labels.items())))
    series = out.get(key)
    if series is None:
        series = out[key] = MetricSeries(name, labels, [], unit)
    series.points.append(MetricPoint(int(point["timeUnixNano"]), value))


# --- Prometheus ----------------------------------------------------------------------------


def _prometheus(data: dict[str, Any], out: SeriesIndex) -> None:
    if data.get("status") != "success":
        raise ValueError(f"Prometheus answered {data.get('status')}: {data.get('error', '')}")
    body = data["data"]
    if body.get("resultType") != "matrix":
        raise ValueError("expected a query_range response (resultType matrix)")
    for result in body["result"]:
        labels = {k: str(v) for k, v in result["metric"].items() if k != "__name__"}
        name = str(result["metric"].get("__name__", "query"))
        key = (name, tuple(sorted(labels.items())))
        series = out.setdefault(key, MetricSeries(name, labels, []))
        for timestamp, value in result["values"]:
            series.points.append(MetricPoint(int(float(timestamp) * 1e9), float(value)))
