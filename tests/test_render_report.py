"""The edges word the findings: each converted kind of evidence reads as it always did,
the correlators build no sentence for it, and a report stored before figures existed says
what it said then."""

from __future__ import annotations

import pytest

from bot.render.report import evidence_words, report_json, report_text, summary
from correlators.analyze import analyze
from correlators.findings import (
    CriticalPathGrowth,
    ErrorOrigins,
    Figures,
    MetricMove,
    OverRepresented,
    SlowFromOneCaller,
)
from correlators.rank import Evidence
from tests.scenarios import generate

CONVERTED = ("critical_path", "error_origin", "metric", "attribute")


@pytest.mark.parametrize(
    ("kind", "subject", "figures", "words"),
    [
        (
            "critical_path",
            "cart",
            CriticalPathGrowth("GET /cart", 23.216, 9.72, 32.938, 0.966),
            "cart GET /cart: +23 ms on the critical path (10 -> 33 ms, 97% of the added time)",
        ),
        (
            "critical_path",
            "auth",
            SlowFromOneCaller("auth-1", "sqlite:shop", 0.81),
            "calls from auth-1 to sqlite:shop are slow (81% of the added time); calls from other "
            "instances are not",
        ),
        ("error_origin", "cart", ErrorOrigins(24, 26), "errors of 24 of 26 failed traces originated in cart"),
        (
            "metric",
            "pricing",
            MetricMove("cpu", "pricing-c", "up", 0.0123, 0.97, 41.04),
            "cpu on pricing-c went up (0.0123 -> 0.97, score 41.0)",
        ),
        (
            "metric",
            "pricing",
            MetricMove("rps", None, "down", 12.0, 3.0, 8.0),
            "rps went down (12 -> 3, score 8.0)",
        ),
        (
            "attribute",
            "catalog",
            OverRepresented("service.instance", "catalog-2", 0.9, 0.333),
            "service.instance=catalog-2 served 90% of the bad traces that reached catalog, "
            "against 33% of the healthy ones",
        ),
    ],
)
def test_each_kind_is_worded_from_its_figures(kind: str, subject: str, figures: Figures, words: str) -> None:
    assert evidence_words(Evidence(kind, "", 0.5, subject, figures)) == words


def test_evidence_without_figures_says_what_the_analysis_wrote() -> None:
    assert evidence_words(Evidence("path", "70% of web GET /product spans now call nothing", 0.4)) == (
        "70% of web GET /product spans now call nothing"
    )


@pytest.mark.parametrize("kind", ["instance_cpu", "deploy_exception", "shared_db_slow", "instance_network"])
def test_the_analysis_returns_figures_and_the_edges_the_words(kind: str) -> None:
    report = analyze(generate(kind, 1).analysis_input())
    evidence = [e for c in report.candidates for e in c.evidence]
    converted = [e for e in evidence if e.kind in CONVERTED]
    assert converted
    assert all(e.summary == "" and e.figures is not None and e.subject for e in converted)
    assert all(e.summary and e.figures is None for e in evidence if e.kind not in CONVERTED)

    written = report_json(report)
    said = [e["summary"] for c in written["candidates"] for e in c["evidence"]]
    assert said == [evidence_words(e) for e in evidence] and all(said)
    assert written["summary"] == summary(report)
    text = report_text(report)
    assert text.startswith(summary(report)) and f"       {said[0]}" in text
