"""The labelled scenario generator shows each fault where it would show in reality."""

from __future__ import annotations

import statistics
from itertools import pairwise

from correlators.model import Span, StatusCode
from tests.scenarios import FAULT_KINDS, SERVICES, Scenario, generate


def incident_spans(kind: str, seed: int = 3) -> tuple[Scenario, list[Span], list[Span]]:
    scenario = generate(kind, seed)
    spans = [s for t in scenario.traces for s in t.spans]
    before = [s for s in spans if s.start_ns < scenario.incident[0]]
    during = [s for s in spans if s.start_ns >= scenario.incident[0]]
    return scenario, before, during


def median_ms(spans: list[Span]) -> float:
    return statistics.median(s.duration_ns / 1e6 for s in spans)


def test_deterministic_for_a_seed_and_covers_the_system() -> None:
    one, two = generate("cache_down", 11), generate("cache_down", 11)
    assert [t.trace_id for t in one.traces] == [t.trace_id for t in two.traces]
    assert len(FAULT_KINDS) >= 12
    services = {s.service for t in one.traces for s in t.spans}
    assert services == set(SERVICES)
    instances = {s.instance for t in one.traces for s in t.spans}
    assert len(instances) == 3 * len(SERVICES)


def test_an_instance_fault_slows_that_instance_only() -> None:
    scenario, _, during = incident_spans("instance_cpu")
    target = scenario.fault.instance
    server = [s for s in during if s.kind.value == "server" and s.service == scenario.fault.target]
    bad = [s for s in server if s.instance == target]
    good = [s for s in server if s.instance != target]
    assert median_ms(bad) > 3 * median_ms(good)
    cpu = next(m for m in scenario.metrics if m.name == "cpu" and m.labels["service.instance.id"] == target)
    assert max(p.value for p in cpu.points) > 90


def test_a_shared_database_slows_every_caller() -> None:
    _, before, during = incident_spans("shared_db_slow")
    for caller in ("inventory", "orders", "auth", "catalog"):

        def calls(spans: list[Span], service: str = caller) -> list[Span]:
            return [
                s for s in spans if s.service == service and s.attributes.get("db.system") == "postgresql"
            ]

        assert median_ms(calls(during)) > 10 * median_ms(calls(before)), caller


def test_a_bad_deploy_shows_in_errors_version_and_new_logs() -> None:
    scenario, _, during = incident_spans("deploy_exception")
    target = scenario.fault.target
    mine = [s for s in during if s.service == target and s.kind.value == "server"]
    assert {s.service_version for s in mine} == {"1.5.0"}
    assert sum(s.status is StatusCode.ERROR for s in mine) > 0.3 * len(mine)
    assert any("NullPointerException" in log.body and log.service == target for log in scenario.logs)


def test_a_retried_call_is_two_attempts_one_after_the_other() -> None:
    """A failed attempt ends when it fails, and its retry starts there: the first client
    span must not stretch over the retry, or a failed call would look slow."""
    scenario = generate("deploy_exception", 5)
    retried = 0
    for trace in scenario.traces:
        attempts: dict[tuple[str | None, str], list[Span]] = {}
        for span in trace.spans:
            if span.kind.value == "client":
                attempts.setdefault((span.parent_span_id, span.name), []).append(span)
        for calls in attempts.values():
            calls.sort(key=lambda s: s.start_ns)
            for first, retry in pairwise(calls):
                retried += 1
                assert first.status == StatusCode.ERROR
                assert first.end_ns == retry.start_ns
    assert retried > 0, "the scenario retries some failed calls"
