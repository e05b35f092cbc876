"""A journey's advice over its kept traces (the journey page, the weekly digest): the
sample spread over the window and bounded, and the page's ranking kept for a while, on
SQLite and the PostgreSQL server the tests start."""

from __future__ import annotations

from dataclasses import replace

from bot.journey_advice import SLICES, AdviceCache, rank, sampled
from bot.sources.builtin import BuiltinTraceSource
from bot.store import Store
from correlators.model import Span, SpanKind, Trace
from correlators.patterns import PatternKind
from tests.spantree import MS, TraceBuilder
from tests.stored import S, shop_config

HOUR_NS = 3600 * S
BASE_NS = 1_700_000_000 * S
INSERT = "INSERT INTO order_items (order_id, sku) VALUES ({i}, 'sku')"


def checkout(n: int, at_ns: int, inserts: int = 8) -> Trace:
    """frontend's checkout, orders' handler running ``inserts`` INSERTs one by one."""
    b = TraceBuilder(f"{n:032x}")
    root = b.span("frontend", "POST /checkout", 0, 20 + inserts * 10, kind=SpanKind.SERVER)
    _, orders = b.call(root, "orders", "POST /orders", 5, 15 + inserts * 10)
    for i in range(inserts):
        query(b, orders, 10 + i * 10, 19 + i * 10, INSERT.format(i=n * 100 + i))
    spans = [replace(s, start_ns=s.start_ns + at_ns, end_ns=s.end_ns + at_ns) for s in b.spans]
    return Trace(b.trace_id, spans, journey="checkout")


def query(b: TraceBuilder, parent: Span, start: float, end: float, sql: str) -> None:
    attributes = {"db.system": "postgresql", "db.name": "shop", "db.statement": sql}
    b.span(parent.service, "INSERT", start, end, parent=parent, kind=SpanKind.CLIENT, **attributes)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_sample_is_spread_over_the_window_and_bounded(any_store: Store) -> None:
    """Five hours of one checkout a minute, the last hour ten a minute: a sample of 120 takes
    ten from each of the twelve half-hours, not the last busy hour's newest."""
    traces = [checkout(i, BASE_NS + i * 60 * S, inserts=2) for i in range(300)]
    traces += [checkout(1000 + i, BASE_NS + 5 * HOUR_NS + i * 6 * S, inserts=2) for i in range(600)]
    any_store.write_traces(traces)
    journey = shop_config().journey("checkout")
    assert journey is not None
    source = BuiltinTraceSource(any_store)
    got = sampled(source, journey, BASE_NS, BASE_NS + 6 * HOUR_NS, 120)
    assert len(got) == 120
    half_hours = {(t.start_ns - BASE_NS) // (HOUR_NS // 2) for t in got}
    assert half_hours == set(range(SLICES))


def test_the_share_of_a_quiet_slice_passes_to_the_later_ones(any_store: Store) -> None:
    """Traffic only in the last hour of six: the sample still takes its hundred."""
    any_store.write_traces([checkout(i, BASE_NS + 5 * HOUR_NS + i * 10 * S, inserts=2) for i in range(300)])
    journey = shop_config().journey("checkout")
    assert journey is not None
    got = sampled(BuiltinTraceSource(any_store), journey, BASE_NS, BASE_NS + 6 * HOUR_NS, 100)
    assert len(got) == 100


def test_the_page_ranks_once_per_refresh_and_then_takes_the_new_traces(any_store: Store) -> None:
    any_store.write_traces([checkout(i, BASE_NS + i * S) for i in range(40)])
    journey = shop_config().journey("checkout")
    assert journey is not None
    clock = Clock()
    cache = AdviceCache(BuiltinTraceSource(any_store), window_s=3600, limit=1000, refresh_s=600, clock=clock)
    end_s = (BASE_NS + 60 * S) / S
    first = cache.of(journey, end_s)
    assert cache.worked_out == 1
    [loop] = first.advice.advice
    assert (loop.kind, loop.service, loop.requests, loop.calls) == (PatternKind.N_PLUS_ONE, "orders", 40, 320)
    assert loop.p50_gain_ns == loop.p95_gain_ns == 7 * 9 * MS  # eight INSERTs of 9 ms, batched into one
    assert first.advice == rank(BuiltinTraceSource(any_store), journey, first.start_ns, first.end_ns, 1000)

    any_store.write_traces([checkout(100 + i, BASE_NS + 45 * S + i * S) for i in range(10)])
    clock.now += 599
    assert cache.of(journey, end_s) is first and cache.worked_out == 1
    clock.now += 2
    again = cache.of(journey, end_s)
    assert cache.worked_out == 2 and again.advice.requests == 50


def test_a_journey_with_no_kept_traces_ranks_nothing(any_store: Store) -> None:
    journey = shop_config().journey("checkout")
    assert journey is not None
    ranked = rank(BuiltinTraceSource(any_store), journey, BASE_NS, BASE_NS + HOUR_NS, 1000)
    assert (ranked.requests, ranked.advice) == (0, [])
