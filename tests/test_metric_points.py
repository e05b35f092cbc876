"""OTLP metrics as `journeywatch analyze --metrics` reads them, from small hand-built files
shaped as the Collector's file exporter writes them (one export request per line), and
the rules that turn data points into series (issue 17, point 6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.telemetry.otlp_metrics import exponential_buckets, metrics_from_json
from bot.telemetry_files import read_metrics
from correlators.datapoints import series_of
from correlators.model import MetricDataPoint

S = 1_000_000_000
RESOURCE = {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]}


def line(metric: dict[str, Any]) -> str:
    scope = {"scope": {"name": "meter"}, "metrics": [metric]}
    return json.dumps({"resourceMetrics": [{"resource": RESOURCE, "scopeMetrics": [scope]}]})


def write(path: Path, metrics: list[dict[str, Any]]) -> Path:
    path.write_text("".join(line(m) + "\n" for m in metrics))
    return path


def counter(t: int, value: int, start: int = 1, temporality: int = 2) -> dict[str, Any]:
    point = {"startTimeUnixNano": str(start * S), "timeUnixNano": str(t * S), "asInt": str(value)}
    body = {"aggregationTemporality": temporality, "isMonotonic": True, "dataPoints": [point]}
    return {"name": "http.requests", "unit": "{request}", "sum": body}


def values(series: Any) -> list[tuple[int, float]]:
    return [(p.time_ns // S, round(p.value, 6)) for p in series.points]


def test_a_cumulative_counter_written_one_point_per_line_has_rates(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.jsonl", [counter(10, 100), counter(20, 300), counter(30, 300), counter(40, 600)]
    )
    [series] = read_metrics(path).items
    assert (series.name, series.unit, series.service) == ("http.requests:rate", "{request}/s", "cart")
    assert values(series) == [(20, 20.0), (30, 0.0), (40, 30.0)]


def test_a_counter_reset_counts_from_the_restart(tmp_path: Path) -> None:
    # the value falls (a restart without a new start time): the new value is the increase
    # since the previous point; a new start time past the previous point: since that start
    metrics = [
        counter(10, 500),
        counter(20, 700),
        counter(30, 50),
        counter(40, 80, start=36),
        counter(50, 90, start=36),
    ]
    [series] = read_metrics(write(tmp_path / "m.jsonl", metrics)).items
    assert values(series) == [(20, 20.0), (30, 5.0), (40, 20.0), (50, 1.0)]


def test_delta_points_with_start_equal_to_end_take_the_series_spacing(tmp_path: Path) -> None:
    metrics = [counter(t, 60, start=t, temporality=1) for t in (60, 120, 180)]
    [series] = read_metrics(write(tmp_path / "m.jsonl", metrics)).items
    assert values(series) == [(60, 1.0), (120, 1.0), (180, 1.0)]
    with_interval = [counter(t, 60, start=t - 30, temporality=1) for t in (60, 120)]
    [series] = read_metrics(write(tmp_path / "d.jsonl", with_interval)).items
    assert values(series) == [(60, 2.0), (120, 2.0)]


def exponential(t: int, count: int, total: float, counts: list[int], temporality: int = 2) -> dict[str, Any]:
    point = {
        "startTimeUnixNano": str(1 * S),
        "timeUnixNano": str(t * S),
        "count": str(count),
        "sum": total,
        "scale": 0,
        "zeroCount": "1",
        "positive": {"offset": 2, "bucketCounts": [str(c) for c in counts]},
    }
    body = {"aggregationTemporality": temporality, "dataPoints": [point]}
    return {"name": "http.server.duration", "unit": "ms", "exponentialHistogram": body}


def test_exponential_histograms_are_read_not_dropped(tmp_path: Path) -> None:
    metrics = [exponential(10, 4, 40.0, [1, 2]), exponential(20, 14, 240.0, [5, 8])]
    read = read_metrics(write(tmp_path / "m.jsonl", metrics))
    assert read.gap is None
    [series] = read.items
    assert series.name == "http.server.duration:mean"
    assert values(series) == [(20, 20.0)]


def test_exponential_buckets_become_explicit_upper_bounds() -> None:
    # scale 0: base 2; offset 2 means the first positive bucket is (4, 8]
    bounds, buckets = exponential_buckets(0, 3, 2, [1, 2, 4])
    assert bounds == (0.0, 8.0, 16.0)
    assert buckets == (3.0, 1.0, 2.0, 4.0)
    bounds, _ = exponential_buckets(1, 0, 0, [1, 1, 1])
    assert bounds == pytest.approx((0.0, 2**0.5, 2.0))


def test_gauges_up_down_counters_histograms_and_summaries(tmp_path: Path) -> None:
    def point(t: int, **fields: Any) -> dict[str, Any]:
        return {"startTimeUnixNano": str(S), "timeUnixNano": str(t * S), **fields}

    metrics = [
        {"name": "process.memory.usage", "unit": "By", "gauge": {"dataPoints": [point(10, asInt="7")]}},
        {
            "name": "db.connections",
            "sum": {"aggregationTemporality": 2, "dataPoints": [point(10, asInt="3"), point(20, asInt="2")]},
        },
        {
            "name": "rpc.duration",
            "histogram": {
                "aggregationTemporality": 1,
                "dataPoints": [
                    point(10, count="2", sum=30.0, explicitBounds=[10.0], bucketCounts=["1", "1"]),
                    point(20, count="3", explicitBounds=[10.0], bucketCounts=["1", "2"]),
                ],
            },
        },
        {
            "name": "gc.pause",
            "summary": {"dataPoints": [point(10, count="2", sum=4.0), point(20, count="6", sum=24.0)]},
        },
    ]
    found = {s.name: s for s in read_metrics(write(tmp_path / "m.jsonl", metrics)).items}
    assert values(found["process.memory.usage"]) == [(10, 7.0)]
    assert (found["process.memory.usage"].unit, found["process.memory.usage"].service) == ("By", "cart")
    assert values(found["db.connections"]) == [(10, 3.0), (20, 2.0)]  # an up-down counter is a level
    assert values(found["rpc.duration:mean"]) == [(10, 15.0)]  # the second point has no sum
    assert values(found["gc.pause:mean"]) == [(20, 5.0)]


def test_points_from_other_services_and_labels_stay_apart() -> None:
    def point(service: str, t: int, value: float, pod: str) -> MetricDataPoint:
        labels = {"service.name": service, "k8s.pod.name": pod}
        return MetricDataPoint("requests", service, labels, t * S, S, "sum", "cumulative", True, value=value)

    made = series_of(
        [
            point("a", 10, 0, "a-1"),
            point("a", 20, 10, "a-1"),
            point("a", 20, 99, "a-2"),
            point("b", 20, 5, "b-1"),
        ]
    )
    assert [(s.labels["k8s.pod.name"], values(s)) for s in made] == [("a-1", [(20, 1.0)])]


def test_a_point_that_cannot_be_read_is_refused_alone() -> None:
    good = {"timeUnixNano": str(10 * S), "asDouble": 1.0}
    bad = [
        {"timeUnixNano": str(11 * S), "asDouble": "NaN"},
        {"asDouble": 1.0},
        {"timeUnixNano": str(12 * S), "asDouble": 1.0, "attributes": "x"},
    ]
    data = json.loads(line({"name": "load", "gauge": {"dataPoints": [good, *bad]}}))
    decoded = metrics_from_json(data)
    assert [p.value for p in decoded.items] == [1.0]
    assert decoded.rejected == 3
    assert decoded.errors == [
        "data point with a value that is not a finite number",
        "data point without a time",
        "data point with a repeated field that is not a list",
    ]
