"""A labelled incident generator: a polyglot shop, a healthy baseline, one injected fault.

Thirteen services (three instances each, across zones a/b/c) serve three journeys; they
share a PostgreSQL, a Redis and a third-party payment API. Each scenario emits traces,
logs and metrics for a baseline window and an incident window, with the fault showing
where it would in reality (a slow instance in its latency and CPU, a bad release in errors
and new log lines, a shared database in every caller's latency) among noise: a baseline
error rate, a noisy unrelated metric, a benign deploy elsewhere, retries that make callers
fail too, and a background job. The ground truth says which service or dependency is at
fault and whether the fault is localized or systemic.

Used by the fast regression tests of the correlators and by ``bench/rca_eval.py``.
Deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import count

from correlators.analyze import AnalysisInput
from correlators.changes import Change
from correlators.metrics import Window
from correlators.model import (
    LogRecord,
    MetricPoint,
    MetricSeries,
    Span,
    SpanKind,
    StatusCode,
    Trace,
)

S = 1_000_000_000
MS = 1_000_000
ZONES = ("a", "b", "c")
LANGUAGE = {
    "frontend": "nodejs",
    "auth": "nodejs",
    "search": "python",
    "catalog": "go",
    "recommendation": "python",
    "cart": "python",
    "checkout": "python",
    "pricing": "java",
    "inventory": "go",
    "payments": "python",
    "orders": "java",
    "shipping": "nodejs",
    "notifications": "python",
}
SERVICES = tuple(LANGUAGE)
DEPENDENCIES = {
    "postgres": {"db.system": "postgresql", "db.name": "shop"},
    "redis": {"db.system": "redis"},
    "stripe": {"peer.service": "stripe", "server.address": "api.stripe.example"},
}


@dataclass(frozen=True)
class Call:
    """One operation of a service: its own work, then its calls in order."""

    service: str
    operation: str
    self_ms: float
    calls: tuple[Call | str, ...] = ()
    """Nested operations of other services, or dependency names (postgres, redis, stripe)."""


JOURNEYS: dict[str, Call] = {
    "login": Call("frontend", "POST /login", 8, (Call("auth", "POST /login", 12, ("postgres", "redis")),)),
    "search": Call(
        "frontend",
        "GET /search",
        6,
        (
            Call(
                "search",
                "GET /search",
                15,
                (
                    "redis",
                    Call("catalog", "GET /items", 10, ("postgres",)),
                    Call(
                        "recommendation",
                        "GET /recs",
                        20,
                        (Call("catalog", "GET /items", 10, ("postgres",)),),
                    ),
                ),
            ),
        ),
    ),
    "checkout": Call(
        "frontend",
        "POST /checkout",
        10,
        (
            Call(
                "checkout",
                "POST /checkout",
                15,
                (
                    Call("cart", "GET /cart", 8, ("redis",)),
                    Call("pricing", "POST /quote", 12),
                    Call("inventory", "POST /reserve", 10, ("postgres",)),
                    Call("payments", "POST /charge", 10, ("stripe",)),
                    Call("orders", "POST /orders", 10, ("postgres", Call("notifications", "send", 5))),
                    Call("shipping", "POST /ship", 8),
                ),
            ),
        ),
    ),
}
METRIC_NAMES = {"postgres": "postgresql:shop", "redis": "redis", "stripe": "stripe"}
"""Dependencies' metrics carry the names their client spans give them (see topology)."""
DEPENDENCY_MS = {"postgres": 6.0, "redis": 1.0, "stripe": 120.0}


@dataclass(frozen=True)
class Fault:
    kind: str
    target: str
    """The faulty service or dependency (the ground truth at service level)."""
    scope: str
    """"localized" or "systemic"."""
    level: str
    instance: str | None = None
    operation: str | None = None
    services: tuple[str, ...] = ()
    """For faults spread over several services: which ones."""


FAULT_KINDS = (
    "instance_cpu",
    "instance_gc",
    "deploy_exception",
    "slow_operation",
    "third_party_slow",
    "instance_network",
    "shared_db_slow",
    "cache_down",
    "zone_loss",
    "release_multi",
    "flag_across",
    "traffic_surge",
)


@dataclass
class Scenario:
    fault: Fault
    baseline: tuple[int, int]
    incident: tuple[int, int]
    traces: list[Trace] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    metrics: list[MetricSeries] = field(default_factory=list)

    def analysis_input(self, changes: Sequence[Change] = ()) -> AnalysisInput:
        """The case as one analysis of its two windows takes it."""
        return AnalysisInput(
            traces=self.traces,
            logs=self.logs,
            metrics=self.metrics,
            baseline=Window(*self.baseline),
            incident=Window(*self.incident),
            changes=changes,
        )


def pick_fault(kind: str, rng: random.Random) -> Fault:
    """A concrete fault of ``kind`` with its target drawn at random."""
    if kind == "instance_cpu":
        svc = rng.choice(["catalog", "cart", "inventory", "pricing", "auth", "search"])
        return Fault(kind, svc, "localized", "instance", instance=f"{svc}-{rng.choice(ZONES)}")
    if kind == "instance_gc":
        svc = rng.choice(["orders", "pricing", "recommendation", "checkout"])
        return Fault(kind, svc, "localized", "instance", instance=f"{svc}-{rng.choice(ZONES)}")
    if kind == "instance_network":
        svc = rng.choice(["cart", "inventory", "auth", "catalog"])
        return Fault(kind, svc, "localized", "instance", instance=f"{svc}-{rng.choice(ZONES)}")
    if kind == "deploy_exception":
        return Fault(
            kind,
            rng.choice(["pricing", "cart", "auth", "search", "orders"]),
            "localized",
            "service",
        )
    if kind == "slow_operation":
        svc, op = rng.choice(
            [("inventory", "POST /reserve"), ("catalog", "GET /items"), ("orders", "POST /orders")]
        )
        return Fault(kind, svc, "localized", "operation", operation=op)
    if kind == "third_party_slow":
        return Fault(kind, "stripe", "localized", "dependency")
    if kind == "shared_db_slow":
        return Fault(kind, "postgres", "systemic", "shared_dependency")
    if kind == "cache_down":
        return Fault(kind, "redis", "systemic", "shared_dependency")
    if kind == "zone_loss":
        return Fault(kind, f"zone-{rng.choice(ZONES)}", "systemic", "zone")
    if kind == "release_multi":
        services = tuple(sorted(rng.sample(["cart", "pricing", "search", "auth", "orders"], 3)))
        return Fault(kind, services[0], "systemic", "release", services=services)
    if kind == "flag_across":
        return Fault(kind, "pricing", "systemic", "feature_flag", services=("cart", "checkout", "pricing"))
    if kind == "traffic_surge":
        return Fault(kind, "frontend", "systemic", "traffic")
    raise ValueError(f"unknown fault kind {kind!r}")


def generate(kind: str, seed: int, *, traces_per_minute: int = 40) -> Scenario:
    """A 10-minute baseline and a 5-minute incident with one fault of ``kind``."""
    rng = random.Random(seed)
    fault = pick_fault(kind, rng)
    start = 1_700_000_000 * S + seed * 3600 * S
    scenario = Scenario(fault, (start, start + 600 * S), (start + 600 * S, start + 900 * S))
    world = _World(rng, fault, scenario)
    for window, faulty in ((scenario.baseline, False), (scenario.incident, True)):
        rate = traces_per_minute * (3 if faulty and kind == "traffic_surge" else 1)
        minutes = (window[1] - window[0]) / (60 * S)
        for _ in range(int(rate * minutes)):
            world.request(rng.randrange(window[0], window[1]), faulty)
        world.background_job(window[0] + 30 * S)
    world.emit_metrics()
    return scenario


class _World:
    def __init__(self, rng: random.Random, fault: Fault, scenario: Scenario) -> None:
        self.rng = rng
        self.fault = fault
        self.scenario = scenario
        self.ids = count(1)
        self.samples: dict[tuple[str, str], list[tuple[int, float, bool]]] = {}

    # --- requests ------------------------------------------------------------------------

    def request(self, at_ns: int, faulty: bool) -> None:
        journey = self.rng.choices(list(JOURNEYS), weights=(3, 4, 3))[0]
        trace_id = f"{self.rng.getrandbits(128):032x}"
        context = {
            "flag": self.rng.random() < 0.5,
            "tier": self.rng.choice(["free", "pro", "enterprise"]),
            "zone": self.rng.choice(ZONES),
        }
        spans: list[Span] = []
        self._call(JOURNEYS[journey], trace_id, None, at_ns, faulty, context, spans)
        spans[0].attributes["session.id"] = f"s-{self.rng.randrange(500)}"
        self.scenario.traces.append(Trace(trace_id, spans, journey=journey))

    def _call(
        self,
        call: Call,
        trace_id: str,
        parent: str | None,
        start: int,
        faulty: bool,
        context: dict[str, object],
        spans: list[Span],
    ) -> tuple[int, bool]:
        """Emit the server span of ``call`` and everything under it; (end, failed)."""
        instance = self._instance(call.service, context)
        span = self._span(trace_id, parent, call.service, call.operation, SpanKind.SERVER, start, instance)
        spans.append(span)
        if call.service in ("pricing", "cart", "checkout"):
            span.attributes["feature_flag.new_pricing"] = bool(context["flag"])
        cursor = start + self._ms(call.self_ms * self._slowdown(call, instance, faulty, context))
        failed = self._own_failure(call, instance, faulty, context, span)
        for child in call.calls:
            cursor, child_failed = self._outgoing(
                child, span, trace_id, cursor, faulty, context, spans, instance
            )
            failed = failed or child_failed
        span.end_ns = cursor + self._ms(1)
        if failed:
            span.status = StatusCode.ERROR
            span.attributes["http.response.status_code"] = 500
        else:
            span.attributes["http.response.status_code"] = 200
        self._record(span, instance)
        return span.end_ns, failed

    def _outgoing(
        self,
        child: Call | str,
        caller: Span,
        trace_id: str,
        start: int,
        faulty: bool,
        context: dict[str, object],
        spans: list[Span],
        instance: str,
    ) -> tuple[int, bool]:
        name = child if isinstance(child, str) else child.service
        client = self._span(
            trace_id,
            caller.span_id,
            caller.service,
            f"call {name}",
            SpanKind.CLIENT,
            start,
            instance,
        )
        spans.append(client)
        latency = self._network(instance, faulty)
        if isinstance(child, str):
            client.attributes.update(DEPENDENCIES[child])
            took, failed = self._dependency(child, faulty, start)
            end = start + latency + took
        else:
            end, failed = self._call(
                child, trace_id, client.span_id, start + latency // 2, faulty, context, spans
            )
            end += latency // 2
            if failed and self.rng.random() < 0.5:  # one retry, which may succeed
                client.end_ns, client.status = end, StatusCode.ERROR  # the failed attempt ends here
                client = self._span(
                    trace_id,
                    caller.span_id,
                    caller.service,
                    f"call {name}",
                    SpanKind.CLIENT,
                    end,
                    instance,
                )
                spans.append(client)  # the retry: its outcome is the call's
                end, failed = self._call(child, trace_id, client.span_id, end, faulty, context, spans)
        client.end_ns = end
        if failed:
            client.status = StatusCode.ERROR
        return end, failed

    def background_job(self, at_ns: int) -> None:
        trace_id = f"{self.rng.getrandbits(128):032x}"
        job = self._span(trace_id, None, "orders", "cron cleanup", SpanKind.INTERNAL, at_ns, "orders-a")
        job.end_ns = at_ns + 2 * S
        self.scenario.traces.append(Trace(trace_id, [job]))

    # --- how the fault shows -------------------------------------------------------------

    def _instance(self, service: str, context: dict[str, object]) -> str:
        zone = context["zone"] if self.rng.random() < 0.7 else self.rng.choice(ZONES)
        return f"{service}-{zone}"

    def _slowdown(self, call: Call, instance: str, faulty: bool, context: dict[str, object]) -> float:
        f = self.fault
        if not faulty:
            return 1.0
        if f.kind == "instance_cpu" and instance == f.instance:
            return 8.0
        if f.kind == "instance_gc" and instance == f.instance and self.rng.random() < 0.6:
            return 12.0
        if f.kind == "slow_operation" and call.service == f.target and call.operation == f.operation:
            return 30.0
        if f.kind == "flag_across" and call.service in f.services and context["flag"]:
            return 15.0
        if f.kind == "traffic_surge":
            return 2.5
        return 1.0

    def _network(self, instance: str, faulty: bool) -> int:
        base = self._ms(0.5)
        if faulty and self.fault.kind == "instance_network" and instance == self.fault.instance:
            return base + self._ms(250)
        if faulty and self.fault.kind == "zone_loss" and instance.endswith(self.fault.target[-1]):
            return base + self._ms(400)
        return base

    def _own_failure(
        self, call: Call, instance: str, faulty: bool, context: dict[str, object], span: Span
    ) -> bool:
        f = self.fault
        version = "1.4.2"
        failing = self.rng.random() < 0.003
        if faulty and f.kind == "deploy_exception" and call.service == f.target:
            version = "1.5.0"
            failing = failing or self.rng.random() < 0.5
        if faulty and f.kind == "release_multi" and call.service in f.services:
            version = "2.0.0"
            failing = failing or self.rng.random() < 0.35
        if faulty and f.kind == "zone_loss" and instance.endswith(f.target[-1]):
            failing = failing or self.rng.random() < 0.3
        if call.service == "shipping" and span.start_ns > self.scenario.incident[0] + 60 * S:
            version = "3.1.0"  # a benign deploy elsewhere
        span.service_version = version
        if failing:
            self._log(span, 17, self._error_line(call, faulty))
        elif self.rng.random() < 0.2:
            self._log(span, 9, f"handled {call.operation} in {self.rng.randrange(5, 50)} ms")
        return failing

    def _error_line(self, call: Call, faulty: bool) -> str:
        f = self.fault
        if (
            faulty
            and f.kind in ("deploy_exception", "release_multi")
            and (call.service == f.target or call.service in f.services)
        ):
            line = self.rng.randrange(10, 99)
            return f"NullPointerException in {call.operation} handler at line {line}"
        if faulty and f.kind == "zone_loss":
            return f"upstream connect error after {self.rng.randrange(900, 1100)} ms"
        return f"request {self.rng.randrange(10**6)} failed: internal error"

    def _dependency(self, name: str, faulty: bool, at: int) -> tuple[int, bool]:
        took = DEPENDENCY_MS[name] * self.rng.lognormvariate(0, 0.3)
        failed = False
        if faulty and self.fault.target == name:
            if self.fault.kind in ("shared_db_slow", "third_party_slow"):
                took *= 25 if name == "postgres" else 8
            if self.fault.kind == "cache_down":
                failed = self.rng.random() < 0.7
        metric_name = METRIC_NAMES[name]
        self.samples.setdefault((metric_name, metric_name), []).append((at, took, failed))
        return self._ms(took), failed

    # --- signals -------------------------------------------------------------------------

    def _span(
        self,
        trace_id: str,
        parent: str | None,
        service: str,
        name: str,
        kind: SpanKind,
        start: int,
        instance: str,
    ) -> Span:
        return Span(
            trace_id,
            f"{next(self.ids):016x}",
            parent,
            service,
            name,
            start,
            start,
            kind=kind,
            instance=instance,
            zone=f"eu-west-1{instance[-1]}",
            region="eu-west-1",
            language=LANGUAGE[service],
            service_version="1.4.2",
        )

    def _ms(self, value: float) -> int:
        return int(value * MS * self.rng.lognormvariate(0, 0.15))

    def _log(self, span: Span, severity: int, body: str) -> None:
        self.scenario.logs.append(
            LogRecord(
                span.start_ns,
                span.service,
                body,
                "ERROR" if severity >= 17 else "INFO",
                severity,
                span.trace_id,
                span.span_id,
                span.instance,
            )
        )

    def _record(self, span: Span, instance: str) -> None:
        self.samples.setdefault((span.service, instance), []).append(
            (span.start_ns, (span.end_ns - span.start_ns) / MS, span.status is StatusCode.ERROR)
        )

    def emit_metrics(self) -> None:
        """Per instance, every 10 s: CPU, memory, request rate, error rate, mean latency."""
        start, end = self.scenario.baseline[0], self.scenario.incident[1]
        for service in SERVICES:
            for zone in ZONES:
                self._instance_metrics(service, f"{service}-{zone}", start, end)
        for name in METRIC_NAMES.values():
            self._instance_metrics(name, name, start, end)

    def _instance_metrics(self, service: str, instance: str, start: int, end: int) -> None:
        samples = self.samples.get((service, instance), [])
        buckets: dict[int, list[tuple[float, bool]]] = {}
        for at, latency, failed in samples:
            buckets.setdefault((at - start) // (10 * S), []).append((latency, failed))
        labels = {"service.name": service, "service.instance.id": instance}
        series = {
            name: MetricSeries(name, dict(labels)) for name in ("cpu", "memory", "rps", "errors", "latency")
        }
        for index in range((end - start) // (10 * S)):
            at = start + index * 10 * S
            faulty = at >= self.scenario.incident[0]
            got = buckets.get(index, [])
            cpu = 30 + self.rng.gauss(0, 3) + len(got) * 0.5
            memory = 400 + self.rng.gauss(0, 10)
            if faulty and self.fault.instance == instance and self.fault.kind == "instance_cpu":
                cpu = 95 + self.rng.gauss(0, 2)
            if faulty and self.fault.instance == instance and self.fault.kind == "instance_gc":
                memory = 1500 + self.rng.gauss(0, 50)
            if service == "recommendation":
                cpu += self.rng.gauss(0, 15)  # a noisy, unrelated metric
            values = {
                "cpu": cpu,
                "memory": memory,
                "rps": len(got) / 10,
                "errors": sum(f for _, f in got) / 10,
                "latency": sum(lat for lat, _ in got) / len(got) if got else 0.0,
            }
            for name, value in values.items():
                series[name].points.append(MetricPoint(at, value))
        self.scenario.metrics.extend(series.values())
