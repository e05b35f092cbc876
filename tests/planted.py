"""Traces with planted performance patterns and healthy look-alikes, with the truth: what
was planted where and what fixing it would win back.

A case is a few dozen requests of one shop: the frontend calls two or three services one
after another, doing work of its own between the calls (it reads each answer); each
service runs a few statements and a cache lookup with work between them. Into that go
the patterns (each kind in several shapes and sizes) and the look-alikes a detector must
leave alone: parallel queries, chunked batched queries, a poll that asks the same thing
again, one retry after one failure, a fan-out to many services once each, a cache hit, a
miss in front of a fast backend, a slow statement off the critical path or in a fast
request, failures of many lengths, successes that always take one time.

Each planted cost is computed from the plan (interval arithmetic on what was built), not
by the detectors' code: the time the requests spent in the planted calls less what the
fix leaves (one call of a loop or of a chatty exchange, the longest of calls made
together, an ordinary statement, the slowest good answer under a cap, a hit).

Used by bench/advise_eval.py (precision, recall and cost error per pattern) and by the
CLI test of `journeywatch advise`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from correlators.model import Span, SpanKind, Trace
from correlators.patterns import PatternKind
from tests.spantree import MS, TraceBuilder

SERVICES = ("orders", "catalog", "payments", "inventory", "users", "shipping", "pricing", "reviews", "search")
TABLES = ("items", "carts", "orders", "users", "prices", "stock", "reviews", "addresses")
DB = {"db.system": "postgresql", "db.name": "shop"}
START_MS = 1_767_000_000_000.0
"""Requests start here (2025-12-29), ten seconds apart: a time an OTLP file can carry (0
reads as no time at all)."""


@dataclass(frozen=True)
class Planted:
    kind: PatternKind
    trace_id: str
    service: str
    callee: str
    cost_ns: int


@dataclass
class Case:
    traces: list[Trace] = field(default_factory=list)
    planted: list[Planted] = field(default_factory=list)
    below: list[Planted] = field(default_factory=list)
    """Planted, but smaller than its definition asks of a share of the request (a slow
    statement under half of it, calls back to back that would win back under a tenth):
    look-alikes, counted apart."""


Step = Callable[["Request", Span, float], float]
"""Builds one piece of a handler's work under a span from a time (ms); returns its end."""


class Request:
    """One trace being built: the spans, and what was planted in it."""

    def __init__(self, rng: random.Random, trace_id: str, case: Case) -> None:
        self.rng = rng
        self.b = TraceBuilder(trace_id)
        self.case = case
        self.trace_id = trace_id

        self.shares: list[tuple[Planted, float, float]] = []

    def plant(
        self,
        kind: PatternKind,
        service: str,
        callee: str,
        cost_ms: float,
        *,
        at_least: tuple[float, float] = (0, 0),
    ) -> None:
        """``at_least``: (ms, share) when the definition asks ms to be that share of the
        request, known only once the request is built (:meth:`settle`)."""
        self.shares.append((Planted(kind, self.trace_id, service, callee, int(cost_ms * MS)), *at_least))

    def settle(self, request_ms: float) -> None:
        for planted, ms, share in self.shares:
            (self.case.planted if ms >= share * request_ms else self.case.below).append(planted)

    def compute(self, parent: Span, t: float, low: float = 2.0, high: float = 8.0) -> float:
        end = t + self.rng.uniform(low, high)
        self.b.span(parent.service, "compute", t, end, parent=parent)
        return end

    def query(self, parent: Span, t: float, ms: float, sql: str, *, error: bool = False) -> float:
        attributes = {**DB, "db.statement": sql}
        name = f"{sql.split()[0]} shop"
        kind = SpanKind.CLIENT
        self.b.span(parent.service, name, t, t + ms, parent=parent, kind=kind, error=error, **attributes)
        return t + ms

    def cache(self, parent: Span, t: float, ms: float, *, hit: bool | None) -> float:
        key = f"GET key:{self.rng.randrange(999)}"
        attributes: dict[str, object] = {"db.system": "redis", "db.statement": key}
        if hit is not None:
            attributes["cache.hit"] = hit
        self.b.span(parent.service, "GET", t, t + ms, parent=parent, kind=SpanKind.CLIENT, **attributes)
        return t + ms

    def call(
        self, parent: Span, t: float, ms: float, callee: str, route: str, *, error: bool = False,
        served_ms: float | None = None, steps: list[Step] | None = None,
    ) -> float:  # fmt: skip
        """A client span and the callee's server span under it (which may run on past a
        client that gave up); ``steps`` run inside the server span and set its length."""
        path = route.split(" ", 1)[1].replace("{id}", str(self.rng.randrange(1, 10_000)))
        attributes = {"http.request.method": route.split(" ")[0], "url.full": f"http://{callee}{path}"}
        client = self.b.span(parent.service, route.split(" ")[0], t, t + ms, parent=parent,
                             kind=SpanKind.CLIENT, error=error, **attributes)  # fmt: skip
        wire = min(0.5, ms / 10)
        server = self.b.span(callee, route, t + wire, t + (served_ms or ms) - wire, parent=client,
                             kind=SpanKind.SERVER, error=error)  # fmt: skip
        if steps:
            end = self.run(server, t + wire, steps)
            server.end_ns = int(end * MS)
            client.end_ns = int((end + wire) * MS)
            return end + wire
        return t + ms

    def run(self, parent: Span, t: float, steps: list[Step]) -> float:
        """Steps one after another, the parent's own work before and between them."""
        t = self.compute(parent, t, 0.5, 2)
        for step in steps:
            t = self.compute(parent, step(self, parent, t), 1, 4)
        return t


# --- the healthy work -------------------------------------------------------------------


def statement(rng: random.Random) -> str:
    table, column = rng.choice(TABLES), rng.choice(("id", "owner_id", "sku", "state"))
    return f"SELECT * FROM {table} WHERE {column} = {rng.randrange(1, 99_999)}"


def ordinary_query(r: Request, parent: Span, t: float) -> float:
    return r.query(parent, t, r.rng.uniform(1, 15), statement(r.rng))


def cache_hit(r: Request, parent: Span, t: float) -> float:
    return r.cache(parent, t, r.rng.uniform(0.3, 2), hit=r.rng.choice((True, None)))


def handler(service: str, route: str, steps: list[Step]) -> Step:
    def step(r: Request, parent: Span, t: float) -> float:
        return r.call(parent, t, 0, service, route, steps=steps)

    return step


# --- look-alikes ------------------------------------------------------------------------


def parallel_queries(r: Request, parent: Span, t: float) -> float:
    table = r.rng.choice(TABLES)
    ends = [
        r.query(parent, t + r.rng.uniform(0, 1), r.rng.uniform(2, 20), f"SELECT * FROM {table} WHERE id={i}")
        for i in range(r.rng.randint(5, 9))
    ]
    return max(ends)


def batched_queries(r: Request, parent: Span, t: float) -> float:
    table = r.rng.choice(TABLES)
    for _ in range(r.rng.randint(5, 8)):
        ids = ", ".join(str(r.rng.randrange(99_999)) for _ in range(r.rng.randint(2, 50)))
        t = r.query(parent, t + 0.1, r.rng.uniform(2, 12), f"SELECT * FROM {table} WHERE id IN ({ids})")
    return t


def poll(r: Request, parent: Span, t: float) -> float:
    job = r.rng.randrange(99_999)
    for _ in range(r.rng.randint(5, 8)):
        sql = f"SELECT state FROM jobs WHERE id = {job}"
        t = r.query(parent, t + r.rng.uniform(0.1, 20), r.rng.uniform(1, 5), sql)
    return t


def one_retry(r: Request, parent: Span, t: float) -> float:
    callee = r.rng.choice(SERVICES)
    t = r.call(parent, t, r.rng.uniform(3, 60), callee, "POST /reserve", error=True)
    return r.call(parent, t + r.rng.uniform(5, 50), r.rng.uniform(5, 40), callee, "POST /reserve")


def fan_out(r: Request, parent: Span, t: float) -> float:
    callees = r.rng.sample(SERVICES, r.rng.randint(3, len(SERVICES)))
    return max(r.call(parent, t + r.rng.uniform(0, 1), r.rng.uniform(5, 60), c, "GET /w") for c in callees)


def fast_miss(r: Request, parent: Span, t: float) -> float:
    lookup = r.rng.uniform(1, 2)
    t = r.cache(parent, t, lookup, hit=None)
    return r.query(parent, t + 0.05, lookup * r.rng.uniform(1.5, 8), statement(r.rng))


def slow_off_path(r: Request, parent: Span, t: float) -> float:
    slow = r.rng.uniform(150, 400)
    r.query(parent, t, slow, "SELECT count(*) FROM audit_log WHERE day = '2026-12-01'")
    return r.call(parent, t, slow * r.rng.uniform(1.3, 2), r.rng.choice(SERVICES), "POST /quote")


def varied_failure(r: Request, parent: Span, t: float) -> float:
    return r.call(parent, t, r.rng.uniform(2, 400), "shipping", "GET /rates/{id}", error=True)


def steady_success(r: Request, parent: Span, t: float) -> float:
    return r.call(parent, t, 250 * r.rng.uniform(0.999, 1.001), "reviews", "GET /digest")


LOOK_ALIKES: tuple[Step, ...] = (
    parallel_queries, batched_queries, poll, one_retry, fan_out, fast_miss, slow_off_path, varied_failure,
    steady_success,
)  # fmt: skip


# --- the patterns ---------------------------------------------------------------------


def n_plus_one(r: Request, parent: Span, t: float) -> float:
    """A loop over items: one statement or route per item, one after another."""
    n, each = r.rng.randint(5, 30), r.rng.uniform(1, 20)
    shape = r.rng.choice(("literal", "parameterized", "http"))
    table = r.rng.choice(TABLES)
    first = t
    callee = "postgresql:shop"
    for i in range(n):
        t += r.rng.uniform(0, 0.2)
        ms = each * r.rng.uniform(0.9, 1.1)
        if shape == "http":
            callee = "catalog" if parent.service != "catalog" else "pricing"
            t = r.call(parent, t, ms, callee, "GET /items/{id}")
        else:
            arg = str(i * 7 + 1) if shape == "literal" else "$1"
            t = r.query(parent, t, ms, f"SELECT * FROM {table} WHERE id = {arg}")
    r.plant(PatternKind.N_PLUS_ONE, parent.service, callee, (t - first) - each)
    return t


def consecutive(r: Request, parent: Span, t: float) -> float:
    """Calls to different services, back to back, none reading another's answer."""
    callees = [c for c in r.rng.sample(SERVICES, 4) if c != parent.service][: r.rng.randint(2, 3)]
    spans = [r.rng.uniform(40, 200) for _ in callees]
    for callee, ms in zip(callees, spans, strict=True):
        t = r.call(parent, t, ms, callee, f"GET /{callee}-summary-{r.rng.randrange(1_000_000)}")
    saved = sum(spans) - max(spans)
    r.plant(PatternKind.CONSECUTIVE, parent.service, " + ".join(callees), saved, at_least=(saved, 0.1))
    return t


def slow_statement(r: Request, parent: Span, t: float) -> float:
    usual = [r.rng.uniform(1, 15) for _ in range(r.rng.randint(0, 3))]
    for ms in usual:  # each read before the next is asked: work between them
        t = r.compute(parent, r.query(parent, t, ms, statement(r.rng)), 1, 4)
    slow = r.rng.uniform(600, 3000)
    sql = f"SELECT * FROM {r.rng.choice(TABLES)} WHERE lower(note) LIKE '%{r.rng.randrange(99)}%'"
    t = r.query(parent, t, slow, sql)
    ordinary = sorted(usual)[len(usual) // 2] if len(usual) % 2 else _median(usual)
    r.plant(
        PatternKind.SLOW_STATEMENT, parent.service, "postgresql:shop", slow - ordinary, at_least=(slow, 0.5)
    )
    return t


def retry_storm(r: Request, parent: Span, t: float) -> float:
    """The same call again after each failure; sometimes retried in the callee too."""
    callee = r.rng.choice([s for s in SERVICES if s != parent.service])
    attempts, succeeds = r.rng.randint(3, 6), r.rng.random() < 0.6
    nested = r.rng.random() < 0.3
    starts, ends = [], []
    for i in range(attempts):
        failed = i < attempts - 1 or not succeeds
        starts.append(t)
        if nested:
            steps: list[Step] = [_inner_retries(failed)]
            t = r.call(parent, t, 0, callee, "POST /charge", error=failed, steps=steps)
        else:
            t = r.call(parent, t, r.rng.uniform(3, 80), callee, "POST /charge", error=failed)
        ends.append(t)
        if i < attempts - 1:
            t += r.rng.uniform(5, 150)  # backoff: the caller waits
    cost = starts[-1] - starts[0] if succeeds else ends[-1] - ends[0]
    r.plant(PatternKind.RETRY_STORM, parent.service, callee, cost)
    return t


def _inner_retries(failed: bool) -> Step:
    def step(r: Request, parent: Span, t: float) -> float:
        callee = "bank" if parent.service != "bank" else "ledger"
        attempts = r.rng.randint(3, 4)
        starts, ends = [], []
        for i in range(attempts):
            starts.append(t)
            error = failed or i < attempts - 1
            t = r.call(parent, t, r.rng.uniform(3, 60), callee, "POST /authorize", error=error)
            ends.append(t)
            t += r.rng.uniform(2, 30) if i < attempts - 1 else 0
        cost = ends[-1] - ends[0] if failed else starts[-1] - starts[0]
        r.plant(PatternKind.RETRY_STORM, parent.service, callee, cost)
        return t

    return step


def chatty(r: Request, parent: Span, t: float) -> float:
    """Many different asks of one service, from several sections of a page."""
    callee = r.rng.choice([s for s in SERVICES if s != parent.service])
    sections, per = r.rng.randint(2, 5), 0
    while sections * per < 10:
        per = r.rng.randint(3, 6)
    together = r.rng.random() < 0.5
    intervals: list[tuple[float, float]] = []
    longest = 0.0
    for s in range(sections):
        section = r.b.span(parent.service, f"render section {s}", t, t, parent=parent)
        u = r.compute(section, t, 0.5, 2)
        wave = u
        for k in range(per):
            ms = r.rng.uniform(5, 60)
            longest = max(longest, ms)
            start = wave + r.rng.uniform(0, 0.5) if together else u
            end = r.call(section, start, ms, callee, f"GET /part{s}-{k}")
            intervals.append((start, end))
            u = max(u, end) if together else r.compute(section, end, 1, 3)
        section.end_ns = int(u * MS)
        t = r.compute(parent, u, 1, 3)
    r.plant(PatternKind.CHATTY, parent.service, callee, _union(intervals) - longest)
    return t


def cache_miss(r: Request, parent: Span, t: float) -> float:
    lookup = r.rng.uniform(0.3, 3)
    t = r.cache(parent, t, lookup, hit=r.rng.choice((False, None)))
    backend = max(20, lookup * r.rng.uniform(10, 60))
    backend = min(backend, 95)
    t = r.query(parent, t + 0.05, backend, statement(r.rng))
    r.plant(PatternKind.CACHE_MISS, parent.service, "postgresql:shop", backend)
    return t


PLANTS: dict[PatternKind, Step] = {
    PatternKind.N_PLUS_ONE: n_plus_one,
    PatternKind.CONSECUTIVE: consecutive,
    PatternKind.SLOW_STATEMENT: slow_statement,
    PatternKind.RETRY_STORM: retry_storm,
    PatternKind.CHATTY: chatty,
    PatternKind.CACHE_MISS: cache_miss,
}


def _median(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _union(intervals: list[tuple[float, float]]) -> float:
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


# --- cases ------------------------------------------------------------------------------


def generate(seed: int, requests: int = 40) -> Case:
    """One shop's requests, about half with one or two patterns planted, most with a
    look-alike or two; a timeout cap on one call in a few of them."""
    rng = random.Random(seed)
    case = Case()
    capped = _cap_plan(rng, requests)
    for index in range(requests):
        r = Request(rng, f"{seed + 1:08x}{index + 1:024x}", case)
        case.traces.append(_request(r, capped.get(index), START_MS + index * 10_000))
    return case


@dataclass(frozen=True)
class _Cap:
    callee: str
    cap_ms: float
    good_ms: float
    """The slowest a good answer of the capped call is, in this case."""
    capped: bool


def _cap_plan(rng: random.Random, requests: int) -> dict[int, _Cap]:
    """Which requests make the capped call, and which of those hit the cap: a timeout is
    a shape of many calls, so a case has one, in three to eight requests, or none."""
    if rng.random() < 0.3:
        return {}
    callee, cap = rng.choice(("inventory", "search")), rng.uniform(300, 5000)
    good = rng.uniform(20, cap / 2)
    makers = rng.sample(range(requests), rng.randint(requests // 3, requests // 2))
    hits = set(rng.sample(makers, rng.randint(3, 8)))
    return {i: _Cap(callee, cap, good, i in hits) for i in makers}


def _request(r: Request, cap: _Cap | None, at_ms: float) -> Trace:
    rng = r.rng
    services = rng.sample(SERVICES, rng.randint(2, 3))
    work: dict[str, list[Step]] = {s: _ordinary(rng) for s in services}
    places = ["frontend", *services]
    for _ in range(rng.choice((0, 0, 1, 1, 2))):
        plant = PLANTS[rng.choice(list(PLANTS))]
        _insert(rng, work, rng.choice(places), plant)
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        _insert(rng, work, rng.choice(places), rng.choice(LOOK_ALIKES))
    if cap is not None:
        _insert(rng, work, "frontend", _capped_call(cap))
    root = r.b.span("frontend", "GET /checkout", at_ms, at_ms, kind=SpanKind.SERVER)
    steps = [*work.get("frontend", []), *(handler(s, f"POST /{s}", work[s]) for s in services)]
    rng.shuffle(steps)
    end = r.run(root, at_ms, steps)
    root.end_ns = int(end * MS)
    r.settle(end - at_ms)
    return r.b.trace()


def _ordinary(rng: random.Random) -> list[Step]:
    """A few statements and at most one cache lookup: several lookups of one span in a
    row are an N+1 against the cache (an MGET would batch them)."""
    steps: list[Step] = [ordinary_query for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.5:
        steps[rng.randrange(len(steps))] = cache_hit
    return steps


def _insert(rng: random.Random, work: dict[str, list[Step]], place: str, step: Step) -> None:
    steps = work.setdefault(place, [])
    steps.insert(rng.randint(0, len(steps)), step)


def _capped_call(cap: _Cap) -> Step:
    def step(r: Request, parent: Span, t: float) -> float:
        if not cap.capped:
            ms = r.rng.uniform(5, cap.good_ms)
            return r.call(parent, t, ms if r.rng.random() > 0.05 else cap.good_ms, cap.callee, "GET /stock")
        ms = cap.cap_ms * r.rng.uniform(1, 1.003)
        end = r.call(parent, t, ms, cap.callee, "GET /stock", error=True, served_ms=ms * 3)
        path = end - t
        r.plant(PatternKind.TIMEOUT, parent.service, cap.callee, path - cap.good_ms)
        return end

    return step
