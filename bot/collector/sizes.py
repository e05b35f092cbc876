"""What a span costs in memory, estimated from its fields, for the byte budgets.

Counting spans bounds memory only as long as spans are small: 128 attributes of 32 KiB
each are 4 MiB in one span, and a budget of 100,000 spans would let them take 400 GB.
Measuring objects (``sys.getsizeof`` all the way down) costs more than the rest of
ingest, so the estimate is the length of the attributes as JSON (orjson writes them in
C, about 0.5 µs for ten, against 1.6 µs for the same sum of lengths in a Python loop)
plus a fixed cost per span and per attribute, calibrated on bench/ingest.py's spans (10
attributes): tracemalloc measured 1,000 bytes a decoded span, the estimate is 998. Text
shared between spans (the decoder's cached attribute pairs) is counted in every span that
holds it, so the estimate errs high where sharing saves memory, never low where a value is
the span's own.
"""

from __future__ import annotations

from typing import Any

import orjson

from correlators.model import Attributes, InstrumentationScope, Span

SPAN_BYTES = 410
"""The span object, its ids and the empty containers."""
SCOPE_BYTES = 120
"""An InstrumentationScope object with its empty dict (``sys.getsizeof``: 56 + 64)."""
ENTRY_BYTES = 32
"""One attribute (a dict slot, a small value), one event or link beyond its attributes,
one item of an array value."""


def span_bytes(span: Span) -> int:
    """The span's own memory, without its resource (shared by the spans of a request:
    the caller counts it once, see :func:`attributes_bytes`)."""
    attributes = span.attributes
    size = SPAN_BYTES + len(span.name) + len(span.status_message) + ENTRY_BYTES * len(attributes)
    try:
        size += len(orjson.dumps(attributes))
    except TypeError:  # a value JSON cannot hold (an integer past 64 bits): counted by hand
        size += attributes_bytes(attributes) - ENTRY_BYTES * len(attributes)
    if span.events or span.links:
        for event in span.events:
            size += ENTRY_BYTES + len(event.name) + attributes_bytes(event.attributes)
        for link in span.links:
            size += ENTRY_BYTES + attributes_bytes(link.attributes)
    return size


def scope_bytes(scope: InstrumentationScope) -> int:
    """A scope shared by the spans of one scope entry (the caller counts it once, as the
    resource): its object, texts and attributes."""
    return SCOPE_BYTES + len(scope.name) + len(scope.version) + attributes_bytes(scope.attributes)


def attributes_bytes(attributes: Attributes) -> int:
    size = ENTRY_BYTES * len(attributes)
    for key, value in attributes.items():
        size += len(key)
        if type(value) is str:
            size += len(value)
        elif isinstance(value, list | dict):
            size += _value_bytes(value)
    return size


def _value_bytes(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(ENTRY_BYTES + _value_bytes(item) for item in value)
    if isinstance(value, dict):
        return sum(ENTRY_BYTES + len(str(key)) + _value_bytes(item) for key, item in value.items())
    return 0
