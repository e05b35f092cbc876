"""One instance or all of them: judged on the service's own spans."""

from __future__ import annotations

from correlators.instances import instance_skew
from correlators.model import Span, SpanKind, Trace
from correlators.traces import assemble
from correlators.wrong import judge, usual_self_times

MS = 1_000_000


def request(n: int, instance: str, own_ms: float) -> Trace:
    """web-1 calls cart on ``instance``, whose own work takes ``own_ms``."""
    trace_id = f"{n:032x}"
    end = 20 + own_ms
    web = Span(trace_id, "1", None, "web", "GET /", 0, int(end * MS), kind=SpanKind.SERVER, instance="web-1")
    cart = Span(
        trace_id,
        "2",
        "1",
        "cart",
        "GET /cart",
        5 * MS,
        int((5 + own_ms) * MS),
        kind=SpanKind.SERVER,
        instance=instance,
    )
    return Trace(trace_id, [web, cart], journey="checkout")


INSTANCES = ("cart-1", "cart-2", "cart-3")
BASELINE = [request(i, INSTANCES[i % 3], 10) for i in range(60)]


def skew_of(slow: dict[str, float]) -> tuple[str, str] | None:
    during = [request(1000 + i, INSTANCES[i % 3], slow.get(INSTANCES[i % 3], 10)) for i in range(60)]
    skew = instance_skew(judge(during, usual_self_times(BASELINE, assemble), assemble), "cart")
    return None if skew is None else (skew.instance, f"{skew.rates[0]:.0%} vs {skew.rates[1]:.0%}")


def test_one_instance_whose_own_spans_went_wrong_is_the_one() -> None:
    assert skew_of({"cart-2": 300}) == ("cart-2", "100% vs 0%")


def test_every_instance_slow_is_the_service() -> None:
    assert skew_of(dict.fromkeys(INSTANCES, 300.0)) is None


def test_the_caller_of_a_slow_instance_is_not_judged_by_its_wait() -> None:
    """web-1 waited on cart-2 in a third of its requests; its own time did not change."""
    during = [request(1000 + i, INSTANCES[i % 3], 300 if i % 3 == 1 else 10) for i in range(60)]
    assert instance_skew(judge(during, usual_self_times(BASELINE, assemble), assemble), "web") is None
