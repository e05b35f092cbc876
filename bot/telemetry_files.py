"""Telemetry from files: OTLP JSON Lines as the OpenTelemetry Collector's file exporter
writes them, and Prometheus ``query_range`` responses, plain or gzip-compressed.

This is how `journeywatch analyze` is fed without a running bot: one export request per
line, hex ids, the OTLP JSON encoding. Traces and logs go through the collector's own JSON
decoder (:mod:`bot.collector.otlp_json`), so a file and a live exporter give the same model.

Reading is forgiving, because real exports have flaws and one of them must not cost the
whole analysis: a line that is not JSON (a truncated last line among them) is skipped, and
so is a span, log record or data point that cannot be read (an impossible time, a bad id),
without the good records of its line. Every skip is counted, with the first few reasons and
their line numbers, in the read's :class:`~correlators.input_gaps.InputGap`, which the
report shows. A file that cannot be read at all (missing, broken gzip) is an InputFileError.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

import orjson

from bot.collector.decoding import Decoded
from bot.collector.otlp_json import UINT64_MAX, BadValue, logs_from_json, nanos, spans_from_json
from correlators.errors import InputFileError, MalformedPayload
from correlators.input_gaps import MAX_REASONS, InputGap, Skip
from correlators.model import LogRecord, MetricPoint, MetricSeries, Span

_GZIP_MAGIC = b"\x1f\x8b"
T = TypeVar("T")
Reject = Callable[[str], None]
"""Counts one skipped record of the current line, with its reason."""


@dataclass(slots=True)
class FileRead(Generic[T]):
    """What one file gave: its items, and what was skipped (None when nothing was)."""

    items: list[T]
    gap: InputGap | None = None


def read_spans(path: Path) -> FileRead[Span]:
    return _read_otlp(path, spans_from_json)


def read_logs(path: Path) -> FileRead[LogRecord]:
    return _read_otlp(path, logs_from_json)


def _read_otlp(path: Path, decode: Callable[[dict[str, Any]], Decoded[T]]) -> FileRead[T]:
    """Every line through the collector's JSON decoder, which rejects records one by one;
    a line whose frame is not an OTLP request is skipped whole."""
    items: list[T] = []
    skips = _Skips(path)
    for number, data in _objects(path, skips):
        try:
            decoded = decode(data)
        except MalformedPayload as exc:
            skips.line(number, str(exc))
            continue
        items.extend(decoded.items)
        skips.records(number, decoded.rejected, decoded.errors)
    return FileRead(items, skips.gap())


def read_metrics(path: Path) -> FileRead[MetricSeries]:
    """OTLP metrics JSON Lines, or a Prometheus query_range JSON response."""
    series: SeriesIndex = {}
    skips = _Skips(path)
    for number, data in _objects(path, skips):
        try:
            _metrics_line(data, series, partial(skips.record, number))
        except _Unreadable as exc:
            skips.line(number, str(exc))
        except _WrongFile as exc:
            raise InputFileError(str(exc), file=str(path), line=number) from None
    for found in series.values():
        found.points.sort(key=lambda p: p.time_ns)
    return FileRead(list(series.values()), skips.gap())


def _metrics_line(data: dict[str, Any], series: SeriesIndex, reject: Reject) -> None:
    if "resourceMetrics" in data:
        _otlp_metrics(data, series, reject)
    elif "status" in data:
        _prometheus(data, series, reject)
    else:
        raise _Unreadable("neither an OTLP metrics request nor a Prometheus response")


# --- files -------------------------------------------------------------------------------


class _Unreadable(ValueError):
    """A line that holds nothing to keep; the message says why."""


class _WrongFile(ValueError):
    """A line that says the whole file is not telemetry (a Prometheus error answer)."""


class _Skips:
    """What one file's read skipped, gathered line by line."""

    def __init__(self, path: Path) -> None:
        self.file = str(path)
        self.skipped_lines = 0
        self.skipped_records = 0
        self.reasons: list[Skip] = []
        self._seen: set[str] = set()

    def line(self, number: int, reason: str) -> None:
        self.skipped_lines += 1
        self._note(number, reason)

    def record(self, number: int, reason: str) -> None:
        self.records(number, 1, [reason])

    def records(self, number: int, count: int, reasons: list[str]) -> None:
        self.skipped_records += count
        for reason in reasons:
            self._note(number, reason)

    def _note(self, number: int, reason: str) -> None:
        if reason not in self._seen and len(self.reasons) < MAX_REASONS:
            self._seen.add(reason)
            self.reasons.append(Skip(number, reason))

    def gap(self) -> InputGap | None:
        if not self.skipped_lines and not self.skipped_records:
            return None
        return InputGap(self.file, self.skipped_lines, self.skipped_records, self.reasons)


def _objects(path: Path, skips: _Skips) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON object of each line; a line that is not one is skipped and counted."""
    lines, complete = _lines(path)
    last = len(lines)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            truncated = number == last and not complete
            skips.line(number, "truncated last line" if truncated else "not JSON")
            continue
        if isinstance(data, dict):
            yield number, data
        else:
            skips.line(number, "not a JSON object")


def _lines(path: Path) -> tuple[list[bytes], bool]:
    """The file's lines, and whether it ends with a line break (a file exporter that was
    stopped mid-write leaves a last line without one)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    if raw.startswith(_GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputFileError(f"broken gzip: {exc}", file=str(path)) from None
    return raw.splitlines(), raw.endswith((b"\n", b"\r"))


# --- OTLP metrics --------------------------------------------------------------------------

SeriesIndex = dict[tuple[str, tuple[tuple[str, str], ...]], MetricSeries]


class _Point(NamedTuple):
    """One data point, read and checked before any series sees it (a tuple: there is one
    per point of every series, and building a dataclass cost a third of the read)."""

    time_ns: int
    start_ns: int
    labels: dict[str, str]
    key: tuple[tuple[str, str], ...]
    """The labels, sorted: the series' identity."""
    value: float
    """asDouble or asInt, for gauges and sums."""
    observations: float
    total: float
    """count and sum, for histograms."""


def _otlp_metrics(data: dict[str, Any], out: SeriesIndex, reject: Reject) -> None:
    for resource_metrics in _entries(data.get("resourceMetrics"), "resourceMetrics"):
        try:
            resource = _labels((resource_metrics.get("resource") or {}).get("attributes") or [])
        except (AttributeError, KeyError, TypeError):
            reject("resource whose attributes cannot be read")
            continue
        for scope in _entries(resource_metrics.get("scopeMetrics"), "scopeMetrics"):
            for metric in scope.get("metrics") or []:
                try:
                    _metric(metric, resource, out, reject)
                except (AttributeError, KeyError, TypeError, ValueError):
                    reject("metric that is not valid OTLP")


def _entries(value: Any, name: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise _Unreadable(f"not an OTLP metrics request: {name} is not a list of objects")
    return value


def _metric(metric: dict[str, Any], resource: dict[str, str], out: SeriesIndex, reject: Reject) -> None:
    name, unit = metric.get("name"), metric.get("unit", "")
    if not name or not isinstance(name, str):
        reject("metric without a name")
        return
    if "gauge" in metric:
        for point in _points(metric["gauge"], resource, reject):
            _add(out, name, unit, point, point.value)
    elif "sum" in metric:
        _sum(metric["sum"], name, unit, _points(metric["sum"], resource, reject), out)
    elif "histogram" in metric:
        _histogram(metric["histogram"], name, unit, _points(metric["histogram"], resource, reject), out)


def _points(body: dict[str, Any], resource: dict[str, str], reject: Reject) -> list[_Point]:
    """The body's data points in time order; one that cannot be read is skipped."""
    points = []
    for raw in body.get("dataPoints") or []:
        try:
            points.append(_point(raw, resource))
        except BadValue as exc:
            reject(f"data point with {exc}")
        except (AttributeError, KeyError, TypeError, ValueError):
            reject("data point that is not valid OTLP")
    points.sort(key=lambda p: p.time_ns)
    return points


def _point(raw: dict[str, Any], resource: dict[str, str]) -> _Point:
    time_ns = nanos(raw.get("timeUnixNano"))
    if not time_ns:
        raise BadValue("no time")
    attributes = raw.get("attributes")
    labels = {**resource, **_labels(attributes)} if attributes else dict(resource)
    value = float(raw["asDouble"]) if "asDouble" in raw else float(raw.get("asInt") or 0)
    start_ns = nanos(raw.get("startTimeUnixNano"))
    count, total = float(raw.get("count") or 0), float(raw.get("sum") or 0)
    return _Point(time_ns, start_ns, labels, tuple(sorted(labels.items())), value, count, total)


def _sum(body: dict[str, Any], name: str, unit: str, points: list[_Point], out: SeriesIndex) -> None:
    """Counters become per-second rates; a cumulative counter's first point has no rate."""
    cumulative = body.get("aggregationTemporality") in (2, "AGGREGATION_TEMPORALITY_CUMULATIVE")
    previous: dict[tuple[tuple[str, str], ...], tuple[int, float]] = {}
    for point in points:
        time_ns, value = point.time_ns, point.value
        if not body.get("isMonotonic", cumulative):
            _add(out, name, unit, point, value)
            continue
        if cumulative:
            before = previous.get(point.key)
            previous[point.key] = (time_ns, value)
            if before is None or time_ns <= before[0]:
                continue
            rate = max(0.0, value - before[1]) / ((time_ns - before[0]) / 1e9)
        else:
            interval = (time_ns - point.start_ns) / 1e9
            rate = value / interval if interval > 0 else 0.0
        _add(out, f"{name}:rate", unit, point, rate)


def _histogram(body: dict[str, Any], name: str, unit: str, points: list[_Point], out: SeriesIndex) -> None:
    """Histograms become the mean of each interval (delta of sum over delta of count)."""
    cumulative = body.get("aggregationTemporality") in (2, "AGGREGATION_TEMPORALITY_CUMULATIVE")
    previous: dict[tuple[tuple[str, str], ...], tuple[float, float]] = {}
    for point in points:
        count, total = point.observations, point.total
        if cumulative:
            before = previous.get(point.key)
            previous[point.key] = (count, total)
            if before is None:
                continue
            count, total = count - before[0], total - before[1]
        if count > 0:
            _add(out, f"{name}:mean", unit, point, total / count)


def _labels(attributes: list[dict[str, Any]]) -> dict[str, str]:
    labels = {}
    for attribute in attributes:
        value = attribute.get("value") or {}
        scalar = next(iter(value.values()), "") if value else ""
        labels[attribute["key"]] = str(scalar)
    return labels


def _add(out: SeriesIndex, name: str, unit: str, point: _Point, value: float) -> None:
    key = (name, point.key)
    series = out.get(key)
    if series is None:
        series = out[key] = MetricSeries(name, point.labels, [], unit)
    series.points.append(MetricPoint(point.time_ns, value))


# --- Prometheus ----------------------------------------------------------------------------


def _prometheus(data: dict[str, Any], out: SeriesIndex, reject: Reject) -> None:
    """A query_range answer. One that is an error, or not a range, holds no series at all:
    that is a wrong file rather than a flawed one, so it stops the read."""
    if data.get("status") != "success":
        raise _WrongFile(f"Prometheus answered {data.get('status')}: {data.get('error', '')}")
    body = data.get("data") or {}
    if body.get("resultType") != "matrix":
        raise _WrongFile("expected a Prometheus query_range response (resultType matrix)")
    for result in body.get("result") or []:
        try:
            _prometheus_series(result, out, reject)
        except (AttributeError, KeyError, TypeError):
            reject("Prometheus series that cannot be read")


def _prometheus_series(result: dict[str, Any], out: SeriesIndex, reject: Reject) -> None:
    labels = {k: str(v) for k, v in result["metric"].items() if k != "__name__"}
    name = str(result["metric"].get("__name__", "query"))
    key = (name, tuple(sorted(labels.items())))
    series = out.setdefault(key, MetricSeries(name, labels, []))
    for sample in result["values"]:
        try:
            timestamp, value = sample
            time_ns, number = int(float(timestamp) * 1e9), float(value)
        except (TypeError, ValueError, OverflowError):
            reject("Prometheus sample that is not [time, value]")
            continue
        if 0 < time_ns <= UINT64_MAX:
            series.points.append(MetricPoint(time_ns, number))
        else:
            reject("Prometheus sample with a time out of range")
