"""Bottlenecks: where critical-path time grew, with waits on databases charged to them."""

from __future__ import annotations

from correlators.bottleneck import bottlenecks, critical_time
from correlators.model import SpanKind, Trace
from tests.spantree import MS, TraceBuilder


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
