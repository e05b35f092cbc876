"""Attributes over-represented in bad traces: a flag, a release, an instance."""

from __future__ import annotations

from correlators.attributes import over_represented
from correlators.model import Span, Trace


def trace(n: int, *, flag: bool, version: str = "2.0.0", instance: str = "cart-1", zone: str = "a") -> Trace:
    trace_id = f"{n:032x}"
    root = Span(
        trace_id,
        "1" * 16,
        None,
        "frontend",
        "POST /checkout",
        0,
        10,
        attributes={"feature_flag.new_pricing": flag, "user.tier": "free", "request.id": f"r{n}"},
        zone=zone,
    )
    child = Span(
        trace_id,
        "2" * 16,
        "1" * 16,
        "cart",
        "price",
        1,
        9,
        service_version=version,
        instance=instance,
        zone=zone,
    )
    return Trace(trace_id, [root, child])


def test_a_feature_flag_on_in_every_bad_trace_ranks_first() -> None:
    baseline = [trace(i, flag=i % 10 == 0) for i in range(100)]  # flag on for 10%
    bad = [trace(1000 + i, flag=True) for i in range(20)]
    findings = over_represented(bad, baseline)
    top = findings[0]
    assert (top.key, top.value, top.service) == ("feature_flag.new_pricing", "true", None)
    assert (top.bad_share, top.baseline_share) == (1.0, 0.1)
    assert top.lift == 10.0
    # shared facts (same tier, same zone for everyone) and request ids are not findings
    keys = {f.key for f in findings}
    assert "user.tier" not in keys and "request.id" not in keys
    assert "cloud.availability_zone" not in keys


def test_a_release_is_qualified_by_its_service() -> None:
    baseline = [trace(i, flag=False, version="2.0.0") for i in range(50)]
    bad = [trace(100 + i, flag=False, version="2.1.0" if i < 15 else "2.0.0") for i in range(20)]
    findings = over_represented(bad, baseline)
    assert [(f.key, f.value, f.service, f.bad_share, f.baseline_share) for f in findings] == [
        ("service.version", "2.1.0", "cart", 0.75, 0.0)
    ]


def test_one_bad_instance() -> None:
    baseline = [trace(i, flag=False, instance=f"cart-{i % 4}") for i in range(80)]
    bad = [trace(200 + i, flag=False, instance="cart-3") for i in range(12)]
    top = over_represented(bad, baseline)[0]
    assert (top.key, top.value, top.service) == ("service.instance", "cart-3", "cart")
    assert (top.bad_share, top.baseline_share) == (1.0, 0.25)


def test_nothing_to_compare() -> None:
    assert over_represented([], [trace(1, flag=True)]) == []


def test_ports_are_not_findings_even_when_they_track_the_bad_service() -> None:
    """A call to the failing service carries its port; the port repeats the service."""
    baseline = [trace(i, flag=False) for i in range(50)]
    bad = [trace(1000 + i, flag=True) for i in range(20)]
    for t in bad:
        t.spans[1].attributes.update({"server.port": 8081, "net.peer.port": 8081})
    findings = over_represented(bad, baseline)
    assert [f.key for f in findings] == ["feature_flag.new_pricing"]


def test_a_failures_own_marks_are_not_findings() -> None:
    """Every failed request carries a 500, an error type and an exception; saying they are
    over-represented in failed requests says nothing. The flag behind them is the finding."""
    baseline = [trace(i, flag=False) for i in range(50)]
    bad = [trace(1000 + i, flag=True) for i in range(20)]
    for t in bad:
        t.spans[0].attributes.update({"http.response.status_code": 500, "error.type": "500"})
        t.spans[1].attributes.update(
            {"exception.type": "PriceError", "exception.message": "no price", "rpc.grpc.status_code": 13}
        )
    findings = over_represented(bad, baseline)
    assert [f.key for f in findings] == ["feature_flag.new_pricing"]
