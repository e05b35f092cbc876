"""Advice across a journey's traffic, and `journeywatch advise` on an OTLP JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.render.advice import advice_text, advice_words
from correlators.advice import AdviceReport, advise, percentile
from correlators.model import SpanKind, Trace
from correlators.patterns import PatternKind
from tests.otlp_json import write_traces
from tests.planted import generate
from tests.spantree import MS, TraceBuilder

T0_MS = 1_767_000_000_000.0
"""Traces start here (ms since the epoch): 2025-12-29, inside the windows the tests give.
Times this far from zero carry float rounding into ns: figures are compared to the µs."""
US = 1_000
DB = {"db.system": "postgresql", "db.name": "shop"}


def checkout(index: int, *, miss: bool, at_ms: float = T0_MS) -> Trace:
    """A checkout with an N+1 of six 10 ms lookups; with ``miss``, a cache miss in front
    of a 90 ms statement as well."""
    b = TraceBuilder(f"{index + 1:032x}")
    t = at_ms
    root = b.span("orders", "POST /checkout", t, t + 100 + (92 if miss else 0), kind=SpanKind.SERVER)
    for i in range(6):
        sql = f"SELECT * FROM items WHERE email = 'user{index}@example.com' AND id = {i + 1}"
        b.span("orders", "SELECT", t + 10 + i * 10, t + 20 + i * 10, parent=root, kind=SpanKind.CLIENT,
               **{**DB, "db.statement": sql})  # fmt: skip
    if miss:
        b.span("orders", "GET", t + 80, t + 82, parent=root, kind=SpanKind.CLIENT,
               **{"db.system": "redis", "db.statement": "GET price"})  # fmt: skip
        b.span("orders", "SELECT", t + 82, t + 172, parent=root, kind=SpanKind.CLIENT,
               **{**DB, "db.statement": "SELECT price FROM prices WHERE sku = 'A-1'"})  # fmt: skip
    trace = b.trace()
    trace.journey = "checkout"
    return trace


def traffic() -> list[Trace]:
    return [checkout(i, miss=i in (3, 11)) for i in range(20)]


def test_advice_ranks_by_what_a_fix_does_to_the_journeys_percentiles() -> None:
    [journey] = advise(traffic()).journeys
    assert (journey.journey, journey.requests) == ("checkout", 20)
    miss, loop = journey.advice
    # the miss is in one request of ten, the slowest: it moves the p95 and not the p50
    assert (miss.kind, miss.requests) == (PatternKind.CACHE_MISS, 2)
    assert miss.p95_gain_ns == pytest.approx(90 * MS, abs=US) and miss.p50_gain_ns == 0
    # the loop is in every request: both move by what batching wins (60 ms less one lookup)
    assert (loop.kind, loop.requests, loop.calls) == (PatternKind.N_PLUS_ONE, 20, 120)
    assert loop.p50_gain_ns == pytest.approx(50 * MS, abs=US)
    assert loop.target == "SELECT * FROM items WHERE email = ? AND id = ?"
    assert miss.examples[0] in {f"{4:032x}", f"{12:032x}"}


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 0.5) == 0
    assert percentile([1, 2, 3, 4], 0.5) == 2
    assert percentile(list(range(1, 101)), 0.95) == 95


def cli(tmp_path: Path, *args: str) -> tuple[int, str]:
    path = tmp_path / "traces.jsonl"
    write_traces(path, traffic())
    result = CliRunner().invoke(
        app, ["advise", "--traces", str(path), "--config", str(tmp_path / "none.yaml"), *args]
    )
    return result.exit_code, result.output


def test_the_command_words_each_pattern_with_its_fix_and_never_a_parameter(tmp_path: Path) -> None:
    code, text = cli(tmp_path)
    assert code == 0, text
    assert text.startswith("orders POST /checkout: 20 requests, p50 100 ms, p95 192 ms")
    lines = text.splitlines()
    assert lines[1] == (
        "  1. orders misses in redis and falls through to postgresql:shop "
        "`SELECT price FROM prices WHERE sku = ?` in POST /checkout: "
        "check the cache's keys, expiry and warm-up"
    )
    assert lines[2].startswith(
        "     wins back 90 ms at p95 and 0 ms at p50; in 2 of 20 requests, up to 90 ms each; e.g. trace 0"
    )
    assert lines[3] == (
        "  2. orders runs `SELECT * FROM items WHERE email = ? AND id = ?` on postgresql:shop "
        "6 times one by one in POST /checkout: batch them into one call (an IN-list, a bulk endpoint)"
    )
    assert "example.com" not in text and "A-1" not in text


def test_the_json_form_has_the_figures_and_the_sentences(tmp_path: Path) -> None:
    code, output = cli(tmp_path, "--format", "json")
    assert code == 0, output
    data = json.loads(output)
    [journey] = data["journeys"]
    kinds = [a["kind"] for a in journey["advice"]]
    assert kinds == ["cache_miss", "n_plus_one"]
    loop = journey["advice"][1]
    assert (loop["requests"], loop["calls"]) == (20, 120)
    assert loop["p50_gain_ns"] == pytest.approx(50 * MS, abs=US)
    assert loop["summary"].startswith("orders runs `SELECT * FROM items")
    assert "example.com" not in output
    assert data["input_gaps"] == []


def test_a_window_keeps_the_traces_that_start_in_it(tmp_path: Path) -> None:
    start, end = int(T0_MS / 1000) - 60, int(T0_MS / 1000) + 60
    code, text = cli(tmp_path, "--start", str(start), "--end", str(end))
    assert code == 0 and "20 requests" in text
    code, text = cli(tmp_path, "--start", str(end), "--end", str(end + 60))
    assert code == 0 and text == "No journey's traces in the window.\n"


def test_bad_options_get_a_clear_error(tmp_path: Path) -> None:
    code, text = cli(tmp_path, "--start", "1000")
    assert code == 2 and "both --start and --end" in text
    code, text = cli(tmp_path, "--format", "yaml")
    assert code == 2 and "use json or text" in text
    code, text = cli(tmp_path, "--start", "2000", "--end", "1000")
    assert code == 2 and "the window ends before it starts" in text


def test_every_pattern_has_its_fix_in_words() -> None:
    traces = [t for seed in (1, 2, 3) for t in generate(seed).traces]
    for trace in traces:
        trace.journey = "checkout"
    [journey] = advise(traces).journeys
    said = {a.kind: advice_words(a) for a in journey.advice}
    fixes = {
        PatternKind.N_PLUS_ONE: "batch them into one call",
        PatternKind.CONSECUTIVE: "make the calls concurrently",
        PatternKind.SLOW_STATEMENT: "query plan and indexes",
        PatternKind.RETRY_STORM: "give retries a budget and back off",
        PatternKind.TIMEOUT: "give up at",
        PatternKind.CHATTY: "one coarser call",
        PatternKind.CACHE_MISS: "check the cache's keys",
    }
    assert {kind: fix in said.get(kind, "") for kind, fix in fixes.items()} == dict.fromkeys(fixes, True)
    text = advice_text(AdviceReport([journey]))
    assert text.count("e.g. trace") == 10 and f"… and {len(journey.advice) - 10} more, smaller" in text


def back_to_back(index: int, callees: list[str]) -> Trace:
    """frontend calls each of ``callees`` in turn, 40 ms each, nothing between them."""
    b = TraceBuilder(f"{index + 1:032x}")
    root = b.span("frontend", "POST /checkout", T0_MS, T0_MS + 10 + 40 * len(callees), kind=SpanKind.SERVER)
    for i, callee in enumerate(callees):
        b.call(root, callee, "POST /x", T0_MS + 5 + 40 * i, T0_MS + 5 + 40 * (i + 1))
    trace = b.trace()
    trace.journey = "checkout"
    return trace


def test_back_to_back_calls_of_one_span_are_one_piece_whichever_calls_they_are() -> None:
    """A request whose call to cart was left out still runs the rest one after another:
    one fix (make them concurrent) for both shapes."""
    traces = [
        back_to_back(i, ["cart", "pricing", "payments"] if i % 2 else ["pricing", "payments"])
        for i in range(10)
    ]
    [journey] = advise(traces).journeys
    [one] = journey.advice
    assert (one.kind, one.service, one.operation, one.requests) == (
        PatternKind.CONSECUTIVE,
        "frontend",
        "POST /checkout",
        10,
    )
    assert one.callee == "cart + pricing + payments"  # the costliest shape names it


def test_back_to_back_calls_to_one_database_name_what_each_asked() -> None:
    """The demo's pair: two statements to one database, told apart by their fingerprints;
    calls to two services are told apart by the services alone."""
    b = TraceBuilder("ab" * 16)
    root = b.span("orders", "POST /orders", 0, 400, kind=SpanKind.SERVER)
    for start, sql in (
        (10, "SELECT * FROM history WHERE customer = 7"),
        (200, "SELECT * FROM related WHERE sku = 'x'"),
    ):
        b.span(
            "orders",
            "SELECT",
            start,
            start + 180,
            parent=root,
            kind=SpanKind.CLIENT,
            **{"db.system": "sqlite", "db.name": "shop", "db.statement": sql},
        )
    trace = b.trace()
    trace.journey = "checkout"
    [journey] = advise([trace]).journeys
    [pair] = [a for a in journey.advice if a.kind is PatternKind.CONSECUTIVE]
    assert advice_words(pair).startswith(
        "orders calls sqlite:shop (`SELECT * FROM history WHERE customer = ?` then "
        "`SELECT * FROM related WHERE sku = ?`) one after another in POST /orders"
    )
