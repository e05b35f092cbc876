"""Logs from Elasticsearch, through the official client and its real transport.

Documents are read by one of two field maps (``sources.elasticsearch.mapping``):

- ``ecs``, the Elastic Common Schema names (``@timestamp``, ``trace.id``, ``span.id``,
  ``service.name``, ``log.level``, ``message``; ``service.node.name`` else ``host.name``
  for the instance), which Elastic's APM agents, Filebeat's ECS loggers and the
  OpenTelemetry Collector's ``ecs`` mapping mode write;
- ``otel``, what the Collector's ``elasticsearch`` exporter writes in its default ``otel``
  mapping mode: ``trace_id``, ``span_id``, ``severity_text``, ``body.text`` (else
  ``body.structured``), ``resource.attributes.service.name`` and
  ``resource.attributes.service.instance.id`` (else ``...host.name``). ECS names such as
  ``trace.id`` are only aliases there, absent from ``_source``, so an ``ecs`` read of such
  an index finds nothing.

Teams that write something else rename fields on top of either in
``sources.elasticsearch.fields`` (model field -> document field, e.g.
``{"trace_id": "traceId"}``). A document may spell a dotted field flat (``"trace.id":
...``), nested (``"trace": {"id": ...}``) or half of each; all are read.

OpenSearch is read the same way through its own client (``sources.logs: opensearch``);
see :mod:`bot.sources.search_wire` for what differs on the wire and why.

Every client or server failure becomes :class:`DataSourceError` naming the URL, the
query and the index; a call as a whole stops at ``timeout`` seconds (each request gets
what is left), so a slow cluster costs the investigation one bounded wait.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise
from typing import Any
from urllib.parse import quote

import orjson

from bot.settings import SourceCredentials
from bot.sources.config import ElasticsearchConfig
from bot.sources.search_wire import Flavor, WireError, error_text, open_wire
from bot.telemetry.resource import UNKNOWN_SERVICE
from correlators.errors import ConfigError, DataSourceError
from correlators.model import LogRecord

MAX_RESULT_WINDOW = 10_000
"""``index.max_result_window``'s default: one search cannot return more hits."""
SAMPLE_SLICES = 20
"""Time slices of a sampled window (see :meth:`ElasticsearchLogSource.logs_for_services`)."""

DEFAULT_FIELDS: dict[str, str] = {
    "time_ns": "@timestamp",
    "trace_id": "trace.id",
    "span_id": "span.id",
    "service": "service.name",
    "severity_text": "log.level",
    "body": "message",
    "instance": "service.node.name",
}
"""The ECS map; every map names these model fields."""
OTEL_FIELDS: dict[str, str] = {
    "time_ns": "@timestamp",
    "trace_id": "trace_id",
    "span_id": "span_id",
    "service": "resource.attributes.service.name",
    "severity_text": "severity_text",
    "body": "body.text",
    "instance": "resource.attributes.service.instance.id",
}


@dataclass(frozen=True)
class FieldMap:
    fields: dict[str, str]
    fallbacks: dict[str, str]
    """Model field -> the document field read when the first is absent (unless the model
    field was renamed in the config)."""


MAPPINGS: dict[str, FieldMap] = {
    "ecs": FieldMap(DEFAULT_FIELDS, {"instance": "host.name"}),
    "otel": FieldMap(OTEL_FIELDS, {"instance": "resource.attributes.host.name", "body": "body.structured"}),
}

SEVERITY_NUMBERS: dict[str, int] = {
    "trace": 1,
    "debug": 5,
    "info": 9,
    "information": 9,
    "informational": 9,
    "notice": 10,
    "warn": 13,
    "warning": 13,
    "error": 17,
    "err": 17,
    "fatal": 21,
    "critical": 21,
    "crit": 21,
    "alert": 21,
    "emergency": 21,
    "emerg": 21,
    "panic": 21,
}
"""Level names to OpenTelemetry severity numbers (TRACE 1, DEBUG 5, INFO 9, WARN 13,
ERROR 17, FATAL 21, the first of each range); syslog's ``notice`` is INFO2 as in OTel's
syslog mapping, and the levels above error all land in the FATAL range."""


class ElasticsearchLogSource:
    """A :class:`~bot.sources.base.LogSource` over an Elasticsearch index pattern."""

    name = "elasticsearch"

    def __init__(
        self,
        config: ElasticsearchConfig,
        credentials: SourceCredentials | None = None,
        *,
        timeout: float = 10.0,
        flavor: Flavor = "elasticsearch",
    ) -> None:
        self.name = flavor
        self._config = config
        self._fields = resolve_fields(config.fields, config.mapping)
        self._fallbacks = {
            field: document
            for field, document in MAPPINGS[config.mapping].fallbacks.items()
            if field not in config.fields
        }
        self._timeout = timeout
        self._source = f"{flavor} {config.url}"
        self._wire = open_wire(flavor, config.url, credentials or SourceCredentials(), timeout)

    def close(self) -> None:
        self._wire.close()

    # --- the LogSource protocol -----------------------------------------------------------

    def logs_for_traces(
        self, trace_ids: Sequence[str], start_ns: int, end_ns: int, limit: int
    ) -> list[LogRecord]:
        """Logs of these traces in the window, oldest first: one search, a ``terms`` filter
        on the trace id field plus the time range, sorted by time, at most ``limit`` (and
        ``max_logs``) lines. Ids are sent lower-case, as W3C and OTLP write them; a terms
        filter holds up to ``index.max_terms_count`` ids (65,536 by default)."""
        ids = sorted({i.lower() for i in trace_ids})
        size = self._cap(limit)
        if not ids or size == 0 or end_ns <= start_ns:
            return []
        query = {"terms": {self._fields["trace_id"]: ids}}
        what = f"logs_for_traces ({len(ids)} trace ids) {start_ns}-{end_ns} in {self._config.index}"
        deadline = time.monotonic() + self._timeout
        answer = self._search(self._body(query, *millis(start_ns, end_ns), size), what, deadline)
        return self._records(answer, start_ns, end_ns)

    def logs_for_services(
        self, services: Sequence[str], start_ns: int, end_ns: int, limit: int
    ) -> list[LogRecord]:
        """Logs of these services in the window, oldest first, at most ``limit`` lines.

        Past the cap the answer must be an even sample across the window, not the first
        lines. We ask once with ``track_total_hits`` set to the cap: if the window holds
        no more, that answer is complete. Otherwise the window is cut into
        :data:`SAMPLE_SLICES` equal time slices and one multi-search takes the first
        ``cap / slices`` lines of each, the slices in order and each sorted by time, so
        the sample comes back oldest first with no sorting of ours. It needs nothing of
        the mapping, and it spreads the lines over the whole window: a burst fills its own
        slice and cannot crowd out the quiet minutes before it, which the comparison with
        the baseline needs (a random sample, ``random_score``, would follow the volume and
        be mostly burst). A quiet slice returns fewer lines, so a sample can hold fewer
        than ``limit``.
        """
        names = sorted(set(services))
        size = self._cap(limit)
        if not names or size == 0 or end_ns <= start_ns:
            return []
        query = {"terms": {self._fields["service"]: names}}
        what = f"logs_for_services ({', '.join(names)}) {start_ns}-{end_ns} in {self._config.index}"
        deadline = time.monotonic() + self._timeout
        body = {**self._body(query, *millis(start_ns, end_ns), size), "track_total_hits": size}
        answer = self._search(body, what, deadline)
        total = answer.get("hits", {}).get("total") or {}
        if total.get("relation") != "gte" and int(total.get("value", 0)) <= size:
            return self._records(answer, start_ns, end_ns)
        return self._sample(query, start_ns, end_ns, size, f"{what} (sampled)", deadline)

    # --- queries ----------------------------------------------------------------------------

    def _cap(self, limit: int) -> int:
        return max(0, min(limit, self._config.max_logs, MAX_RESULT_WINDOW))

    def _body(self, query: Mapping[str, Any], gte_ms: int, lt_ms: int, size: int) -> dict[str, Any]:
        time_field = self._fields["time_ns"]
        window = {"range": {time_field: {"gte": gte_ms, "lt": lt_ms, "format": "epoch_millis"}}}
        return {
            "query": {"bool": {"filter": [query, window]}},
            "sort": [{time_field: {"order": "asc", "unmapped_type": "date"}}],
            "size": size,
            "track_total_hits": False,
            "_source": self._source_fields(),
        }

    def _source_fields(self) -> list[str]:
        return list(dict.fromkeys([*self._fields.values(), *self._fallbacks.values()]))

    def _sample(
        self, query: Mapping[str, Any], start_ns: int, end_ns: int, size: int, what: str, deadline: float
    ) -> list[LogRecord]:
        slices = time_slices(*millis(start_ns, end_ns), min(SAMPLE_SLICES, size))
        per_slice = max(1, size // len(slices))
        searches: list[dict[str, Any]] = []
        for lo, hi in slices:
            searches += [{}, self._body(query, lo, hi, per_slice)]
        answer = self._request("_msearch", searches, what, deadline, ndjson=True)
        records: list[LogRecord] = []
        for item in answer.get("responses", []):
            if "error" in item:
                raise DataSourceError(self._source, what, error_text(item.get("status"), item["error"]))
            records += self._records(item, start_ns, end_ns)
        return records

    def _search(self, body: dict[str, Any], what: str, deadline: float) -> dict[str, Any]:
        return self._request("_search", body, what, deadline)

    def _request(
        self, endpoint: str, body: Any, what: str, deadline: float, *, ndjson: bool = False
    ) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DataSourceError(self._source, what, f"no answer within {self._timeout:g}s")
        path = f"/{quote(self._config.index, safe=',*')}/{endpoint}"
        try:
            answer = self._wire.post(path, body, ndjson=ndjson, timeout=remaining)
        except WireError as exc:
            raise DataSourceError(self._source, what, exc.reason) from exc
        if not isinstance(answer, dict):
            raise DataSourceError(self._source, what, "the answer is not a JSON object")
        return answer

    # --- documents --------------------------------------------------------------------------

    def _records(self, answer: Mapping[str, Any], start_ns: int, end_ns: int) -> list[LogRecord]:
        """Hits to records; documents without a readable time are skipped, and the range
        (sent in whole milliseconds) is applied again to the nanosecond."""
        records = []
        for hit in answer.get("hits", {}).get("hits", []):
            record = self._record(hit.get("_source") or {})
            if record is not None and start_ns <= record.time_ns < end_ns:
                records.append(record)
        return records

    def _record(self, doc: Mapping[str, Any]) -> LogRecord | None:
        time_ns = parse_time_ns(self._read(doc, "time_ns"))
        if time_ns is None:
            return None
        service = _text(self._read(doc, "service")) or UNKNOWN_SERVICE
        level = _text(self._read(doc, "severity_text")) or ""
        instance = _text(self._read(doc, "instance"))
        resource: dict[str, Any] = {"service.name": service}
        if instance:
            resource["service.instance.id"] = instance
        return LogRecord(
            time_ns=time_ns,
            service=service,
            body=_body_text(self._read(doc, "body")),
            severity_text=level,
            severity_number=severity_number(level),
            trace_id=_lower(self._read(doc, "trace_id")),
            span_id=_lower(self._read(doc, "span_id")),
            instance=instance,
            resource=resource,
        )

    def _read(self, doc: Mapping[str, Any], field: str) -> Any:
        """A model field of a document: its mapped field, else the map's fallback."""
        value = lookup(doc, self._fields[field])
        if value is None and field in self._fallbacks:
            value = lookup(doc, self._fallbacks[field])
        return value


# --- helpers, public for tests and for other sources -------------------------------------


def resolve_fields(overrides: Mapping[str, str], mapping: str = "ecs") -> dict[str, str]:
    """The mapping's fields with the configured renames; an unknown model field is a
    ConfigError, so a typo in journeys.yaml is not silently ignored."""
    unknown = sorted(set(overrides) - set(DEFAULT_FIELDS))
    if unknown:
        raise ConfigError(
            f"sources.elasticsearch.fields: unknown model field(s) {', '.join(unknown)}; "
            f"known: {', '.join(DEFAULT_FIELDS)}"
        )
    return {**MAPPINGS[mapping].fields, **overrides}


def millis(start_ns: int, end_ns: int) -> tuple[int, int]:
    """``[start, end)`` in whole epoch milliseconds, as the range is sent, widened outwards
    so that no line of the window is lost to rounding (records are cut to the nanosecond
    afterwards)."""
    return start_ns // 1_000_000, -(-end_ns // 1_000_000)


def time_slices(start: int, end: int, count: int) -> list[tuple[int, int]]:
    """``count`` adjacent slices tiling ``[start, end)`` exactly, whole units each, so no
    document falls in two (fewer slices if the window is shorter than ``count`` units)."""
    count = max(1, min(count, end - start))
    edges = [start + (end - start) * i // count for i in range(count + 1)]
    return list(pairwise(edges))


def lookup(doc: Mapping[str, Any], path: str) -> Any:
    """A dotted field of a ``_source``, whether written flat, nested, or half of each;
    the first value of an array."""
    if path in doc:
        value = doc[path]
        if isinstance(value, list):
            return value[0] if value else None
        return value
    for i, char in enumerate(path):
        if char == ".":
            child = doc.get(path[:i])
            if isinstance(child, Mapping):
                value = lookup(child, path[i + 1 :])
                if value is not None:
                    return value
    return None


_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time_ns(value: Any) -> int | None:
    """An Elasticsearch date as nanoseconds: ISO 8601 (to the nanosecond, any offset,
    UTC when none, as Elasticsearch assumes) or epoch milliseconds (a number or a numeric
    string, fractions allowed)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value * 1_000_000
    if isinstance(value, float):
        return round(value * 1000) * 1000
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return int(Decimal(text) * 1_000_000)
    return _parse_iso(text)


def _parse_iso(text: str) -> int | None:
    match = _ISO.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=_zone(zone),
        )
    except ValueError:
        return None
    seconds = (moment - _EPOCH) // timedelta(seconds=1)
    nanos = int((fraction or "0")[:9].ljust(9, "0"))
    return seconds * 1_000_000_000 + nanos


def _zone(text: str | None) -> timezone:
    if not text or text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return timezone(sign * offset)


def severity_number(level: str) -> int:
    """OpenTelemetry's severity number for a level name (case-insensitive); 0 when unknown."""
    return SEVERITY_NUMBERS.get(level.strip().lower(), 0)


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _lower(value: Any) -> str | None:
    text = _text(value)
    return text.lower() if text else None


def _body_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else orjson.dumps(value).decode()
