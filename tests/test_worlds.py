"""The harder generator (tests/worlds.py) builds the worlds, faults and telemetry it
promises: bounded random topologies, sampling that keeps whole traces while metrics count
every request, broken propagation, and a ground truth for every kind."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from pathlib import Path

from bot.telemetry_files import read_logs, read_spans
from correlators.model import Span, SpanKind, Trace
from correlators.topology import dependency_of
from tests.otlp_json import write_case
from tests.worlds import (
    FAULT_KINDS,
    INCIDENT_S,
    KINDS,
    LANGUAGES,
    SYSTEMIC_LEVELS,
    S,
    Sampling,
    WorldCase,
    build_world,
    generate,
)

SMALL = 30
"""Requests a minute in these tests: enough to see each effect, fast to generate."""


def spans_of(case: WorldCase) -> list[Span]:
    return [s for t in case.traces for s in t.spans]


def test_deterministic_per_seed_and_different_across_seeds() -> None:
    one, two = (
        generate("release", 3, traces_per_minute=SMALL),
        generate("release", 3, traces_per_minute=SMALL),
    )
    assert [s.span_id for s in spans_of(one)] == [s.span_id for s in spans_of(two)]
    assert [r.body for r in one.logs] == [r.body for r in two.logs]
    assert one.fault == two.fault
    assert [p.value for m in one.metrics for p in m.points] == [
        p.value for m in two.metrics for p in m.points
    ]
    other = build_world("release", 4)[0]
    assert one.world is not None and set(one.world.services).isdisjoint(other.services)


def test_topologies_vary_within_their_bounds() -> None:
    sizes, languages, zones = [], set(), set()
    for seed in range(40):
        world = build_world(FAULT_KINDS[seed % len(FAULT_KINDS)], seed)[0]
        sizes.append(len(world.services))
        zones.add(len(world.zones))
        assert 2 <= len(world.journeys) <= 4
        for service in world.services.values():
            languages.add(service.language)
            assert 1 <= len(service.instances) <= 4
            assert [i.name for i in service.instances] == [
                f"{service.name}-{n}" for n in range(1, len(service.instances) + 1)
            ]
            assert {i.zone for i in service.instances} <= set(world.zones)
        layers = {world.services[name].layer for name in world.services}
        assert len(layers) >= 4, "every journey goes at least three hops deep"
    assert min(sizes) >= 6 and max(sizes) <= 30 and len(set(sizes)) >= 10
    assert zones == {1, 2, 3}
    assert len(languages) >= 6 and languages <= set(LANGUAGES)


def test_dependencies_are_named_and_shared_as_the_analyzer_sees_them() -> None:
    case = generate("private_db", 5, sampling=Sampling("none"), traces_per_minute=60)
    assert case.world is not None
    callers: defaultdict[str, set[str]] = defaultdict(set)
    for span in spans_of(case):
        name = dependency_of(span)
        if name in case.world.dependencies:
            callers[name].add(span.service)
    kinds = {d.name: d.kind for d in case.world.dependencies.values()}
    for name, kind in kinds.items():
        if kind in ("postgres", "redis", "kafka"):
            assert len(callers[name]) >= 2, name
        else:
            assert len(callers[name]) == 1, name
    producers = [s for s in spans_of(case) if s.kind is SpanKind.PRODUCER]
    consumers = [s for s in spans_of(case) if s.kind is SpanKind.CONSUMER]
    assert producers and consumers
    assert all(s.attributes["messaging.system"] == "kafka" for s in [*producers, *consumers])
    assert {s.attributes["messaging.destination.name"] for s in producers} == {
        s.attributes["messaging.destination.name"] for s in consumers
    }


def test_head_sampling_keeps_whole_traces_and_metrics_count_every_request() -> None:
    full = generate("instance_cpu", 7, sampling=Sampling("none"), traces_per_minute=SMALL)
    sampled = generate("instance_cpu", 7, sampling=Sampling("head", 0.2), traces_per_minute=SMALL)
    whole = {t.trace_id: t for t in full.traces}
    assert 0.1 < len(sampled.traces) / len(full.traces) < 0.3
    for trace in sampled.traces:
        assert sorted(s.span_id for s in trace.spans) == sorted(
            s.span_id for s in whole[trace.trace_id].spans
        )
    assert [(m.name, m.labels, m.points) for m in sampled.metrics] == [
        (m.name, m.labels, m.points) for m in full.metrics
    ]
    assert sampled.world is not None
    edge = {s.name for s in sampled.world.services.values() if s.layer == 0}
    counted = sum(
        p.value * 10
        for m in sampled.metrics
        if m.name == "request_rate" and m.service in edge
        for p in m.points
    )
    kept_requests = sum(1 for t in sampled.traces if t.journey in sampled.world.journeys)
    assert round(counted) == sampled.generated["requests"] > 3 * kept_requests


def test_tail_sampling_keeps_every_failed_and_slow_trace() -> None:
    full = generate("service_exception", 2, sampling=Sampling("none"), traces_per_minute=SMALL)
    tail = generate("service_exception", 2, sampling=Sampling("tail", 0.1, 300.0), traces_per_minute=SMALL)
    kept = {t.trace_id for t in tail.traces}
    must = [t for t in full.traces if t.has_error or t.duration_ns >= 300 * 1_000_000]
    assert must and all(t.trace_id in kept for t in must)
    assert len(kept) < 0.6 * len(full.traces)


def parentless(trace: Trace) -> list[Span]:
    return [s for s in trace.spans if s.parent_span_id is None]


def test_broken_propagation_leaves_traces_without_parents() -> None:
    intact = generate("zone_loss", 1, propagation="intact", traces_per_minute=SMALL)
    for trace in intact.traces:
        ids = {s.span_id for s in trace.spans}
        assert len(parentless(trace)) == 1
        assert all(s.parent_span_id in ids for s in trace.spans if s.parent_span_id)
    lost = generate("zone_loss", 1, propagation="lost_parent", traces_per_minute=SMALL)
    assert lost.world is not None and lost.world.broken
    callees = {callee for _, callee in lost.world.broken}
    split = [t for t in lost.traces if len(parentless(t)) > 1]
    assert split and all(s.service in callees for t in split for s in parentless(t)[1:] if s is not t.root)
    fresh = generate("zone_loss", 1, propagation="new_trace", traces_per_minute=SMALL)
    assert fresh.world is not None
    fragments = [t for t in fresh.traces if t.journey not in fresh.world.journeys and t.root is not None]
    assert any(t.root.kind is SpanKind.SERVER and t.root.service in callees for t in fragments if t.root)
    assert fresh.generated["traces"] > fresh.generated["requests"]


def test_every_kind_has_a_complete_ground_truth() -> None:
    scopes: Counter[str] = Counter()
    for kind in FAULT_KINDS:
        for seed in range(6):
            world, injection, _ = build_world(kind, seed)
            fault = injection.fault
            scopes[fault.scope] += 1
            assert fault.kind == kind and fault.subject and fault.mode
            assert (fault.scope == "systemic") == (fault.level in SYSTEMIC_LEVELS)
            assert fault.level == KINDS[kind] or (kind == "release" and fault.level == "service")
            incident_start = 1_700_000_000 * S + seed * 3600 * S + 600 * S
            assert incident_start <= fault.onset_ns <= incident_start + 0.4 * INCIDENT_S * S
            if fault.level == "instance":
                assert fault.instance in [i.name for i in world.services[fault.target].instances]
            if fault.services:
                assert set(fault.services) <= set(world.services) and fault.target in fault.services
                assert (len(fault.services) >= 2) == (fault.level == "release") or kind == "feature_flag"
            if fault.level == "service":
                assert fault.target in world.services and fault.subject == fault.target
            if fault.level in ("dependency", "shared_dependency"):
                assert fault.target in world.dependencies
            if fault.level == "zone":
                assert fault.target in world.zones
    assert 0.35 < scopes["systemic"] / sum(scopes.values()) < 0.65


def test_confusers_are_drawn_independently_of_the_fault() -> None:
    seen: Counter[str] = Counter()
    for seed in range(10):
        case = generate("platform", seed, traces_per_minute=2)
        assert case.confusers is not None
        found = {
            "deploy": case.confusers.benign_deploy,
            "noisy": case.confusers.noisy_instance,
            "batch": case.confusers.batch,
        }
        seen.update(name for name, present in found.items() if present)
        if case.confusers.benign_deploy is not None:
            service, _, at = case.confusers.benign_deploy
            assert case.incident[0] < at < case.incident[1]
            assert service not in (case.fault.target, *case.fault.services)
    assert all(0 < seen[name] < 10 for name in ("deploy", "noisy", "batch"))


def test_a_cpu_starved_instance_is_slower_than_its_peers() -> None:
    case = generate("instance_cpu", 11, sampling=Sampling("none"), traces_per_minute=SMALL)
    fault = case.fault
    after = [
        s
        for s in spans_of(case)
        if s.service == fault.target and s.kind is SpanKind.SERVER and s.start_ns >= fault.onset_ns
    ]
    mine = [s.duration_ns for s in after if s.instance == fault.instance]
    peers = [s.duration_ns for s in after if s.instance != fault.instance]
    assert statistics.median(mine) > 2 * statistics.median(peers)
    cpu = next(
        m
        for m in case.metrics
        if m.name == "cpu_utilization" and m.labels["service.instance.id"] == fault.instance
    )
    assert min(p.value for p in cpu.points if p.time_ns >= fault.onset_ns + 10 * S) > 90


def test_a_release_brings_its_version_and_errors_with_it() -> None:
    seed = next(s for s in range(50) if build_world("release", s)[1].fault.level == "release")
    case = generate("release", seed, sampling=Sampling("none"), traces_per_minute=SMALL)
    fault = case.fault
    before = {s.service_version for s in spans_of(case) if s.start_ns < case.incident[0]}
    carrying = {s.service for s in spans_of(case) if s.service_version == fault.subject}
    assert fault.subject not in before and carrying == set(fault.services)
    errors = [r for r in case.logs if r.severity_text == "ERROR" and r.time_ns >= fault.onset_ns]
    assert errors and all(r.trace_id and r.span_id for r in errors)


def test_the_written_files_carry_what_the_generator_made(tmp_path: Path) -> None:
    seed = next(s for s in range(50) if build_world("kafka_lag", s)[0].kafka_linked)
    case = generate("kafka_lag", seed, traces_per_minute=10)
    write_case(tmp_path, case)
    spans = read_spans(tmp_path / "traces.jsonl").items
    made = spans_of(case)
    assert len(spans) == len(made)
    assert Counter(s.kind for s in spans) == Counter(s.kind for s in made)
    assert {(s.instance, s.zone, s.service_version, s.language) for s in spans} == {
        (s.instance, s.zone, s.service_version, s.language) for s in made
    }
    linked = [s for s in spans if s.kind is SpanKind.CONSUMER]
    assert linked and all(len(s.links) == 1 for s in linked)
    assert sum(len(s.events) for s in spans) == sum(len(s.events) for s in made)
    assert len(read_logs(tmp_path / "logs.jsonl").items) == len(case.logs)
