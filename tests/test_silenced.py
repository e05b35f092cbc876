"""Lines an operation stopped writing (correlators.silenced): the one mark of a code fault
that answers as fast as before, with no status and no error line."""

from __future__ import annotations

from correlators.logs import mine_templates
from correlators.model import LogRecord, Span, Trace
from correlators.silenced import silenced_lines

S = 1_000_000_000


def calls(
    window: int, operation: str, count: int, *, line: str | None, severity: int = 9
) -> tuple[list[Trace], list[LogRecord]]:
    """``count`` calls of ``operation`` of routes, each writing ``line`` (when given) in its span."""
    traces, logs = [], []
    for i in range(count):
        trace_id = f"{window:04x}{operation[:4].encode().hex():>8}{i:020x}"[:32]
        span_id = f"{window:02x}{i:014x}"
        start = (window * 1000 + i) * S
        traces.append(
            Trace(trace_id, [Span(trace_id, span_id, None, "routes", operation, start, start + S // 100)])
        )
        if line is not None:
            logs.append(LogRecord(start, "routes", line.format(i), "INFO", severity, trace_id, span_id))
    return traces, logs


def silenced(
    before: list[tuple[list[Trace], list[LogRecord]]], now: list[tuple[list[Trace], list[LogRecord]]]
) -> list[tuple[str, int, int, int]]:
    baseline = [t for traces, _ in before for t in traces]
    incident = [t for traces, _ in now for t in traces]
    mined = mine_templates([r for _, logs in before for r in logs], [r for _, logs in now for r in logs])
    return [
        (s.operation, s.wrote_before, s.calls_before, s.calls_now)
        for s in silenced_lines(mined, baseline, incident)
    ]


def test_a_line_written_on_every_call_and_now_on_none_is_silenced() -> None:
    found = silenced(
        [calls(1, "GET /routes", 12, line="queried {} routes by id")],
        [calls(2, "GET /routes", 15, line=None)],
    )
    assert found == [("GET /routes", 12, 12, 15)]


def test_a_line_still_written_on_some_calls_is_not_silenced() -> None:
    """Fewer calls writing it is a mix of arguments; silence on every call is a path."""
    still, _ = calls(2, "GET /routes", 14, line=None)
    _, some_logs = calls(3, "GET /routes", 1, line="queried {} routes by id")
    some_logs[0] = LogRecord(
        some_logs[0].time_ns,
        "routes",
        some_logs[0].body,
        "INFO",
        9,
        still[0].trace_id,
        still[0].spans[0].span_id,
    )
    found = silenced([calls(1, "GET /routes", 12, line="queried {} routes by id")], [(still, some_logs)])
    assert found == []


def test_a_change_in_the_mix_of_requests_silences_nothing() -> None:
    """The incident calls another operation instead: the line's operation was not called
    enough to say anything about it."""
    found = silenced(
        [calls(1, "GET /routes", 12, line="queried {} routes by id")],
        [calls(2, "GET /routes", 4, line=None), calls(3, "GET /stations", 20, line=None)],
    )
    assert found == []


def test_a_line_written_on_half_the_calls_is_not_regular_enough() -> None:
    half = calls(1, "GET /routes", 20, line="queried {} routes by id")
    half = (half[0], half[1][:10])
    assert silenced([half], [calls(2, "GET /routes", 20, line=None)]) == []


def test_an_error_line_that_stopped_is_a_recovery() -> None:
    found = silenced(
        [calls(1, "GET /routes", 12, line="route lookup failed {}", severity=17)],
        [calls(2, "GET /routes", 12, line=None)],
    )
    assert found == []


def loop_calls(
    window: int, count: int, lines: dict[str, int], *, parent: str | None = None, offset: int = 0
) -> tuple[list[Trace], list[LogRecord]]:
    """``count`` calls of routes' ``quote`` (under a span of ``parent`` when given), each
    writing every line of ``lines`` as many times as its value says."""
    traces, logs = [], []
    for i in range(offset, offset + count):
        trace_id = f"{window:04x}{i:028x}"
        span_id = f"{window:02x}{i:014x}"
        start = (window * 1000 + i) * S
        spans = [Span(trace_id, span_id, None, "routes", "quote", start, start + S // 100)]
        if parent is not None:
            spans[0].parent_span_id = f"ff{i:014x}"
            spans.append(Span(trace_id, f"ff{i:014x}", None, "routes", parent, start, start + S // 50))
        traces.append(Trace(trace_id, spans))
        for line, times in lines.items():
            for n in range(times):
                logs.append(LogRecord(start + n, "routes", line.format(n), "INFO", 9, trace_id, span_id))
    return traces, logs


def broken(
    before: list[tuple[list[Trace], list[LogRecord]]], now: list[tuple[list[Trace], list[LogRecord]]]
) -> list[tuple[str, str | None, str, str]]:
    baseline = [t for traces, _ in before for t in traces]
    incident = [t for traces, _ in now for t in traces]
    mined = mine_templates([r for _, logs in before for r in logs], [r for _, logs in now for r in logs])
    return [(s.broke, s.caller, s.sample, s.paired_sample) for s in silenced_lines(mined, baseline, incident)]


LOOP = {"seat {} has tickets left": 3, "priced seat {} at its distance": 3, "quoting a trip": 1}


def test_two_lines_written_in_step_and_now_never_are_out_of_step() -> None:
    """A loop logs twice an item; an exception caught between the two lines skips the
    second for some items. Both lines are still written on every call: only their ratio
    tells."""
    skipped = {**LOOP, "priced seat {} at its distance": 1}
    found = broken([loop_calls(1, 12, LOOP)], [loop_calls(2, 11, skipped)])
    assert found == [("in step", None, "seat 0 has tickets left", "priced seat 0 at its distance")]


def test_a_loop_of_another_length_keeps_its_lines_in_step() -> None:
    """Calls over fewer items write fewer lines of each: the mix of arguments, not a path."""
    shorter = {**LOOP, "seat {} has tickets left": 1, "priced seat {} at its distance": 1}
    assert broken([loop_calls(1, 12, LOOP)], [loop_calls(2, 11, shorter)]) == []


def test_lines_out_of_step_on_some_calls_only_are_not_a_path() -> None:
    skipped = loop_calls(2, 11, {**LOOP, "priced seat {} at its distance": 1})
    assert broken([loop_calls(1, 12, LOOP)], [skipped, loop_calls(2, 1, LOOP, offset=11)]) == []


def test_a_line_that_stopped_is_not_also_out_of_step_with_every_other() -> None:
    stopped = {**LOOP, "priced seat {} at its distance": 0}
    found = broken([loop_calls(1, 12, LOOP)], [loop_calls(2, 11, stopped)])
    assert found == [("line", None, "priced seat 0 at its distance", "")]


def test_calls_that_wrote_some_line_and_now_write_none_are_silenced() -> None:
    """One source line the miner split in two by the length of its argument: neither
    template is on nearly every call, but every call wrote one of them."""
    short = loop_calls(1, 6, {"query price of [{}]": 1})
    long = loop_calls(1, 6, {"query price of [{}, 7, 9, 12]": 1}, offset=6)
    found = broken([short, long], [loop_calls(2, 12, {})])
    assert [(b, c) for b, c, _, _ in found] == [("any line", None)]


def test_an_operation_silent_from_one_parent_only_is_silenced_there() -> None:
    """One handler behind two routes writes the same line for both; the batch route's calls
    stopped writing it while the single route's go on."""
    line = {"query price of {}": 1}
    found = broken(two_routes(1, line, line), two_routes(2, {}, line))
    assert found == [("line", "POST /batch", "query price of 0", "")]


def test_an_operation_silent_from_every_parent_is_named_once() -> None:
    line = {"query price of {}": 1}
    found = broken(two_routes(1, line, line), two_routes(2, {}, {}))
    assert found == [("line", None, "query price of 0", "")]


def two_routes(
    window: int, batch: dict[str, int], one: dict[str, int]
) -> list[tuple[list[Trace], list[LogRecord]]]:
    """12 calls of ``quote`` under ``POST /batch`` writing ``batch``, 12 under ``GET /one``."""
    return [
        loop_calls(window, 12, batch, parent="POST /batch"),
        loop_calls(window, 12, one, parent="GET /one", offset=12),
    ]
