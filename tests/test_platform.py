"""The network between services, everywhere at once, against one thing that many call."""

from __future__ import annotations

from correlators.logs import TemplateChange
from correlators.model import SpanKind, Trace
from correlators.platform import (
    failed_calls,
    network_slowdown,
    silent_callee_failures,
    unanswered_failures,
)
from correlators.topology import call_graph
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


def test_edges_with_no_time_outside_their_callee_have_no_wire_to_read() -> None:
    """Three publish edges whose consumers run after the producer returns show no gap in
    either window; they neither count for nor against the network."""
    messages = [("web", "events"), ("cart", "events"), ("prices", "events")]
    slow = network_slowdown(
        {**gaps(SERVICE_EDGES, 1.0), **gaps(messages, 0.0)},
        {**gaps(SERVICE_EDGES, 40.0), **gaps(messages, 0.0)},
    )
    assert slow is not None and slow.measured == 5


def test_edges_into_one_slow_callee_are_that_callee() -> None:
    into_prices = [("web", "prices"), ("cart", "prices"), ("search", "prices")]
    before = gaps(SERVICE_EDGES + into_prices, 1.0)
    during = {**gaps(SERVICE_EDGES, 1.0), **gaps(into_prices, 40.0)}
    assert network_slowdown(before, during) is None


def failed_call(n: int, caller: str, callee: str) -> Trace:
    """A request whose error started in a call nothing answered (a DNS or sidecar failure)."""
    b = TraceBuilder(f"{n:032x}")
    root = b.span(caller, "GET /", 0, 10, kind=SpanKind.SERVER, error=True)
    b.unanswered(root, callee, 1, 2)
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


def answered_call(
    n: int, caller: str, callee: str, *, error: bool = False, deeper: str | None = None
) -> Trace:
    """A call the callee answered: late or failing (``error``), or failing because a call
    of its own to ``deeper`` failed unanswered."""
    b = TraceBuilder(f"{n:032x}")
    root = b.span(caller, "GET /", 0, 1000, kind=SpanKind.SERVER, error=error)
    call = b.span(caller, f"call {callee}", 1, 999, parent=root, kind=SpanKind.CLIENT, error=error)
    served = b.span(callee, "handle", 2, 998, parent=call, kind=SpanKind.SERVER, error=error)
    if deeper is not None:
        b.unanswered(served, deeper, 3, 4)
    return b.trace()


GRAPH = call_graph([answered_call(i, *edge) for i, edge in enumerate(SERVICE_EDGES)])


def lines(service: str, text: str, count: int) -> TemplateChange:
    return TemplateChange(service, text, "new", 0, count, None, 17, text)


NETWORK_LINES = [
    lines("web", "call to cart failed: dns lookup failed", 20),
    lines("web", "call to search failed: connection reset", 15),
    lines("cart", "call to prices failed: dns lookup failed", 15),
    lines("search", "call to stock failed: connection reset", 10),
    lines("prices", "call to db failed: dns lookup failed", 10),
]


def test_new_error_lines_about_many_silent_callees_are_the_network() -> None:
    """Sampling kept no failed trace; the logs, which are not sampled, name five callees
    from four callers, and no callee logged an error of its own."""
    failures = silent_callee_failures(NETWORK_LINES, GRAPH, {})
    assert failures is not None
    assert failures.origins == 70 and failures.edges[("web", "cart")] == 20
    assert failures.counted == "log_lines"


def test_callers_that_gave_up_waiting_on_answering_callees_are_not_the_network() -> None:
    """The same lines when the traces show the failed calls answered, late: a slow service
    below, whose callers' deadlines fired."""
    slow = [answered_call(i, *SERVICE_EDGES[i % 5], error=True) for i in range(20)]
    calls = failed_calls(slow, assemble, GRAPH)
    assert calls[("web", "cart")] == (4, 0)
    assert silent_callee_failures(NETWORK_LINES, GRAPH, calls) is None


def test_one_failing_service_and_its_relaying_callers_are_not_the_network() -> None:
    """prices throws: its callers name it and their callers relay the failure on."""
    relayed = [
        lines("prices", "NullPointerException in PriceTable", 30),
        lines("cart", "call to prices failed: NullPointerException", 30),
        lines("web", "call to cart failed: prices failed: NullPointerException", 30),
    ]
    assert silent_callee_failures(relayed, GRAPH, {}) is None


def test_a_call_answered_with_a_deeper_failure_counts_with_the_deeper_call() -> None:
    traces = [answered_call(i, "web", "cart", error=True, deeper="prices") for i in range(6)]
    calls = failed_calls(traces, assemble, GRAPH)
    assert ("web", "cart") not in calls
    assert calls[("cart", "prices")] == (0, 6)
