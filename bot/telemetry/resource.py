"""OTLP attribute values and the resource facts every span of a resource shares.

Service, instance, version, region, zone and language are lifted out of the resource once
per resource, following the OpenTelemetry semantic conventions, so that analysis never has
to know which convention a service used for its instance (``service.instance.id``, else
``k8s.pod.name``, else ``host.name``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from correlators.model import NO_SCOPE, Attributes, AttrValue, InstrumentationScope

UNKNOWN_SERVICE = "unknown_service"
"""What OpenTelemetry SDKs report when no service name was configured."""
SCOPE_TAGS = (("otel.scope.name", "otel.scope.version"), ("otel.library.name", "otel.library.version"))
"""Where formats with no field for it (Zipkin, Jaeger) carry a span's instrumentation
scope, as OpenTelemetry's exporters and translators write it (the second pair is what
older ones wrote)."""
SCOPE_TAG_NAMES = frozenset(tag for pair in SCOPE_TAGS for tag in pair)


def scope_from_tags(tags: Mapping[str, Any]) -> InstrumentationScope:
    """The scope named by a span's tags (those formats have no place for its attributes)."""
    for name_tag, version_tag in SCOPE_TAGS:
        name, version = tags.get(name_tag), tags.get(version_tag)
        if name or version:
            return InstrumentationScope(str(name or ""), str(version or ""))
    return NO_SCOPE


@dataclass(frozen=True, slots=True)
class ResourceFacts:
    service: str
    instance: str | None
    version: str | None
    region: str | None
    zone: str | None
    language: str | None
    attributes: Attributes


_SCALARS = frozenset({"string_value", "int_value", "bool_value", "double_value"})


def any_value(value: Any, max_items: int = sys.maxsize) -> AttrValue:
    """An OTLP AnyValue as a JSON-compatible Python value (bytes as hex, a key-value list as
    a dict, a repeated key's last value kept). Arrays and key-value lists keep their first
    ``max_items`` items in all, nested ones included, so a value's cost is bounded however
    it is nested (and so is its depth)."""
    return _value(value, [max_items])


def _value(value: Any, budget: list[int]) -> AttrValue:
    kind = value.WhichOneof("value")
    if kind in _SCALARS:
        scalar: AttrValue = getattr(value, kind)
        return scalar
    if kind == "array_value":
        return [_value(item, budget) for item in budgeted(value.array_value.values, budget)]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value, budget) for kv in budgeted(value.kvlist_value.values, budget)}
    if kind == "bytes_value":
        return bytes(value.bytes_value).hex()
    return None


def budgeted(items: Iterable[Any], budget: list[int]) -> Iterator[Any]:
    """Items while the budget (one count shared by a whole value) lasts, depth first: an
    item's own items are taken before its next sibling, so what is kept is the value's
    beginning, whole."""
    for item in items:
        if budget[0] <= 0:
            return
        budget[0] -= 1
        yield item


def attributes(pairs: Iterable[Any], max_items: int = sys.maxsize) -> Attributes:
    """Attributes as a dict; scalars (nearly all of them) without a function call each,
    since this runs for every attribute of every span on the ingest path."""
    out: Attributes = {}
    scalars = _SCALARS
    for kv in pairs:
        value = kv.value
        kind = value.WhichOneof("value")
        out[kv.key] = getattr(value, kind) if kind in scalars else any_value(value, max_items)
    return out


def resource_facts(pairs: Iterable[Any], max_items: int = sys.maxsize) -> ResourceFacts:
    attrs = attributes(pairs, max_items)
    return facts_from_attributes(attrs)


def facts_from_attributes(attrs: Attributes) -> ResourceFacts:
    def text(*keys: str) -> str | None:
        for key in keys:
            value = attrs.get(key)
            if value not in (None, ""):
                return str(value)
        return None

    return ResourceFacts(
        service=text("service.name") or UNKNOWN_SERVICE,
        instance=text("service.instance.id", "k8s.pod.name", "host.name"),
        version=text("service.version"),
        region=text("cloud.region"),
        zone=text("cloud.availability_zone"),
        language=text("telemetry.sdk.language"),
        attributes=attrs,
    )
