"""Traces from Jaeger, through the HTTP query API the Jaeger UI itself calls.

``GET /api/traces/{id}`` answers one trace and 404 when it has none;
``GET /api/traces?service=&start=&end=&limit=&tags=`` searches, with times in
microseconds and ``tags`` a JSON map. Both answer ``{"data": [trace, ...], "errors": ...}``
where a trace is ``{traceID, spans, processes}`` and each span names its process (the
service and its tags) by id. This API is not versioned by Jaeger but has kept this shape
since 1.x, and Jaeger 2 serves it unchanged.

Jaeger searches by service, always: a search without one is refused. ``find_traces``
therefore needs ``service``; when the caller only knows the journey, it passes the
journey's root service (``journeys[].match.root_service``), and the journey is then
recognised on each trace by the :class:`JourneyMatcher` given here. Without a matcher no
trace has a journey and the journey filter is not applied. Jaeger cannot ask for traces
*without* errors either, so ``error=False`` is applied to what comes back, as are the
window (by trace start) and the journey; those filters can leave fewer than ``limit``.

Spans come back in OpenTelemetry's terms: the ``span.kind``, ``otel.status_code``,
``otel.status_description``, ``error`` and ``otel.scope.*`` tags that Jaeger's OTLP
translation writes become kind, status and instrumentation scope; process tags are the
resource, read with the same conventions as the collector (``bot.telemetry.resource``).
Ids are zero-padded to 32 and 16 hex digits (Jaeger drops the leading zeros of a trace
id's high half). A trace is made of the spans by ``bot.telemetry.assembly``, as the store
and Tempo make theirs.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from bot.settings import SourceCredentials
from bot.sources.config import JaegerConfig
from bot.sources.http import json_client
from bot.telemetry.assembly import TraceAssembly
from bot.telemetry.journeys import JourneyMatcher
from bot.telemetry.resource import SCOPE_TAG_NAMES, UNKNOWN_SERVICE, facts_from_attributes, scope_from_tags
from correlators.errors import DataSourceError
from correlators.model import (
    Attributes,
    AttrValue,
    Span,
    SpanEvent,
    SpanKind,
    SpanLink,
    StatusCode,
    Trace,
)

log = logging.getLogger(__name__)

_KINDS = {
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
    "internal": SpanKind.INTERNAL,
}
_TRANSLATION_TAGS = frozenset(
    {"span.kind", "otel.status_code", "otel.status_description", "error", "internal.span.format"}
    | SCOPE_TAG_NAMES
)
"""Tags that Jaeger's OTLP translation adds for what the model holds in fields."""


class JaegerTraceSource:
    """A :class:`~bot.sources.base.TraceSource` over Jaeger query."""

    name = "jaeger"

    def __init__(
        self,
        config: JaegerConfig,
        credentials: SourceCredentials | None = None,
        *,
        matcher: JourneyMatcher | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._matcher = matcher
        self._assembly = TraceAssembly(matcher)
        self._timeout = timeout
        self._source = f"jaeger {config.url}"
        token = (credentials or SourceCredentials()).jaeger_token
        self._http = json_client(config.url, token, timeout)

    def close(self) -> None:
        self._http.close()

    # --- the TraceSource protocol ----------------------------------------------------------

    def get_traces(self, trace_ids: Sequence[str]) -> list[Trace]:
        """One request per id (the query API reads one trace per call); 404 is "not
        there" and leaves the id out. All requests share one deadline."""
        deadline = time.monotonic() + self._timeout
        found: list[Trace] = []
        for trace_id in dict.fromkeys(_trace_id(t) for t in trace_ids):
            answer = self._get(f"/api/traces/{trace_id}", {}, f"trace {trace_id}", deadline, missing_ok=True)
            if answer is not None:
                found += self._traces(answer)
        return found

    def find_traces(
        self,
        *,
        journey: str | None,
        service: str | None,
        start_ns: int,
        end_ns: int,
        limit: int,
        error: bool | None = None,
    ) -> list[Trace]:
        """Traces of ``service`` starting in ``[start_ns, end_ns)``, newest first; see the
        module docstring for why ``service`` is required and what is filtered here."""
        params = search_params(service or "", start_ns, end_ns, limit, error)
        what = f"search {params}"
        if not service:
            raise DataSourceError(
                self._source, what, "Jaeger searches by service: pass the journey's root service"
            )
        if limit <= 0 or end_ns <= start_ns:
            return []
        answer = self._get("/api/traces", params, what, time.monotonic() + self._timeout)
        traces = [
            t
            for t in self._traces(answer or {})
            if start_ns <= t.start_ns < end_ns and _wanted(t, journey if self._matcher else None, error)
        ]
        traces.sort(key=lambda t: t.start_ns, reverse=True)
        return traces[:limit]

    # --- HTTP -------------------------------------------------------------------------------

    def _get(
        self, path: str, params: Mapping[str, str], what: str, deadline: float, *, missing_ok: bool = False
    ) -> dict[str, Any] | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DataSourceError(self._source, what, f"no answer within {self._timeout:g}s")
        try:
            response = self._http.get(path, params=params, timeout=remaining)
        except httpx.TimeoutException as exc:
            raise DataSourceError(self._source, what, f"no answer within {self._timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise DataSourceError(self._source, what, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == 404 and missing_ok:
            return None
        body = _json(response)
        if response.status_code != 200 or not isinstance(body, dict):
            raise DataSourceError(self._source, what, _error_text(response, body))
        if body.get("errors"):
            log.warning("%s: %s answered with errors: %s", self._source, what, body["errors"])
        return body

    def _traces(self, answer: Mapping[str, Any]) -> list[Trace]:
        out = []
        for data in answer.get("data") or []:
            spans = spans_from_jaeger(data)
            if spans:
                out.append(self._assembly.trace(spans[0].trace_id, spans))
        return out


def search_params(service: str, start_ns: int, end_ns: int, limit: int, error: bool | None) -> dict[str, str]:
    """The query string of a search: times in whole microseconds (the window widened to
    them), ``tags={"error":"true"}`` for bad traces (Jaeger cannot search for good ones)."""
    params = {
        "service": service,
        "start": str(start_ns // 1000),
        "end": str(-(-end_ns // 1000)),
        "limit": str(max(0, limit)),
    }
    if error:
        params["tags"] = json.dumps({"error": "true"}, separators=(",", ":"))
    return params


def _wanted(trace: Trace, journey: str | None, error: bool | None) -> bool:
    if journey is not None and trace.journey != journey:
        return False
    return error is None or trace.has_error == error


# --- Jaeger's model to ours --------------------------------------------------------------


def spans_from_jaeger(data: Mapping[str, Any]) -> list[Span]:
    """The spans of one trace of the UI model, as answered (orphans are marked when they
    are made a trace, ``bot.telemetry.assembly``)."""
    processes = {pid: _resource(p) for pid, p in (data.get("processes") or {}).items()}
    return [_span(raw, processes) for raw in data.get("spans") or []]


def _resource(process: Mapping[str, Any]) -> Attributes:
    attrs = tags_to_attributes(process.get("tags") or [])
    attrs["service.name"] = process.get("serviceName") or UNKNOWN_SERVICE
    return attrs


def _span(raw: Mapping[str, Any], processes: Mapping[str, Attributes]) -> Span:
    trace_id = _trace_id(raw.get("traceID", ""))
    resource = processes.get(raw.get("processID", "")) or _resource(raw.get("process") or {})
    facts = facts_from_attributes(resource)
    tags = tags_to_attributes(raw.get("tags") or [])
    parent, links = _references(trace_id, raw)
    start_ns = int(raw.get("startTime", 0)) * 1000
    status, message = _status(tags)
    return Span(
        trace_id=trace_id,
        span_id=_span_id(raw.get("spanID", "")),
        parent_span_id=parent,
        service=facts.service,
        name=raw.get("operationName", ""),
        start_ns=start_ns,
        end_ns=start_ns + int(raw.get("duration", 0)) * 1000,
        kind=_KINDS.get(str(tags.get("span.kind", "")).lower(), SpanKind.INTERNAL),
        status=status,
        status_message=message,
        instance=facts.instance or _text(resource.get("hostname")),
        service_version=facts.version,
        region=facts.region,
        zone=facts.zone,
        language=facts.language or _jaeger_client_language(resource),
        attributes={k: v for k, v in tags.items() if k not in _TRANSLATION_TAGS},
        resource=resource,
        events=[_event(e) for e in raw["logs"]] if raw.get("logs") else (),
        links=links or (),  # empty as the OTLP decoders leave it: one shared tuple
        scope=scope_from_tags(tags),
    )


def _references(trace_id: str, raw: Mapping[str, Any]) -> tuple[str | None, list[SpanLink]]:
    """The parent is the first CHILD_OF reference; failing that a FOLLOWS_FROM in the same
    trace (OpenTracing's async child). Other references are links, as OTLP's links are
    written as FOLLOWS_FROM."""
    refs = [r for r in raw.get("references") or [] if r.get("spanID")]
    parent_ref = next((r for r in refs if r.get("refType") == "CHILD_OF"), None)
    if parent_ref is None:
        parent_ref = next(
            (
                r
                for r in refs
                if r.get("refType") == "FOLLOWS_FROM" and _trace_id(r.get("traceID", "")) == trace_id
            ),
            None,
        )
    links = [
        SpanLink(_trace_id(r.get("traceID", "")), _span_id(r["spanID"])) for r in refs if r is not parent_ref
    ]
    if parent_ref is not None:
        return _span_id(parent_ref["spanID"]), links
    legacy = raw.get("parentSpanID")
    parent = _span_id(legacy) if isinstance(legacy, str) and legacy.strip("0") else None
    return parent, links


def _status(tags: Mapping[str, AttrValue]) -> tuple[StatusCode, str]:
    code = str(tags.get("otel.status_code", "")).upper()
    message = _text(tags.get("otel.status_description")) or ""
    if code == "ERROR" or (not code and tags.get("error") in (True, "true")):
        return StatusCode.ERROR, message
    if code == "OK":
        return StatusCode.OK, message
    return StatusCode.UNSET, message


def _event(raw: Mapping[str, Any]) -> SpanEvent:
    fields = tags_to_attributes(raw.get("fields") or [])
    name = fields.pop("event", None)
    return SpanEvent(str(name) if name is not None else "log", int(raw.get("timestamp", 0)) * 1000, fields)


def tags_to_attributes(tags: Sequence[Mapping[str, Any]]) -> Attributes:
    """Jaeger's typed key/values as attributes; binary values (base64 in the JSON) as hex,
    as the collector writes OTLP bytes."""
    out: Attributes = {}
    for tag in tags:
        value = tag.get("value")
        kind = tag.get("type", "string")
        if kind == "binary" and isinstance(value, str):
            value = base64.b64decode(value).hex()
        elif kind == "int64" and isinstance(value, str):
            value = int(value)
        elif kind == "float64" and isinstance(value, str):
            value = float(value)
        out[str(tag.get("key", ""))] = value
    return out


def _jaeger_client_language(resource: Mapping[str, AttrValue]) -> str | None:
    """Jaeger's own clients report ``jaeger.version`` as ``Go-2.30.0``, ``Python-4.8.0``."""
    version = resource.get("jaeger.version")
    if isinstance(version, str) and "-" in version:
        return version.split("-", 1)[0].lower()
    return None


def _trace_id(value: str) -> str:
    return value.lower().zfill(32)


def _span_id(value: str) -> str:
    return value.lower().zfill(16)


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_text(response: httpx.Response, body: Any) -> str:
    """``HTTP 500: <Jaeger's error messages>``, or the start of a body that is not JSON."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        detail = "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e) for e in errors)
    else:
        detail = response.text[:200].strip() or response.reason_phrase
    return f"HTTP {response.status_code}: {detail}"
