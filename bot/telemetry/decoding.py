"""What the OTLP decoders (protobuf and JSON) share: the result with its rejections, the
rules that reject one item rather than the whole request, and the enum mappings.

One place for the rules, so that an item a protobuf sender gets accepted is accepted from a
JSON sender too, and refused with the same words.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson

from correlators.errors import MalformedPayload
from correlators.model import MAX_TIME_NS, Span, SpanKind, StatusCode

T = TypeVar("T")
MAX_ERRORS_KEPT = 5


@dataclass(frozen=True, slots=True)
class ItemLimits:
    """How much one item may carry; the excess is dropped and counted, the item kept.

    The collector passes the OpenTelemetry SDK's limits (128 attributes per span, event,
    link and log record; 128 events and links per span), which no SDK with default settings
    exceeds, so only a broken or hostile sender loses anything. Without limits one span of
    700,000 attributes held the event loop for 4 s (bench/attribute_flood.py). Reading
    files and other backends' answers keeps everything (``NO_LIMITS``).
    """

    attributes: int = sys.maxsize
    """Per span, event, link, log record and resource."""
    events: int = sys.maxsize
    links: int = sys.maxsize
    value_items: int = sys.maxsize
    """Items of one array or key-value-list attribute value, nested ones included."""


NO_LIMITS = ItemLimits()

KINDS = {
    0: SpanKind.UNSPECIFIED,
    1: SpanKind.INTERNAL,
    2: SpanKind.SERVER,
    3: SpanKind.CLIENT,
    4: SpanKind.PRODUCER,
    5: SpanKind.CONSUMER,
}
STATUS = {0: StatusCode.UNSET, 1: StatusCode.OK, 2: StatusCode.ERROR}
ZERO_TRACE = bytes(16)
ZERO_SPAN = bytes(8)


@dataclass(slots=True)
class Decoded(Generic[T]):
    items: list[T]
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    """The first few distinct reasons, for ``partial_success`` and for the input gaps."""
    trimmed: int = 0
    """Attributes, events and links dropped from items that were kept (ItemLimits)."""

    def reject(self, reason: str) -> None:
        self.rejected += 1
        self._note(reason)

    def trim(self, reason: str, count: int) -> None:
        self.trimmed += count
        self._note(reason)

    def _note(self, reason: str) -> None:
        if len(self.errors) < MAX_ERRORS_KEPT and reason not in self.errors:
            self.errors.append(reason)


S = TypeVar("S", bound=Sequence[Any])


def capped(items: S, limit: int, what: str, out: Decoded[Any]) -> S:
    """The first ``limit`` of ``items`` (a list or a protobuf repeated field; slicing
    creates only the kept elements), the rest counted in ``out`` as trimmed."""
    if len(items) <= limit:
        return items
    out.trim(f"{what} past the first {limit} dropped", len(items) - limit)
    return items[:limit]  # type: ignore[return-value]


def json_body(body: bytes) -> Any:
    """The parsed JSON of a request body, or MalformedPayload: what shape it must have is
    the caller's to check (an OTLP object, a Zipkin list)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedPayload(f"body is not valid JSON: {exc}") from None


def invalid_span(trace_id: bytes, span_id: bytes, parent_span_id: bytes, start_ns: int) -> str | None:
    """Why a span cannot be kept, or None: without valid ids or a start it cannot be placed
    in any trace, while everything else about it may be imperfect."""
    if len(trace_id) != 16 or trace_id == ZERO_TRACE:
        return "span with an invalid trace id (need 16 non-zero bytes)"
    if len(span_id) != 8 or span_id == ZERO_SPAN:
        return "span with an invalid span id (need 8 non-zero bytes)"
    if parent_span_id and len(parent_span_id) != 8:
        return "span with an invalid parent span id"
    if not start_ns:
        return "span without a start time"
    return None


def link_invalid(trace_id: bytes, span_id: bytes) -> bool:
    """A link must name a span somewhere: ids of any other length are only bytes to keep."""
    return len(trace_id) != 16 or len(span_id) != 8


def span_times_invalid(span: Span) -> str | None:
    """Why a decoded span's times cannot be kept, or None: a row holding a time past
    ``MAX_TIME_NS`` would fail the whole write it is part of."""
    if span.start_ns > MAX_TIME_NS or span.end_ns > MAX_TIME_NS:
        return "span with a time past the year 2262"
    if any(not 0 <= event.time_ns <= MAX_TIME_NS for event in span.events):
        return "span with an event time out of range"
    return None


def invalid_log(trace_id: bytes, span_id: bytes, time_ns: int, observed_ns: int) -> str | None:
    """Why a log record cannot be kept, or None: its trace context is optional, but when
    given it must be well formed, and a record needs some time to be placed."""
    if trace_id and len(trace_id) != 16:
        return "log record with an invalid trace id"
    if span_id and len(span_id) != 8:
        return "log record with an invalid span id"
    if not time_ns and not observed_ns:
        return "log record without a timestamp"
    if time_ns > MAX_TIME_NS or observed_ns > MAX_TIME_NS:
        return "log record with a time past the year 2262"
    return None
