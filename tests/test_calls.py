"""Calls in telemetry without span kinds, and whose a slow call is: caller or callee."""

from __future__ import annotations

from correlators.bottleneck import bottlenecks
from correlators.calls import Node, caller_shares, service_shares
from correlators.model import SpanKind, Trace
from correlators.traces import assemble
from tests.spantree import TraceBuilder


def n(service: str, instance: str = "") -> Node:
    return service, instance


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
    growth = {
        (n("web"), n("cart")): 90e6,
        (n("web"), n("ads")): 88e6,
        (n("api"), n("cart")): 1e6,
        (n("api"), n("ads")): 0.0,
    }
    shares = caller_shares(growth)
    assert shares[(n("web"), n("cart"))] > 0.95
    assert shares[(n("web"), n("ads"))] > 0.95


def test_a_callee_slow_from_every_caller_is_the_callees() -> None:
    growth = {(n("web"), n("cart")): 90e6, (n("api"), n("cart")): 85e6, (n("web"), n("ads")): 1e6}
    shares = caller_shares(growth)
    assert shares[(n("web"), n("cart"))] < 0.05
    assert shares[(n("api"), n("cart"))] < 0.05


def test_a_lone_caller_whose_callee_is_fast_for_others_is_the_one() -> None:
    """recommend calls only catalog; catalog's other callers do not see it slow, so the
    wait is recommend's own (its network), not catalog's."""
    growth = {
        (n("recommend"), n("catalog")): 95e6,
        (n("web"), n("catalog")): 2e6,
        (n("checkout"), n("catalog")): 1e6,
    }
    assert caller_shares(growth)[(n("recommend"), n("catalog"))] > 0.9


def test_with_no_neighbours_the_callee_keeps_the_call() -> None:
    assert caller_shares({(n("web"), n("cart")): 50e6}) == {(n("web"), n("cart")): 0.0}


def test_bottleneck_charges_the_slow_caller_not_its_callees() -> None:
    baseline = [unkinded(i) for i in range(10)]
    incident = [unkinded(100 + i, cart_gap_ms=60, ads_gap_ms=60) for i in range(10)]
    found = bottlenecks(incident, baseline)
    by_key = {(b.service, b.operation): b.delta_ms for b in found}
    assert found[0].service == "web"
    assert by_key.get(("cart", "Get"), 0.0) < 5


def test_one_slow_pod_behind_a_service_is_the_pods_not_its_callers() -> None:
    """Calls to catalog-2 queue (a saturated pod); calls to catalog-1 and to auth do not.
    Judged per service, half of web's calls to catalog grew and half did not; judged per
    instance, catalog-2 alone is slow and web is not."""
    growth = {
        (n("web"), n("catalog", "catalog-1")): 1e6,
        (n("web"), n("catalog", "catalog-2")): 80e6,
        (n("web"), n("auth", "auth-1")): 2e6,
    }
    shares = caller_shares(growth)
    assert shares[(n("web"), n("catalog", "catalog-2"))] < 0.05
    assert service_shares(shares, growth)[("web", "catalog")] < 0.05
