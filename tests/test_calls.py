"""Calls in telemetry without span kinds, and whose a slow call is: caller or callee."""

from __future__ import annotations

from correlators.bottleneck import bottlenecks
from correlators.calls import caller_shares
from correlators.model import SpanKind, Trace
from correlators.traces import assemble
from tests.spantree import TraceBuilder


def unkinded(n: int, *, cart_gap_ms: float = 1, ads_gap_ms: float = 1, web_own_ms: float = 2) -> Trace:
    """web calls cart and ads; no span says what kind it is (as many exports have it).
    A call's gap is its time outside the callee's span: the wire, the callee's queue."""
    b = TraceBuilder(f"{n:032x}")
    cart_end = 1 + 5 + cart_gap_ms
    ads_end = cart_end + 5 + ads_gap_ms
    root = b.span("web", "GET /", 0, ads_end + web_own_ms, kind=SpanKind.UNSPECIFIED)
    to_cart = b.span("web", "cart.Get", 1, cart_end, parent=root, kind=SpanKind.UNSPECIFIED)
    b.span(
        "cart", "Get", 1 + cart_gap_ms / 2, 1 + cart_gap_ms / 2 + 5, parent=to_cart, kind=SpanKind.UNSPECIFIED
    )
    to_ads = b.span("web", "ads.Get", cart_end, ads_end, parent=root, kind=SpanKind.UNSPECIFIED)
    b.span(
        "ads",
        "Get",
        cart_end + ads_gap_ms / 2,
        cart_end + ads_gap_ms / 2 + 5,
        parent=to_ads,
        kind=SpanKind.UNSPECIFIED,
    )
    return b.trace()


def test_a_link_across_services_is_a_call_whatever_the_kinds_say() -> None:
    tree = assemble(unkinded(1))
    kinds = {(n.span.service, n.span.name): n.kind for n in tree.by_id.values()}
    assert kinds[("web", "cart.Get")] is SpanKind.CLIENT
    assert kinds[("cart", "Get")] is SpanKind.SERVER
    assert kinds[("web", "GET /")] is SpanKind.UNSPECIFIED  # nothing says it was called


def test_a_slow_wire_to_one_callee_is_the_callees() -> None:
    """The callee's own span stays fast; its callers wait longer: the time is the call's."""
    baseline = [unkinded(i) for i in range(10)]
    incident = [unkinded(100 + i, cart_gap_ms=80) for i in range(10)]
    top = bottlenecks(incident, baseline)[0]
    assert (top.service, top.operation) == ("cart", "Get")
    assert top.delta_ms == 79.0


def test_a_caller_slow_on_every_call_is_the_callers() -> None:
    """Every call of one caller grew alike, to callees that other callers find fast."""
    growth = {("web", "cart"): 90e6, ("web", "ads"): 88e6, ("api", "cart"): 1e6, ("api", "ads"): 0.0}
    shares = caller_shares(growth)
    assert shares[("web", "cart")] > 0.95
    assert shares[("web", "ads")] > 0.95


def test_a_callee_slow_from_every_caller_is_the_callees() -> None:
    growth = {("web", "cart"): 90e6, ("api", "cart"): 85e6, ("web", "ads"): 1e6}
    shares = caller_shares(growth)
    assert shares[("web", "cart")] < 0.05
    assert shares[("api", "cart")] < 0.05


def test_a_lone_caller_whose_callee_is_fast_for_others_is_the_one() -> None:
    """recommend calls only catalog; catalog's other callers do not see it slow, so the
    wait is recommend's own (its network), not catalog's."""
    growth = {("recommend", "catalog"): 95e6, ("web", "catalog"): 2e6, ("checkout", "catalog"): 1e6}
    assert caller_shares(growth)[("recommend", "catalog")] > 0.9


def test_with_no_neighbours_the_callee_keeps_the_call() -> None:
    assert caller_shares({("web", "cart"): 50e6}) == {("web", "cart"): 0.0}


def test_bottleneck_charges_the_slow_caller_not_its_callees() -> None:
    baseline = [unkinded(i) for i in range(10)]
    incident = [unkinded(100 + i, cart_gap_ms=60, ads_gap_ms=60) for i in range(10)]
    found = bottlenecks(incident, baseline)
    by_key = {(b.service, b.operation): b.delta_ms for b in found}
    assert found[0].service == "web"
    assert by_key.get(("cart", "Get"), 0.0) < 5
