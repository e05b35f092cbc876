"""Trace assembly, skew, orphans, critical path, self time and error origin: exact answers."""

from __future__ import annotations

import time

from correlators.critical_path import critical_path, time_by_operation
from correlators.model import SpanKind, Trace
from correlators.traces import Trees, assemble, error_origin, render_tree, self_times
from tests.spantree import MS, TraceBuilder


def segments(tree_trace: Trace) -> list[tuple[str, str, float, float]]:
    return [
        (s.service, s.operation, s.start_ns / MS, s.end_ns / MS) for s in critical_path(assemble(tree_trace))
    ]


def test_critical_path_with_parallel_and_sequential_children() -> None:
    b = TraceBuilder()
    root = b.span("frontend", "GET /checkout", 0, 100, kind=SpanKind.SERVER)
    # parallel: cart (10-40) and pricing (10-60); then payments (65-95) sequentially
    b.call(root, "cart", "GET /cart", 10, 40)
    _, pricing = b.call(root, "pricing", "POST /quote", 10, 60)
    b.span("pricing", "compute", 20, 50, parent=pricing)
    b.call(root, "payments", "POST /charge", 65, 95)
    # a client span whose server child has the same bounds adds a zero-length segment: dropped
    assert segments(b.trace()) == [
        ("frontend", "GET /checkout", 0, 10),
        ("pricing", "POST /quote", 10, 20),
        ("pricing", "compute", 20, 50),
        ("pricing", "POST /quote", 50, 60),
        ("frontend", "GET /checkout", 60, 65),
        ("payments", "POST /charge", 65, 95),
        ("frontend", "GET /checkout", 95, 100),
    ]
    path = critical_path(assemble(b.trace()))
    assert sum(s.duration_ns for s in path) == 100 * MS  # tiles the root
    assert time_by_operation(path)[("pricing", "compute")] == 30 * MS


def test_a_child_of_no_length_ends_the_walk() -> None:
    """An instant span (start = end) beside a sibling once made the walk back choose it
    again for ever."""
    b = TraceBuilder()
    root = b.span("orders", "POST /orders", 0, 10, kind=SpanKind.SERVER)
    b.span("orders", "instant", 2, 2, parent=root)
    b.span("orders", "work", 2, 8, parent=root)
    b.span("orders", "instant", 9, 9, parent=root)
    assert segments(b.trace()) == [
        ("orders", "POST /orders", 0, 2),
        ("orders", "work", 2, 8),
        ("orders", "POST /orders", 8, 10),
    ]


def test_self_times() -> None:
    b = TraceBuilder()
    root = b.span("a", "root", 0, 100)
    b.span("a", "x", 10, 40, parent=root)
    b.span("a", "y", 30, 50, parent=root)  # overlaps x: covered 10..50
    b.span("a", "z", 90, 130, parent=root)  # sticks out: clipped to 90..100
    times = self_times(assemble(b.trace()))
    assert times[root.span_id] == 50 * MS


def test_skewed_server_span_is_centred_in_its_client() -> None:
    b = TraceBuilder()
    root = b.span("frontend", "GET /", 0, 100, kind=SpanKind.SERVER)
    # the cart host's clock is 500 ms behind: its span starts "before" its caller
    _, server = b.call(root, "cart", "GET /cart", 20, 60, server_start_ms=-480, server_end_ms=-450)
    inner = b.span("cart", "db", -475, -455, parent=server)
    tree = assemble(b.trace())
    node = tree.by_id[server.span_id]
    assert (node.start_ns, node.end_ns) == (25 * MS, 55 * MS)  # 10 ms of network on each side
    assert node.skew_ns == 505 * MS
    assert (tree.by_id[inner.span_id].start_ns, tree.by_id[inner.span_id].end_ns) == (
        30 * MS,
        50 * MS,
    )
    assert server.start_ns == -480 * MS  # the input span is not changed


def test_orphan_is_reattached_to_the_enclosing_client_span_of_another_service() -> None:
    b = TraceBuilder()
    root = b.span("checkout", "POST /checkout", 0, 100, kind=SpanKind.SERVER)
    b.span("checkout", "call inventory", 10, 50, parent=root, kind=SpanKind.CLIENT)
    orphan = b.span("inventory", "POST /reserve", 12, 48, parent="ffffffffffffffff", kind=SpanKind.SERVER)
    tree = assemble(b.trace())
    assert tree.orphans == [orphan]
    assert tree.reattached == [orphan]
    assert render_tree(tree) == "\n".join(
        [
            "checkout: POST /checkout [100 ms]",
            "  checkout: call inventory [40 ms]",
            "    inventory: POST /reserve [36 ms] (reattached)",
        ]
    )


def test_an_ambiguous_orphan_stays_apart_and_flagged() -> None:
    b = TraceBuilder()
    root = b.span("checkout", "POST /checkout", 0, 100, kind=SpanKind.SERVER)
    b.span("checkout", "call a", 10, 50, parent=root, kind=SpanKind.CLIENT)
    b.span("checkout", "call b", 10, 50, parent=root, kind=SpanKind.CLIENT)
    b.span("inventory", "POST /reserve", 12, 48, parent="ffffffffffffffff", kind=SpanKind.SERVER)
    tree = assemble(b.trace())
    assert tree.reattached == []
    assert render_tree(tree).splitlines()[-1] == "inventory: POST /reserve [36 ms] (orphan)"


def test_error_origin_follows_the_chain_that_reached_the_root() -> None:
    b = TraceBuilder()
    root = b.span("frontend", "POST /checkout", 0, 100, kind=SpanKind.SERVER, error=True)
    _, checkout = b.call(root, "checkout", "POST /checkout", 5, 95, error=True)
    # a handled error: cart failed, checkout retried and carried on
    b.call(checkout, "cart", "GET /cart", 10, 20, error=True)
    _, payments = b.call(checkout, "payments", "POST /charge", 30, 90, error=True)
    db = b.span("payments", "INSERT charge", 40, 80, parent=payments, error=True)
    assert error_origin(assemble(b.trace())) == db


def test_a_handled_error_is_still_an_origin_when_the_root_is_fine() -> None:
    b = TraceBuilder()
    root = b.span("frontend", "GET /", 0, 100, kind=SpanKind.SERVER)
    _, cart = b.call(root, "cart", "GET /cart", 10, 20, error=True)
    assert error_origin(assemble(b.trace())) == cart
    clean = TraceBuilder()
    clean.span("frontend", "GET /", 0, 10)
    assert error_origin(assemble(clean.trace())) is None


def test_a_ten_thousand_deep_chain_and_ten_thousand_spans_are_fast() -> None:
    deep = TraceBuilder()
    parent = deep.span("svc", "op 0", 0, 20_000)
    for i in range(1, 10_000):
        parent = deep.span("svc", f"op {i}", i, 20_000 - i, parent=parent)
    path = critical_path(assemble(deep.trace()))
    assert path[0].operation == "op 0" and path[len(path) // 2].operation == "op 9999"
    assert sum(s.duration_ns for s in path) == 20_000 * MS

    wide = TraceBuilder()
    root = wide.span("frontend", "GET /", 0, 10_000, kind=SpanKind.SERVER)
    parents = [root]
    for i in range(1, 10_000):
        parent = parents[(i - 1) // 4]
        start = parent.start_ns / MS + 1
        parents.append(wide.span(f"svc{i % 13}", f"op {i}", start, start + 5, parent=parent))
    trace = wide.trace()
    began = time.perf_counter()
    critical_path(assemble(trace))
    assert time.perf_counter() - began < 1.0  # generous; the benchmark holds the real target


def test_trees_assembles_each_trace_once_per_analysis() -> None:
    b = TraceBuilder()
    root = b.span("web", "GET /", 0, 10, kind=SpanKind.SERVER)
    b.call(root, "api", "GET /items", 1, 9)
    trace = b.trace()
    trees = Trees()
    first = trees.of(trace)
    assert trees.of(trace) is first
    assert [n.span.name for n in first.roots] == ["GET /"]
