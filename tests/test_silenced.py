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
