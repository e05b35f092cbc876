"""What the trace page shows: the waterfall layout of :mod:`bot.render.waterfall` (the same
rows, critical path and orphans the PNG draws) as percentages of the trace for HTML bars,
with each span's details and the trace's logs beside it.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.render.waterfall import WaterfallLayout, WaterfallRow, waterfall_rows
from correlators.model import Attributes, AttrValue, LogRecord, Span, Trace

if TYPE_CHECKING:
    from bot.store import Store

MAX_ROWS = 500
"""Rows on the page; more than the PNG's 60, since a page scrolls."""
MIN_BAR_PCT = 0.15
"""A 0 ms span still shows as a sliver."""
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class Strip:
    left: float
    width: float


@dataclass(frozen=True, slots=True)
class EventView:
    name: str
    offset_ms: float
    """Since the span's own start: skew correction moves bars, not event times."""
    attributes: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class SpanRow:
    row: WaterfallRow
    span: Span
    left: float
    width: float
    strips: tuple[Strip, ...]
    hue: int
    """The service's colour, stable across pages (a hash of its name)."""
    attributes: list[tuple[str, str]]
    resource: list[tuple[str, str]]
    events: list[EventView]

    @property
    def classes(self) -> str:
        flags = {
            "critical": self.row.on_critical_path,
            "error": self.row.is_error,
            "origin": self.row.error_origin,
            "orphan": self.row.orphan,
            "reattached": self.row.reattached,
        }
        return " ".join(["span-row", f"lat-{self.row.latency}", *(k for k, on in flags.items() if on)])


@dataclass(frozen=True, slots=True)
class Tick:
    left: float
    label: str


@dataclass(frozen=True, slots=True)
class LogView:
    record: LogRecord
    offset_ms: float
    span_shown: bool
    attributes: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class TraceView:
    trace: Trace
    layout: WaterfallLayout
    tree: list[SpanRow]
    orphans: list[SpanRow]
    ticks: list[Tick]
    logs: list[LogView]
    services: list[tuple[str, str | None]]


def read_trace(store: Store, trace_id: str) -> TraceView | None:
    """Blocking (database reads and the layout): call it from a worker thread."""
    trace = store.get_trace(trace_id)
    if trace is None or not trace.spans:
        return None
    return trace_view(trace, store.logs_for_trace(trace_id))


def trace_view(trace: Trace, logs: list[LogRecord]) -> TraceView:
    layout = waterfall_rows(trace, MAX_ROWS)
    spans = {s.span_id: s for s in trace.spans}
    rows = [span_row(r, spans[r.span_id], layout.duration_ms) for r in layout.rows]
    shown = {r.span_id for r in layout.rows}
    return TraceView(
        trace=trace,
        layout=layout,
        tree=[r for r in rows if not r.row.orphan],
        orphans=[r for r in rows if r.row.orphan],
        ticks=ticks(layout.duration_ms),
        logs=[log_view(record, layout.start_ns, shown) for record in logs],
        services=sorted({(s.service, s.language) for s in trace.spans}, key=lambda p: (p[0], p[1] or "")),
    )


def span_row(row: WaterfallRow, span: Span, duration_ms: float) -> SpanRow:
    scale = 100 / duration_ms if duration_ms > 0 else 0.0
    left = min(row.start_ms * scale, 100 - MIN_BAR_PCT)
    return SpanRow(
        row=row,
        span=span,
        left=round(left, 3),
        width=round(max(row.duration_ms * scale, MIN_BAR_PCT), 3),
        strips=tuple(
            Strip(round(s * scale, 3), round(max((e - s) * scale, MIN_BAR_PCT), 3)) for s, e in row.critical
        ),
        hue=zlib.crc32(span.service.encode()) % 360,
        attributes=pairs(span.attributes),
        resource=pairs(span.resource),
        events=[
            EventView(e.name, (e.time_ns - span.start_ns) / 1e6, pairs(e.attributes)) for e in span.events
        ],
    )


def log_view(record: LogRecord, origin_ns: int, shown: set[str]) -> LogView:
    return LogView(
        record=record,
        offset_ms=(record.time_ns - origin_ns) / 1e6,
        span_shown=record.span_id in shown,
        attributes=pairs(record.attributes),
    )


def pairs(attributes: Attributes) -> list[tuple[str, str]]:
    """Attributes sorted by key, values as text (strings as they are, the rest as JSON)."""
    return [(key, value_text(attributes[key])) for key in sorted(attributes)]


def value_text(value: AttrValue) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def ticks(duration_ms: float, most: int = 8) -> list[Tick]:
    """Round time marks (1, 2 or 5 times a power of ten apart), at most ``most`` + 1."""
    if duration_ms <= 0:
        return [Tick(0.0, "0")]
    raw = duration_ms / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    count = int(duration_ms / step + 1e-9)
    return [Tick(round(i * step / duration_ms * 100, 3), f"{i * step:g}") for i in range(count + 1)]
