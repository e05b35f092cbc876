"""Ranking: evidence combined per service, and blame that moves to the deepest callee."""

from __future__ import annotations

from correlators.bottleneck import Bottleneck
from correlators.logs import TemplateChange
from correlators.rank import rank_candidates
from correlators.topology import CallGraph, Edge


def graph(*edges: tuple[str, str]) -> CallGraph:
    return CallGraph(edges={edge: Edge(calls=10) for edge in edges})


def test_a_caller_that_only_waited_ranks_below_its_callee() -> None:
    # checkout's own critical-path time grew a little less than inventory's: both look
    # slow, but checkout calls inventory, so inventory is the cause
    found = rank_candidates(
        bad=[],
        bottlenecks=[
            Bottleneck("checkout", "POST /checkout", 50, 450, 400, 0.45),
            Bottleneck("inventory", "POST /reserve", 10, 500, 490, 0.55),
        ],
        log_changes=[],
        anomalies=[],
        graph=graph(("frontend", "checkout"), ("checkout", "inventory")),
    )
    assert [c.service for c in found] == ["inventory", "checkout"]
    assert found[1].score == round(0.35 * 0.45 * 0.5, 4)  # halved for only waiting


def test_error_logs_add_to_the_service_that_wrote_them() -> None:
    found = rank_candidates(
        bad=[],
        bottlenecks=[Bottleneck("cart", "GET /cart", 10, 20, 10, 1.0)],
        log_changes=[TemplateChange("pricing", "NullPointerException in <*>", "new", 0, 40, None, 17, "NPE")],
        anomalies=[],
        graph=graph(),
    )
    assert [(c.service, c.parts) for c in found] == [
        ("cart", {"latency": 1.0}),
        ("pricing", {"logs": 1.0}),
    ]
    assert found[1].evidence[0].kind == "log_template"
