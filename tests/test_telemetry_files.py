"""Reading OTLP JSON Lines (as the Collector's file exporter writes them) and Prometheus JSON."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from bot.telemetry_files import read_logs, read_metrics, read_spans
from correlators.errors import InputFileError

S = 1_000_000_000
RESOURCE = {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]}


def span_line(trace_id: str, span_id: str) -> str:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": RESOURCE,
                    "scopeSpans": [
                        {
                            "scope": {"name": "x"},
                            "spans": [
                                {
                                    "traceId": trace_id,
                                    "spanId": span_id,
                                    "name": "GET /cart",
                                    "kind": 2,
                                    "startTimeUnixNano": "1700000000000000000",
                                    "endTimeUnixNano": "1700000000100000000",
                                    "status": {"code": 2, "message": "boom"},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )


def test_spans_from_plain_and_gzipped_jsonl(tmp_path: Path) -> None:
    lines = [
        span_line("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"),
        "",
        span_line("5b8efff798038103d269b633813fc60d", "eee19b7ec3c1b175"),
    ]
    plain = tmp_path / "traces.jsonl"
    plain.write_text("\n".join(lines) + "\n")
    packed = tmp_path / "traces.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, packed):
        spans = read_spans(path)
        assert [(s.trace_id[-1], s.service, s.name, s.status_message) for s in spans] == [
            ("c", "cart", "GET /cart", "boom"),
            ("d", "cart", "GET /cart", "boom"),
        ]


def test_a_broken_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_text(span_line("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174") + "\n{broken\n")
    with pytest.raises(InputFileError) as caught:
        read_spans(path)
    assert (caught.value.file, caught.value.line) == (str(path), 2)
    with pytest.raises(InputFileError, match="cannot read"):
        read_spans(tmp_path / "missing.jsonl")


def test_logs(tmp_path: Path) -> None:
    path = tmp_path / "logs.jsonl"
    path.write_text(
        json.dumps(
            {
                "resourceLogs": [
                    {
                        "resource": RESOURCE,
                        "scopeLogs": [
                            {
                                "logRecords": [
                                    {
                                        "timeUnixNano": "1700000000000000000",
                                        "severityNumber": 17,
                                        "body": {"stringValue": "db timeout"},
                                        "traceId": "5b8efff798038103d269b633813fc60c",
                                        "spanId": "eee19b7ec3c1b174",
                                    }
                                ]
                            }
                        ],
                    }
                ]
            }
        )
        + "\n"
    )
    [log] = read_logs(path)
    assert (log.service, log.body, log.severity_number, log.trace_id) == (
        "cart",
        "db timeout",
        17,
        "5b8efff798038103d269b633813fc60c",
    )


def test_otlp_metrics_gauges_counters_and_histograms(tmp_path: Path) -> None:
    def point(t: int, **value: object) -> dict[str, object]:
        return {
            "timeUnixNano": str(t * S),
            "startTimeUnixNano": "0",
            "attributes": [{"key": "state", "value": {"stringValue": "used"}}],
            **value,
        }

    metrics = [
        {
            "name": "memory",
            "unit": "By",
            "gauge": {"dataPoints": [point(10, asInt="100"), point(20, asDouble=150.0)]},
        },
        {
            "name": "requests",
            "sum": {
                "aggregationTemporality": 2,
                "isMonotonic": True,
                "dataPoints": [
                    point(10, asInt="100"),
                    point(20, asInt="300"),
                    point(30, asInt="300"),
                ],
            },
        },
        {
            "name": "latency",
            "histogram": {
                "aggregationTemporality": 2,
                "dataPoints": [
                    point(10, count="10", sum=1000.0),
                    point(20, count="30", sum=5000.0),
                ],
            },
        },
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text(
        json.dumps({"resourceMetrics": [{"resource": RESOURCE, "scopeMetrics": [{"metrics": metrics}]}]})
    )
    found = {s.name: s for s in read_metrics(path)}
    assert set(found) == {"memory", "requests:rate", "latency:mean"}
    assert [(p.time_ns // S, p.value) for p in found["memory"].points] == [(10, 100.0), (20, 150.0)]
    assert [(p.time_ns // S, p.value) for p in found["requests:rate"].points] == [
        (20, 20.0),
        (30, 0.0),
    ]
    assert [(p.time_ns // S, p.value) for p in found["latency:mean"].points] == [(20, 200.0)]
    assert found["memory"].service == "cart" and found["memory"].labels["state"] == "used"


def test_prometheus_query_range(tmp_path: Path) -> None:
    path = tmp_path / "prom.json"
    path.write_text(
        json.dumps(
            {
                "status": "success",
                "data": {
                    "resultType": "matrix",
                    "result": [
                        {
                            "metric": {"__name__": "up", "job": "cart"},
                            "values": [[1700000000, "1"], [1700000015.5, "0"]],
                        }
                    ],
                },
            }
        )
    )
    [series] = read_metrics(path)
    assert (series.name, series.service) == ("up", "cart")
    assert [(p.time_ns, p.value) for p in series.points] == [
        (1700000000 * S, 1.0),
        (1700000015_500_000_000, 0.0),
    ]
    path.write_text(json.dumps({"status": "error", "error": "bad query"}))
    with pytest.raises(InputFileError, match="bad query"):
        read_metrics(path)
