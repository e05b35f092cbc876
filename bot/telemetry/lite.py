"""A faster decode of span attributes: each KeyValue kept as its wire bytes, converted once.

Converting attributes through protobuf's Python wrappers costs about 1 µs an attribute, and
it was 40 % of the collector's time under load (py-spy, bench/ingest.py). Attribute
pairs repeat enormously across spans (``http.request.method=POST``, a route, a status, a
tier), so we parse requests with a variant of the OTLP trace schema in which
``Span.attributes`` is ``repeated bytes``: the same wire format, but each pair comes out as
its serialized bytes, which key a cache of converted pairs. A new pair costs one
``KeyValue`` parse; a repeated one, a dict lookup.

The variant is built at import from the real descriptors (one field's type changed) in a
pool of its own, so it cannot drift from the opentelemetry-proto package it mirrors.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from bot.telemetry.resource import any_value
from correlators.model import Attributes, AttrValue

CACHE_LIMIT = 16_384
CACHEABLE_BYTES = 512
"""Pairs larger than this are converted each time, never cached: values that repeat are
short (names, routes, status codes), and a cache that kept 1 MiB values would be bounded
in entries but not in bytes. So each cache holds at most CACHE_LIMIT x ~CACHEABLE_BYTES
(8 MiB) of keys, plus what the values take."""
"""Distinct attribute pairs remembered per cache; past it the cache starts over. Unique
values (order ids) only churn it, and the pairs that repeat are few, so a small cache
converts as fast as a big one (30-32 against 33 us a span at 50k) in ~8 MB less."""


def _lite_request_type() -> Any:
    pool = descriptor_pool.DescriptorPool()
    for module in (common_pb2, resource_pb2, trace_pb2, trace_service_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        if module is trace_pb2:
            span = next(m for m in proto.message_type if m.name == "Span")
            field = next(f for f in span.field if f.name == "attributes")
            field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
            field.ClearField("type_name")
        pool.Add(proto)
    name = "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


LiteTraceRequest: Any = _lite_request_type()

Pair: TypeAlias = tuple[str, AttrValue] | tuple[()]
"""A converted attribute, or ``()`` for one that a transform dropped."""


class PairCache:
    """Attributes from serialized KeyValue pairs, each distinct pair converted once.

    ``transform`` (the collector passes :meth:`bot.telemetry.redact.Redactor.redact_pair`)
    runs once per distinct pair too, and what it returns is what is cached: redaction is a
    function of key and value only, so a repeated pair costs one lookup instead of
    conversion plus redaction (14 us a span of redaction before, bench/ingest.py), and a
    pair that must not be kept never enters a span at all.
    """

    def __init__(
        self,
        transform: Callable[[str, AttrValue], Pair] | None = None,
        limit: int = CACHE_LIMIT,
        *,
        value_items: int = sys.maxsize,
    ) -> None:
        """``value_items``: items kept of an array or key-value-list value, in all."""
        self._transform = transform
        self._limit = limit
        self._value_items = value_items
        self._pairs: dict[bytes, Pair] = {}
        self._converted: dict[tuple[str, type, AttrValue], Pair] = {}
        self._pairs_bytes = 0
        self._converted_bytes = 0

    @property
    def cached_bytes(self) -> int:
        """What the cached keys and converted pairs take (``sys.getsizeof``, lists item by
        item), kept as entries are added and zeroed when a cache starts over: the figure
        /healthz shows, so the bound in bytes can be seen, not only inferred."""
        return self._pairs_bytes + self._converted_bytes

    def attributes(self, raw_pairs: Iterable[bytes]) -> Attributes:
        out: Attributes = {}
        get = self._pairs.get
        for raw in raw_pairs:
            pair = get(raw)
            if pair is None:
                pair = self._convert(raw)
            if pair:
                out[pair[0]] = pair[1]
        return out

    def converted(self, pairs: list[tuple[str, AttrValue]]) -> Attributes:
        """Attributes from pairs a decoder has already converted (OTLP JSON has no wire
        bytes to key on), through the same transform, once per distinct scalar pair. The
        cache key holds the value's type because ``1 == 1.0 == True`` would share an entry;
        lists and maps are rare and unhashable, so they are transformed each time."""
        transform = self._transform
        if transform is None:
            return dict(pairs)
        out: Attributes = {}
        cache = self._converted
        for key, value in pairs:
            if isinstance(value, list | dict):
                pair: Pair = transform(key, value)
            elif len(key) + (len(value) if isinstance(value, str | bytes) else 0) > CACHEABLE_BYTES:
                pair = transform(key, value)
            else:
                cache_key = (key, type(value), value)
                cached = cache.get(cache_key)
                if cached is None:
                    if len(cache) >= self._limit:
                        cache.clear()
                        self._converted_bytes = 0
                    cached = cache[cache_key] = transform(key, value)
                    self._converted_bytes += sys.getsizeof(key) + sys.getsizeof(value) + pair_size(cached)
                pair = cached
            if pair:
                out[pair[0]] = pair[1]
        return out

    def _convert(self, raw: bytes) -> Pair:
        kv = KeyValue.FromString(raw)
        value = any_value(kv.value, self._value_items)
        pair = self._transform(kv.key, value) if self._transform else (kv.key, value)
        if len(raw) > CACHEABLE_BYTES:
            return pair
        if len(self._pairs) >= self._limit:
            self._pairs.clear()
            self._pairs_bytes = 0
        self._pairs[raw] = pair
        self._pairs_bytes += sys.getsizeof(raw) + pair_size(pair)
        return pair


def value_size(value: AttrValue) -> int:
    """Bytes an attribute value takes, its items included."""
    size = sys.getsizeof(value)
    if isinstance(value, list):
        size += sum(value_size(item) for item in value)
    elif isinstance(value, dict):
        size += sum(sys.getsizeof(key) + value_size(item) for key, item in value.items())
    return size


def pair_size(pair: Pair) -> int:
    """Bytes of a converted pair: its strings and value (the tuple itself is not counted)."""
    if not pair:
        return 0
    key, value = pair
    size = sys.getsizeof
    return size(key) + (value_size(value) if type(value) is list or type(value) is dict else size(value))


PLAIN = PairCache()
"""Conversion only: for decoding that is not ingest (files, Tempo answers, tests)."""
