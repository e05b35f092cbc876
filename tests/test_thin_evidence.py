"""Thin evidence still gets an answer: one slow trace, or a handful of baseline traces."""

from __future__ import annotations

from correlators.analyze import AnalysisInput, analyze
from correlators.metrics import Window
from correlators.model import SpanKind, Trace
from correlators.report import Missing
from tests.spantree import TraceBuilder

S = 1_000_000_000
BASELINE = Window(0, 60 * S)
INCIDENT = Window(60 * S, 120 * S)


def search(n: int, start_s: float, *, index_own_ms: float = 5) -> Trace:
    """web -> search -> index; only index's own work changes between the windows."""
    b = TraceBuilder(f"{n:032x}")
    t0 = start_s * 1000
    total = 10 + index_own_ms
    root = b.span("web", "GET /search", t0, t0 + total + 4, kind=SpanKind.SERVER)
    _, search_server = b.call(root, "search", "Query", t0 + 1, t0 + total + 3)
    b.call(search_server, "index", "Lookup", t0 + 3, t0 + 3 + index_own_ms)
    trace = b.trace()
    trace.journey = "search"
    return trace


def test_one_slow_trace_against_five_baseline_traces_names_the_service_that_grew() -> None:
    baseline = [search(i, 5 + i) for i in range(5)]
    slow = search(99, 70, index_own_ms=400)
    report = analyze(AnalysisInput(traces=[*baseline, slow], baseline=BASELINE, incident=INCIDENT))
    assert report.bad_traces == 1
    assert report.candidates[0].service == "index"
    assert Missing("thin_baseline", traces=5) in report.missing


def test_no_failure_and_a_thin_baseline_still_names_the_service_that_grew() -> None:
    """Every incident trace is slower, none failed, and the baseline has 8 traces: too
    few for a p95, enough to see where the time went."""
    baseline = [search(i, 5 + i) for i in range(8)]
    incident = [search(100 + i, 65 + i, index_own_ms=60 + i) for i in range(6)]
    report = analyze(AnalysisInput(traces=[*baseline, *incident], baseline=BASELINE, incident=INCIDENT))
    assert report.bad_traces == 6
    assert report.candidates[0].service == "index"
    top = report.bottlenecks[0]
    assert (top.service, top.operation) == ("index", "Lookup")
    assert not any(m.what == "no_bad_traces" for m in report.missing)
