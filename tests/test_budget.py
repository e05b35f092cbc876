"""Budget attribution per hop: every bad event charged to one hop, shares summing to 1."""

from __future__ import annotations

from correlators.budget import budget_attribution
from correlators.model import SpanKind, Trace
from tests.spantree import TraceBuilder


def checkout(n: int, *, pricing_ms: float = 10, payment_error: bool = False) -> Trace:
    b = TraceBuilder(f"{n:032x}")
    root = b.span("frontend", "POST /checkout", 0, 40 + pricing_ms, kind=SpanKind.SERVER, error=payment_error)
    b.call(root, "pricing", "POST /quote", 5, 5 + pricing_ms)
    _, pay = b.call(root, "payments", "POST /charge", 10 + pricing_ms, 30 + pricing_ms, error=payment_error)
    b.span(
        "payments",
        "INSERT charge",
        12 + pricing_ms,
        28 + pricing_ms,
        parent=pay,
        error=payment_error,
        kind=SpanKind.CLIENT,
        **{"db.system": "postgresql"},
    )
    trace = b.trace()
    trace.journey = "checkout"
    return trace


def test_failed_and_slow_requests_are_charged_to_their_hops() -> None:
    healthy = [checkout(i) for i in range(10)]
    bad = [checkout(100 + i, payment_error=True) for i in range(3)] + [
        checkout(200 + i, pricing_ms=400) for i in range(1)
    ]
    shares = budget_attribution(bad, healthy)
    assert [(h.service, h.operation, h.errors, h.slow, h.share) for h in shares] == [
        ("postgresql", "INSERT charge", 3, 0, 0.75),
        ("pricing", "POST /quote", 0, 1, 0.25),
    ]
    assert sum(h.share for h in shares) == 1.0


def test_nothing_bad_nothing_to_attribute() -> None:
    assert budget_attribution([], [checkout(1)]) == []
