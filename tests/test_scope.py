"""Localized or systemic: a reach is claimed only on enough bad traces."""

from __future__ import annotations

from correlators.attributes import AttributeFinding
from correlators.rank import Candidate
from correlators.scope import decide_scope
from correlators.topology import CallGraph


def zone_seen_on_three_services(bad_count: int) -> list[AttributeFinding]:
    return [
        AttributeFinding("cloud.availability_zone", "eu-1a", service, 1.0, 0.35, bad_count, 40)
        for service in ("web", "catalog", "search")
    ]


def test_one_slow_trace_through_a_zone_is_not_a_zone_fault() -> None:
    scope = decide_scope(
        candidates=[Candidate("cart", 0.4)],
        findings=zone_seen_on_three_services(bad_count=1),
        graph=CallGraph(),
        request_rate_ratio=1.0,
    )
    assert (scope.kind, scope.level, scope.subject) == ("localized", "service", "cart")


def test_many_bad_traces_through_one_zone_on_three_services_are() -> None:
    scope = decide_scope(
        candidates=[Candidate("cart", 0.4)],
        findings=zone_seen_on_three_services(bad_count=30),
        graph=CallGraph(),
        request_rate_ratio=1.0,
    )
    assert (scope.kind, scope.level, scope.subject) == ("systemic", "zone", "eu-1a")


def test_a_flag_on_the_one_bad_trace_is_not_a_flag_rollout() -> None:
    flag = AttributeFinding("feature_flag.new_pricing", "false", None, 1.0, 0.46, 1, 180)
    scope = decide_scope(
        candidates=[Candidate("cart", 0.4)], findings=[flag], graph=CallGraph(), request_rate_ratio=1.0
    )
    assert scope.kind == "localized"
