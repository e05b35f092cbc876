"""A zone is blamed only when several services went wrong there themselves."""

from __future__ import annotations

from collections.abc import Sequence

from correlators.model import Span, SpanKind, StatusCode, Trace
from correlators.topology import call_graph
from correlators.traces import assemble
from correlators.wrong import judge, usual_self_times
from correlators.zones import ZoneSkew, zone_skew
from tests.spantree import TraceBuilder

MS = 1_000_000
CHAIN = ("web", "api", "cart")


def request(number: int, zone: str, extra_ms: dict[str, float], *, failed: str | None = None) -> Trace:
    """web -> api -> cart, all in ``zone`` (zone-aware routing); each span's own time is
    10 ms plus ``extra_ms[service]``; ``failed`` names the service whose error starts it."""
    trace_id = f"{number:032x}"
    own = [10 + extra_ms.get(service, 0.0) for service in CHAIN]
    spans, start, end = [], 0.0, sum(own) + 10
    for depth, service in enumerate(CHAIN):
        error = failed is not None and CHAIN.index(failed) >= depth
        spans.append(
            Span(
                trace_id,
                f"{depth + 1:016x}",
                f"{depth:016x}" if depth else None,
                service,
                f"GET /{service}",
                int(start * MS),
                int(end * MS),
                kind=SpanKind.SERVER,
                status=StatusCode.ERROR if error else StatusCode.UNSET,
                zone=zone,
            )
        )
        start, end = start + own[depth] / 2, end - own[depth] / 2
    return Trace(trace_id, spans, journey="checkout")


def traffic(
    first: int, zones: Sequence[str], per_zone: int, extra: dict[str, dict[str, float]]
) -> list[Trace]:
    return [
        request(first + i * len(zones) + j, zone, extra.get(zone, {}))
        for i in range(per_zone)
        for j, zone in enumerate(zones)
    ]


BASELINE = traffic(0, ("a", "b"), 20, {})


def skew_of(during: list[Trace], baseline: list[Trace] = BASELINE) -> ZoneSkew | None:
    judged = judge(during, usual_self_times(baseline, assemble), assemble)
    return zone_skew(judged, call_graph([*baseline, *during]))


def test_every_service_slow_in_one_zone_only_is_that_zone() -> None:
    slow_in_b = {"b": {service: 100.0 for service in CHAIN}}
    skew = skew_of(traffic(1000, ("a", "b"), 10, slow_in_b))
    assert skew is not None
    assert (skew.zone, sorted(skew.services), skew.eligible) == ("b", sorted(CHAIN), 3)
    assert skew.services["api"] == (1.0, 0.0)


def test_one_slow_service_makes_its_callers_in_that_zone_slow_too_but_not_wrong() -> None:
    """Zone-aware routing keeps a request in its zone, so a bad cart instance in zone b
    puts every zone-b span in a bad trace; only cart's own time grew."""
    cart_slow_in_b = {"b": {"cart": 300.0}}
    assert skew_of(traffic(1000, ("a", "b"), 10, cart_slow_in_b)) is None


def test_errors_that_start_in_one_zone_on_every_service_are_that_zone() -> None:
    during = traffic(1000, ("a",), 10, {}) + [
        request(2000 + i, "b", {}, failed=CHAIN[i % 3]) for i in range(30)
    ]
    skew = skew_of(during)
    assert skew is not None and skew.zone == "b"


def test_services_that_live_in_one_zone_say_nothing_about_it() -> None:
    """A database in zone b fails in zone b whatever the cause."""
    only_b = traffic(0, ("b",), 20, {})
    slow = traffic(1000, ("b",), 10, {"b": {service: 100.0 for service in CHAIN}})
    assert skew_of(slow, baseline=only_b) is None


def through_cart(number: int, caller: str, zone: str, wire_ms: float) -> Trace:
    """``caller`` -> cart -> redis in ``zone``; ``wire_ms`` added on the way into cart and
    out of it, as one cart instance whose network broke does."""
    b = TraceBuilder(f"{number:032x}")
    root = b.span(caller, "GET /", 0, 40 + 2 * wire_ms, kind=SpanKind.SERVER)
    call = b.span(caller, "call cart", 5, 35 + 2 * wire_ms, parent=root, kind=SpanKind.CLIENT)
    cart = b.span("cart", "GET /cart", 10 + wire_ms, 30 + wire_ms, parent=call, kind=SpanKind.SERVER)
    to_redis = b.span("cart", "GET", 15 + wire_ms, 25 + 2 * wire_ms, parent=cart, kind=SpanKind.CLIENT)
    to_redis.attributes["peer.service"] = "redis"
    for span in b.spans:
        span.zone = zone
    trace = b.trace()
    trace.journey = "checkout"
    return trace


def test_callers_slow_only_in_calls_to_one_service_in_a_zone_are_that_service() -> None:
    """cart's instance in zone b lost its network: web's and api's calls to it and its own
    calls to redis are slow there. Three services point at zone b, but two of them only
    by calling the third."""

    def both(first: int, zone: str, wire_ms: float) -> list[Trace]:
        return [through_cart(first + i, ("web", "api")[i % 2], zone, wire_ms) for i in range(20)]

    baseline = both(0, "a", 0) + both(100, "b", 0)
    during = both(1000, "a", 0) + both(2000, "b", 100)
    judged = judge(during, usual_self_times(baseline, assemble), assemble)
    assert zone_skew(judged, call_graph([*baseline, *during])) is None
