"""Like with like: a window whose mix of requests shifted does not make the kind that got
more frequent look slow."""

from __future__ import annotations

from correlators.bottleneck import bottlenecks
from correlators.mix import matched_kinds, request_kind
from correlators.model import SpanKind, Trace
from tests.spantree import TraceBuilder


def request(n: int, route: str, service: str, own_ms: float) -> Trace:
    """One request through a gateway that names every request ``/*``: the route it
    forwards to is the only thing that tells kinds apart."""
    b = TraceBuilder(f"{n:032x}")
    root = b.span("gateway", "/*", 0, own_ms + 2, kind=SpanKind.SERVER)
    b.call(root, service, route, 1, own_ms + 1)
    return b.trace()


def search(n: int) -> Trace:
    return request(n, "GET /search", "search", 100)


def pay(n: int, own_ms: float) -> Trace:
    return request(n, "POST /pay", "payment", own_ms)


def test_a_request_kind_is_where_the_entry_sent_it_first() -> None:
    assert request_kind(search(1)) == ("gateway", "/*", "search", "GET /search")
    lone = TraceBuilder()
    lone.span("gateway", "/healthz", 0, 1, kind=SpanKind.SERVER)
    assert request_kind(lone.trace()) == ("gateway", "/healthz", "", "")


def test_kinds_only_the_incident_served_are_left_out() -> None:
    baseline = [search(1), pay(2, 10)]
    incident = [search(3), request(4, "GET /new", "fresh", 5)]
    assert matched_kinds(incident, baseline) == [([incident[0]], [baseline[0]])]


def test_a_mix_shift_towards_slow_requests_does_not_blame_their_service() -> None:
    # search is always 100 ms and unchanged; payment went from 10 to 40 ms. The incident
    # minute served three times as many searches: a plain mean per trace says search
    # grew most (+50 ms against payment's +15 ms).
    baseline = [search(i) for i in range(10)] + [pay(100 + i, 10) for i in range(10)]
    incident = [search(200 + i) for i in range(15)] + [pay(300 + i, 40) for i in range(5)]
    found = bottlenecks(incident, baseline)
    assert [(b.service, b.operation) for b in found] == [("payment", "POST /pay")]
    # per request of the kind that got slower; search, as busy and as fast as ever, is out
    assert (found[0].baseline_ms, found[0].incident_ms, found[0].delta_ms) == (10.0, 40.0, 30.0)


def test_one_kind_twice_as_slow_counts_while_a_busier_kind_got_faster() -> None:
    # payment doubled (10 -> 20 ms); search, nine requests in ten, got 5 ms faster, so
    # the mean of all requests did not grow and a plain comparison finds nothing
    baseline = [search(i) for i in range(45)] + [pay(100 + i, 10) for i in range(5)]
    incident = [request(200 + i, "GET /search", "search", 95) for i in range(45)]
    incident += [pay(300 + i, 20) for i in range(5)]
    found = bottlenecks(incident, baseline)
    assert [(b.service, b.operation) for b in found] == [("payment", "POST /pay")]
    assert found[0].share == 1.0


def test_when_no_kind_got_slower_there_is_no_bottleneck() -> None:
    baseline = [search(i) for i in range(10)] + [pay(100 + i, 10) for i in range(10)]
    incident = [search(200 + i) for i in range(10)] + [pay(300 + i, 10.2) for i in range(10)]
    assert bottlenecks(incident, baseline) == []
