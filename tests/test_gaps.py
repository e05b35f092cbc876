"""Telemetry gaps: broken propagation, orphans, missing service names, lost exemplars, found in
figures and worded by the edge."""

from __future__ import annotations

from bot.render.report import gap_words
from correlators.gaps import Gap, telemetry_gaps
from correlators.model import Span, SpanKind, Trace


def span(trace: str, sid: str, parent: str | None, service: str, kind: SpanKind, **attrs: object) -> Span:
    return Span(
        trace * 32,
        sid * 16,
        parent * 16 if parent else None,
        service,
        "op",
        0,
        10,
        kind=kind,
        attributes=dict(attrs),
    )  # type: ignore[arg-type]


def test_a_caller_that_drops_trace_context() -> None:
    # cart calls inventory, but inventory's spans start a trace of their own
    cart = Trace(
        "a" * 32,
        [
            span("a", "1", None, "cart", SpanKind.SERVER),
            span("a", "2", "1", "cart", SpanKind.CLIENT, **{"peer.service": "inventory"}),
        ],
    )
    inventory = Trace("b" * 32, [span("b", "3", None, "inventory", SpanKind.SERVER)])
    # while checkout -> cart propagates fine
    checkout = Trace(
        "c" * 32,
        [
            span("c", "4", None, "checkout", SpanKind.SERVER),
            span("c", "5", "4", "checkout", SpanKind.CLIENT, **{"peer.service": "cart"}),
            span("c", "6", "5", "cart", SpanKind.SERVER),
        ],
    )
    gaps = telemetry_gaps([cart, inventory, checkout])
    assert [(g.kind, g.service, g.count, g.callee) for g in gaps] == [
        ("broken_propagation", "cart", 1, "inventory")
    ]
    assert gap_words(gaps[0]) == (
        "1 calls from cart to inventory start new traces in inventory: "
        "cart does not propagate W3C trace context"
    )


def test_orphans_unknown_services_and_lost_exemplars() -> None:
    trace = Trace(
        "d" * 32,
        [
            span("d", "1", None, "frontend", SpanKind.SERVER),
            span("d", "2", "9", "payments", SpanKind.SERVER),
            span("d", "3", "9", "payments", SpanKind.INTERNAL),
            span("d", "4", "1", "unknown_service:node", SpanKind.SERVER),
        ],
    )
    gaps = telemetry_gaps([trace], exemplar_ids=["d" * 32, "e" * 32])
    assert [(g.kind, g.service, g.count) for g in gaps] == [
        ("orphans", "payments", 2),
        ("missing_service_name", None, 1),
        ("missing_exemplars", None, 1),
    ]
    assert gaps[2].example == "e" * 32 and all(g.detail == "" for g in gaps)
    assert [gap_words(g) for g in gaps] == [
        "2 spans of payments have a parent that never arrived",
        "1 spans have no service.name",
        f"1 exemplar traces were not kept (e.g. {'e' * 32})",
    ]


def test_a_gap_stored_with_its_sentence_says_it() -> None:
    """A report stored before gaps had figures kept only the sentence, and shows it."""
    old = Gap("broken_propagation", "cart", 3, detail="3 calls from cart to inventory start new traces")
    assert gap_words(old) == "3 calls from cart to inventory start new traces"
