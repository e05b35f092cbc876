"""Drain3 templates per service: new and surging in the incident window, by rate."""

from __future__ import annotations

from correlators.logs import compare_templates, logs_by_trace
from correlators.model import LogRecord

INFO, WARN, ERROR = 9, 13, 17


def log(service: str, body: str, severity: int = INFO, trace_id: str | None = None, t: int = 0) -> LogRecord:
    return LogRecord(time_ns=t, service=service, body=body, severity_number=severity, trace_id=trace_id)


def test_new_error_template_is_found_with_sample_and_traces() -> None:
    baseline = [log("cart", f"added item {i} to cart {1000 + i}") for i in range(50)]
    incident = [log("cart", f"added item {i} to cart {2000 + i}") for i in range(50)]
    incident += [
        log(
            "payments",
            f"charge failed: upstream timeout after {500 + i} ms",
            ERROR,
            trace_id=f"t{i % 2}",
        )
        for i in range(6)
    ]
    changes = compare_templates(baseline, incident, baseline_seconds=600, incident_seconds=600)
    assert len(changes) == 1
    change = changes[0]
    assert (change.service, change.kind, change.incident_count) == ("payments", "new", 6)
    assert change.template == "charge failed: upstream timeout after <NUM> ms"
    assert change.is_error
    assert change.sample.startswith("charge failed: upstream timeout after")
    assert sorted(change.trace_ids) == ["t0", "t1"]


def test_surging_is_a_rate_not_a_count() -> None:
    # 10 retries in 10 minutes of baseline; 10 in 1 minute of incident: 10x the rate
    baseline = [log("cart", f"retrying request {i} to inventory", WARN) for i in range(10)]
    incident = [log("cart", f"retrying request {i} to inventory", WARN) for i in range(10)]
    changes = compare_templates(baseline, incident, baseline_seconds=600, incident_seconds=60)
    assert [(c.kind, c.rate_ratio) for c in changes] == [("surging", 10.0)]
    # the same counts over equal windows are no change at all
    assert compare_templates(baseline, incident, baseline_seconds=600, incident_seconds=600) == []


def test_same_template_in_another_service_is_its_own_series() -> None:
    baseline = [log("search", f"cache miss for key {i}") for i in range(20)]
    incident = [log("search", f"cache miss for key {i}") for i in range(20)]
    incident += [log("catalog", f"cache miss for key {i}") for i in range(5)]
    changes = compare_templates(baseline, incident, baseline_seconds=60, incident_seconds=60)
    assert [(c.service, c.kind, c.template) for c in changes] == [
        ("catalog", "new", "cache miss for key <NUM>")
    ]


def test_errors_rank_before_louder_info_templates() -> None:
    incident = [log("a", f"warming cache shard {i}") for i in range(30)]
    incident += [log("b", f"null reference in handler {i}", ERROR) for i in range(4)]
    changes = compare_templates([], incident, baseline_seconds=60, incident_seconds=60)
    assert [c.service for c in changes] == ["b", "a"]


def test_rare_new_lines_under_min_count_are_ignored() -> None:
    incident = [log("a", "disk almost full", WARN), log("a", "disk almost full", WARN)]
    assert compare_templates([], incident, baseline_seconds=60, incident_seconds=60) == []


def test_logs_by_trace_in_time_order() -> None:
    logs = [
        log("a", "second", t=2, trace_id="x"),
        log("a", "first", t=1, trace_id="x"),
        log("a", "other", trace_id="y"),
    ]
    found = logs_by_trace(logs, ["x", "z"])
    assert list(found) == ["x"]
    assert [r.body for r in found["x"]] == ["first", "second"]
