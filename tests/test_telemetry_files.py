"""Reading OTLP JSON Lines (as the Collector's file exporter writes them) and Prometheus JSON."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.telemetry_files import read_logs, read_metrics, read_spans
from correlators.errors import InputFileError
from correlators.input_gaps import Skip
from tests.otlp_json import write_case
from tests.scenarios import generate

S = 1_000_000_000
RESOURCE = {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]}


TRACE = "5b8efff798038103d269b633813fc60c"


def span(trace_id: str, span_id: str, start: str = "1700000000000000000") -> dict[str, object]:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "GET /cart",
        "kind": 2,
        "startTimeUnixNano": start,
        "endTimeUnixNano": "1700000000100000000",
        "status": {"code": 2, "message": "boom"},
    }


def spans_line(*spans: dict[str, object]) -> str:
    scope = {"scope": {"name": "x"}, "spans": list(spans)}
    return json.dumps({"resourceSpans": [{"resource": RESOURCE, "scopeSpans": [scope]}]})


def span_line(trace_id: str, span_id: str) -> str:
    return spans_line(span(trace_id, span_id))


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
        spans = read_spans(path).items
        assert [(s.trace_id[-1], s.service, s.name, s.status_message) for s in spans] == [
            ("c", "cart", "GET /cart", "boom"),
            ("d", "cart", "GET /cart", "boom"),
        ]


def test_a_file_that_cannot_be_read_at_all_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="cannot read") as caught:
        read_spans(tmp_path / "missing.jsonl")
    assert caught.value.file == str(tmp_path / "missing.jsonl")
    broken = tmp_path / "traces.jsonl.gz"
    broken.write_bytes(gzip.compress(span_line(TRACE, "eee19b7ec3c1b174").encode())[:-12])
    with pytest.raises(InputFileError, match="broken gzip"):
        read_spans(broken)


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
    [log] = read_logs(path).items
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
    found = {s.name: s for s in read_metrics(path).items}
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
    [series] = read_metrics(path).items
    assert (series.name, series.service) == ("up", "cart")
    assert [(p.time_ns, p.value) for p in series.points] == [
        (1700000000 * S, 1.0),
        (1700000015_500_000_000, 0.0),
    ]
    path.write_text(json.dumps({"status": "error", "error": "bad query"}))
    with pytest.raises(InputFileError, match="bad query"):
        read_metrics(path)


# --- forgiving reading ---------------------------------------------------------------------


def flawed_traces(path: Path) -> None:
    """A good line, a line that is not JSON, a line where one span of two has a time out of
    range (the other is kept), a blank line and a truncated last line."""
    path.write_text(
        "\n".join(
            [
                spans_line(span(TRACE, "eee19b7ec3c1b171"), span(TRACE, "eee19b7ec3c1b172")),
                "this is not JSON",
                spans_line(
                    span(TRACE, "eee19b7ec3c1b173", start="-6795364578871345152"),
                    span(TRACE, "eee19b7ec3c1b174"),
                ),
                "",
                spans_line(span(TRACE, "eee19b7ec3c1b175"))[:40],
            ]
        )
    )


def test_a_flawed_file_gives_every_good_span_and_says_what_it_skipped(tmp_path: Path) -> None:
    plain = tmp_path / "traces.jsonl"
    flawed_traces(plain)
    packed = tmp_path / "traces.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, packed):
        read = read_spans(path)
        assert [s.span_id[-1] for s in read.items] == ["1", "2", "4"]
        assert read.gap is not None
        assert (read.gap.file, read.gap.skipped_lines, read.gap.skipped_records) == (str(path), 2, 1)
        assert read.gap.reasons == [
            Skip(2, "not JSON"),
            Skip(3, "span with a time out of range"),
            Skip(5, "truncated last line"),
        ]


def test_bad_ids_and_wrong_types_cost_only_their_own_record(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    unnamed = {**span(TRACE, "eee19b7ec3c1b173"), "name": 7}
    path.write_text(
        spans_line(
            span(TRACE, "not-hex"),
            span("00" * 16, "eee19b7ec3c1b172"),
            unnamed,
            span(TRACE, "eee19b7ec3c1b174"),
        )
        + "\n[1, 2]\n"
        + json.dumps({"resourceSpans": "nope"})
        + "\n"
    )
    read = read_spans(path)
    assert [s.span_id for s in read.items] == ["eee19b7ec3c1b174"]
    assert read.gap is not None
    assert (read.gap.skipped_lines, read.gap.skipped_records) == (2, 3)
    assert read.gap.reasons == [
        Skip(1, "span with an invalid span id (need 8 non-zero bytes)"),
        Skip(1, "span with an invalid trace id (need 16 non-zero bytes)"),
        Skip(1, "span with a text field that is not a string"),
        Skip(2, "not a JSON object"),
        Skip(3, "JSON body is not an OTLP request: resourceSpans is not a list of objects"),
    ]


def test_a_clean_file_has_no_gap(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_text(span_line(TRACE, "eee19b7ec3c1b174") + "\n")
    assert read_spans(path).gap is None


def test_a_log_record_with_an_impossible_time_is_skipped_alone(tmp_path: Path) -> None:
    """As in a real export: the record's time is negative; its neighbour is kept."""

    def record(time: str, body: str) -> dict[str, object]:
        return {"timeUnixNano": time, "severityNumber": 17, "body": {"stringValue": body}}

    records = [record("-6795364578871345152", "lost"), record("1700000000000000000", "kept")]
    line = {"resourceLogs": [{"resource": RESOURCE, "scopeLogs": [{"logRecords": records}]}]}
    path = tmp_path / "logs.jsonl.gz"
    path.write_bytes(gzip.compress(json.dumps(line).encode() + b"\n"))
    read = read_logs(path)
    assert [r.body for r in read.items] == ["kept"]
    assert read.gap is not None
    assert (read.gap.skipped_lines, read.gap.skipped_records) == (0, 1)
    assert read.gap.reasons == [Skip(1, "log record with a time out of range")]


def test_metrics_skip_what_they_cannot_read(tmp_path: Path) -> None:
    def point(time: object, value: object) -> dict[str, object]:
        return {"timeUnixNano": time, "asDouble": value}

    points = [point(str(10 * S), 1.0), point("-1", 2.0), point(str(20 * S), "many"), point(str(30 * S), 3.0)]
    gauge = {"name": "memory", "gauge": {"dataPoints": points}}
    metrics = [gauge, {"gauge": {"dataPoints": []}}]
    line = {"resourceMetrics": [{"resource": RESOURCE, "scopeMetrics": [{"metrics": metrics}]}]}
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps(line) + "\n{truncat")
    read = read_metrics(path)
    [series] = read.items
    assert [(p.time_ns // S, p.value) for p in series.points] == [(10, 1.0), (30, 3.0)]
    assert read.gap is not None
    assert (read.gap.skipped_lines, read.gap.skipped_records) == (1, 3)
    assert read.gap.reasons == [
        Skip(1, "data point with a time out of range"),
        Skip(1, "data point with a double value that is not a number"),
        Skip(1, "metric without a name"),
        Skip(2, "truncated last line"),
    ]


def test_analyze_on_flawed_files_reports_what_it_skipped(tmp_path: Path) -> None:
    """Through the command, as a user runs it: exit 0, the rest analysed, the skips said."""
    args = write_case(tmp_path, generate("cache_down", 1), metrics="prometheus")
    traces = tmp_path / "traces.jsonl"
    with traces.open("a") as out:
        out.write("{not json\n" + spans_line(span(TRACE, "eee19b7ec3c1b174", start="-1")) + "\n")
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    lines = len(traces.read_text().splitlines())
    assert report["input_gaps"] == [
        {
            "file": str(traces),
            "skipped_lines": 1,
            "skipped_records": 1,
            "reasons": [
                {"line": lines - 1, "why": "not JSON"},
                {"line": lines, "why": "span with a time out of range"},
            ],
            "skipped": 2,
        }
    ]
    assert report["bad_traces"] > 0 and report["candidates"]  # the rest was analysed
    text = CliRunner().invoke(app, args)
    assert text.exit_code == 0, text.output
    assert (
        f"Skipped 1 line and 1 record of traces.jsonl (line {lines - 1}: not JSON; "
        f"line {lines}: span with a time out of range); the rest was analysed."
    ) in text.output
