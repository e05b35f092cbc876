"""GET /api/traces/{id}, GET /api/traces?..., GET /api/sessions/{id}.

Blocking store calls run in Starlette's thread pool so a slow query never stalls ingest,
which shares the event loop. Each read is written to the audit trail (``bot.audit``):
a trace read when it was found, a search with how many traces it returned, a session
(by the hash of its key, which may be a person's id) whatever it found.

What a reader sees is its scope's (``bot.policy``): a trace of another journey, or of
none for a scoped reader, answers 404 as a trace not kept does; a search and a session
list only the traces in scope.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.api.auth import admitted, not_found
from bot.audit import AuditTrail
from bot.keys.readers import Readers, audit_detail
from bot.policy import Principal, may_read
from bot.store import Store, TraceQuery
from bot.telemetry.redact import Redactor
from bot.timeparse import parse_time_ns
from correlators.model import MAX_TIME_NS, SCHEMA_VERSION, log_to_dict, trace_to_dict

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_LIMIT = 1000

Handler = Callable[[Request], Awaitable[Response]]


class BadQuery(ValueError):
    """A query parameter we cannot use; becomes a 400 with the reason."""


def query_routes(store: Store, redactor: Redactor, readers: Readers, audit: AuditTrail) -> list[Route]:
    async def audited(who: Principal, action: str, subject: str, subject_id: str = "", **detail: int) -> None:
        await run_in_threadpool(
            audit.record, who.actor, "api", action, subject, subject_id, **detail, **audit_detail(who)
        )

    def guarded(handler: Callable[[Request, Principal], Awaitable[Response]]) -> Handler:
        async def wrapper(request: Request) -> Response:
            who = await admitted(request, readers)
            if isinstance(who, Response):
                return who
            try:
                return await handler(request, who)
            except BadQuery as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)

        return wrapper

    async def get_trace(request: Request, who: Principal) -> Response:
        trace_id = request.path_params["trace_id"].lower()
        if not _TRACE_ID.match(trace_id):
            raise BadQuery("trace id must be 32 hex characters")
        trace = await run_in_threadpool(store.get_trace, trace_id)
        if trace is None or not may_read(who, trace.journey):
            return not_found(f"trace {trace_id}")
        body = trace_to_dict(trace)
        logs = await run_in_threadpool(store.logs_for_trace, trace_id)
        body["logs"] = [log_to_dict(record) for record in logs]
        await audited(who, "read", "trace", trace_id)
        return JSONResponse(body)

    async def find_traces(request: Request, who: Principal) -> Response:
        query = dataclasses.replace(trace_query(dict(request.query_params)), journeys=who.journeys)
        found = await run_in_threadpool(store.find_traces, query)
        await audited(who, "search", "trace", results=len(found))
        return JSONResponse(_summaries(found))

    async def get_session(request: Request, who: Principal) -> Response:
        key = request.path_params["key"]
        # enduser.id is stored hashed; a caller asks with the raw id, so look up both.
        keys = dict.fromkeys([key, redactor.hash_value(key)])
        found = []
        for candidate in keys:
            found.extend(await run_in_threadpool(store.session, candidate))
        unique = {summary.trace_id: summary for summary in found if may_read(who, summary.journey)}
        ordered = sorted(unique.values(), key=lambda s: s.start_ns)
        await audited(who, "read", "session", key, traces=len(ordered))
        return JSONResponse({"session": key, **_summaries(ordered)})

    return [
        Route("/api/traces/{trace_id}", guarded(get_trace), methods=["GET"]),
        Route("/api/traces", guarded(find_traces), methods=["GET"]),
        Route("/api/sessions/{key}", guarded(get_session), methods=["GET"]),
    ]


def trace_query(params: dict[str, str]) -> TraceQuery:
    """Turn query parameters into a TraceQuery, or raise BadQuery naming the parameter."""
    known = {"journey", "service", "start", "end", "min_duration_ms", "error", "limit"}
    unknown = sorted(set(params) - known - {"token"})
    if unknown:
        raise BadQuery(f"unknown parameter(s) {', '.join(unknown)}; use {', '.join(sorted(known))}")
    return TraceQuery(
        journey=params.get("journey") or None,
        service=params.get("service") or None,
        start_ns=_time(params, "start"),
        end_ns=_time(params, "end"),
        min_duration_ns=_duration_ns(params.get("min_duration_ms")),
        error=_boolean(params.get("error")),
        limit=_limit(params.get("limit")),
    )


def _summaries(found: list[Any]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "traces": [dataclasses.asdict(summary) for summary in found],
    }


def _time(params: dict[str, str], name: str) -> int | None:
    if not params.get(name):
        return None
    try:
        return parse_time_ns(params[name])
    except ValueError as exc:
        raise BadQuery(f"{name}: {exc}") from None


def _duration_ns(text: str | None) -> int | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadQuery("min_duration_ms must be a number of milliseconds") from None
    if not math.isfinite(value) or not 0 <= value * 1_000_000 <= MAX_TIME_NS:
        raise BadQuery("min_duration_ms must be a number of milliseconds from 0 to 9e12")
    return int(value * 1_000_000)


def _boolean(text: str | None) -> bool | None:
    if text is None or text == "":
        return None
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise BadQuery("error must be true or false")


def _limit(text: str | None) -> int:
    if not text:
        return 20
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadQuery(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)
