"""Each rule of correlators/regression.py and correlators/significance.py on small
hand-built inputs: a frontend calling orders, whose one operation a release changes."""

from __future__ import annotations

import pytest

from correlators.model import SpanKind, Trace
from correlators.patterns import PatternKind
from correlators.regression import MIN_SAMPLES, ChangeComparison, Outcome, compare_versions
from correlators.significance import fails_more, holm, quantile_interval, slower
from correlators.traces import assemble
from tests.spantree import TraceBuilder

OLD, NEW = "1.0.0", "2.0.0"


def checkout(
    i: int,
    version: str,
    ms: float,
    *,
    error: bool = False,
    aside_ms: float = 0.0,
    loop: int = 0,
    journey: str | None = "checkout",
) -> Trace:
    """frontend POST /checkout -> orders POST /orders of ``ms``, whose work (``loop``
    statements one after another, else one span) starts beside a short ``aside`` span,
    never on the critical path while the work outlasts it."""
    b = TraceBuilder(f"{i:032x}")
    root = b.span("frontend", "POST /checkout", 0, ms + 2)
    _, orders = b.call(root, "orders", "POST /orders", 1, 1 + ms, error=error)
    start, work = 1 + ms * 0.1, ms * 0.8
    b.span("orders", "aside", start, start + aside_ms, parent=orders)
    if not loop:
        b.span("orders", "work", start, start + work, parent=orders)
    for k in range(loop):
        step = work / loop
        b.span(
            "orders",
            "SELECT items",
            start + k * step,
            start + (k + 1) * step,
            parent=orders,
            kind=SpanKind.CLIENT,
            **{"db.system": "postgresql", "db.statement": f"SELECT * FROM items WHERE id = {k}"},
        )
    for span in b.spans:
        if span.service == "orders":
            span.service_version = version
    return Trace(b.trace_id, b.spans, journey=journey)


def spread(n: int, low_ms: float) -> list[float]:
    """``n`` durations evenly from ``low_ms`` to twice it: a known distribution."""
    return [low_ms * (1 + k / n) for k in range(n)]


def verdict(old: list[Trace], new: list[Trace]):  # type: ignore[no-untyped-def]
    return compare_versions([assemble(t) for t in [*old, *new]], "orders", OLD, NEW)


def test_mann_whitney_matches_the_textbook_value() -> None:
    # U = 25 of 25, z = (25 - 12.5 - 0.5) / sqrt(25 * 11 / 12)
    assert slower([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(0.0061, abs=1e-4)
    assert slower([6, 7, 8, 9, 10], [1, 2, 3, 4, 5]) > 0.99
    assert slower([], [1.0]) == 1.0
    assert slower([3, 3, 3], [3, 3, 3]) == 1.0


def test_fisher_is_the_hypergeometric_tail() -> None:
    # all 5 failures among the 10 new items: C(15, 5) / C(20, 10)
    assert fails_more(0, 10, 5, 10) == pytest.approx(3003 / 184756)
    assert fails_more(5, 10, 0, 10) == pytest.approx(1.0)
    assert fails_more(0, 10, 0, 10) == 1.0


def test_holm_multiplies_by_the_tests_left_and_keeps_the_order() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []


def test_a_quantile_interval_holds_the_quantile() -> None:
    values = [float(v) for v in range(1000)]
    low, high = quantile_interval(values, 0.5, 0.95)
    assert 450 < low < 500 < high < 550
    assert quantile_interval(values, 0.95, 0.95)[1] <= 999


def test_too_few_spans_per_side_is_too_early() -> None:
    n = MIN_SAMPLES - 1
    old = [checkout(i, OLD, ms) for i, ms in enumerate(spread(n, 10))]
    new = [checkout(10_000 + i, NEW, 3 * ms) for i, ms in enumerate(spread(n, 10))]
    found = verdict(old, new)
    assert found.outcome is Outcome.TOO_EARLY
    assert (found.old_traces, found.new_traces) == (n, n)


def test_a_30_percent_slower_operation_is_called_with_its_size_and_slowest_traces() -> None:
    n = MIN_SAMPLES
    old = [checkout(i, OLD, ms) for i, ms in enumerate(spread(n, 10))]
    new = [checkout(10_000 + i, NEW, 1.3 * ms) for i, ms in enumerate(spread(n, 10))]
    found = verdict(old, new)
    assert found.outcome is Outcome.REGRESSED
    assert {r.operation for r in found.regressions} == {"POST /orders", "work"}  # its work too
    [regression] = [r for r in found.regressions if r.operation == "POST /orders"]
    assert regression.slower and not regression.fails_more
    assert regression.journeys == ("checkout",)
    size = regression.size
    assert size is not None and size.change == pytest.approx(0.3, abs=0.02)
    assert size.low < size.change < size.high
    assert regression.evidence[0] == f"{10_000 + n - 1:032x}"  # the slowest request
    assert found.journeys == ["checkout"]


def test_a_certain_but_small_shift_is_not_called() -> None:
    n = 2000
    old = [checkout(i, OLD, ms) for i, ms in enumerate(spread(n, 10))]
    new = [checkout(10_000 + i, NEW, 1.05 * ms) for i, ms in enumerate(spread(n, 10))]
    found = verdict(old, new)
    [orders] = [o for o in found.operations if o.operation == "POST /orders"]
    assert orders.latency_p < 0.01  # significant, yet a twentieth is below the tenth asked
    assert not orders.slower and found.outcome is Outcome.FINE


def test_a_large_relative_shift_under_a_millisecond_is_not_called() -> None:
    n = MIN_SAMPLES
    old = [checkout(i, OLD, ms) for i, ms in enumerate(spread(n, 0.2))]
    new = [checkout(10_000 + i, NEW, 1.5 * ms) for i, ms in enumerate(spread(n, 0.2))]
    found = verdict(old, new)
    [orders] = [o for o in found.operations if o.operation == "POST /orders"]
    assert orders.p95 is not None and orders.p95.change > 0.4
    assert not orders.slower and found.outcome is Outcome.FINE


def test_more_failures_are_called_only_when_doubled_and_significant() -> None:
    n = 400
    old = [checkout(i, OLD, 10, error=i < 2) for i in range(n)]
    new = [checkout(10_000 + i, NEW, 10, error=i < 20) for i in range(n)]
    found = verdict(old, new)
    [regression] = found.regressions
    assert regression.fails_more and not regression.slower
    assert regression.evidence[:3] == tuple(f"{10_000 + i:032x}" for i in range(3))
    # three failures against two: neither doubled enough to matter nor beyond chance
    calm = verdict(old, [checkout(10_000 + i, NEW, 10, error=i < 3) for i in range(n)])
    assert calm.outcome is Outcome.FINE


def test_an_operation_off_the_critical_path_is_not_compared() -> None:
    n = MIN_SAMPLES
    old = [checkout(i, OLD, 20, aside_ms=1) for i in range(n)]
    new = [checkout(10_000 + i, NEW, 20, aside_ms=10) for i in range(n)]  # 10x slower, beside
    found = verdict(old, new)
    assert "aside" not in {o.operation for o in found.operations}
    assert found.outcome is Outcome.FINE


def test_traces_of_no_journey_put_nothing_on_a_path() -> None:
    n = MIN_SAMPLES
    old = [checkout(i, OLD, 10, journey=None) for i in range(n)]
    new = [checkout(10_000 + i, NEW, 30, journey=None) for i in range(n)]
    assert verdict(old, new).outcome is Outcome.TOO_EARLY


def test_a_new_n_plus_one_is_a_grown_pattern() -> None:
    n = MIN_SAMPLES
    old = [checkout(i, OLD, 10) for i in range(n)]
    new = [checkout(10_000 + i, NEW, 10, loop=6) for i in range(n)]  # same time, one by one
    found = verdict(old, new)
    [grown] = found.patterns
    assert grown.kind is PatternKind.N_PLUS_ONE and grown.operation == "POST /orders"
    assert (grown.old_share, grown.new_share) == (0.0, 1.0)
    assert grown.saved_ns > 0 and len(grown.evidence) == 3
    assert found.outcome is Outcome.REGRESSED and found.journeys == ["checkout"]


def test_a_pattern_both_versions_show_has_not_grown() -> None:
    n = MIN_SAMPLES
    old = [checkout(i, OLD, 10, loop=6) for i in range(n)]
    new = [checkout(10_000 + i, NEW, 10, loop=6) for i in range(n)]
    assert verdict(old, new).patterns == ()


def test_canary_and_other_versions() -> None:
    """Sides go by version, not time: both versions at once compare as before/after does,
    and a third version's traces are left out."""
    n = MIN_SAMPLES
    mixed = []
    for i, ms in enumerate(spread(n, 10)):
        mixed += [checkout(i, OLD, ms), checkout(10_000 + i, NEW, 1.3 * ms), checkout(20_000 + i, "0.9", 50)]
    found = compare_versions([assemble(t) for t in mixed], "orders", OLD, NEW)
    assert found.outcome is Outcome.REGRESSED
    assert (found.old_traces, found.new_traces) == (n, n)


def test_a_change_is_compared_before_and_after_its_time() -> None:
    """A flag flip at 1 s: the service's traces that began before it against those after,
    whatever version they ran; traces that never reach the service are left out."""
    n = MIN_SAMPLES
    flipped = 1_000_000_000

    def at(trace: Trace, start_ns: int) -> Trace:
        for span in trace.spans:
            span.start_ns += start_ns
            span.end_ns += start_ns
        return trace

    before = [at(checkout(i, OLD, ms), i) for i, ms in enumerate(spread(n, 10))]
    after = [at(checkout(10_000 + i, OLD, 1.3 * ms), flipped + i) for i, ms in enumerate(spread(n, 10))]
    elsewhere = TraceBuilder("e" * 32)
    elsewhere.span("frontend", "GET /", flipped, flipped + 5_000_000)
    comparison = ChangeComparison("orders", flipped)
    for trace in [*before, *after, elsewhere.trace()]:
        comparison.add(assemble(trace))
    found = comparison.verdict()
    assert (found.old_version, found.new_version) == ("before", "after")
    assert (found.old_traces, found.new_traces) == (n, n)
    assert found.outcome is Outcome.REGRESSED
    assert "POST /orders" in {o.operation for o in found.regressions}
