"""Bottlenecks: where critical-path time grew, with waits on databases charged to them."""

from __future__ import annotations

from correlators.analyze import AnalysisInput, analyze
from correlators.bottleneck import bottlenecks, critical_time
from correlators.metrics import Window
from correlators.model import SpanKind, Trace
from tests.spantree import MS, TraceBuilder

S = 1_000_000_000


def checkout(n: int, db_ms: float, pricing_ms: float = 10) -> Trace:
    b = TraceBuilder(f"{n:032x}")
    root = b.span("frontend", "POST /checkout", 0, 20 + db_ms + pricing_ms, kind=SpanKind.SERVER)
    _, inventory = b.call(root, "inventory", "POST /reserve", 5, 10 + db_ms)
    b.span(
        "inventory",
        "SELECT stock",
        6,
        6 + db_ms,
        parent=inventory,
        kind=SpanKind.CLIENT,
        **{"db.system": "postgresql", "db.name": "shop"},
    )
    b.call(root, "pricing", "POST /quote", 12 + db_ms, 12 + db_ms + pricing_ms)
    return b.trace()


def test_critical_time_charges_database_waits_to_the_database() -> None:
    times = critical_time(checkout(1, db_ms=40))
    assert times[("postgresql:shop", "SELECT stock")] == 40 * MS
    assert ("inventory", "SELECT stock") not in times


def test_the_slow_database_is_the_top_bottleneck_with_its_share() -> None:
    baseline = [checkout(i, db_ms=4) for i in range(10)]
    incident = [checkout(100 + i, db_ms=204) for i in range(5)]
    found = bottlenecks(incident, baseline)
    top = found[0]
    assert (top.service, top.operation) == ("postgresql:shop", "SELECT stock")
    assert (top.baseline_ms, top.incident_ms, top.delta_ms) == (4.0, 204.0, 200.0)
    assert top.share == 1.0  # nothing else on the path grew
    assert sum(b.share for b in found) == 1.0


def test_no_incident_traces_no_bottlenecks() -> None:
    assert bottlenecks([], [checkout(1, db_ms=4)]) == []


def test_a_service_slower_in_many_small_steps_outranks_one_slower_in_one() -> None:
    """orders' twenty steps each grew 1 ms (20 ms in all), stock's one query 12 ms: the
    ranking adds up every step a service grew, not only the ten largest keys."""

    def order(n: int, start_s: float, step_ms: float, stock_ms: float) -> Trace:
        b = TraceBuilder(f"{n:032x}")
        t0 = start_s * 1000
        total = 20 * step_ms + stock_ms
        root = b.span("web", "POST /order", t0, t0 + total + 2, kind=SpanKind.SERVER)
        _, orders = b.call(root, "orders", "Create", t0 + 1, t0 + 1 + 20 * step_ms)
        for i in range(20):
            at = t0 + 1 + i * step_ms
            b.span("orders", f"step {i}", at, at + step_ms, parent=orders)
        b.call(root, "stock", "Reserve", t0 + 1 + 20 * step_ms, t0 + 1 + total)
        trace = b.trace()
        trace.journey = "order"
        return trace

    baseline = [order(i, 1 + i, step_ms=1, stock_ms=3) for i in range(20)]
    incident = [order(100 + i, 61 + i, step_ms=2, stock_ms=15) for i in range(20)]
    before, during = Window(0, 60 * S), Window(60 * S, 120 * S)
    report = analyze(AnalysisInput(traces=[*baseline, *incident], baseline=before, incident=during))
    assert report.candidates[0].service == "orders"
    assert len(report.bottlenecks) == 10  # the report still shows the ten largest


def order(n: int, publish_ms: float) -> Trace:
    """orders publishes an event and answers; billing consumes it, under the publish."""
    b = TraceBuilder(f"{n:032x}")
    root = b.span("orders", "POST /orders", 0, 10 + publish_ms, kind=SpanKind.SERVER)
    publish = b.span(
        "orders",
        "orders publish",
        5,
        5 + publish_ms,
        parent=root,
        kind=SpanKind.PRODUCER,
        **{"messaging.system": "kafka"},
    )
    b.span("billing", "orders process", 6, 8, parent=publish, kind=SpanKind.CONSUMER)
    return b.trace()


def test_a_slow_publish_is_the_brokers_time_though_the_consumer_hangs_under_it() -> None:
    """The consumer took its 2 ms as always; the publish waited 200 ms on the broker."""
    times = critical_time(order(1, publish_ms=200))
    assert times[("kafka", "orders publish")] == 198 * MS
    assert times[("billing", "orders process")] == 2 * MS
    found = bottlenecks([order(100 + i, 200) for i in range(10)], [order(i, 3) for i in range(20)])
    assert (found[0].service, found[0].operation) == ("kafka", "orders publish")
