"""Finding the rows a database refuses, so that they cost nobody else's.

The writer coalesces many clients' submissions into one transaction, and a database
refuses a transaction whole: one row it cannot hold (an integer out of range, a value
longer than its column, a character it cannot store) would take thousands of good rows
with it. The row builder makes what it can valid (``bot.store.rows.fit``); this is the net
for the rest. A refused batch is split into units (a trace's rows, a log record, a metric
row), halved until each refused unit stands alone, and a trace whose own row is fine is
split further, span by span, so that every good row is written. What is left is described
for the quarantine table: what it was, the database's reason (its message, never the
statement's parameters), when; cut to a few KiB. The rows were built from redacted
telemetry, so the quarantine holds redacted text only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError

from bot.store.rows import SPAN_COLUMNS, Rows, dumps, fit
from correlators.model import LogRecord, MetricDataPoint, Trace

MAX_TEXT_CHARS = 512
"""Each text value of a quarantined row is cut to this."""
MAX_DATA_CHARS = 8 * 1024
"""A quarantine entry's rows, as JSON, are cut to this."""
MAX_REASON_CHARS = 500
_TRACE_ID = SPAN_COLUMNS.index("trace_id")
_RESOURCE_ID = SPAN_COLUMNS.index("resource_id")

Attempt = Callable[[Rows], "BaseException | None"]
"""Write rows in one transaction: None when written, else the refusal."""


@dataclass(slots=True)
class Refused:
    """One unit the database refused, as the quarantine table stores it."""

    kind: str
    """trace (its rows), span (one of a trace whose own row was taken), log, point (an
    OTLP metric data point) or metric (a span-metric row)."""
    items: int
    """Spans, logs and points in it (a span-metric row counts 0, as in ``Rows.size``)."""
    what: str
    reason: str
    data: str

    def row(self, at_ns: int | None = None) -> dict[str, Any]:
        return {
            "at_ns": time.time_ns() if at_ns is None else at_ns,
            "kind": self.kind,
            "items": self.items,
            "what": self.what,
            "reason": self.reason,
            "data": self.data,
        }


@dataclass(slots=True)
class Isolated:
    written: int = 0
    """Spans and logs written."""
    refused: list[Refused] = field(default_factory=list)


def isolate(rows: Rows, attempt: Attempt) -> Isolated:
    """Write ``rows``, which the database has just refused whole, as pieces: every unit it
    takes is written, each one it refuses is returned, described."""
    found = Isolated()
    _halves(units(rows), attempt, found)
    return found


def _halves(pieces: Sequence[Rows], attempt: Attempt, found: Isolated, *, spans: bool = False) -> None:
    """``spans``: the pieces are one trace's spans, each with the trace's row."""
    if len(pieces) == 1:
        _unit(pieces[0], attempt, found, span=spans)
        return
    middle = len(pieces) // 2
    for half in (pieces[:middle], pieces[middle:]):
        rows = merged(half)
        if attempt(rows) is None:
            found.written += rows.size
        else:
            _halves(half, attempt, found, spans=spans)


def _unit(unit: Rows, attempt: Attempt, found: Isolated, *, span: bool = False) -> None:
    """One unit the database refused (alone, or in a piece with others): tried alone once
    more (a conflict between two writers passes), then, for a trace of several spans whose
    own row the database takes, split span by span; else refused."""
    error = attempt(unit)
    if error is None:
        found.written += unit.size
        return
    if len(unit.spans) > 1 and attempt(Rows(traces=unit.traces)) is None:
        spans = [Rows(spans=[s], traces=unit.traces, resources=_resources_of([s], unit)) for s in unit.spans]
        _halves(spans, attempt, found, spans=True)
        return
    found.refused.append(describe(unit, error, "span" if span else kind_of(unit)))


def units(rows: Rows) -> list[Rows]:
    """``rows`` as the smallest pieces that are written together: a trace's rows (its
    trace rows, spans and their resources), a log record, a metric row."""
    traces: dict[str, Rows] = {}
    for span in rows.spans:
        trace = traces.setdefault(span[_TRACE_ID], Rows())
        trace.spans.append(span)
    for trace_row in rows.traces:
        traces.setdefault(trace_row["trace_id"], Rows()).traces.append(trace_row)
    for trace in traces.values():
        trace.resources = _resources_of(trace.spans, rows)
    return [
        *traces.values(),
        *(Rows(logs=[record]) for record in rows.logs),
        *(Rows(metrics=[metric]) for metric in rows.metrics),
        *(Rows(points=[point]) for point in rows.points),
    ]


def merged(pieces: Iterable[Rows]) -> Rows:
    rows = Rows()
    for piece in pieces:
        rows.extend(piece)
    return rows


def _resources_of(spans: Sequence[tuple[Any, ...]], rows: Rows) -> dict[int, str]:
    named = {span[_RESOURCE_ID] for span in spans}
    return {row_id: data for row_id, data in rows.resources.items() if row_id in named}


# --- describing ------------------------------------------------------------------------------


def describe(unit: Rows, error: BaseException, kind: str) -> Refused:
    return Refused(kind, unit.size, summary(unit), reason(error), data_of(unit))


def kind_of(unit: Rows) -> str:
    if unit.logs:
        return "log"
    if unit.points:
        return "point"
    return "metric" if unit.metrics else "trace"


def summary(unit: Rows) -> str:
    """One line a person can find the item by: its trace, services and names, cut."""
    if unit.spans or unit.traces:
        trace_id = unit.spans[0][_TRACE_ID] if unit.spans else unit.traces[0]["trace_id"]
        services = sorted({str(s[SPAN_COLUMNS.index("service")]) for s in unit.spans})
        names = sorted({str(s[SPAN_COLUMNS.index("name")]) for s in unit.spans})
        line = (
            f"trace {trace_id}: {len(unit.spans)} spans of {', '.join(services) or '-'} ({', '.join(names)})"
        )
    elif unit.logs:
        record = unit.logs[0]
        line = f"log of {record['service']} at {record['time_ns']}: {record['body']}"
    elif unit.points:
        point = unit.points[0]
        line = f"metric point {point['name']} of {point['service']} at {point['time_ns']}"
    else:
        metric = unit.metrics[0]
        line = f"span metrics of {metric['journey']} {metric['service']} {metric['operation']}"
    return _text(line, MAX_TEXT_CHARS)


def reason(error: BaseException) -> str:
    """The database's message, without the statement or its parameters (SQLAlchemy's own
    message carries both, and the parameters are the very rows)."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, DBAPIError) and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, DBAPIError):
        message = f"{type(cause.orig).__name__}: {cause.orig}"
    else:
        assert cause is not None
        message = f"{type(cause).__name__}: {cause}"
    lines = message.strip().splitlines()
    return _text(lines[0] if lines else type(error).__name__, MAX_REASON_CHARS)


def data_of(unit: Rows) -> str:
    """The unit's rows as JSON, each text cut, the whole cut: enough to see what was wrong."""
    rows = {
        "spans": [dict(zip(SPAN_COLUMNS, span, strict=True)) for span in unit.spans],
        "traces": unit.traces,
        "logs": unit.logs,
        "metrics": unit.metrics,
        "points": unit.points,
    }
    return _data({k: v for k, v in rows.items() if v})


def _cut_texts(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value, MAX_TEXT_CHARS)
    if isinstance(value, dict):
        return {key: _cut_texts(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cut_texts(v) for v in value]
    return value


def describe_trace(trace: Trace, error: BaseException) -> Refused:
    """A trace no row could be built of (the rows' own net, ``BatchWriter``)."""
    spans = [
        {
            "span_id": s.span_id,
            "service": s.service,
            "name": s.name,
            "start_ns": s.start_ns,
            "end_ns": s.end_ns,
        }
        for s in trace.spans
    ]
    what = _text(f"trace {trace.trace_id}: {len(spans)} spans, no row could be built", MAX_TEXT_CHARS)
    return Refused(
        "trace", len(spans), what, reason(error), _data({"trace_id": trace.trace_id, "spans": spans})
    )


def describe_log(record: LogRecord, error: BaseException) -> Refused:
    what = _text(f"log of {record.service} at {record.time_ns}, no row could be built", MAX_TEXT_CHARS)
    data = {"service": record.service, "time_ns": record.time_ns, "body": record.body}
    return Refused("log", 1, what, reason(error), _data(data))


def describe_point(point: MetricDataPoint, error: BaseException) -> Refused:
    what = _text(
        f"metric point {point.name} of {point.service} at {point.time_ns}, no row could be built",
        MAX_TEXT_CHARS,
    )
    data = {"service": point.service, "name": point.name, "time_ns": point.time_ns, "labels": point.labels}
    return Refused("point", 1, what, reason(error), _data(data))


def _data(value: Any) -> str:
    return _text(dumps(_cut_texts(value)), MAX_DATA_CHARS)


def _text(text: str, limit: int) -> str:
    """``text`` as any text column takes it, even one the database refused: no NUL, no
    lone surrogate (which neither driver can encode), at most ``limit`` characters."""
    return fit(text.encode("utf-8", "replace").decode("utf-8"), limit)
