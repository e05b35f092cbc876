"""Logs from Grafana Loki, through its HTTP API (``GET /loki/api/v1/query_range``).

Every read is a LogQL log query over ``[start, end)`` in nanoseconds, ``direction=forward``
so that ``limit`` keeps the oldest lines, answered as ``streams``: each stream's labels
and its entries, ``[<ns as a string>, <line>]``. We send ``X-Loki-Response-Encoding-Flags:
categorize-labels``, to which Loki 3 answers each entry with a third element holding its
``structuredMetadata`` (and ``parsed`` labels) apart from the stream's; Loki 2.x ignores
the flag and folds metadata into the stream labels. Labels are read from all three, so
both answers read the same.

By trace id the query is the trace selector with a metadata (or label) filter,
``{service_name=~".+"} | trace_id=~"(?i)<id>|<id>"``, which is where Loki's OTLP ingest
keeps the id; if that finds nothing at all, the lines' text is searched for the ids
(``|~``), for loggers that print the id but never set it as metadata, and each line found
is given the id it contains. By service it is the service label's selector; past the cap
the window is sampled evenly in time slices, as the Elasticsearch source does, so a burst
cannot crowd out the quiet minutes the baseline comparison needs.

A multi-tenant Loki wants ``X-Scope-OrgID`` (``sources.loki.tenant``); credentials come
from the environment (``JOURNEYWATCH_SOURCES__LOKI_TOKEN``, or ``..._LOKI_USERNAME`` and
``..._LOKI_PASSWORD``). Every failure is a :class:`DataSourceError` naming ``loki <url>``
and the LogQL; a call as a whole stops at ``timeout`` seconds (each request gets what is
left), and an answer past ``max_response_bytes`` is given up rather than held.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx
import orjson

from bot.settings import SourceCredentials
from bot.sources import logql
from bot.sources.config import LokiConfig
from bot.sources.elasticsearch import SAMPLE_SLICES, severity_number, time_slices
from bot.sources.http import json_client
from bot.telemetry.resource import UNKNOWN_SERVICE
from correlators.errors import DataSourceError
from correlators.model import LogRecord

QUERY_RANGE = "/loki/api/v1/query_range"
IDS_PER_QUERY = 100
"""Trace ids per query: a regex of 100 ids is 3.3 KB of URL, far inside every proxy's limit."""
SEVERITY_LABELS = ("severity_text", "detected_level", "level")
"""OTLP's severity as Loki keeps it, then the level Loki 3 detects, then a common label."""
SPAN_ID_LABELS = ("span_id", "spanID", "spanid")
INSTANCE_FALLBACKS = ("pod", "host_name")


class LokiLogSource:
    """A :class:`~bot.sources.base.LogSource` over Loki's query frontend or querier."""

    name = "loki"

    def __init__(
        self, config: LokiConfig, credentials: SourceCredentials | None = None, *, timeout: float = 10.0
    ) -> None:
        self._config = config
        self._timeout = timeout
        self._source = f"loki {config.url}"
        secrets = credentials or SourceCredentials()
        headers = {"X-Loki-Response-Encoding-Flags": "categorize-labels"}
        if config.tenant:
            headers["X-Scope-OrgID"] = config.tenant
        basic = None
        if secrets.loki_username:
            password = secrets.loki_password.get_secret_value() if secrets.loki_password else ""
            basic = (secrets.loki_username, password)
        self._http = json_client(config.url, secrets.loki_token, timeout, headers, basic)

    def close(self) -> None:
        self._http.close()

    # --- the LogSource protocol -----------------------------------------------------------

    def logs_for_traces(
        self, trace_ids: Sequence[str], start_ns: int, end_ns: int, limit: int
    ) -> list[LogRecord]:
        """Lines of these traces in the window, oldest first, at most ``limit`` (and
        ``max_logs``); ids are matched whatever their case and given back lower-case."""
        ids = sorted({i.lower() for i in trace_ids if i})
        size = min(limit, self._config.max_logs)
        if not ids or size <= 0 or end_ns <= start_ns:
            return []
        deadline = time.monotonic() + self._timeout
        label, selector = self._config.trace_id_label, self._config.trace_selector
        window = (start_ns, end_ns, size, deadline)
        found = self._each_batch(ids, lambda batch: logql.by_trace_ids(selector, label, batch), *window)
        if not found and self._config.line_filter_fallback:
            found = self._each_batch(ids, lambda batch: logql.lines_with(selector, batch), *window)
            found = [_with_trace_id(r, ids) for r in found]
        return _oldest(found, size)

    def logs_for_services(
        self, services: Sequence[str], start_ns: int, end_ns: int, limit: int
    ) -> list[LogRecord]:
        """Lines of these services in the window, oldest first, at most ``limit``.

        One query asks for ``limit`` lines; fewer means the window held no more. Otherwise
        the window is cut into :data:`~bot.sources.elasticsearch.SAMPLE_SLICES` equal
        slices and each gives its first ``limit / slices`` lines, so the sample spreads
        over the whole window; a quiet slice gives fewer, so a sample can hold fewer than
        ``limit``."""
        names = sorted(set(services))
        size = min(limit, self._config.max_logs)
        if not names or size <= 0 or end_ns <= start_ns:
            return []
        deadline = time.monotonic() + self._timeout
        query = logql.services_selector(self._config.service_label, names)
        first = self._query(query, start_ns, end_ns, size, deadline)
        if len(first) < size:
            return first
        slices = time_slices(start_ns, end_ns, min(SAMPLE_SLICES, size))
        per_slice = max(1, size // len(slices))
        sample: list[LogRecord] = []
        for lo, hi in slices:
            sample += self._query(query, lo, hi, per_slice, deadline)
        return sample

    # --- queries ----------------------------------------------------------------------------

    def _each_batch(
        self,
        ids: Sequence[str],
        query_of: Callable[[Sequence[str]], str],
        start_ns: int,
        end_ns: int,
        size: int,
        deadline: float,
    ) -> list[LogRecord]:
        found: list[LogRecord] = []
        for i in range(0, len(ids), IDS_PER_QUERY):
            found += self._query(query_of(ids[i : i + IDS_PER_QUERY]), start_ns, end_ns, size, deadline)
        return found

    def _query(self, query: str, start_ns: int, end_ns: int, limit: int, deadline: float) -> list[LogRecord]:
        """The lines of one log query, oldest first, cut to ``[start, end)``."""
        params = {
            "query": query,
            "start": str(start_ns),
            "end": str(end_ns),
            "limit": str(limit),
            "direction": "forward",
        }
        answer = self._get(params, deadline)
        data = answer.get("data")
        if answer.get("status") != "success" or not isinstance(data, Mapping):
            raise DataSourceError(self._source, query, f"not a query answer: status {answer.get('status')!r}")
        if data.get("resultType") != "streams":
            raise DataSourceError(self._source, query, f"answered {data.get('resultType')!r}, not streams")
        records = [r for r in self._records(data.get("result")) if start_ns <= r.time_ns < end_ns]
        return _oldest(records, limit)

    def _get(self, params: Mapping[str, str], deadline: float) -> dict[str, Any]:
        query = params["query"]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DataSourceError(self._source, query, f"no answer within {self._timeout:g}s")
        try:
            with self._http.stream("GET", QUERY_RANGE, params=params, timeout=remaining) as response:
                body = self._read(response, query, deadline)
        except httpx.TimeoutException as exc:
            raise DataSourceError(self._source, query, f"no answer within {self._timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise DataSourceError(self._source, query, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            detail = body[:300].decode(errors="replace").strip() or response.reason_phrase
            raise DataSourceError(self._source, query, f"HTTP {response.status_code}: {detail}")
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise DataSourceError(self._source, query, "the answer is not JSON") from exc
        if not isinstance(answer, dict):
            raise DataSourceError(self._source, query, "the answer is not a JSON object")
        return answer

    def _read(self, response: httpx.Response, query: str, deadline: float) -> bytes:
        """The body, up to ``max_response_bytes``, within the call's deadline."""
        cap = self._config.max_response_bytes
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise DataSourceError(
                    self._source, query, f"the answer passed {cap} bytes (sources.loki.max_response_bytes)"
                )
            if time.monotonic() > deadline:
                raise DataSourceError(self._source, query, f"no answer within {self._timeout:g}s")
            chunks.append(chunk)
        return b"".join(chunks)

    # --- entries ------------------------------------------------------------------------------

    def _records(self, result: Any) -> Iterator[LogRecord]:
        """Entries to records; an entry without a readable time or line is skipped."""
        for stream in result if isinstance(result, list) else []:
            if not isinstance(stream, Mapping):
                continue
            labels = _strings(stream.get("stream"))
            for entry in stream.get("values") or []:
                record = self._record(labels, entry)
                if record is not None:
                    yield record

    def _record(self, stream_labels: Mapping[str, str], entry: Any) -> LogRecord | None:
        if not isinstance(entry, list) or len(entry) < 2 or not isinstance(entry[1], str):
            return None
        try:
            time_ns = int(entry[0])
        except (TypeError, ValueError):
            return None
        labels = dict(stream_labels)
        if len(entry) > 2 and isinstance(entry[2], Mapping):
            labels.update(_strings(entry[2].get("structuredMetadata")))
            labels.update(_strings(entry[2].get("parsed")))
        config = self._config
        service = labels.get(config.service_label) or UNKNOWN_SERVICE
        instance = _first(labels, (config.instance_label, *INSTANCE_FALLBACKS))
        level = _first(labels, SEVERITY_LABELS) or ""
        resource: dict[str, Any] = {"service.name": service}
        if instance:
            resource["service.instance.id"] = instance
        trace_id = labels.get(config.trace_id_label)
        span_id = _first(labels, SPAN_ID_LABELS)
        return LogRecord(
            time_ns=time_ns,
            service=service,
            body=entry[1],
            severity_text=level,
            severity_number=severity_number(level),
            trace_id=trace_id.lower() if trace_id else None,
            span_id=span_id.lower() if span_id else None,
            instance=instance,
            resource=resource,
        )


# --- helpers -----------------------------------------------------------------------------------


def _strings(value: Any) -> dict[str, str]:
    """A label map as Loki writes it (strings to strings); anything else is left out."""
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _first(labels: Mapping[str, str], names: Sequence[str]) -> str | None:
    return next((labels[n] for n in names if labels.get(n)), None)


def _oldest(records: list[LogRecord], limit: int) -> list[LogRecord]:
    """Oldest first across streams (Loki orders within each stream only), at most ``limit``."""
    records.sort(key=lambda r: r.time_ns)
    return records[:limit]


def _with_trace_id(record: LogRecord, trace_ids: Sequence[str]) -> LogRecord:
    """A line found by its text gets the first of the ids it contains."""
    if record.trace_id is None:
        text = record.body.lower()
        record.trace_id = next((t for t in trace_ids if t in text), None)
    return record
