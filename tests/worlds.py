"""Harder labelled incidents: a random world per case, one injected fault, confusers.

Why a second generator: ``tests/scenarios.py`` has one fixed 13-service shop, and the
analyzer was tuned on it by the same hands, so it agrees with it by construction (1.000
there against scope 0.78 / level 0.40 on a hidden set). Here each case draws its own world
from the seed: 6-30 services with random names in 3-7 languages, 1-4 replicas over 1-3
zones, 2-4 journeys fanning out through several hops, a shared PostgreSQL, Redis and Kafka,
a private database and a third-party API. Telemetry is collected as it is in production:
head or tail sampling (metrics counted before it), context propagation broken on some hops,
logs with and without errors. Confusers are drawn independently of the fault: a benign
deploy elsewhere, a noisy metric, a slow but healthy batch job, a background error rate,
a fault that begins mid-window.

The ground truth (:class:`WorldFault`) names the target at service level (a service, or a
dependency as ``correlators.topology.dependency_of`` names it), the scope, the level and
its subject (instance, version, ``feature_flag.<name>=<value>``, zone).

Deterministic per (kind, seed): every random draw comes from one ``random.Random`` seeded
with both, and sampling decisions come from trace ids, never from that stream, so the
same case sampled differently has the same requests (the tests rely on it).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import count

from correlators.model import (
    AttrValue,
    LogRecord,
    MetricPoint,
    MetricSeries,
    Span,
    SpanEvent,
    SpanKind,
    SpanLink,
    StatusCode,
    Trace,
    root_of,
)
from tests.scenarios import Fault, Scenario

S = 1_000_000_000
MS = 1_000_000
BASELINE_S = 600
INCIDENT_S = 300
STEP_S = 10
"""Metric resolution: one point per series every 10 s."""

KINDS: dict[str, str] = {
    "instance_cpu": "instance",
    "instance_gc": "instance",
    "instance_network": "instance",
    "service_exception": "service",
    "service_slow_endpoint": "service",
    "third_party": "dependency",
    "private_db": "dependency",
    "shared_db_contention": "shared_dependency",
    "shared_cache_outage": "shared_dependency",
    "kafka_lag": "shared_dependency",
    "release": "release",
    "feature_flag": "feature_flag",
    "zone_loss": "zone",
    "traffic_surge": "traffic",
    "platform": "platform",
}
"""Fault kind -> the level its ground truth has (a release of one service: service; a flag
is the flag however many services run its code)."""
FAULT_KINDS = tuple(KINDS)
SYSTEMIC_LEVELS = frozenset({"shared_dependency", "release", "feature_flag", "zone", "traffic", "platform"})

LANGUAGES = ("python", "nodejs", "java", "go", "dotnet", "ruby", "php", "rust")
_REGIONS = (
    ("eu-west-1", "{r}{z}"),
    ("us-east-2", "{r}{z}"),
    ("europe-west4", "{r}-{z}"),
    ("eastus2", "{r}-{n}"),
)
_ONSETS = (*"bdfgklmnprstvz", "br", "kr", "st", "tr", "pl", "sh")
_NUCLEI = ("a", "e", "i", "o", "u", "ai", "ou", "ea")
_SUFFIXES = ("", "", "", "-svc", "-api", "-service", "-core", "d", "-app")
_VERBS = ("Get", "List", "Create", "Update", "Check", "Compute", "Resolve", "Sync")
_EXCEPTIONS = {
    "python": ("KeyError: '{w}'", "AttributeError: 'NoneType' object has no attribute '{w}'"),
    "nodejs": ("TypeError: Cannot read properties of undefined (reading '{w}')",),
    "java": ('java.lang.NullPointerException: Cannot invoke "{W}.get()" because "{w}" is null',),
    "go": ("panic: runtime error: invalid memory address or nil pointer dereference in {w}",),
    "dotnet": ("System.NullReferenceException: Object reference not set to an instance of an object at {W}",),
    "ruby": ("NoMethodError: undefined method `{w}' for nil:NilClass",),
    "php": ("TypeError: {W}::{w}(): Argument #1 must be of type array, null given",),
    "rust": (
        "thread 'tokio-runtime-worker' panicked at 'called `Option::unwrap()` on a `None` value' in {w}",
    ),
}
_BACKGROUND_ERRORS = (
    "timeout acquiring connection from pool after {n} ms",
    "request {n} failed: internal error",
    "unexpected EOF while reading body of request {n}",
)
_CALLER_LINES = (
    "call to {svc} failed: {why}",
    "upstream {svc} returned an error for {op}: {why}",
    "Request to {svc} failed ({why})",
)


# --- the world ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instance:
    name: str
    """``<service>-<n>``."""
    zone: str


@dataclass(eq=False)
class Operation:
    """One operation of a service: its own work, then its steps in order."""

    service: str
    name: str
    self_ms: float
    kind: SpanKind = SpanKind.SERVER
    steps: list[Step] = field(default_factory=list)
    callers: int = 0


@dataclass(eq=False)
class Step:
    """A call to another service's operation, a query to a dependency, or a Kafka publish
    (whose ``target`` is the consuming operation). Steps below probability 1 run for some
    requests only, as code paths do."""

    kind: str
    name: str
    target: Operation | None = None
    dependency: str | None = None
    probability: float = 1.0
    optional: bool = False
    """The caller survives this step failing (a cache it can do without)."""
    retries: int = 0
    timeout_ms: float = 3000.0
    backbone: bool = False
    """The first call of an operation: kept at probability 1 so journeys stay deep."""


@dataclass
class Service:
    name: str
    language: str
    protocol: str
    """"http" or "grpc"."""
    version: str
    layer: int
    """Calls only go to deeper layers: the call graph is a DAG by construction."""
    utilization: float
    """Baseline share of capacity in use; a traffic surge pushes it toward saturation."""
    instances: list[Instance] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)


@dataclass
class Dependency:
    name: str
    """As ``correlators.topology.dependency_of`` names it from the client span."""
    kind: str
    """postgres, mysql, mongodb, redis, kafka or http (a third-party API)."""
    attributes: dict[str, AttrValue]
    base_ms: float
    users: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Sampling:
    mode: str
    """"none", "head" (parent-based trace-id ratio) or "tail" (errors, slow, a share of the rest)."""
    ratio: float = 1.0
    slow_ms: float = 0.0


@dataclass
class World:
    region: str
    zones: tuple[str, ...]
    services: dict[str, Service]
    dependencies: dict[str, Dependency]
    journeys: dict[str, Operation]
    weights: dict[str, float]
    traces_per_minute: int
    sampling: Sampling
    broken: dict[tuple[str, str], str]
    """(caller, callee) -> "new_trace" or "lost_parent": hops that lose the context."""
    kafka_linked: bool
    """Consumers start their own trace linked to the producer (else they are its child)."""
    flags: dict[str, list[str]]
    """Benign feature flags -> the services that evaluate them."""
    background_error: float


@dataclass(frozen=True)
class WorldFault(Fault):
    """The ground truth, with what the level is about and when the fault began."""

    subject: str = ""
    onset_ns: int = 0
    mode: str = ""
    """How it shows: slow, fail or both."""


@dataclass
class Injection:
    """How the fault acts on requests; effect sizes drawn per case."""

    fault: WorldFault
    factor: float = 1.0
    added_ms: float = 0.0
    error_rate: float = 0.0
    share: float = 1.0
    version: str = ""
    flag: str = ""
    value: str = ""
    lag_ms: float = 0.0
    """Kafka: how much longer messages wait for a consumer."""
    rollout: dict[str, int] = field(default_factory=dict)
    """Instance -> when it ran the new version (a rolling deploy)."""


@dataclass(frozen=True)
class Confusers:
    benign_deploy: tuple[str, str, int] | None
    """(service, version, from when)."""
    noisy_instance: str | None
    noisy_step: bool
    batch: tuple[str, str] | None
    """(instance, job name)."""


@dataclass
class WorldCase(Scenario):
    """A generated incident: the scenario fields ``write_case`` reads, plus the world."""

    fault: WorldFault
    world: World | None = None
    confusers: Confusers | None = None
    generated: Counter[str] = field(default_factory=Counter)
    """Before sampling: journey requests, traces, spans."""


# --- names -------------------------------------------------------------------------------


class _Names:
    """Pronounceable random names, never twice in a world: no rule can fit names."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def word(self, syllables: int = 2) -> str:
        while True:
            rng = self.rng
            text = "".join(rng.choice(_ONSETS) + rng.choice(_NUCLEI) for _ in range(syllables))
            text += rng.choice("nrslx") if rng.random() < 0.4 else ""
            if text not in self.used:
                self.used.add(text)
                return text

    def service(self) -> str:
        return self.word(self.rng.choice((1, 2, 2))) + self.rng.choice(_SUFFIXES)

    def operation(self, service: str, protocol: str) -> str:
        if protocol == "grpc":
            package, noun = service.split("-")[0], self.word().title()
            return f"{package}.v1.{self.word().title()}/{self.rng.choice(_VERBS)}{noun}"
        method = self.rng.choice(("GET", "GET", "POST", "PUT"))
        return f"{method} /{self.word()}" + ("/{id}" if self.rng.random() < 0.4 else "")


# --- building a world --------------------------------------------------------------------


class _Builder:
    """Draws one world: services in call layers, operations and calls, dependencies, then
    how its telemetry is collected."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names = _Names(rng)
        self.shares: dict[str, float] = {}
        """Service, dependency or "service operation" -> share of requests reaching it."""

    def build(self, zones_wanted: int | None = None) -> World:
        rng = self.rng
        region, zones = self._zones(zones_wanted)
        services = self._services(zones)
        journeys = self._operations(services)
        self._calls(services)
        _trim(journeys)
        weights = {name: rng.uniform(0.5, 2.0) for name in journeys}
        self.shares = _shares(journeys, weights)
        dependencies = self._dependencies(services)
        world = World(
            region=region,
            zones=zones,
            services=services,
            dependencies=dependencies,
            journeys=journeys,
            weights=weights,
            traces_per_minute=rng.randint(50, 150),
            sampling=self._sampling(),
            broken={},
            kafka_linked=rng.random() < 0.5,
            flags=self._benign_flags(services),
            background_error=rng.uniform(0.001, 0.01),
        )
        if rng.random() < 0.4:
            world.broken = broken_hops(services, rng)
        return world

    def _zones(self, wanted: int | None) -> tuple[str, tuple[str, ...]]:
        region, pattern = self.rng.choice(_REGIONS)
        n = wanted or self.rng.randint(1, 3)
        return region, tuple(pattern.format(r=region, z="abc"[i], n=i + 1) for i in range(n))

    def _services(self, zones: tuple[str, ...]) -> dict[str, Service]:
        rng = self.rng
        n = rng.randint(6, 30)
        edge = 1 if n < 10 else rng.randint(1, 2)
        depth = min(rng.randint(3, 5), n - edge)
        layers = [0] * edge + list(range(1, depth + 1))
        layers += [rng.randint(1, depth) for _ in range(n - len(layers))]
        palette = rng.sample(LANGUAGES, rng.randint(3, 7))
        train = (
            f"{rng.randint(2023, 2025)}.{rng.randint(1, 12)}.{rng.randint(0, 9)}"
            if rng.random() < 0.3
            else ""
        )
        services = {}
        for layer in sorted(layers):
            name = self.names.service()
            protocol = "http" if layer == 0 or rng.random() < 0.6 else "grpc"
            version = train or f"{rng.randint(0, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
            services[name] = Service(
                name, rng.choice(palette), protocol, version, layer, rng.uniform(0.08, 0.3)
            )
            services[name].instances = _instances(
                name, rng.choices((1, 2, 3, 4), (2, 4, 3, 1))[0], zones, rng
            )
        return services

    def _operations(self, services: dict[str, Service]) -> dict[str, Operation]:
        """Entry operations (one per journey) on the edge services; 1-3 on the others."""
        rng = self.rng
        edge = [s for s in services.values() if s.layer == 0]
        journeys = {}
        for j in range(rng.randint(2, 4)):
            service = edge[j % len(edge)]
            op = Operation(service.name, self.names.operation(service.name, "http"), rng.uniform(2, 8))
            service.operations.append(op)
            journeys[self.names.word()] = op
        most = 3 if len(services) <= 10 else 2 if len(services) <= 18 else 1
        for service in services.values():
            for _ in range(rng.randint(1, most) if service.layer else 0):
                name = self.names.operation(service.name, service.protocol)
                service.operations.append(Operation(service.name, name, rng.uniform(1, 15)))
        return journeys

    def _calls(self, services: dict[str, Service]) -> None:
        """Each operation calls one of the next layer (so journeys go several hops deep),
        sometimes more of deeper layers; an operation nobody calls gets a caller."""
        rng = self.rng
        by_layer: defaultdict[int, list[Operation]] = defaultdict(list)
        for service in services.values():
            by_layer[service.layer].extend(service.operations)
        depth = max(by_layer)
        for layer in range(depth):
            deeper = [op for k in range(layer + 1, depth + 1) for op in by_layer[k]]
            for op in by_layer[layer]:
                self._call(op, rng.choice(by_layer[layer + 1]), 1.0, backbone=True)
                extra = rng.randint(1, 3) if layer == 0 else int(rng.random() < 0.35)
                for target in rng.sample(deeper, min(extra, len(deeper))):
                    self._call(op, target, rng.choice((1.0, 1.0, 0.7, 0.4)))
        for layer in range(1, depth + 1):
            for op in by_layer[layer]:
                if op.callers == 0:
                    self._call(rng.choice(by_layer[layer - 1]), op, rng.choice((1.0, 0.6)))

    def _call(self, caller: Operation, target: Operation, probability: float, backbone: bool = False) -> None:
        if any(step.target is target for step in caller.steps):
            return
        rng = self.rng
        caller.steps.append(
            Step(
                "call",
                target.name,
                target=target,
                probability=probability,
                optional=rng.random() < 0.2,
                retries=int(rng.random() < 0.3),
                timeout_ms=rng.choice((1000.0, 2000.0, 5000.0)),
                backbone=backbone,
            )
        )
        target.callers += 1

    def _dependencies(self, services: dict[str, Service]) -> dict[str, Dependency]:
        """The shared PostgreSQL, Redis and Kafka; a third-party API and a private database,
        each called by one busy service (a fault nobody's requests reach is no incident)."""
        rng = self.rng
        inner = [s for s in services.values() if s.layer > 0]
        busy = [s for s in inner if self.shares.get(s.name, 0.0) >= 0.3] or inner
        everyone = list(services.values())
        found: dict[str, Dependency] = {}
        db = self.names.word()
        shared = Dependency(f"postgresql:{db}", "postgres", {"db.system": "postgresql", "db.name": db}, 3.0)
        self._use(shared, rng.sample(inner, max(2, round(len(inner) * 0.4))), found)
        cache = Dependency(
            "redis", "redis", {"db.system": "redis", "server.address": f"{self.names.word()}-cache"}, 0.6
        )
        self._use(cache, rng.sample(everyone, max(2, round(len(everyone) * 0.3))), found)
        self._kafka(inner, busy, shared, found)
        vendor = self.names.word()
        api = Dependency(
            vendor, "http", {"peer.service": vendor, "server.address": f"api.{vendor}.example"}, 90.0
        )
        self._use(api, [rng.choice(busy)], found)
        system = rng.choice(("postgresql", "mysql", "mongodb"))
        own = self.names.word()
        private = Dependency(f"{system}:{own}", system, {"db.system": system, "db.name": own}, 2.5)
        self._use(private, [rng.choice(busy)], found)
        return found

    def _use(self, dependency: Dependency, users: list[Service], found: dict[str, Dependency]) -> None:
        found[dependency.name] = dependency
        for n, service in enumerate(users):
            op = self.rng.choice(service.operations) if len(users) > 1 else self._main_operation(service)
            for _ in range(self.rng.randint(1, 2) if dependency.kind != "http" else 1):
                op.steps.append(
                    Step(
                        "query",
                        _statement(dependency.kind, self.names, self.rng),
                        dependency=dependency.name,
                        probability=self.rng.choice((1.0, 1.0, 0.7)),
                        optional=dependency.kind == "redis" and n > 0 and self.rng.random() < 0.5,
                    )
                )
            if service.name not in dependency.users:
                dependency.users.append(service.name)

    def _main_operation(self, service: Service) -> Operation:
        """The operation most requests reach: where a private dependency matters most."""
        served = [op for op in service.operations if op.kind is SpanKind.SERVER]
        return max(served, key=lambda op: (self.shares.get(f"{op.service} {op.name}", 0.0), op.name))

    def _kafka(
        self, inner: list[Service], busy: list[Service], shared: Dependency, found: dict[str, Dependency]
    ) -> None:
        """Two or three producers publish to a topic that one or two services consume."""
        rng = self.rng
        topic = f"{self.names.word()}.events"
        kafka = Dependency(
            "kafka", "kafka", {"messaging.system": "kafka", "messaging.destination.name": topic}, 2.0
        )
        found["kafka"] = kafka
        consumers = rng.sample(inner, rng.randint(1, 2))
        handlers = []
        for service in consumers:
            handler = Operation(service.name, f"{topic} process", rng.uniform(2, 10), SpanKind.CONSUMER)
            service.operations.append(handler)
            handlers.append(handler)
        producers = [s for s in busy if s not in consumers]
        producers = producers if len(producers) >= 2 else [s for s in inner if s not in consumers] or inner
        for service in rng.sample(producers, min(len(producers), rng.randint(2, 3))):
            op = rng.choice([o for o in service.operations if o.kind is SpanKind.SERVER])
            op.steps.append(
                Step("publish", f"{topic} publish", target=rng.choice(handlers), dependency="kafka")
            )
            kafka.users.append(service.name)
        for handler in handlers:  # each handler writes what it consumed to the shared database
            handler.callers += 1
            handler.steps.append(Step("query", f"INSERT {self.names.word()}", dependency=shared.name))
            if handler.service not in shared.users:
                shared.users.append(handler.service)

    def _sampling(self) -> Sampling:
        rng = self.rng
        mode = rng.choices(("head", "tail", "none"), (0.45, 0.4, 0.15))[0]
        if mode == "head":
            return Sampling("head", rng.choice((0.1, 0.1, 0.2, 0.25, 0.5, 1.0)))
        if mode == "tail":
            return Sampling("tail", rng.uniform(0.05, 0.3), rng.choice((300.0, 500.0, 1000.0, 2000.0)))
        return Sampling("none")

    def _benign_flags(self, services: dict[str, Service]) -> dict[str, list[str]]:
        names = list(services)
        return {
            f"feature_flag.{self.names.word()}": self.rng.sample(names, self.rng.randint(1, 3))
            for _ in range(self.rng.randint(0, 2))
        }


def broken_hops(services: dict[str, Service], rng: random.Random) -> dict[tuple[str, str], str]:
    """One to three service-to-service hops whose callee starts a new trace or loses its
    parent (a proxy that drops the headers, an SDK that does not propagate)."""
    hops = sorted(
        {
            (op.service, step.target.service)
            for s in services.values()
            for op in s.operations
            for step in op.steps
            if step.kind == "call" and step.target is not None
        }
    )
    chosen = rng.sample(hops, min(len(hops), rng.randint(1, 3)))
    return {hop: rng.choice(("new_trace", "lost_parent")) for hop in chosen}


def _instances(service: str, replicas: int, zones: tuple[str, ...], rng: random.Random) -> list[Instance]:
    offset = rng.randrange(len(zones))
    return [Instance(f"{service}-{i + 1}", zones[(offset + i) % len(zones)]) for i in range(replicas)]


def _statement(kind: str, names: _Names, rng: random.Random) -> str:
    """The client span's name, as each client library would write it."""
    if kind in ("postgres", "postgresql", "mysql"):
        return f"{rng.choice(('SELECT', 'SELECT', 'INSERT', 'UPDATE'))} {names.word()}"
    if kind == "mongodb":
        return f"{rng.choice(('find', 'insert', 'update'))} {names.word()}"
    if kind == "redis":
        return rng.choice(("GET", "SET", "MGET", "HGETALL"))
    return f"POST /v1/{names.word()}"


MAX_SPANS = 20.0
"""Expected spans of one journey's calls (queries come on top); larger trees get rarer
optional paths, so that a case stays small enough to analyse in well under a second."""


def _trim(journeys: dict[str, Operation]) -> None:
    """Halve the probability of the costliest extra call until each journey's expected
    trace size is at most MAX_SPANS; the first call of each operation stays, so every
    journey keeps its depth."""
    for entry in journeys.values():
        while _expected_spans(entry) > MAX_SPANS:
            steps = [s for s in _reachable_steps(entry) if s.probability > 0.1 and not s.backbone]
            if not steps:
                break
            memo: dict[int, float] = {}
            worst = max(steps, key=lambda s: s.probability * _step_cost(s, memo))
            worst.probability /= 2


def _step_cost(step: Step, memo: dict[int, float]) -> float:
    return 1.0 + (_expected_spans(step.target, memo) if step.target is not None else 0.0)


def _expected_spans(op: Operation, memo: dict[int, float] | None = None) -> float:
    """Spans a request to ``op`` makes on average (memoized: operations are shared)."""
    memo = {} if memo is None else memo
    if id(op) not in memo:
        memo[id(op)] = 1.0 + sum(s.probability * _step_cost(s, memo) for s in op.steps)
    return memo[id(op)]


def _reachable_steps(entry: Operation) -> list[Step]:
    found: list[Step] = []
    stack = [entry]
    while stack:
        op = stack.pop()
        for step in op.steps:
            found.append(step)
            if step.target is not None:
                stack.append(step.target)
    return found


def visit_shares(world: World) -> dict[str, float]:
    """Service or dependency -> expected share of journey requests that reach it."""
    return _shares(world.journeys, world.weights)


def _shares(journeys: dict[str, Operation], weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    shares: defaultdict[str, float] = defaultdict(float)
    for journey, entry in journeys.items():
        visits: defaultdict[str, float] = defaultdict(float)
        _visit(entry, 1.0, visits)
        for node, n in visits.items():
            shares[node] += weights[journey] / total * min(1.0, n)
    return dict(shares)


def _visit(op: Operation, weight: float, visits: defaultdict[str, float]) -> None:
    visits[op.service] += weight
    visits[f"{op.service} {op.name}"] += weight
    for step in op.steps:
        if step.dependency is not None:
            visits[step.dependency] += weight * step.probability
        if step.target is not None:
            _visit(step.target, weight * step.probability, visits)


# --- the fault ---------------------------------------------------------------------------


def _busy(world: World, floor: float = 0.3) -> list[str]:
    """Services that enough requests reach for a fault on them to be seen at all."""
    shares = visit_shares(world)
    ranked = sorted(world.services, key=lambda s: -shares.get(s, 0.0))
    chosen = [s for s in ranked if shares.get(s, 0.0) >= floor]
    return chosen or ranked[:3]


def _onset(incident_start: int, rng: random.Random) -> int:
    """Faults begin 0-40 % into the incident window."""
    return incident_start + int(rng.uniform(0.0, 0.4) * INCIDENT_S * S)


def _instance_fault(kind: str, world: World, rng: random.Random, onset: int) -> Injection:
    name = rng.choice(_busy(world))
    service = world.services[name]
    if len(service.instances) < 2:
        service.instances = _instances(name, rng.randint(2, 3), world.zones, rng)
    target = rng.choice(service.instances).name
    fault = WorldFault(
        kind, name, "localized", "instance", instance=target, subject=target, onset_ns=onset, mode="slow"
    )
    if kind == "instance_cpu":
        return Injection(fault, factor=rng.uniform(4, 10), added_ms=rng.uniform(200, 600))
    if kind == "instance_gc":
        return Injection(fault, added_ms=rng.uniform(200, 900), share=rng.uniform(0.5, 0.9))
    return Injection(fault, added_ms=rng.uniform(200, 600), error_rate=rng.uniform(0.0, 0.05))


def _service_fault(kind: str, world: World, rng: random.Random, onset: int) -> Injection:
    name = rng.choice(_busy(world))
    service = world.services[name]
    if kind == "service_exception":
        fault = WorldFault(kind, name, "localized", "service", subject=name, onset_ns=onset, mode="fail")
        version = _bump(service.version, rng)
        return Injection(
            fault, error_rate=rng.uniform(0.3, 0.8), version=version, rollout=_rollout([service], onset, rng)
        )
    shares = visit_shares(world)
    served = [o for o in service.operations if o.kind is SpanKind.SERVER]
    op = max(served, key=lambda o: (shares.get(f"{o.service} {o.name}", 0.0), o.name))
    fault = WorldFault(
        kind, name, "localized", "service", operation=op.name, subject=name, onset_ns=onset, mode="slow"
    )
    return Injection(fault, added_ms=rng.uniform(150, 800))


def _dependency_fault(kind: str, world: World, rng: random.Random, onset: int) -> Injection:
    kinds = ("http",) if kind == "third_party" else ("postgresql", "mysql", "mongodb")
    dependency = next(d for d in world.dependencies.values() if d.kind in kinds)
    mode = rng.choice(("slow", "fail"))
    fault = WorldFault(
        kind, dependency.name, "localized", "dependency", subject=dependency.name, onset_ns=onset, mode=mode
    )
    if mode == "slow" and kind == "third_party":
        return Injection(fault, factor=rng.uniform(5, 20))
    if mode == "slow":
        return Injection(fault, added_ms=rng.uniform(100, 500))  # lock waits, a missing index
    return Injection(fault, error_rate=rng.uniform(0.3, 0.7))


def _shared_fault(kind: str, world: World, rng: random.Random, onset: int) -> Injection:
    name = {"shared_db_contention": "postgres", "shared_cache_outage": "redis", "kafka_lag": "kafka"}[kind]
    dependency = next(d for d in world.dependencies.values() if d.kind == name)
    mode = "fail" if kind == "shared_cache_outage" else "slow"
    fault = WorldFault(
        kind,
        dependency.name,
        "systemic",
        "shared_dependency",
        subject=dependency.name,
        onset_ns=onset,
        mode=mode,
    )
    if kind == "shared_db_contention":
        return Injection(fault, factor=rng.uniform(8, 30), error_rate=rng.uniform(0.0, 0.03))
    if kind == "shared_cache_outage":
        return Injection(fault, error_rate=rng.uniform(0.5, 0.95))
    return Injection(fault, factor=rng.uniform(50, 300), lag_ms=rng.uniform(2000, 20000))


def _spread(n_max: int, rng: random.Random) -> int:
    """1..n services, one of them a quarter of the time (then it is a service fault)."""
    return 1 if rng.random() < 0.25 else rng.randint(2, max(2, n_max))


def _release_fault(kind: str, world: World, rng: random.Random, onset: int) -> Injection:
    busy = _busy(world, floor=0.15)
    names = sorted(rng.sample(busy, min(len(busy), _spread(4, rng))))
    version = f"{rng.randint(2025, 2026)}.{rng.randint(1, 12)}.{rng.randint(10, 30)}"
    mode = rng.choice(("slow", "fail", "both"))
    several = len(names) >= 2
    fault = WorldFault(
        kind,
        names[0],
        "systemic" if several else "localized",
        "release" if several else "service",
        services=tuple(names),
        subject=version if several else names[0],
        onset_ns=onset,
        mode=mode,
    )
    rollout = _rollout([world.services[n] for n in names], onset, rng)
    return _sized(Injection(fault, version=version, rollout=rollout), mode, rng)


def _flag_fault(kind: str, world: World, rng: random.Random, onset: int) -> Injection:
    busy = _busy(world, floor=0.15)
    names = sorted(rng.sample(busy, min(len(busy), _spread(4, rng))))
    flag = f"feature_flag.{_Names(rng).word()}_{rng.choice(('checkout', 'search', 'pricing', 'ui', 'cache'))}"
    value = rng.choice(("on", "true", "enabled", "variant-b", "v2"))
    mode = rng.choice(("slow", "fail"))
    # the flag is the level however many services run the flagged code: it is the switch
    # the on-call turns off, as the demo's flag-slow-path says too (demo/faults.py)
    fault = WorldFault(
        kind,
        names[0],
        "systemic",
        "feature_flag",
        services=tuple(names),
        subject=f"{flag}={value}",
        onset_ns=onset,
        mode=mode,
    )
    injection = Injection(fault, share=rng.uniform(0.2, 0.6), flag=flag, value=value)
    world.flags[flag] = sorted({*names, *rng.sample(list(world.services), rng.randint(0, 2))})
    return _sized(injection, mode, rng)


def _sized(injection: Injection, mode: str, rng: random.Random) -> Injection:
    if mode in ("slow", "both"):
        injection.factor = rng.uniform(3, 10)
        injection.added_ms = rng.uniform(150, 600)
    if mode in ("fail", "both"):
        injection.error_rate = rng.uniform(0.3, 0.8)
    return injection


def _zone_fault(kind: str, world: World, rng: random.Random, onset: int) -> Injection:
    hosted = Counter(i.zone for s in world.services.values() for i in s.instances)
    zone = rng.choice([z for z in world.zones if hosted[z] >= 3] or [hosted.most_common(1)[0][0]])
    mode = rng.choice(("slow", "fail", "both"))
    fault = WorldFault(kind, zone, "systemic", "zone", subject=zone, onset_ns=onset, mode=mode)
    return _network_hit(Injection(fault), mode, (300, 1000), (0.2, 0.5), rng)


def _traffic_fault(kind: str, world: World, rng: random.Random, onset: int) -> Injection:
    """Two to five times the requests; every service works harder, and the one with the
    least headroom (a busy service sized too tight) nears saturation."""
    fault = WorldFault(kind, "traffic", "systemic", "traffic", subject="traffic", onset_ns=onset, mode="slow")
    factor = rng.uniform(2, 5)
    tight = world.services[rng.choice(_busy(world))]
    tight.utilization = rng.uniform(0.85, 0.95) / factor
    return Injection(fault, factor=factor)


def _platform_fault(kind: str, world: World, rng: random.Random, onset: int) -> Injection:
    what = rng.choice(("service-mesh", "dns"))
    mode = rng.choice(("slow", "fail", "both"))
    fault = WorldFault(kind, "platform", "systemic", "platform", subject=what, onset_ns=onset, mode=mode)
    return _network_hit(Injection(fault), mode, (20, 150), (0.01, 0.06), rng)


def _network_hit(
    injection: Injection,
    mode: str,
    added_ms: tuple[float, float],
    error_rate: tuple[float, float],
    rng: random.Random,
) -> Injection:
    """Delay on the wire, failed connections, or both, drawn from the ranges given (in
    this order, so that a seed draws the same case)."""
    if mode in ("slow", "both"):
        injection.added_ms = rng.uniform(*added_ms)
    if mode in ("fail", "both"):
        injection.error_rate = rng.uniform(*error_rate)
    return injection


_PICKERS = {
    "instance": _instance_fault,
    "service": _service_fault,
    "dependency": _dependency_fault,
    "shared_dependency": _shared_fault,
    "release": _release_fault,
    "feature_flag": _flag_fault,
    "zone": _zone_fault,
    "traffic": _traffic_fault,
    "platform": _platform_fault,
}


def pick_fault(kind: str, world: World, rng: random.Random, incident_start: int) -> Injection:
    """A fault of ``kind`` on this world, with its ground truth; may add a replica or
    a flag to the world so that the fault can exist."""
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
    return _PICKERS[KINDS[kind]](kind, world, rng, _onset(incident_start, rng))


def _bump(version: str, rng: random.Random) -> str:
    parts = version.split(".")
    return ".".join([*parts[:-1], str(int(parts[-1]) + rng.randint(1, 3))])


def _rollout(services: list[Service], start: int, rng: random.Random) -> dict[str, int]:
    """A rolling deploy: each instance switches 5-20 s after the one before."""
    found = {}
    for service in services:
        at = start
        for instance in service.instances:
            found[instance.name] = at
            at += int(rng.uniform(5, 20) * S)
    return found


def _confusers(world: World, fault: WorldFault, rng: random.Random, incident_start: int) -> Confusers:
    """Drawn independently of the fault, among services it does not touch."""
    involved = {fault.target, *fault.services}
    others = [s for s in world.services.values() if s.name not in involved]
    deploy = None
    if others and rng.random() < 0.6:
        service = rng.choice(others)
        at = incident_start + int(rng.uniform(0.05, 0.8) * INCIDENT_S * S)
        deploy = (service.name, _bump(service.version, rng) + "-hotfix", at)
    noisy = rng.choice(rng.choice(others).instances).name if others and rng.random() < 0.6 else None
    batch = None
    if rng.random() < 0.6:
        host = rng.choice(others or list(world.services.values()))
        batch = (
            host.instances[0].name,
            f"cron {_Names(rng).word()}-{rng.choice(('cleanup', 'export', 'reindex'))}",
        )
    return Confusers(deploy, noisy, rng.random() < 0.5, batch)


# --- generation --------------------------------------------------------------------------


def build_world(kind: str, seed: int) -> tuple[World, Injection, random.Random]:
    """The world and the fault of case (kind, seed), before any request; cheap."""
    rng = random.Random(f"worlds:{kind}:{seed}")
    world = _Builder(rng).build(zones_wanted=rng.choice((2, 3, 3)) if kind == "zone_loss" else None)
    injection = pick_fault(kind, world, rng, _windows(seed)[1][0])
    return world, injection, rng


def generate(
    kind: str,
    seed: int,
    *,
    sampling: Sampling | None = None,
    propagation: str | None = None,
    traces_per_minute: int | None = None,
) -> WorldCase:
    """A 10-minute baseline and a 5-minute incident with one fault of ``kind``.

    The keywords override what the seed drew, for tests: ``sampling``, ``propagation``
    ("intact", "new_trace" or "lost_parent": every broken hop broken that way, or hops
    drawn afresh if the world had none), and the request rate."""
    world, injection, rng = build_world(kind, seed)
    _override(world, sampling, propagation, traces_per_minute)
    baseline, incident = _windows(seed)
    case = WorldCase(
        injection.fault,
        baseline,
        incident,
        world=world,
        confusers=_confusers(world, injection.fault, rng, incident[0]),
    )
    _Simulator(world, injection, case, rng).run()
    return case


def _windows(seed: int) -> tuple[tuple[int, int], tuple[int, int]]:
    start = 1_700_000_000 * S + seed * 3600 * S
    middle = start + BASELINE_S * S
    return (start, middle), (middle, middle + INCIDENT_S * S)


def _override(
    world: World,
    sampling: Sampling | None,
    propagation: str | None,
    traces_per_minute: int | None,
) -> None:
    if sampling is not None:
        world.sampling = sampling
    if traces_per_minute is not None:
        world.traces_per_minute = traces_per_minute
    if propagation == "intact":
        world.broken = {}
    elif propagation is not None:
        own = random.Random(",".join(world.services))  # the case's own stream stays untouched
        hops = world.broken or broken_hops(world.services, own)
        world.broken = dict.fromkeys(hops, propagation)


@dataclass(slots=True)
class _Request:
    """What one request carries through every hop: its zone, its flag values."""

    active: bool
    """The fault has begun by the time the request arrives."""
    zone: str
    flagged: bool
    flags: dict[str, str]


class _Effects:
    """Where and how much the fault shows, asked at every span."""

    def __init__(self, world: World, injection: Injection) -> None:
        self.world = world
        self.i = injection
        self.f = injection.fault
        self.family = KINDS[self.f.kind]
        self.surge = self._surge() if self.family == "traffic" else {}

    def _surge(self) -> dict[str, float]:
        """Per service, how much slower its work gets at the surge's load (queueing)."""
        out = {}
        for service in self.world.services.values():
            busy = min(0.95, service.utilization * self.i.factor)
            out[service.name] = (1 - service.utilization) / (1 - busy)
        return out

    def new_version(self, service: str, instance: str, at: int) -> bool:
        switched = self.i.rollout.get(instance)
        return (
            switched is not None
            and at >= switched
            and (service == self.f.target or service in self.f.services)
        )

    def slowdown(
        self, op: Operation, instance: Instance, req: _Request, at: int, rng: random.Random
    ) -> tuple[float, float]:
        """(factor on the operation's own work, milliseconds added to it)."""
        f, i = self.f, self.i
        if not req.active:
            return 1.0, 0.0
        if self.family == "instance" and instance.name == f.instance and f.kind != "instance_network":
            if f.kind == "instance_cpu":
                return i.factor, i.added_ms * rng.uniform(0.5, 1.5)
            return 1.0, i.added_ms if rng.random() < i.share else 0.0
        if f.kind == "service_slow_endpoint" and op.service == f.target and op.name == f.operation:
            return 1.0, i.added_ms * rng.uniform(0.7, 1.3)
        if self._affected(op.service, instance, req, at) and f.mode != "fail":
            return i.factor, i.added_ms
        if self.family == "traffic":
            return self.surge[op.service], 0.0
        return 1.0, 0.0

    def _affected(self, service: str, instance: Instance, req: _Request, at: int) -> bool:
        """Release, flag and bad deploy: this span runs the faulty code."""
        if self.family == "feature_flag":
            return req.flagged and service in self.f.services
        if self.family == "release" or self.f.kind == "service_exception":
            return self.new_version(service, instance.name, at)
        return False

    def failure(
        self, op: Operation, service: Service, instance: Instance, req: _Request, at: int, rng: random.Random
    ) -> str | None:
        """The exception this span throws, if it throws one."""
        faulty = req.active and self.f.mode != "slow" and self._affected(op.service, instance, req, at)
        if faulty and rng.random() < self.i.error_rate:
            return _exception(service, self.f.kind)
        if req.active and self.family == "traffic" and self.surge[op.service] > 4 and rng.random() < 0.02:
            return "RejectedExecutionException: request queue full"
        if rng.random() < self.world.background_error:
            return rng.choice(_BACKGROUND_ERRORS).format(n=rng.randrange(10**6))
        return None

    def network(
        self, source: Instance, target: Instance | None, req: _Request, rng: random.Random
    ) -> tuple[float, str | None]:
        """(milliseconds on the wire, a connection failure if the call never got through)."""
        base = rng.uniform(0.3, 1.5) + (1.0 if target is not None and target.zone != source.zone else 0.0)
        if not req.active:
            return base, None
        f, i = self.f, self.i
        ends = {source.name, target.name if target else ""}
        zones = {source.zone, target.zone if target else source.zone}
        hit = (
            (f.kind == "instance_network" and f.instance in ends)
            or (self.family == "zone" and f.target in zones)
            or self.family == "platform"
        )
        if not hit:
            return base, None
        if rng.random() < i.error_rate:
            return base + rng.uniform(1, 30), _connection_error(self.f.kind, rng)
        return base + i.added_ms * rng.uniform(0.6, 1.4), None

    def dependency(
        self, dependency: Dependency, req: _Request, rng: random.Random
    ) -> tuple[float, str | None]:
        """(milliseconds the dependency took, its error)."""
        took = dependency.base_ms * rng.lognormvariate(0, 0.35)
        if req.active and self.family == "traffic" and dependency.kind in ("postgres", "redis", "kafka"):
            took *= 1 + 0.3 * (self.i.factor - 1)
        if not req.active or dependency.name != self.f.target:
            return took, None
        if self.f.kind == "kafka_lag":
            return took * self.i.factor, None
        took = took * self.i.factor * rng.uniform(0.6, 1.4) + self.i.added_ms * rng.uniform(0.5, 1.5)
        if rng.random() < self.i.error_rate:
            return took, _dependency_error(dependency, rng)
        return took, None

    def lag_ms(self, req: _Request, rng: random.Random) -> float:
        """How long a message waits before a consumer takes it."""
        lag = rng.uniform(2, 40)
        if req.active and self.f.kind == "kafka_lag":
            lag += self.i.lag_ms * rng.uniform(0.5, 1.5)
        return lag


def _exception(service: Service, kind: str) -> str:
    """The same exception template for one fault on one service, so logs group it."""
    local = random.Random(f"{service.name}:{kind}")
    word = local.choice(("order", "cart", "item", "quote", "user", "account", "session"))
    template = local.choice(_EXCEPTIONS[service.language])
    return template.format(w=word, W=word.title())


def _connection_error(kind: str, rng: random.Random) -> str:
    if kind == "platform":
        return rng.choice(
            ("upstream connect error or disconnect/reset before headers", "dns lookup failed: i/o timeout")
        )
    return rng.choice(("connection reset by peer", "dial tcp: i/o timeout", "no route to host"))


def _dependency_error(dependency: Dependency, rng: random.Random) -> str:
    if dependency.kind == "redis":
        return "ECONNREFUSED: connect to redis failed"
    if dependency.kind == "http":
        return rng.choice(("502 Bad Gateway", "503 Service Unavailable", "read timeout"))
    return rng.choice(
        ("too many connections", "canceling statement due to lock timeout", "connection refused")
    )


class _Simulator:
    """Plays the requests of both windows through the world; records spans, logs and,
    from every request before sampling, the samples metrics are computed from."""

    def __init__(self, world: World, injection: Injection, case: WorldCase, rng: random.Random) -> None:
        self.world = world
        self.effects = _Effects(world, injection)
        self.injection = injection
        self.case = case
        self.rng = rng
        self.ids = count(rng.getrandbits(40) + 1)
        self.pending: dict[str, list[Span]] = {}
        self.samples: defaultdict[str, list[tuple[int, float, bool]]] = defaultdict(list)
        self.lags: list[tuple[int, float]] = []
        self.entries = {(op.service, op.name): name for name, op in world.journeys.items()}
        self.instances = {i.name: (s, i) for s in world.services.values() for i in s.instances}

    def run(self) -> None:
        for at in self._arrivals():
            self._request(at)
        self._batch_jobs()
        self.case.metrics.extend(_Metrics(self).series())

    def _arrivals(self) -> list[int]:
        """Request times: the journeys' rate, times the surge after a traffic fault began."""
        rate = self.world.traces_per_minute / (60 * S)
        (b0, _), (_, i1) = self.case.baseline, self.case.incident
        onset = self.case.fault.onset_ns
        surge = self.injection.factor if KINDS[self.case.fault.kind] == "traffic" else 1.0
        spans = [(b0, onset, rate), (onset, i1, rate * surge)]
        times = [self.rng.randrange(a, b) for a, b, r in spans for _ in range(int((b - a) * r))]
        return sorted(times)

    # --- one request -------------------------------------------------------------------

    def _request(self, at: int) -> None:
        world, rng = self.world, self.rng
        journey = rng.choices(list(world.weights), list(world.weights.values()))[0]
        entry = world.journeys[journey]
        service = world.services[entry.service]
        instance = rng.choice(service.instances)
        req = self._context(at, instance.zone)
        self.pending = {}
        trace_id = f"{rng.getrandbits(128):032x}"
        self._serve(entry, instance, trace_id, None, at, req)
        root = self.pending[trace_id][0]
        root.attributes["session.id"] = f"s-{rng.randrange(10**5)}"
        root.attributes["app.user.tier"] = rng.choice(("free", "pro", "enterprise"))
        self.case.generated["requests"] += 1
        self._flush()

    def _context(self, at: int, zone: str) -> _Request:
        active = at >= self.case.fault.onset_ns
        flags = {name: self.rng.choice(("on", "off")) for name in self.world.flags}
        flagged = False
        if self.injection.flag:
            flagged = active and self.rng.random() < self.injection.share
            flags[self.injection.flag] = self.injection.value if flagged else "off"
        return _Request(active, zone, flagged, flags)

    def _flush(self) -> None:
        """Each trace id of the request becomes a trace, kept or not by the sampler."""
        for trace_id, spans in self.pending.items():
            root = root_of(spans)
            assert root is not None
            journey = self.entries.get((root.service, root.name)) if root.kind is SpanKind.SERVER else None
            session = root.attributes.get("session.id")
            trace = Trace(
                trace_id,
                spans,
                journey=journey or f"{root.service} {root.name}",
                session_id=session if isinstance(session, str) else None,
            )
            self.case.generated["traces"] += 1
            self.case.generated["spans"] += len(spans)
            if _kept(trace, self.world.sampling):
                self.case.traces.append(trace)

    def _serve(
        self,
        op: Operation,
        instance: Instance,
        trace_id: str,
        parent: str | None,
        start: int,
        req: _Request,
        link: SpanLink | None = None,
    ) -> tuple[int, str | None]:
        """The operation's server (or consumer) span and everything under it: (end, error)."""
        service = self.world.services[op.service]
        span = self._span(trace_id, parent, service, op.name, op.kind, start, instance)
        if link is not None:
            span.links = (link,)
        self._server_attributes(span, service, op, req)
        factor, added = self.effects.slowdown(op, instance, req, start, self.rng)
        work = op.self_ms * self.rng.lognormvariate(0, 0.25) * factor + added
        cursor = start + int(work * 0.3 * MS)
        error = self.effects.failure(op, service, instance, req, start, self.rng)
        if error is not None:
            self._throw(span, service, error)
        else:
            cursor, error = self._steps(op, span, service, instance, cursor, req)
        span.end_ns = cursor + int(work * 0.7 * MS)
        self._close(span, service, error)
        self.samples[instance.name].append((start, span.duration_ns / MS, error is not None))
        if error is None and self.rng.random() < 0.15:
            self._log(span, 9, f"handled {op.name} in {span.duration_ns // MS} ms")
        return span.end_ns, error

    def _steps(
        self, op: Operation, span: Span, service: Service, instance: Instance, cursor: int, req: _Request
    ) -> tuple[int, str | None]:
        for step in op.steps:
            if step.probability < 1 and self.rng.random() >= step.probability:
                continue
            if step.kind == "call":
                cursor, error = self._call(step, span, service, instance, cursor, req)
            elif step.kind == "query":
                cursor, error = self._query(step, span, service, instance, cursor, req)
            else:
                cursor, error = self._publish(step, span, service, instance, cursor, req)
            if error is not None and not step.optional:
                return cursor, error
            if error is not None and step.kind == "query":
                cursor += int(self.rng.uniform(20, 120) * MS)  # the fallback a cache miss costs
        return cursor, None

    def _call(
        self, step: Step, caller: Span, service: Service, instance: Instance, start: int, req: _Request
    ) -> tuple[int, str | None]:
        """A call to another service, retried once where the caller retries."""
        assert step.target is not None
        end, error = self._attempt(step, caller, service, instance, start, req)
        for _ in range(step.retries if error is not None else 0):
            end, error = self._attempt(step, caller, service, instance, end, req)
        if error is not None:
            self._caller_error(caller, service, step.target.service, step.name, error, step.optional)
            return end, f"{step.target.service} failed: {error}"
        return end, None

    def _attempt(
        self, step: Step, caller: Span, service: Service, instance: Instance, start: int, req: _Request
    ) -> tuple[int, str | None]:
        assert step.target is not None
        callee_service = self.world.services[step.target.service]
        callee = self._pick(callee_service, instance.zone)
        client = self._span(
            caller.trace_id, caller.span_id, service, step.name, SpanKind.CLIENT, start, instance
        )
        _client_attributes(client, callee_service, step)
        wire, refused = self.effects.network(instance, callee, req, self.rng)
        if refused is not None:
            client.end_ns = start + int(wire * MS)
            _failed(client, refused, 503)
            return client.end_ns, refused
        trace_id, parent, link = self._propagate(service.name, callee_service.name, client)
        end, error = self._serve(step.target, callee, trace_id, parent, start + int(wire / 2 * MS), req, link)
        end += int(wire / 2 * MS)
        if end - start > step.timeout_ms * MS:
            end, error = (
                start + int(step.timeout_ms * MS),
                f"deadline exceeded after {step.timeout_ms:.0f} ms",
            )
        client.end_ns = end
        if error is not None:
            _failed(client, error, 504 if error.startswith("deadline") else 500)
        else:
            client.attributes["http.response.status_code"] = 200
        return end, error

    def _propagate(self, caller: str, callee: str, client: Span) -> tuple[str, str | None, SpanLink | None]:
        """(trace id, parent span id, link) the callee's span gets across this hop."""
        mode = self.world.broken.get((caller, callee))
        if mode == "new_trace":
            return f"{self.rng.getrandbits(128):032x}", None, None
        if mode == "lost_parent":
            return client.trace_id, None, None
        return client.trace_id, client.span_id, None

    def _query(
        self, step: Step, caller: Span, service: Service, instance: Instance, start: int, req: _Request
    ) -> tuple[int, str | None]:
        """A client span into a dependency that sends no spans of its own."""
        assert step.dependency is not None
        dependency = self.world.dependencies[step.dependency]
        client = self._span(
            caller.trace_id, caller.span_id, service, step.name, SpanKind.CLIENT, start, instance
        )
        client.attributes.update(dependency.attributes)
        wire, refused = self.effects.network(instance, None, req, self.rng)
        took, error = self.effects.dependency(dependency, req, self.rng)
        if refused is None:
            self.samples[dependency.name].append((start, took, error is not None))
        error = refused or error
        client.end_ns = start + int((took + wire) * MS)
        if error is not None:
            _failed(client, error, 503 if dependency.kind == "http" else None)
            self._caller_error(caller, service, dependency.name, step.name, error, step.optional)
        return client.end_ns, error

    def _publish(
        self, step: Step, caller: Span, service: Service, instance: Instance, start: int, req: _Request
    ) -> tuple[int, str | None]:
        """A Kafka publish; the consumer handles the message later, in the same trace or
        in its own one linked to this."""
        assert step.target is not None
        kafka = self.world.dependencies["kafka"]
        producer = self._span(
            caller.trace_id, caller.span_id, service, step.name, SpanKind.PRODUCER, start, instance
        )
        producer.attributes.update(kafka.attributes)
        producer.attributes["messaging.operation"] = "publish"
        wire, refused = self.effects.network(instance, None, req, self.rng)
        took, _ = self.effects.dependency(kafka, req, self.rng)
        producer.end_ns = start + int((took + wire) * MS)
        if refused is not None:
            _failed(producer, refused, None)
            self._caller_error(caller, service, kafka.name, step.name, refused, step.optional)
            return producer.end_ns, refused
        self.samples[kafka.name].append((start, took, False))
        lag = self.effects.lag_ms(req, self.rng)
        self.lags.append((start, lag))
        consumer_service = self.world.services[step.target.service]
        consumer = self._pick(consumer_service, instance.zone)
        if self.world.kafka_linked:
            trace_id, parent = f"{self.rng.getrandbits(128):032x}", None
            link: SpanLink | None = SpanLink(producer.trace_id, producer.span_id)
        else:
            trace_id, parent, link = producer.trace_id, producer.span_id, None
        self._serve(step.target, consumer, trace_id, parent, producer.end_ns + int(lag * MS), req, link)
        return producer.end_ns, None

    # --- spans and logs ----------------------------------------------------------------

    def _span(
        self,
        trace_id: str,
        parent: str | None,
        service: Service,
        name: str,
        kind: SpanKind,
        start: int,
        instance: Instance,
    ) -> Span:
        span = Span(
            trace_id,
            f"{next(self.ids):016x}",
            parent,
            service.name,
            name,
            start,
            start,
            kind=kind,
            instance=instance.name,
            service_version=self._version(service, instance, start),
            region=self.world.region,
            zone=instance.zone,
            language=service.language,
        )
        self.pending.setdefault(trace_id, []).append(span)
        return span

    def _version(self, service: Service, instance: Instance, at: int) -> str:
        if self.effects.new_version(service.name, instance.name, at):
            return self.injection.version
        deploy = self.case.confusers.benign_deploy if self.case.confusers else None
        if deploy is not None and deploy[0] == service.name and at >= deploy[2]:
            return deploy[1]
        return service.version

    def _server_attributes(self, span: Span, service: Service, op: Operation, req: _Request) -> None:
        if op.kind is SpanKind.CONSUMER:
            span.attributes.update(self.world.dependencies["kafka"].attributes)
            span.attributes["messaging.operation"] = "process"
        elif service.protocol == "grpc":
            span.attributes.update(_grpc(op.name))
        else:
            method, _, route = op.name.partition(" ")
            span.attributes.update({"http.request.method": method, "http.route": route})
        for flag, value in req.flags.items():
            if service.name in self.world.flags.get(flag, ()):
                span.attributes[flag] = value

    def _pick(self, service: Service, zone: str) -> Instance:
        """Zone-aware routing: the same zone seven times in ten when there is a replica there."""
        local = [i for i in service.instances if i.zone == zone]
        return self.rng.choice(local if local and self.rng.random() < 0.7 else service.instances)

    def _throw(self, span: Span, service: Service, error: str) -> None:
        kind, _, message = error.partition(": ")
        span.events = (
            SpanEvent("exception", span.start_ns, {"exception.type": kind, "exception.message": message}),
        )
        self._log(span, 17, f"{error} (request {self.rng.randrange(10**6)})")

    def _close(self, span: Span, service: Service, error: str | None) -> None:
        if error is not None:
            span.status, span.status_message = StatusCode.ERROR, error[:120]
        if span.kind is not SpanKind.SERVER:
            return
        if service.protocol == "grpc":
            span.attributes["rpc.grpc.status_code"] = 13 if error else 0
        else:
            span.attributes["http.response.status_code"] = 500 if error else 200

    def _caller_error(
        self, span: Span, service: Service, callee: str, operation: str, why: str, optional: bool
    ) -> None:
        """The caller's own line about its callee's failure (a warning if it copes)."""
        template = _CALLER_LINES[sum(map(ord, service.name)) % len(_CALLER_LINES)]
        line = template.format(svc=callee, op=operation, why=why[:60])
        self._log(span, 13 if optional else 17, line)

    def _log(self, span: Span, severity: int, body: str) -> None:
        text = {9: "INFO", 13: "WARN", 17: "ERROR"}[severity]
        self.case.logs.append(
            LogRecord(
                span.start_ns, span.service, body, text, severity, span.trace_id, span.span_id, span.instance
            )
        )

    # --- the batch job -----------------------------------------------------------------

    def _batch_jobs(self) -> None:
        """A job every five minutes, its own trace; the incident's run is slow, and fine."""
        confusers = self.case.confusers
        if confusers is None or confusers.batch is None:
            return
        service, instance = self.instances[confusers.batch[0]]
        shared = next(d for d in self.world.dependencies.values() if d.kind == "postgres")
        base_s = self.rng.uniform(4, 15)
        for at in range(self.case.baseline[0] + 60 * S, self.case.incident[1], 300 * S):
            slow = self.rng.uniform(2, 4) if at >= self.case.incident[0] else 1.0
            self.pending = {}
            trace_id = f"{self.rng.getrandbits(128):032x}"
            job = self._span(trace_id, None, service, confusers.batch[1], SpanKind.INTERNAL, at, instance)
            job.end_ns = at + int(base_s * slow * S)
            for k in range(self.rng.randint(3, 8)):
                query = self._span(
                    trace_id, job.span_id, service, "SELECT batch", SpanKind.CLIENT, at + k * S, instance
                )
                query.attributes.update(shared.attributes)
                query.end_ns = query.start_ns + int(self.rng.uniform(200, 900) * slow * MS)
                self.samples[shared.name].append((query.start_ns, query.duration_ns / MS, False))
            self._log(job, 9, f"{confusers.batch[1]} finished in {job.duration_ns // S} s")
            self._flush()


def _kept(trace: Trace, sampling: Sampling) -> bool:
    """The sampler's decision, from the trace id alone (as TraceIdRatioBased does), so
    every span of a trace id shares it and the generation stream is not touched."""
    if sampling.mode == "none":
        return True
    chance = int(trace.trace_id[16:], 16) / 2**64
    if sampling.mode == "head":
        return chance < sampling.ratio
    return trace.has_error or trace.duration_ns >= sampling.slow_ms * MS or chance < sampling.ratio


def _grpc(name: str) -> dict[str, AttrValue]:
    service, _, method = name.partition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}


def _client_attributes(span: Span, callee: Service, step: Step) -> None:
    """What a client library records about a call to another service."""
    if callee.protocol == "grpc":
        span.attributes.update(_grpc(step.name))
        span.attributes["server.address"] = callee.name
    else:
        method, _, route = step.name.partition(" ")
        span.attributes.update(
            {"http.request.method": method, "server.address": callee.name, "url.template": route}
        )


def _failed(span: Span, error: str, status: int | None) -> None:
    span.status, span.status_message = StatusCode.ERROR, error[:120]
    if status is not None and "rpc.system" not in span.attributes:
        span.attributes["http.response.status_code"] = status


# --- metrics -----------------------------------------------------------------------------


class _Metrics:
    """Per instance and per dependency, every 10 s, from every request before sampling:
    request rate, error rate, mean latency; CPU and memory of instances and of the
    self-hosted dependencies; Kafka's consumer lag."""

    def __init__(self, sim: _Simulator) -> None:
        self.sim = sim
        self.rng = sim.rng
        self.start, self.end = sim.case.baseline[0], sim.case.incident[1]
        self.fault = sim.case.fault
        self.confusers = sim.case.confusers

    def series(self) -> list[MetricSeries]:
        out: list[MetricSeries] = []
        for service in self.sim.world.services.values():
            for instance in service.instances:
                labels = {"service.name": service.name, "service.instance.id": instance.name}
                out.extend(self._requests(instance.name, labels))
                out.extend(self._resources(service, instance.name, labels))
        for dependency in self.sim.world.dependencies.values():
            labels = {"service.name": dependency.name, "service.instance.id": dependency.name}
            out.extend(self._requests(dependency.name, labels))
            if dependency.kind in ("postgres", "redis", "kafka"):
                out.append(self._host_cpu(dependency, labels))
        out.append(self._lag())
        return out

    def _buckets(self, samples: list[tuple[int, float, bool]]) -> list[list[tuple[float, bool]]]:
        found: list[list[tuple[float, bool]]] = [[] for _ in range((self.end - self.start) // (STEP_S * S))]
        for at, latency, failed in samples:
            index = (at - self.start) // (STEP_S * S)
            if 0 <= index < len(found):
                found[index].append((latency, failed))
        return found

    def _times(self) -> range:
        return range(self.start, self.end, STEP_S * S)

    def _requests(self, key: str, labels: dict[str, str]) -> list[MetricSeries]:
        buckets = self._buckets(self.sim.samples.get(key, []))
        rate = MetricSeries("request_rate", dict(labels), unit="1/s")
        errors = MetricSeries("error_rate", dict(labels), unit="1/s")
        latency = MetricSeries("latency_mean", dict(labels), unit="ms")
        for at, got in zip(self._times(), buckets, strict=True):
            rate.points.append(MetricPoint(at, len(got) / STEP_S))
            errors.points.append(MetricPoint(at, sum(f for _, f in got) / STEP_S))
            if got:
                latency.points.append(MetricPoint(at, sum(lat for lat, _ in got) / len(got)))
        return [rate, errors, latency]

    def _resources(self, service: Service, instance: str, labels: dict[str, str]) -> list[MetricSeries]:
        counts = [len(b) for b in self._buckets(self.sim.samples.get(instance, []))]
        usual = max(1.0, sum(counts[: BASELINE_S // STEP_S]) / (BASELINE_S // STEP_S))
        memory_base = self.rng.uniform(180, 900)
        cpu = MetricSeries("cpu_utilization", dict(labels), unit="%")
        memory = MetricSeries("memory_usage", dict(labels), unit="MB")
        for at, n in zip(self._times(), counts, strict=True):
            load = 8 + 70 * service.utilization * n / usual + self.rng.gauss(0, 2)
            mem = memory_base * (1 + self.rng.gauss(0, 0.01))
            load, mem = self._fault_on(instance, at, load, mem)
            load, mem = self._noise_on(instance, at, load, mem)
            cpu.points.append(MetricPoint(at, min(100.0, max(0.5, load))))
            memory.points.append(MetricPoint(at, mem))
        return [cpu, memory]

    def _fault_on(self, instance: str, at: int, cpu: float, memory: float) -> tuple[float, float]:
        if at < self.fault.onset_ns or instance != self.fault.instance:
            return cpu, memory
        if self.fault.kind == "instance_cpu":
            return self.rng.uniform(92, 99), memory
        if self.fault.kind == "instance_gc":
            phase = ((at - self.fault.onset_ns) // S) % 60 / 60
            return cpu + 15, memory * (1.6 + 0.6 * phase)
        return cpu, memory

    def _noise_on(self, instance: str, at: int, cpu: float, memory: float) -> tuple[float, float]:
        """The confuser: an unrelated instance whose CPU is noisy, stepping up mid-incident."""
        if self.confusers is None or instance != self.confusers.noisy_instance:
            return cpu, memory
        cpu += self.rng.gauss(0, 12)
        if self.confusers.noisy_step and at >= self.sim.case.incident[0] + 60 * S:
            cpu += 30
        return cpu, memory

    def _host_cpu(self, dependency: Dependency, labels: dict[str, str]) -> MetricSeries:
        cpu = MetricSeries("cpu_utilization", dict(labels), unit="%")
        contention = self.fault.kind == "shared_db_contention" and self.fault.target == dependency.name
        for at in self._times():
            value = self.rng.uniform(20, 35)
            if contention and at >= self.fault.onset_ns:
                value = self.rng.uniform(85, 98)
            cpu.points.append(MetricPoint(at, value))
        return cpu

    def _lag(self) -> MetricSeries:
        lag = MetricSeries(
            "consumer_lag", {"service.name": "kafka", "service.instance.id": "kafka"}, unit="s"
        )
        buckets: defaultdict[int, list[float]] = defaultdict(list)
        for at, ms in self.sim.lags:
            buckets[(at - self.start) // (STEP_S * S)].append(ms)
        for index, at in enumerate(self._times()):
            got = buckets.get(index)
            lag.points.append(MetricPoint(at, max(got) / 1000 if got else 0.0))
        return lag


def describe(case: WorldCase) -> str:
    """One line about a case, for the benchmark's verbose output."""
    world = case.world
    assert world is not None
    f = case.fault
    return (
        f"{f.kind}: {f.scope}/{f.level} {f.subject} ({f.mode}); {len(world.services)} services, "
        f"{len(world.zones)} zones, sampling {world.sampling.mode} {world.sampling.ratio:.2f}, "
        f"broken hops {len(world.broken)}, {len(case.traces)} traces kept of {case.generated['traces']}"
    )


__all__ = [
    "FAULT_KINDS",
    "KINDS",
    "SYSTEMIC_LEVELS",
    "Sampling",
    "World",
    "WorldCase",
    "WorldFault",
    "build_world",
    "generate",
    "pick_fault",
    "visit_shares",
]
