"""`Report.from_json` reads back what `to_json` wrote, on real analyses of generated
incidents, and reads the reports older releases stored with their incidents."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.render.report import (
    evidence_words,
    gap_words,
    missing_words,
    report_json,
    scope_reasons,
    similar_words,
    skip_words,
    summary,
)
from correlators.analyze import analyze
from correlators.changes import Change
from correlators.errors import ReportFormatError, SchemaVersionError
from correlators.gaps import Gap
from correlators.grown_patterns import GrownPattern
from correlators.input_gaps import InputGap, Skip
from correlators.patterns import PatternKind
from correlators.report import Missing, Report
from correlators.similar import SimilarIncident
from tests import scenarios, worlds

S = 1_000_000_000
WORLD_KINDS = ("release", "feature_flag", "zone_loss", "kafka_lag", "platform")
CASES = [
    *((scenarios.generate, kind, 1) for kind in scenarios.FAULT_KINDS),
    *((worlds.generate, kind, 2) for kind in WORLD_KINDS),
]


def analysed(case: Any) -> Report:
    """A generated case analysed as an investigation does it: with a deploy of the top
    suspect, similar past incidents, telemetry and input gaps, so every part of the report
    is set."""
    make, kind, seed = case
    scenario = make(kind, seed)
    deploy = Change("catalog", "deploy", scenario.incident[0] - 60 * S, "2.0.0", "https://ci/1", "rollout")
    report = analyze(scenario.analysis_input([deploy]))
    report.similar = [
        SimilarIncident(7, 1.7e9, "an earlier one", link="https://x/7", same="suspect", suspect="catalog"),
        SimilarIncident(5, 1.6e9, "an older one", same="scope", level="shared_dependency", subject="redis"),
    ]
    report.input_gaps = [InputGap("/in/traces.jsonl", 2, 1, [Skip(3, "not JSON")])]
    report.gaps += [
        Gap("broken_propagation", "cart", 3, callee="inventory"),
        Gap("missing_exemplars", None, 2, example="e" * 32),
    ]
    report.grown_patterns = [
        GrownPattern(
            PatternKind.N_PLUS_ONE,
            "orders",
            "POST /checkout",
            "postgresql:shop",
            "INSERT INTO t (?)",
            requests=9,
            bad_requests=10,
            calls=12,
            baseline_calls=0,
            baseline_share=0.0,
            saved_ns=380_000_000,
            usual_ns=0,
            part_ns=380_000_000,
            added_ns=440_000_000,
            examples=("a" * 32,),
        )
    ]
    return report


def stored(report: Report) -> dict[str, Any]:
    """What the incidents table holds: the JSON text, read back."""
    loaded: dict[str, Any] = json.loads(json.dumps(report_json(report)))
    return loaded


@pytest.mark.parametrize("case", CASES, ids=[f"{m.__module__.split('.')[-1]}-{k}" for m, k, _ in CASES])
def test_a_stored_report_reads_back_as_the_same_report(case: Any) -> None:
    """``from_json`` is the inverse of ``to_json``; what the bot stores (with the sentences
    its edges word) reads back as a report that writes the same JSON again."""
    report = analysed(case)
    assert Report.from_json(json.loads(json.dumps(report.to_json()))) == report
    data = stored(report)
    assert Report.from_json(data) == report
    assert report_json(Report.from_json(data)) == data
    assert report.candidates and report.changes and report.exemplar_logs


def test_a_report_stored_before_later_fields_still_reads() -> None:
    """Each key removed here was added by a later commit than the incidents table's first
    reports: budget (a89d3eb), exemplar logs (7ae4abd), changes and similar incidents
    (76f5940), worst traces (ce45944), input gaps (6d23b1a), a metric's history peak
    (7e2f482), grown patterns (issue 18)."""
    data = stored(analysed(CASES[0]))
    for key in (
        "budget",
        "exemplar_logs",
        "changes",
        "similar",
        "worst_traces",
        "input_gaps",
        "grown_patterns",
    ):
        del data[key]
    for anomaly in data["metric_anomalies"]:
        del anomaly["baseline_peak"]
    old = Report.from_json(data)
    assert (old.budget, old.exemplar_logs, old.changes, old.similar, old.worst_traces, old.input_gaps) == (
        [],
        {},
        [],
        [],
        [],
        [],
    )
    assert old.grown_patterns == []
    assert old.metric_anomalies
    for anomaly, written in zip(old.metric_anomalies, data["metric_anomalies"], strict=True):
        assert anomaly.baseline_peak == written["baseline_median"]
    assert summary(old) == data["summary"]


def test_keys_it_does_not_know_are_ignored() -> None:
    data = stored(analysed(CASES[1]))
    data["written_by"] = "a newer release"
    data["scope"]["explained"] = {"by": "someone"}
    data["candidates"][0]["evidence"][0]["source"] = "traces"
    data["candidates"][0]["evidence"][0]["figures"]["p99_ms"] = 12
    data["changes"][0]["actor"] = "ci"
    assert report_json(Report.from_json(data)) == stored(analysed(CASES[1]))


def test_figures_of_a_finding_it_does_not_know_are_left_to_the_sentence() -> None:
    data = stored(analysed(CASES[1]))
    written = data["candidates"][0]["evidence"][0]
    written["figures"] = {"finding": "queue_depth", "depth": 900}
    evidence = Report.from_json(data).candidates[0].evidence[0]
    assert evidence.figures is None and evidence_words(evidence) == written["summary"]


def test_a_field_of_the_wrong_type_is_named() -> None:
    data = stored(analysed(CASES[0]))
    data["candidates"][0]["score"] = "high"
    with pytest.raises(ReportFormatError, match=r"candidates\.0\.score"):
        Report.from_json(data)
    del data["scope"]
    with pytest.raises(ReportFormatError, match="scope"):
        Report.from_json(data)


def test_a_newer_schema_is_refused() -> None:
    data = stored(analysed(CASES[0]))
    data["schema_version"] = 2
    with pytest.raises(SchemaVersionError, match="2"):
        Report.from_json(data)


def test_reasons_gaps_and_skips_stored_as_sentences_still_say_them() -> None:
    """A release before grounds and gap figures stored only the sentences: they read back
    as they were written, and an edge says them as they are."""
    data = stored(analysed(CASES[0]))
    del data["scope"]["grounds"]
    for gap in data["gaps"]:
        del gap["callee"], gap["example"]
    data["input_gaps"][0]["reasons"] = ["line 3: not JSON", "no line number"]
    old = Report.from_json(data)
    assert old.scope.grounds == [] and scope_reasons(old.scope) == data["scope"]["reasons"]
    assert [gap_words(g) for g in old.gaps] == [g["detail"] for g in data["gaps"]]
    assert [g.detail for g in old.gaps] == [
        "3 calls from cart to inventory start new traces in inventory: "
        "cart does not propagate W3C trace context",
        f"2 exemplar traces were not kept (e.g. {'e' * 32})",
    ]
    assert old.input_gaps[0].reasons == [Skip(3, "not JSON"), Skip(None, "no line number")]
    assert [skip_words(r) for r in old.input_gaps[0].reasons] == ["line 3: not JSON", "no line number"]
    assert report_json(old)["scope"]["reasons"] == data["scope"]["reasons"]


def test_a_ground_it_does_not_know_leaves_the_reasons_to_the_sentences() -> None:
    data = stored(analysed(CASES[0]))
    said = data["scope"]["reasons"]
    data["scope"]["grounds"].append({"ground": "moon_phase", "phase": "full"})
    scope = Report.from_json(data).scope
    assert scope.grounds == [] and scope_reasons(scope) == said


def test_missing_signals_and_similar_incidents_are_figures_the_edges_word() -> None:
    """``missing`` stays the list of sentences the API has always given; the figures are
    ``missing_signals``. A past incident says what it shares; the sentence is the edge's."""
    report = analysed(CASES[0])
    report.missing = [
        Missing("thin_baseline", traces=5),
        Missing("source_timeout", source="logs (es)", seconds=1.0),
    ]
    data = stored(report)
    assert data["missing"] == [
        "the baseline is thin (5 traces): latency was judged against its slowest trace",
        "logs (es): no answer within 1 s",
    ]
    assert data["missing_signals"][0] == {
        "what": "thin_baseline",
        "traces": 5,
        "source": None,
        "seconds": None,
        "error": None,
        "said": "",
    }
    assert [s["why"] for s in data["similar"]] == [
        "same top suspect (catalog)",
        "same scope (shared dependency redis)",
    ]
    assert Report.from_json(data) == report


def test_missing_signals_and_similar_incidents_stored_as_sentences_still_say_them() -> None:
    data = stored(analysed(CASES[0]))
    del data["missing_signals"]
    data["missing"] = ["no logs were given: new error lines could not be compared"]
    for similar in data["similar"]:
        del similar["same"], similar["suspect"], similar["level"], similar["subject"]
    old = Report.from_json(data)
    assert [missing_words(m) for m in old.missing] == data["missing"]
    assert [similar_words(s) for s in old.similar] == [s["why"] for s in data["similar"]]
    assert report_json(old)["missing"] == data["missing"]
