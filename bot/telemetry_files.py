"""Telemetry from files: OTLP JSON Lines as the OpenTelemetry Collector's file exporter
writes them, and Prometheus ``query_range`` responses, plain or gzip-compressed.

This is how `journeywatch analyze` is fed without a running bot: one export request per
line, hex ids, the OTLP JSON encoding. Traces and logs go through the collector's own JSON
decoder (:mod:`bot.telemetry.otlp_json`), so a file and a live exporter give the same model.

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
from typing import Any, Generic, TypeVar

import orjson

from bot.telemetry.decoding import Decoded
from bot.telemetry.otlp_json import UINT64_MAX, logs_from_json, spans_from_json
from bot.telemetry.otlp_metrics import metrics_from_json
from correlators.datapoints import series_of
from correlators.errors import InputFileError, MalformedPayload
from correlators.input_gaps import MAX_REASONS, InputGap, Skip
from correlators.model import LogRecord, MetricDataPoint, MetricPoint, MetricSeries, Span

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
    """OTLP metrics JSON Lines, or a Prometheus query_range JSON response. OTLP points are
    gathered from every line before counters become rates (``correlators.datapoints``):
    a file exporter writes one export per line, so a cumulative counter's previous point
    is usually on the line before."""
    series: SeriesIndex = {}
    points: list[MetricDataPoint] = []
    skips = _Skips(path)
    for number, data in _objects(path, skips):
        try:
            if "resourceMetrics" in data or "resource_metrics" in data:
                decoded = metrics_from_json(data)
                points.extend(decoded.items)
                skips.records(number, decoded.rejected, decoded.errors)
            elif "status" in data:
                _prometheus(data, series, partial(skips.record, number))
            else:
                skips.line(number, "neither an OTLP metrics request nor a Prometheus response")
        except MalformedPayload as exc:
            skips.line(number, str(exc))
        except _WrongFile as exc:
            raise InputFileError(str(exc), file=str(path), line=number) from None
    for found in series.values():
        found.points.sort(key=lambda p: p.time_ns)
    return FileRead([*series_of(points), *series.values()], skips.gap())


# --- files -------------------------------------------------------------------------------


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


SeriesIndex = dict[tuple[str, tuple[tuple[str, str], ...]], MetricSeries]


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
