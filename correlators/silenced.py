"""Lines an operation stopped writing: the mark a code fault leaves in the logs.

A code fault (an exception caught and turned into an answer, an early return) is often
invisible everywhere else in real telemetry: no span status, no error line, no change of
timing or of the calls made. What it cannot hide is the work it skipped, and an operation
that wrote a line on nearly every call but on none of its calls in the incident, while it
kept being called, skipped some. Lines are tied to calls by their span ids, and shares are
per call of one operation, so a change in the mix of requests moves nothing; a few calls
say nothing either way (``MIN_CALLS`` in each window: 0.9 to the tenth is 1 in 10^10).

Error-level lines are left out: an error that stopped is a recovery, not a fault.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from correlators.logs import ERROR_SEVERITY, Mined
from correlators.model import LogRecord, Trace

MIN_CALLS = 10
"""Calls of the operation needed in each window."""
MIN_SHARE = 0.9
"""Share of its baseline calls that wrote the line: "nearly every call"."""

Operation = tuple[str, str]
"""(service, span name)"""


@dataclass(frozen=True, slots=True)
class SilencedLine:
    service: str
    operation: str
    template: str
    sample: str
    calls_before: int
    wrote_before: int
    """Baseline calls of the operation that wrote the line."""
    calls_now: int

    @property
    def share_before(self) -> float:
        return self.wrote_before / self.calls_before


def silenced_lines(mined: Mined, baseline: Sequence[Trace], incident: Sequence[Trace]) -> list[SilencedLine]:
    """Lines of every operation that went silent, the most regular first. Only lines tied
    to a span can say so, and only the operations that wrote one are counted."""
    logged = _span_ids(mined.before)
    if not logged:
        return []
    operations_before = _operations(baseline, logged)
    wrote = _writers(mined.before, operations_before)
    watched = {where for where, _ in wrote}
    calls_before = _calls(baseline, watched)
    calls_now = _calls(incident, watched)
    still = set(_writers(mined.during, _operations(incident, _span_ids(mined.during))))
    found = []
    for (where, template), (spans, sample) in wrote.items():
        before, now = calls_before[where], calls_now[where]
        if (where, template) in still or min(before, now) < MIN_CALLS or len(spans) < MIN_SHARE * before:
            continue
        found.append(SilencedLine(*where, mined.templates.get(template, ""), sample, before, len(spans), now))
    return sorted(found, key=lambda s: (-s.share_before, -s.calls_now, s.service, s.operation))


def _span_ids(records: Sequence[tuple[LogRecord, int]]) -> set[str]:
    return {record.span_id for record, _ in records if record.span_id}


def _operations(traces: Sequence[Trace], span_ids: set[str]) -> dict[str, Operation]:
    """The operation of each of ``span_ids`` found in the traces."""
    return {
        span.span_id: (span.service, span.name)
        for trace in traces
        for span in trace.spans
        if span.span_id in span_ids
    }


def _calls(traces: Sequence[Trace], operations: set[Operation]) -> Counter[Operation]:
    return Counter(
        where
        for trace in traces
        for span in trace.spans
        if (where := (span.service, span.name)) in operations
    )


def _writers(
    records: Sequence[tuple[LogRecord, int]], operations: dict[str, Operation]
) -> dict[tuple[Operation, int], tuple[set[str], str]]:
    """(operation, template) -> the spans that wrote it below error level, and one line."""
    found: dict[tuple[Operation, int], tuple[set[str], str]] = {}
    for record, template in records:
        where = operations.get(record.span_id or "")
        if where is None or record.severity_number >= ERROR_SEVERITY:
            continue
        spans, _ = found.setdefault((where, template), (set(), record.body))
        spans.add(record.span_id or "")
    return found
