"""The network between services, everywhere at once, against one thing that many call."""

from __future__ import annotations

from correlators.model import SpanKind, Trace
from correlators.platform import network_slowdown, unanswered_failures
from correlators.traces import assemble
from tests.spantree import MS, TraceBuilder

SERVICE_EDGES = [
    ("web", "cart"),
    ("web", "search"),
    ("cart", "prices"),
    ("search", "stock"),
    ("prices", "db"),
]


def gaps(edges: list[tuple[str, str]], ms: float) -> dict[tuple[tuple[str, str], tuple[str, str]], list[int]]:
    return {((a, f"{a}-1"), (b, f"{b}-1")): [int(ms * MS)] * 20 for a, b in edges}


def test_every_edge_slower_outside_its_callee_is_the_network() -> None:
    slow = network_slowdown(gaps(SERVICE_EDGES, 1.0), gaps(SERVICE_EDGES, 40.0))
    assert slow is not None
    assert slow.measured == 5 and len(slow.grown) == 5
    assert slow.grown[("web", "cart")] == (1.0, 40.0)


def test_edges_into_one_slow_callee_are_that_callee() -> None:
    into_prices = [("web", "prices"), ("cart", "prices"), ("search", "prices")]
    before = gaps(SERVICE_EDGES + into_prices, 1.0)
    during = {**gaps(SERVICE_EDGES, 1.0), **gaps(into_prices, 40.0)}
    assert network_slowdown(before, during) is None


def failed_call(n: int, caller: str, callee: str) -> Trace:
    """A request whose error started in a call nothing answered (a DNS or sidecar failure)."""
    b = TraceBuilder(f"{n:032x}")
    root = b.span(caller, "GET /", 0, 10, kind=SpanKind.SERVER, error=True)
    b.span(
        caller,
        f"call {callee}",
        1,
        2,
        parent=root,
        kind=SpanKind.CLIENT,
        error=True,
        **{"peer.service": callee},
    )
    return b.trace()


def test_calls_failing_unanswered_from_many_callers_to_many_callees_are_the_network() -> None:
    bad = [failed_call(i, *SERVICE_EDGES[i % 5]) for i in range(20)]
    failures = unanswered_failures(bad, assemble)
    assert failures is not None
    assert failures.origins == 20 and failures.edges[("web", "cart")] == 4


def test_calls_failing_unanswered_into_one_cache_are_that_cache() -> None:
    """Redis is down: every caller's calls fail unanswered, all of them into one callee."""
    bad = [failed_call(i, ("web", "cart", "search", "prices")[i % 4], "redis") for i in range(20)]
    assert unanswered_failures(bad, assemble) is None
