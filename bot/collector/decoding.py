"""What the OTLP decoders (protobuf and JSON) share: the result with its rejections, the
rules that reject one item rather than the whole request, and the enum mappings.

One place for the rules, so that an item a protobuf sender gets accepted is accepted from a
JSON sender too, and refused with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson

from correlators.errors import MalformedPayload
from correlators.model import MAX_TIME_NS, Span, SpanKind, StatusCode

T = TypeVar("T")
MAX_ERRORS_KEPT = 5

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

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_ERRORS_KEPT and reason not in self.errors:
            self.errors.append(reason)


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
