"""Traces from Grafana Tempo, through its HTTP query API.

A trace by id is ``GET /api/traces/<id>``, answered as OTLP JSON, which is decoded by the
collector's own OTLP decoder (``bot.telemetry.otlp.decode_traces``) and made a trace by
``bot.telemetry.assembly``, as the store's and Jaeger's are, so a Tempo span and an
ingested span are the same span, and their traces the same trace. Tempo's JSON is
"mostly compatible" OTLP, and the differences are undone first: the resource spans sit
under ``batches`` (``/api/traces`` of Tempo 1.x and 2.x), under ``resourceSpans``, or
inside ``{"trace": {...}}`` (the v2 answer); ids are base64, because Tempo's marshaller
writes bytes so, where OTLP JSON wants hex; and data from Tempo 1.x may still say
``instrumentationLibrarySpans``. We ask for JSON rather than protobuf (which Tempo also
offers) because every version answers it the same way, and a wrong shape reads as an
error instead of as empty bytes.

A search is ``GET /api/search?q=<TraceQL>&start=&end=&limit=`` (unix seconds) and answers
trace summaries (``traceID``, ``rootServiceName``, ``startTimeUnixNano`` ...), newest
taken first here, after which each trace is fetched by id. The TraceQL holds one spanset
per condition joined by ``&&``, which is "the trace has a span of the service *and* a span
with an error", not "one span that is both": the error of a bad checkout is often in a
service below the entry one. ``service`` matches any span of that service (Tempo has no
root-service condition in every version). A journey goes into TraceQL only when its
name is carried by an attribute (``journey_attribute``, e.g. ``journey.name``); otherwise
it is recognised after fetching by the :class:`JourneyMatcher`, and a caller should then
pass the journey's root service to narrow the search. ``error=False`` cannot be said in
TraceQL (no spanset negation), so it, like the journey, is applied to the fetched
traces; such filters can leave fewer than ``limit`` traces.

A multi-tenant Tempo wants the tenant in ``X-Scope-OrgID`` on every request
(``sources.tempo.tenant``); without it, it answers 401 "no org id".
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import orjson

from bot.settings import SourceCredentials
from bot.sources.config import TempoConfig
from bot.sources.http import json_client
from bot.telemetry.assembly import TraceAssembly
from bot.telemetry.journeys import JourneyMatcher
from bot.telemetry.otlp import decode_traces
from correlators.errors import DataSourceError, MalformedPayload
from correlators.model import Trace

log = logging.getLogger(__name__)

_HEX_ID = re.compile(r"[0-9a-fA-F]{16}|[0-9a-fA-F]{32}")
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")


class TempoTraceSource:
    """A :class:`~bot.sources.base.TraceSource` over Tempo's query frontend."""

    name = "tempo"

    def __init__(
        self,
        config: TempoConfig,
        credentials: SourceCredentials | None = None,
        *,
        matcher: JourneyMatcher | None = None,
        journey_attribute: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._matcher = matcher
        self._assembly = TraceAssembly(matcher)
        self._journey_attribute = journey_attribute
        self._timeout = timeout
        self._source = f"tempo {config.url}"
        token = (credentials or SourceCredentials()).tempo_token
        tenant = {"X-Scope-OrgID": config.tenant} if config.tenant else None
        self._http = json_client(config.url, token, timeout, tenant)

    def close(self) -> None:
        self._http.close()

    # --- the TraceSource protocol ----------------------------------------------------------

    def get_traces(self, trace_ids: Sequence[str]) -> list[Trace]:
        """One request per id; 404 ("trace not found") leaves the id out. All requests
        share one deadline."""
        deadline = time.monotonic() + self._timeout
        found = []
        for trace_id in dict.fromkeys(t.lower().zfill(32) for t in trace_ids):
            trace = self._fetch(trace_id, deadline)
            if trace is not None:
                found.append(trace)
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
        """Search with TraceQL, then fetch the hits newest first until ``limit`` traces
        pass the filters TraceQL could not hold (see the module docstring)."""
        if limit <= 0 or end_ns <= start_ns:
            return []
        query = traceql(
            service=service,
            journey=journey if self._journey_attribute else None,
            journey_attribute=self._journey_attribute,
            error=error is True,
        )
        params = search_params(query, start_ns, end_ns, limit)
        deadline = time.monotonic() + self._timeout
        answer = self._get("/api/search", params, f"search {params}", deadline)
        summaries = sorted(
            (t for t in answer.get("traces") or [] if t.get("traceID")),
            key=lambda t: int(t.get("startTimeUnixNano") or 0),
            reverse=True,
        )
        found: list[Trace] = []
        for summary in summaries:
            trace = self._fetch(str(summary["traceID"]).lower().zfill(32), deadline)
            if trace is not None and self._wanted(trace, journey, error, start_ns, end_ns):
                found.append(trace)
                if len(found) == limit:
                    break
        return found

    def _wanted(
        self, trace: Trace, journey: str | None, error: bool | None, start_ns: int, end_ns: int
    ) -> bool:
        if not start_ns <= trace.start_ns < end_ns:
            return False
        if journey is not None and self._matcher is not None and trace.journey != journey:
            return False
        return error is None or trace.has_error == error

    # --- HTTP -------------------------------------------------------------------------------

    def _fetch(self, trace_id: str, deadline: float) -> Trace | None:
        what = f"trace {trace_id}"
        answer = self._get(f"/api/traces/{trace_id}", {}, what, deadline, missing_ok=True)
        if answer is None:
            return None
        try:
            decoded = decode_traces(orjson.dumps(otlp_json(answer)), "json")
        except MalformedPayload as exc:
            raise DataSourceError(self._source, what, f"not an OTLP trace: {exc}") from exc
        if decoded.rejected:
            log.warning("%s: %s: %d spans rejected: %s", self._source, what, decoded.rejected, decoded.errors)
        spans = [s for s in decoded.items if s.trace_id == trace_id]
        return self._assembly.trace(trace_id, spans) if spans else None

    def _get(
        self, path: str, params: Mapping[str, str], what: str, deadline: float, *, missing_ok: bool = False
    ) -> Any:
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
        if response.status_code != 200:
            detail = response.text[:300].strip() or response.reason_phrase
            raise DataSourceError(self._source, what, f"HTTP {response.status_code}: {detail}")
        try:
            body = response.json()
        except ValueError as exc:
            raise DataSourceError(self._source, what, "the answer is not JSON") from exc
        if not isinstance(body, dict):
            raise DataSourceError(self._source, what, "the answer is not a JSON object")
        return body


# --- queries -------------------------------------------------------------------------------


def traceql(*, service: str | None, journey: str | None, journey_attribute: str | None, error: bool) -> str:
    """The TraceQL of a search: one spanset per condition, joined by ``&&``; ``{ }`` (every
    trace) when there is none."""
    spansets = []
    if service:
        spansets.append(f"{{ resource.service.name = {_string(service)} }}")
    if journey and journey_attribute:
        spansets.append(f"{{ span.{_attribute(journey_attribute)} = {_string(journey)} }}")
    if error:
        spansets.append("{ status = error }")
    return " && ".join(spansets) or "{ }"


def search_params(query: str, start_ns: int, end_ns: int, limit: int) -> dict[str, str]:
    """``start``/``end`` in whole unix seconds, widened to cover the window (Tempo wants
    ``end`` after ``start``)."""
    start_s = start_ns // 1_000_000_000
    end_s = max(-(-end_ns // 1_000_000_000), start_s + 1)
    return {"q": query, "start": str(start_s), "end": str(end_s), "limit": str(limit)}


def _string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _attribute(name: str) -> str:
    """An attribute name as TraceQL reads it; quoted when it holds more than name characters."""
    return name if _PLAIN_NAME.fullmatch(name) else _string(name)


# --- Tempo's JSON to OTLP JSON -----------------------------------------------------------


def otlp_json(answer: Mapping[str, Any]) -> dict[str, Any]:
    """Any of Tempo's trace answers as an ExportTraceServiceRequest in OTLP JSON."""
    inner = answer.get("trace")
    body = inner if isinstance(inner, Mapping) else answer
    batches = body.get("resourceSpans") or body.get("batches") or []
    return {"resourceSpans": [_resource_spans(b) for b in batches if isinstance(b, Mapping)]}


def _resource_spans(batch: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in batch.items() if k != "instrumentationLibrarySpans"}
    scopes = batch.get("scopeSpans") or batch.get("instrumentationLibrarySpans") or []
    out["scopeSpans"] = [_scope_spans(s) for s in scopes if isinstance(s, Mapping)]
    return out


def _scope_spans(scope: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in scope.items() if k not in ("instrumentationLibrary", "spans")}
    if "scope" not in out and isinstance(scope.get("instrumentationLibrary"), Mapping):
        out["scope"] = scope["instrumentationLibrary"]
    out["spans"] = [_hex_ids(span) for span in scope.get("spans") or []]
    return out


def _hex_ids(node: Any) -> Any:
    """Ids in hex, as OTLP JSON has them, whether Tempo wrote hex or base64 (which cannot
    be confused: base64 of 8 or 16 bytes is 12 or 24 characters, hex is 16 or 32)."""
    if isinstance(node, Mapping):
        return {k: _id(v) if k in _ID_KEYS else _hex_ids(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_hex_ids(item) for item in node]
    return node


def _id(value: Any) -> Any:
    if not isinstance(value, str) or not value or _HEX_ID.fullmatch(value):
        return value
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return value  # the decoder rejects the span, with a reason
