"""Zipkin shared spans (issue 17): the client and server halves of one call carry one span
id, the server's with ``shared: true``; both are kept, the server half under the client
half, the server's own spans under it. Hand-built spans in the shape Brave reports them;
the end-to-end check runs against a real `journeywatch serve`."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from bot.telemetry.zipkin import decode_zipkin, server_half_id
from correlators.critical_path import critical_path
from correlators.model import SpanKind, Trace
from correlators.traces import assemble

TRACE = "5af7183fb1d4cf5f"
FULL_TRACE = TRACE.rjust(32, "0")
START_US = time.time_ns() // 1000 - 60_000_000  # a minute ago: inside what serve accepts
ROOT, SHARED, DB_CALL = "6b221d5bc9e6496c", "352bff9a74ca9ad2", "9f1a2b3c4d5e6f70"


def zipkin(
    span_id: str, parent: str | None, service: str, kind: str | None, start: int, took: int, **extra: Any
) -> dict[str, Any]:
    span = {
        "traceId": TRACE,
        "id": span_id,
        "name": f"{service} work",
        "timestamp": START_US + start,
        "duration": took,
        "localEndpoint": {"serviceName": service},
        **extra,
    }
    if parent:
        span["parentId"] = parent
    if kind:
        span["kind"] = kind
    return span


def frontend_half() -> list[dict[str, Any]]:
    return [
        zipkin(ROOT, None, "frontend", "SERVER", 0, 1000),
        zipkin(SHARED, ROOT, "frontend", "CLIENT", 100, 800),
    ]


def backend_half() -> list[dict[str, Any]]:
    return [
        zipkin(SHARED, ROOT, "backend", "SERVER", 150, 700, shared=True),
        zipkin(DB_CALL, SHARED, "backend", "CLIENT", 200, 500, remoteEndpoint={"serviceName": "postgres"}),
    ]


def decoded(*batches: list[dict[str, Any]]) -> dict[tuple[str, SpanKind], Any]:
    spans = [span for batch in batches for span in decode_zipkin(json.dumps(batch).encode()).items]
    return {(s.service, s.kind): s for s in spans}


def test_both_halves_are_kept_and_the_server_hangs_under_the_client() -> None:
    spans = decoded(frontend_half() + backend_half())
    client, server = spans[("frontend", SpanKind.CLIENT)], spans[("backend", SpanKind.SERVER)]
    assert client.span_id == SHARED and client.parent_span_id == ROOT
    assert server.span_id == server_half_id(FULL_TRACE, SHARED) != SHARED
    assert server.parent_span_id == SHARED
    assert spans[("backend", SpanKind.CLIENT)].parent_span_id == server.span_id, "the server's own call"

    spans_by_id = {s.span_id: s for s in spans.values()}
    tree = assemble(Trace(FULL_TRACE, list(spans.values())))
    assert not tree.orphans
    assert [(s.service, s.start_ns - START_US * 1000) for s in critical_path(tree)][:3] == [
        ("frontend", 0),
        ("frontend", 100_000),
        ("backend", 150_000),
    ]
    assert ("backend", "CLIENT") in {
        (s.service, spans_by_id[s.span_id].kind.name) for s in critical_path(tree)
    }


def test_halves_sent_apart_and_twice_get_the_same_ids() -> None:
    once = decoded(backend_half(), frontend_half())
    again = decoded(backend_half())
    assert once[("backend", SpanKind.SERVER)].span_id == again[("backend", SpanKind.SERVER)].span_id
    assert once[("backend", SpanKind.CLIENT)].parent_span_id == once[("backend", SpanKind.SERVER)].span_id


def test_a_span_without_the_flag_and_a_shared_client_keep_their_ids() -> None:
    spans = decoded(
        [
            zipkin(SHARED, ROOT, "backend", "SERVER", 0, 10),
            zipkin(ROOT, None, "x", "CLIENT", 0, 10, shared=True),
        ]
    )
    assert spans[("backend", SpanKind.SERVER)].span_id == SHARED
    assert spans[("x", SpanKind.CLIENT)].span_id == ROOT


def test_serve_keeps_both_services_of_a_shared_call(start_bot, keep_all_config) -> None:  # type: ignore[no-untyped-def]
    bot = start_bot(keep_all_config)
    with httpx.Client(base_url=bot.url, timeout=10) as client:
        for batch in (frontend_half(), backend_half()):
            answer = client.post(
                "/api/v2/spans", content=json.dumps(batch), headers={"content-type": "application/json"}
            )
            assert answer.status_code == 202
    trace = bot.wait_for_trace(FULL_TRACE, spans=4)
    assert sorted(trace["services"]) == ["backend", "frontend"]
    by_id = {s["span_id"]: s for s in trace["spans"]}
    server = by_id[server_half_id(FULL_TRACE, SHARED)]
    assert (server["service"], server["parent_span_id"]) == ("backend", SHARED)
    assert by_id[SHARED]["service"] == "frontend"


def test_zipkin_v1_gets_a_404_that_names_the_v2_route(start_bot, keep_all_config) -> None:  # type: ignore[no-untyped-def]
    """Old tracers post v1 to /api/v1/spans by default: they are told where v2 goes."""
    bot = start_bot(keep_all_config)
    answer = httpx.post(
        f"{bot.url}/api/v1/spans", content=b"[]", headers={"content-type": "application/json"}, timeout=10
    )
    assert answer.status_code == 404
    assert "send Zipkin v2 JSON to /api/v2/spans" in answer.text
