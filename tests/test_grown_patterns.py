"""Patterns the incident's bad requests show against the baseline's (the incident thread's
fix lines), on small hand-built checkout traces."""

from __future__ import annotations

import dataclasses
import json

from bot.render.report import FIXES_TITLE, grown_words, report_text
from bot.slack.blocks import summary_message
from bot.slack.mrkdwn import Quote
from correlators.analyze import AnalysisInput, analyze
from correlators.grown_patterns import SAMPLE, GrownPattern, grown_patterns
from correlators.metrics import Window
from correlators.model import Span, SpanKind, Trace
from correlators.patterns import PatternKind
from correlators.report import Report
from correlators.traces import Trees
from tests.spantree import MS, TraceBuilder

DB = {"db.system": "postgresql", "db.name": "shop"}
INSERT = "INSERT INTO order_items (order_id, sku) VALUES ({i}, 'sku-{i}')"


def query(b: TraceBuilder, parent: Span, start: float, end: float, sql: str) -> None:
    b.span(
        parent.service,
        sql.split()[0],
        start,
        end,
        parent=parent,
        kind=SpanKind.CLIENT,
        **DB,
        **{"db.statement": sql},
    )


def checkout(n: int, inserts: int, *, each_ms: float = 35, parallel_with: float = 0) -> Trace:
    """orders' checkout: one SELECT, then ``inserts`` INSERTs one by one; with
    ``parallel_with``, the INSERTs run beside a call to pricing that long, which then
    holds the critical path."""
    b = TraceBuilder(f"{n:032x}")
    length = 20 + inserts * each_ms + 10
    root = b.span("orders", "POST /checkout", 0, max(length, parallel_with + 20), kind=SpanKind.SERVER)
    query(b, root, 2, 18, "SELECT * FROM carts WHERE id = 7")
    if parallel_with:
        b.call(root, "pricing", "POST /quote", 19, 19 + parallel_with)
    for i in range(inserts):
        start = 20 + i * each_ms
        query(b, root, start, start + each_ms - 1, INSERT.format(i=i))
    trace = b.trace()
    trace.journey = "checkout"
    return trace


def grown(bad: list[Trace], baseline: list[Trace]) -> list[GrownPattern]:
    return grown_patterns(bad, baseline, Trees().of)


def test_a_new_n_plus_one_on_the_bad_requests_path_is_told_with_its_part_of_the_added_time() -> None:
    baseline = [checkout(i, 1) for i in range(20)]  # one INSERT: no loop
    bad = [checkout(100 + i, 12) for i in range(10)]
    [found] = grown(bad, baseline)
    assert found.kind is PatternKind.N_PLUS_ONE
    assert (found.service, found.operation, found.callee) == ("orders", "POST /checkout", "postgresql:shop")
    assert found.target == "INSERT INTO order_items (order_id, sku) VALUES (?)"
    assert found.new and found.baseline_calls == 0 and found.usual_ns == 0
    assert (found.requests, found.bad_requests, found.calls) == (10, 10, 12)
    # 12 calls of 34 ms on the path, batched into one of 34 ms: 11 x 34 ms back
    assert found.saved_ns == found.part_ns == 11 * 34 * MS
    assert found.added_ns == 11 * 35 * MS  # 65 ms before, 450 ms now
    assert found.examples == tuple(t.trace_id for t in bad[:3])


def test_the_same_n_plus_one_at_the_same_size_in_the_baseline_says_nothing() -> None:
    baseline = [checkout(i, 12) for i in range(20)]
    bad = [checkout(100 + i, 12, each_ms=36) for i in range(10)]  # slower for another reason
    assert grown(bad, baseline) == []


def test_an_n_plus_one_that_grew_is_told_with_the_calls_it_made_before() -> None:
    baseline = [checkout(i, 5) for i in range(20)]
    bad = [checkout(100 + i, 12) for i in range(10)]
    [found] = grown(bad, baseline)
    assert not found.new and (found.calls, found.baseline_calls) == (12, 5)
    assert found.baseline_share == 1.0 and found.usual_ns == 4 * 34 * MS
    assert found.part_ns == 7 * 34 * MS == found.saved_ns - found.usual_ns
    assert found.added_ns == 7 * 35 * MS


def test_a_loop_too_short_to_tell_in_the_baseline_is_not_new_when_it_grows() -> None:
    baseline = [checkout(i, 4) for i in range(20)]
    bad = [checkout(100 + i, 12) for i in range(10)]
    [found] = grown(bad, baseline)
    assert (found.growth, found.calls, found.baseline_calls) == ("more_calls", 12, 4)
    assert found.part_ns == 8 * 34 * MS


def test_a_loop_some_baseline_requests_made_and_every_bad_one_makes_has_spread() -> None:
    baseline = [checkout(i, 12 if i < 4 else 1) for i in range(20)]
    bad = [checkout(100 + i, 12) for i in range(10)]
    [found] = grown(bad, baseline)
    assert (found.growth, found.baseline_share, found.calls, found.baseline_calls) == (
        "more_requests",
        0.2,
        12,
        12,
    )
    assert found.usual_ns == 11 * 34 * MS // 5


def test_thousands_of_requests_are_read_as_an_even_sample_with_the_same_answer() -> None:
    """Past SAMPLE requests a side, every k-th by start time: a share and a median read
    from the sample give the same line as all of them, and the same input the same
    examples."""
    baseline = [checkout(i, 1 if i % 5 else 12) for i in range(SAMPLE * 3)]  # a fifth loop
    bad = [checkout(10_000 + i, 12) for i in range(SAMPLE * 2)]  # every one loops
    [found] = grown(bad, baseline)
    assert found.growth == "more_requests" and found.requests == found.bad_requests == SAMPLE
    assert found.baseline_share == 0.2
    assert grown(bad, baseline) == [found]


def test_a_pattern_off_the_critical_path_is_not_told() -> None:
    """The INSERTs run beside a slower call to pricing: batching them wins nothing back."""
    baseline = [checkout(i, 1, parallel_with=100) for i in range(20)]
    bad = [checkout(100 + i, 12, parallel_with=600) for i in range(10)]
    assert grown(bad, baseline) == []


def test_a_pattern_in_a_few_bad_requests_only_is_not_the_incidents() -> None:
    baseline = [checkout(i, 1) for i in range(20)]
    bad = [checkout(100 + i, 12 if i < 2 else 1, each_ms=35) for i in range(10)]
    assert grown(bad, baseline) == []


def test_without_a_baseline_nothing_is_compared() -> None:
    assert grown([checkout(100 + i, 12) for i in range(5)], []) == []


# --- in the report and the thread -------------------------------------------------------


def at(trace: Trace, start_ms: float) -> Trace:
    shift = int(start_ms * MS)
    spans = [
        dataclasses.replace(s, start_ns=s.start_ns + shift, end_ns=s.end_ns + shift) for s in trace.spans
    ]
    return Trace(trace.trace_id, spans, journey=trace.journey)


def incident(
    bad_inserts: int, *, baseline_inserts: int = 1, each_ms: float = 35, threshold_ms: float = 200
) -> tuple[Report, Report]:
    """20 baseline checkouts, then 10 with ``bad_inserts``: the analysis with the grown
    patterns, and without (as a report stored before them)."""
    traces = [at(checkout(i, baseline_inserts), i * 1000) for i in range(20)]
    traces += [at(checkout(100 + i, bad_inserts, each_ms=each_ms), 60_000 + i * 1000) for i in range(10)]
    given = AnalysisInput(
        traces=traces,
        baseline=Window(0, 60_000 * MS),
        incident=Window(60_000 * MS, 120_000 * MS),
        journey="checkout",
        latency_threshold_ms=threshold_ms,
    )
    report = analyze(given)
    return report, dataclasses.replace(report, grown_patterns=[])


def test_the_thread_names_the_new_n_plus_one_with_its_fix_and_share_of_the_added_time() -> None:
    report, _ = incident(12)
    message = summary_message(
        report,
        runbooks=[],
        incident_url="https://jw/incidents/1",
        trace_url=None,
        quote=Quote(),
        trace_url_of=lambda t: f"https://jw/traces/{t}",
    )
    [fixes] = [b["text"]["text"] for b in message.blocks if FIXES_TITLE in b.get("text", {}).get("text", "")]
    assert fixes == (
        f"*{FIXES_TITLE}*\n"
        "• orders runs `INSERT INTO order_items (order_id, sku) VALUES (?)` on postgresql:shop 12 times "
        "one by one in POST /checkout: batch them into one call (an IN-list, a bulk endpoint); "
        "new since the baseline, ~374 ms of the 385 ms added "
        f"(<https://jw/traces/{100:032x}|e.g.>)"
    )
    assert FIXES_TITLE in report_text(report)


def test_the_fix_lines_are_an_addition_that_leaves_the_verdict_alone() -> None:
    report, without = incident(12)
    assert report.grown_patterns and not without.grown_patterns
    assert report.to_json()["candidates"] == without.to_json()["candidates"]
    plain = summary_message(without, runbooks=[], incident_url="u", trace_url=None, quote=Quote())
    assert FIXES_TITLE not in json.dumps(plain.blocks)
    assert FIXES_TITLE not in report_text(without)


def test_a_loop_that_grew_says_how_many_calls_it_made_before() -> None:
    report, _ = incident(12, baseline_inserts=5)
    [grown] = report.grown_patterns
    assert grown_words(grown).endswith(
        "batch them into one call (an IN-list, a bulk endpoint); 5 calls a request before, "
        "~238 ms of the 245 ms added"
    )


def test_the_same_loop_made_slower_by_a_slower_database_did_not_grow() -> None:
    """Each of the same 12 INSERTs is slower: the slowness is the verdict's to name."""
    report, _ = incident(12, baseline_inserts=12, each_ms=60, threshold_ms=600)
    assert report.bad_traces == 10 and report.grown_patterns == []
