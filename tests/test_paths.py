"""Where requests took a different path: code faults that leave no status and no log."""

from __future__ import annotations

from correlators.model import SpanKind, Trace
from correlators.paths import path_changes
from tests.spantree import TraceBuilder


def page(n: int, *, stop_after_catalog: bool = False, answer_at_once: bool = False) -> Trace:
    """web asks catalog for the product, then ads for the banner (no kinds, no status)."""
    b = TraceBuilder(f"{n:032x}")
    root = b.span("web", "GET /product", 0, 20, kind=SpanKind.UNSPECIFIED)
    if answer_at_once:
        return b.trace()
    to_catalog = b.span("web", "catalog.Get", 1, 6, parent=root, kind=SpanKind.UNSPECIFIED)
    b.span("catalog", "Get", 2, 5, parent=to_catalog, kind=SpanKind.UNSPECIFIED)
    if not stop_after_catalog:
        to_ads = b.span("web", "ads.Get", 7, 12, parent=root, kind=SpanKind.UNSPECIFIED)
        b.span("ads", "Get", 8, 11, parent=to_ads, kind=SpanKind.UNSPECIFIED)
    return b.trace()


def test_callers_that_stop_right_after_a_call_point_at_the_callee() -> None:
    """catalog answers wrong: web gives up after its call instead of going on to ads."""
    baseline = [page(i) for i in range(30)]
    incident = [page(100 + i, stop_after_catalog=i % 3 != 0) for i in range(30)]
    top = path_changes(baseline, incident)[0]
    assert (top.owner, top.where, top.after) == ("catalog", ("web", "GET /product"), "catalog Get")
    assert (top.share_before, top.share_now) == (0.0, 0.6667)


def test_a_service_that_answers_without_its_calls_is_the_one() -> None:
    baseline = [page(i) for i in range(30)]
    incident = [page(100 + i, answer_at_once=i % 2 == 0) for i in range(30)]
    top = path_changes(baseline, incident)[0]
    assert (top.owner, top.after) == ("web", None)


def test_the_same_mix_of_paths_is_no_change() -> None:
    baseline = [page(i, stop_after_catalog=i % 4 == 0) for i in range(40)]
    incident = [page(100 + i, stop_after_catalog=i % 4 == 1) for i in range(40)]
    assert path_changes(baseline, incident) == []


def test_a_rare_kind_of_span_is_not_judged() -> None:
    baseline = [page(i) for i in range(5)]
    incident = [page(100 + i, stop_after_catalog=True) for i in range(5)]
    assert path_changes(baseline, incident) == []


def test_callers_that_stop_after_a_call_nothing_answered_point_at_the_dependency() -> None:
    """The cache sends no spans: its name comes from the client span's attributes."""

    def cart(n: int, *, cache_failed: bool = False) -> Trace:
        b = TraceBuilder(f"{n:032x}")
        root = b.span("cart", "GET /cart", 0, 20, kind=SpanKind.SERVER)
        b.span("cart", "GET", 1, 3, parent=root, kind=SpanKind.CLIENT, **{"db.system": "redis"})
        if not cache_failed:
            to_db = b.span("cart", "SELECT", 4, 9, parent=root, kind=SpanKind.CLIENT)
            b.span("orders-db", "query", 5, 8, parent=to_db, kind=SpanKind.SERVER)
        return b.trace()

    baseline = [cart(i) for i in range(30)]
    incident = [cart(100 + i, cache_failed=i % 2 == 0) for i in range(30)]
    top = path_changes(baseline, incident)[0]
    assert (top.owner, top.after) == ("redis", "redis GET")
