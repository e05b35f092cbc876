"""Robust metric anomaly scores (median/IQR of the baseline) and change-start estimates."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from correlators.metrics import (
    DEFAULT_THRESHOLD,
    MetricAnomaly,
    Window,
    is_resource,
    rank_anomalies,
    robust_scale,
    score_series,
)
from correlators.model import MetricPoint, MetricSeries

S = 1_000_000_000
BASELINE = Window(0, 60 * S)
INCIDENT = Window(60 * S, 120 * S)


def series(name: str, values: list[float], service: str = "cart") -> MetricSeries:
    points = [MetricPoint(i * 10 * S, v) for i, v in enumerate(values)]
    return MetricSeries(name, {"service.name": service}, points)


def test_robust_scale_uses_median_and_iqr() -> None:
    assert robust_scale([1, 2, 3, 4, 5]) == (3, 2.0)
    # one spike in the baseline does not widen the scale much
    median, scale = robust_scale([10, 10, 11, 10, 9, 500])
    assert median == 10
    assert scale == pytest.approx(0.75)


def test_flat_baseline_falls_back_to_a_relative_floor() -> None:
    assert robust_scale([100.0, 100.0, 100.0, 100.0]) == (100.0, 5.0)


def test_latency_step_scores_high_with_its_change_start() -> None:
    latency = series("http.server.duration.p99", [100, 102, 98, 101, 99, 100, 100, 101, 350, 360, 355, 340])
    anomaly = score_series(latency, BASELINE, INCIDENT)
    assert anomaly is not None
    assert anomaly.direction == "up"
    assert anomaly.baseline_median == 100
    assert anomaly.incident_median == 345  # of 100, 101, 340, 350, 355, 360
    # baseline IQR is 1.5 (q1 99.25, q3 100.75), under the floor of 5% of the median (5):
    # the incident median's shift, (345 - 100) / 5
    assert anomaly.score == 49
    assert anomaly.change_start_ns == 80 * S
    assert anomaly.service == "cart"


def test_a_single_blip_is_not_a_change_start() -> None:
    noisy = series("cpu", [50, 52, 48, 51, 49, 50, 95, 50, 51, 49, 50, 50])
    anomaly = score_series(noisy, BASELINE, INCIDENT)
    assert anomaly is not None
    assert anomaly.change_start_ns is None


def test_throughput_drop_is_down() -> None:
    rps = series("requests", [200, 210, 190, 205, 195, 200, 20, 25, 22, 18, 20, 21])
    anomaly = score_series(rps, BASELINE, INCIDENT)
    assert anomaly is not None and anomaly.direction == "down"
    assert anomaly.change_start_ns == 60 * S


def test_rank_keeps_only_anomalous_series_highest_first() -> None:
    calm = series("memory", [10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11], "search")
    step = series("errors", [0, 0, 1, 0, 0, 1, 9, 10, 12, 11, 9, 10], "payments")
    big = series("latency", [100, 101, 99, 100, 100, 101, 900, 950, 920, 910, 930, 940], "db")
    empty = MetricSeries("gone", {}, [])
    ranked = rank_anomalies([calm, step, big, empty], BASELINE, INCIDENT)
    assert [a.service for a in ranked] == ["db", "payments"]


def pod(name: str, service: str, node: str, values: Sequence[float]) -> MetricSeries:
    points = [MetricPoint(i * 10 * S, v) for i, v in enumerate(values)]
    return MetricSeries(name, {"service.name": service, "k8s.node.name": node}, points)


def test_a_node_metric_repeated_for_each_pod_names_no_service() -> None:
    """The node's CPU exported once per pod on it locates the node, not any pod."""
    node_cpu = [10.0, 11, 10, 11, 10, 11, 60, 62, 61, 60, 62, 61]
    ranked = rank_anomalies(
        [pod("node.cpu", "cart", "n1", node_cpu), pod("node.cpu", "ads", "n1", node_cpu)], BASELINE, INCIDENT
    )
    assert ranked and all(a.service is None for a in ranked)


def test_a_move_every_pod_made_is_not_one_pods() -> None:
    """All pods' latency doubled with the load; only the one that moved beyond its peers
    stands out."""
    calm = [10, 11, 10, 11, 10, 11]
    peers = [
        pod("latency", s, f"n{i}", [v + i / 10 for v in [*calm, 20, 21, 20, 21, 20, 21]])
        for i, s in enumerate("abcd")
    ]
    odd = pod("latency", "cart", "n9", [*calm, 90, 91, 90, 91, 90, 91])
    ranked = rank_anomalies([*peers, odd], BASELINE, INCIDENT)
    assert [a.service for a in ranked] == ["cart"]


def test_minute_samples_are_judged_against_their_history() -> None:
    """One point in the baseline window has no spread; the points before it give one."""
    noisy = MetricSeries(
        "cpu",
        {"service.name": "cart"},
        [MetricPoint(t * S, v) for t, v in [(-50, 30.0), (-30, 10.0), (-10, 20.0), (30, 20.0), (90, 26.0)]],
    )
    scored = score_series(noisy, BASELINE, INCIDENT)
    assert scored is not None and scored.score < DEFAULT_THRESHOLD  # 6.0 against the window alone


def test_a_window_shorter_than_the_sampling_step_takes_the_sample_that_covers_it() -> None:
    """Samples each minute, an incident window of 50 s between two of them: the sample
    after its start describes it."""
    minute = [
        MetricPoint(t * S, v) for t, v in [(-240, 5.0), (-180, 6.0), (-120, 5.0), (-60, 6.0), (65, 90.0)]
    ]
    scored = score_series(
        MetricSeries("cpu", {"service.name": "cart"}, minute),
        Window(-200 * S, -100 * S),
        Window(10 * S, 60 * S),
    )
    assert scored is not None and scored.incident_median == 90.0 and scored.direction == "up"


def test_a_series_with_no_point_before_the_baseline_ends_is_judged_against_its_history() -> None:
    """A gauge sampled each minute may have no point in (or before) a baseline window of
    less than a minute, or one taken an hour earlier; its samples before the incident are
    still its history, and a jump from 5 to 100 still scores."""
    points = [MetricPoint(t * S, 5.0 + t % 3) for t in range(70, 110, 10)]
    points.append(MetricPoint(115 * S, 100.0))
    anomaly = score_series(
        MetricSeries("cpu", {"service.name": "cart"}, points), Window(0, 30 * S), Window(112 * S, 118 * S)
    )
    assert anomaly is not None and anomaly.direction == "up"
    assert anomaly.baseline_median == 6.0 and anomaly.baseline_peak == 7.0


def test_a_resource_is_a_process_cpu_or_memory_not_its_hosts() -> None:
    resources = [
        "container.cpu.usage",
        "process_cpu_seconds_total",
        "memory_usage",
        "k8s.pod.memory.working_set",
    ]
    others = [
        "node.cpu.usage_rate",
        "system.cpu.utilization",
        "pod.client.latency.p99",
        "rps",
        "mempool.size.bytes x",
    ]
    assert [is_resource(name) for name in resources] == [True] * 4
    assert [is_resource(name) for name in others] == [False, False, False, False, False]


def test_a_resource_saturates_past_twice_its_history_scaled_by_its_load() -> None:
    """CPU from a peak of 10 to 50 is saturation when the service served as many requests
    as before; with three times the requests, 50 is what 30 would have been, and not."""
    cpu = MetricAnomaly("container.cpu.usage", "cart", {}, 40.0, "up", 8.0, 50.0, None, 10.0)
    assert cpu.saturating(1.0) and cpu.saturating(0.5)  # less work is no excuse
    assert not cpu.saturating(3.0)
    latency = MetricAnomaly("pod.latency.p99", "cart", {}, 40.0, "up", 8.0, 50.0, None, 10.0)
    assert not latency.saturating(1.0)


def test_a_machines_series_is_nobodys_whichever_pod_exported_it() -> None:
    """node.network.receive exported with one pod's labels (the only pod of its service on
    that node, so no other series repeats it) still says where a node is, not a service."""
    host = series("node.network.receive", [10, 11, 10, 12, 11, 10, 400, 420, 410, 415, 405, 400])
    pod = series("container.network.receive", [10, 11, 10, 12, 11, 10, 400, 420, 410, 415, 405, 400])
    found = {a.name: a.service for a in rank_anomalies([host, pod], BASELINE, INCIDENT)}
    assert found == {"node.network.receive": None, "container.network.receive": "cart"}
