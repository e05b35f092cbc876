"""OTLP metrics (ExportMetricsServiceRequest, protobuf or JSON) to data points.

Points are kept as they were sent (:class:`~correlators.model.MetricDataPoint`), not turned
into rates here: a cumulative counter's rate needs the point before it, which came in an
earlier request or an earlier line of a file, so rates are made where the points of a
series meet (``correlators.datapoints``). Every kind is read: gauges, sums of either
temporality, histograms, exponential histograms (their buckets as explicit upper bounds)
and summaries (their count and sum).

As for spans and logs, one point that cannot be read is refused alone, with its reason
(``partial_success``, a file's input gaps), and a body that is not an OTLP request at all
raises :class:`MalformedPayload`. A point flagged "no recorded value" (a series that ended)
is passed over without a word, as the specification asks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2

from bot.telemetry.decoding import NO_LIMITS, Decoded, ItemLimits, capped
from bot.telemetry.otlp import Encoding, parse, serialize
from bot.telemetry.otlp_json import (
    BadValue,
    double,
    enum,
    field_of,
    frames,
    integer,
    items_of,
    json_attributes,
    list_of,
    loads,
    nanos,
    object_of,
    resource_of,
    text_of,
)
from bot.telemetry.resource import ResourceFacts, attributes, resource_facts
from correlators.model import MAX_TIME_NS, Attributes, AttrValue, MetricDataPoint, MetricKind, Temporality

MAX_BUCKETS = 320
"""Buckets one histogram point may have: twice the SDKs' default for exponential ones
(160); a point with more is refused rather than stored."""
NO_RECORDED_VALUE = 1
"""DataPointFlags: the series ended; the point carries nothing."""
_TEMPORALITY: dict[int, Temporality] = {1: "delta", 2: "cumulative"}
_TEMPORALITY_NAMES: dict[str, int] = dict(metrics_pb2.AggregationTemporality.items())
_KINDS: dict[str, MetricKind] = {
    "gauge": "gauge",
    "sum": "sum",
    "histogram": "histogram",
    "exponential_histogram": "exponential_histogram",
    "summary": "summary",
}
_JSON_KIND_KEYS: dict[str, MetricKind] = {**_KINDS, "exponentialHistogram": "exponential_histogram"}


class _Metric(NamedTuple):
    """What a metric says of all its points."""

    name: str
    unit: str
    kind: MetricKind
    temporality: Temporality
    monotonic: bool


class _Raw(NamedTuple):
    """One point's fields, from either encoding, before the shared checks."""

    time_ns: int
    start_ns: int
    flags: int
    attributes: Attributes
    value: float
    observed: float
    total: float | None
    bounds: tuple[float, ...]
    buckets: tuple[float, ...]


# --- protobuf ----------------------------------------------------------------------------


def decode_metrics(
    body: bytes, encoding: Encoding, limits: ItemLimits = NO_LIMITS
) -> Decoded[MetricDataPoint]:
    """The data points of one request."""
    if encoding == "json":
        return metrics_from_json(loads(body), limits)
    request = parse(body, ExportMetricsServiceRequest)
    out: Decoded[MetricDataPoint] = Decoded([])
    for resource_metrics in request.resource_metrics:
        pairs = capped(resource_metrics.resource.attributes, limits.attributes, "resource attributes", out)
        labels = _labels(resource_facts(pairs, limits.value_items))
        for scope_metrics in resource_metrics.scope_metrics:
            for pb in scope_metrics.metrics:
                _pb_metric(pb, labels, limits, out)
    return out


def _pb_metric(pb: Any, resource: _Resource, limits: ItemLimits, out: Decoded[MetricDataPoint]) -> None:
    which = pb.WhichOneof("data")
    if not pb.name:
        out.reject("metric without a name")
        return
    if which is None:
        out.reject("metric without data")
        return
    data = getattr(pb, which)
    kind = _KINDS[which]
    temporality = _TEMPORALITY.get(getattr(data, "aggregation_temporality", 0), "unspecified")
    metric = _Metric(pb.name, pb.unit, kind, temporality, bool(getattr(data, "is_monotonic", False)))
    take = _take_number if kind in ("gauge", "sum") else _take
    for point in data.data_points:
        try:
            raw = _pb_point(point, kind, limits, out)
        except BadValue as exc:
            out.reject(f"data point with {exc}")
            continue
        take(metric, resource, raw, out)


def _pb_point(pb: Any, kind: MetricKind, limits: ItemLimits, out: Decoded[Any]) -> _Raw:
    pairs = capped(pb.attributes, limits.attributes, "data point attributes", out)
    attrs = attributes(pairs, limits.value_items) if pairs else {}
    value, count, total = 0.0, 0.0, None
    bounds: tuple[float, ...] = ()
    buckets: tuple[float, ...] = ()
    if kind in ("gauge", "sum"):
        value = pb.as_double if pb.WhichOneof("value") == "as_double" else float(pb.as_int)
    else:
        count = float(pb.count)
        total = pb.sum if kind == "summary" or pb.HasField("sum") else None
    if kind == "histogram":
        bounds, buckets = tuple(pb.explicit_bounds), tuple(float(c) for c in pb.bucket_counts)
    elif kind == "exponential_histogram":
        negative = sum(pb.negative.bucket_counts)
        bounds, buckets = exponential_buckets(
            pb.scale, pb.zero_count + negative, pb.positive.offset, list(pb.positive.bucket_counts)
        )
    return _Raw(
        pb.time_unix_nano, pb.start_time_unix_nano, pb.flags, attrs, value, count, total, bounds, buckets
    )


# --- JSON --------------------------------------------------------------------------------


def metrics_from_json(data: dict[str, Any], limits: ItemLimits = NO_LIMITS) -> Decoded[MetricDataPoint]:
    """The data points of one ExportMetricsServiceRequest in OTLP JSON (a file exporter's
    line, or a request body)."""
    out: Decoded[MetricDataPoint] = Decoded([])
    for resource_metrics in frames(data, "resourceMetrics", "resource_metrics"):
        labels = _labels(resource_of(resource_metrics, limits, out))
        for scope_metrics in frames(resource_metrics, "scopeMetrics", "scope_metrics"):
            for item in items_of(scope_metrics, "metrics", "metrics"):
                try:
                    _json_metric(item, labels, limits, out)
                except BadValue as exc:
                    out.reject(f"metric with {exc}")
    return out


def _json_metric(item: Any, resource: _Resource, limits: ItemLimits, out: Decoded[MetricDataPoint]) -> None:
    metric = object_of(item)
    name = text_of(metric.get("name"))
    data, kind = None, None
    for key in metric:
        kind = _JSON_KIND_KEYS.get(key)
        if kind is not None:
            data = metric[key]
            break
    if not name:
        out.reject("metric without a name")
        return
    if data is None or kind is None:
        out.reject("metric without data")
        return
    body = object_of(data)
    if kind == "gauge":
        temporality: Temporality = "unspecified"
        monotonic = False
    else:
        number = enum(field_of(body, "aggregationTemporality", "aggregation_temporality"), _TEMPORALITY_NAMES)
        temporality = _TEMPORALITY.get(number, "unspecified")
        monotonic = field_of(body, "isMonotonic", "is_monotonic") is True
    meta = _Metric(name, text_of(metric.get("unit")), kind, temporality, monotonic)
    points = list_of(field_of(body, "dataPoints", "data_points") or [])
    if kind in ("gauge", "sum"):
        _json_numbers(points, meta, resource, limits, out)
        return
    for raw_point in points:
        try:
            raw = _json_point(object_of(raw_point), kind, limits, out)
        except BadValue as exc:
            out.reject(f"data point with {exc}")
            continue
        _take(meta, resource, raw, out)


def _json_numbers(
    points: list[Any], metric: _Metric, resource: _Resource, limits: ItemLimits, out: Decoded[MetricDataPoint]
) -> None:
    """A gauge's or a sum's points (nearly every point a file holds), read straight into
    data points: the histograms' intermediate tuple cost a fifth of reading a file."""
    for item in points:
        try:
            point = object_of(item)
            time_ns = nanos(field_of(point, "timeUnixNano", "time_unix_nano"))
            start_ns = nanos(field_of(point, "startTimeUnixNano", "start_time_unix_nano"))
            given = field_of(point, "asDouble", "as_double")
            value = (
                _number(given)
                if given is not None
                else float(integer(field_of(point, "asInt", "as_int") or 0))
            )
            flags = point.get("flags")
            given = point.get("attributes")
            attrs = json_attributes(given, limits, out, "data point") if given else None
        except BadValue as exc:
            out.reject(f"data point with {exc}")
            continue
        if not (flags and integer(flags) & NO_RECORDED_VALUE):
            _number_point(metric, resource, attrs, time_ns, start_ns, value, out)


def _json_point(point: dict[str, Any], kind: MetricKind, limits: ItemLimits, out: Decoded[Any]) -> _Raw:
    """A histogram's, exponential histogram's or summary's point."""
    time_ns = nanos(field_of(point, "timeUnixNano", "time_unix_nano"))
    start_ns = nanos(field_of(point, "startTimeUnixNano", "start_time_unix_nano"))
    given = point.get("attributes")
    attrs = json_attributes(given, limits, out, "data point") if given else {}
    flags = point.get("flags")
    flags = integer(flags) if flags else 0
    bounds: tuple[float, ...] = ()
    buckets: tuple[float, ...] = ()
    count = float(integer(point.get("count") or 0))
    given = point.get("sum")
    total = _number(given) if given is not None else (0.0 if kind == "summary" else None)
    if kind == "histogram":
        bounds = tuple(
            _number(b) for b in list_of(field_of(point, "explicitBounds", "explicit_bounds") or [])
        )
        buckets = tuple(
            float(integer(c)) for c in list_of(field_of(point, "bucketCounts", "bucket_counts") or [])
        )
    elif kind == "exponential_histogram":
        positive = object_of(point.get("positive") or {})
        negative = object_of(point.get("negative") or {})
        counts = [integer(c) for c in list_of(field_of(positive, "bucketCounts", "bucket_counts") or [])]
        below = sum(integer(c) for c in list_of(field_of(negative, "bucketCounts", "bucket_counts") or []))
        zero = integer(field_of(point, "zeroCount", "zero_count") or 0)
        bounds, buckets = exponential_buckets(
            integer(point.get("scale") or 0), zero + below, integer(positive.get("offset") or 0), counts
        )
    return _Raw(time_ns, start_ns, flags, attrs, 0.0, count, total, bounds, buckets)


def _number(value: Any) -> float:
    number = double(value)
    assert isinstance(number, float)
    return number


# --- shared ------------------------------------------------------------------------------


class _Resource(NamedTuple):
    service: str
    labels: dict[str, str]


def _labels(facts: ResourceFacts) -> _Resource:
    return _Resource(facts.service, label_texts(facts.attributes))


def label_texts(attrs: Attributes) -> dict[str, str]:
    """Attributes as label text: strings as they are, other scalars as JSON writes them
    (``true``, ``5``), lists as JSON."""
    return {key: _label(value) for key, value in attrs.items()}


def _label(value: AttrValue) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode() if value is not None else ""


def _take(metric: _Metric, resource: _Resource, raw: _Raw, out: Decoded[MetricDataPoint]) -> None:
    if raw.flags & NO_RECORDED_VALUE:
        return
    reason = _invalid(raw)
    if reason:
        out.reject(reason)
        return
    # points without attributes of their own share their resource's labels (never changed
    # in place: redaction makes a new dict)
    labels = {**resource.labels, **label_texts(raw.attributes)} if raw.attributes else resource.labels
    buckets = raw.buckets if len(raw.buckets) == len(raw.bounds) + 1 else ()
    # positional, in MetricDataPoint's field order: a file holds one per sample
    out.items.append(
        MetricDataPoint(
            metric.name,
            resource.service,
            labels,
            raw.time_ns,
            raw.start_ns if raw.start_ns <= MAX_TIME_NS else 0,
            metric.kind,
            "cumulative" if metric.kind == "summary" else metric.temporality,
            metric.monotonic,
            raw.value,
            raw.observed,
            raw.total,
            raw.bounds if buckets else (),
            buckets,
            metric.unit,
        )
    )


def _invalid(raw: _Raw) -> str | None:
    if not raw.time_ns:
        return "data point without a time"
    if raw.time_ns > MAX_TIME_NS:
        return "data point with a time past the year 2262"
    finite = math.isfinite(raw.value) and math.isfinite(raw.observed)
    if raw.total is not None:
        finite = finite and math.isfinite(raw.total)
    if raw.buckets and not all(math.isfinite(number) for number in (*raw.bounds, *raw.buckets)):
        finite = False
    if not finite:
        return "data point with a value that is not a finite number"
    if len(raw.buckets) > MAX_BUCKETS:
        return f"histogram point with more than {MAX_BUCKETS} buckets"
    return None


def _take_number(metric: _Metric, resource: _Resource, raw: _Raw, out: Decoded[MetricDataPoint]) -> None:
    if not raw.flags & NO_RECORDED_VALUE:
        _number_point(metric, resource, raw.attributes, raw.time_ns, raw.start_ns, raw.value, out)


def _number_point(
    metric: _Metric,
    resource: _Resource,
    attrs: Attributes | None,
    time_ns: int,
    start_ns: int,
    value: float,
    out: Decoded[MetricDataPoint],
) -> None:
    """A gauge's or a sum's point, with only the checks such a point needs."""
    if not time_ns or time_ns > MAX_TIME_NS or not math.isfinite(value):
        out.reject(
            "data point without a time"
            if not time_ns
            else "data point with a time past the year 2262"
            if time_ns > MAX_TIME_NS
            else "data point with a value that is not a finite number"
        )
        return
    labels = {**resource.labels, **label_texts(attrs)} if attrs else resource.labels
    # positional, in MetricDataPoint's field order: a file holds one per sample
    out.items.append(
        MetricDataPoint(
            metric.name,
            resource.service,
            labels,
            time_ns,
            start_ns if start_ns <= MAX_TIME_NS else 0,
            metric.kind,
            metric.temporality,
            metric.monotonic,
            value,
            0.0,
            None,
            (),
            (),
            metric.unit,
        )
    )


def exponential_buckets(
    scale: int, at_or_below_zero: int, offset: int, counts: Sequence[int]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """An exponential histogram's buckets as explicit ones: bucket ``i`` of the positive
    range holds values up to ``base ** (offset + i + 1)``, ``base = 2 ** (2 ** -scale)``;
    the zero bucket and every negative one are one bucket up to 0 (durations and sizes are
    never negative). The last positive bucket is the unbounded one."""
    if len(counts) > MAX_BUCKETS:
        raise BadValue(f"more than {MAX_BUCKETS} buckets")
    if not -10 <= scale <= 20:
        raise BadValue("an exponential histogram scale outside -10..20")
    if not counts:
        return (0.0,), (float(at_or_below_zero), 0.0)
    bounds = [0.0, *(_power(scale, offset + i + 1) for i in range(len(counts) - 1))]
    return tuple(bounds), (float(at_or_below_zero), *(float(c) for c in counts))


def _power(scale: int, index: int) -> float:
    try:
        return float(2.0 ** math.ldexp(index, -scale))
    except OverflowError:
        return math.inf


# --- the answer --------------------------------------------------------------------------


def encode_metrics_response(rejected: int, message: str, encoding: Encoding) -> bytes:
    response = ExportMetricsServiceResponse()
    if rejected or message:
        response.partial_success.rejected_data_points = rejected
        response.partial_success.error_message = message
    return serialize(response, encoding)
