"""The Jaeger trace source, against a faithful fake of Jaeger query's HTTP API.

Jaeger cannot run here: no package registry we can reach ships it. So these tests run the
source (over httpx) against ``JaegerFake`` (tests/fixtures/fake_backends.py), a local HTTP
server on a free loopback port that answers ``/api/traces/{id}`` and ``/api/traces?...``
with the UI model's JSON (``{"data": [{traceID, spans, processes}], "errors": null}``),
404 for a trace it does not have and 400 for a search without a service, as Jaeger does.
Each test asserts what we made of the answer and the query string we sent.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from pydantic import SecretStr

from bot.config import AppConfig
from bot.settings import SourceCredentials
from bot.sources.config import JaegerConfig
from bot.sources.jaeger import JaegerTraceSource
from bot.telemetry.journeys import JourneyMatcher
from correlators.errors import DataSourceError
from correlators.model import SpanKind, StatusCode
from tests.fixtures.fake_backends import (
    JaegerFake,
    Reply,
    jaeger_data,
    jaeger_error,
    jaeger_span,
    jaeger_trace,
    render_tree,
)

US = 1_000
START_US = 1_714_564_800_000_000  # 2024-05-01T12:00:00Z
START = START_US * US
END = START + 15 * 60 * 1_000_000_000
MATCHER = JourneyMatcher(
    AppConfig.model_validate(
        {
            "journeys": [
                {"name": "checkout", "match": {"root_service": "frontend", "operation": "POST /checkout*"}},
                {"name": "search", "match": {"root_service": "frontend", "operation": "GET /search*"}},
            ]
        }
    )
)
FRONTEND = (
    "frontend",
    {
        "service.instance.id": "frontend-6b7c",
        "service.version": "2.3.1",
        "cloud.availability_zone": "eu-west-1a",
        "telemetry.sdk.language": "python",
    },
)
PAYMENTS = ("payments", {"hostname": "payments-0", "jaeger.version": "Go-2.30.0", "ip": "10.0.3.7"})


def checkout_trace(
    trace_id: str = "4bf92f3577b34da6", offset_us: int = 0, op: str = "POST /checkout"
) -> dict[str, Any]:
    """A checkout whose payment failed, as Jaeger shows one recorded by OTel SDKs (p1) and
    by a Jaeger client (p2); Jaeger writes a 64-bit trace id without the zero high half."""
    t = START_US + offset_us
    spans = [
        jaeger_span(
            trace_id,
            "00000000000000a1",
            op,
            t,
            250_000,
            tags={
                "span.kind": "server",
                "http.route": "/checkout",
                "otel.status_code": "ERROR",
                "otel.status_description": "payment failed",
                "error": True,
                "session.id": "sess-42",
                "internal.span.format": "otlp",
            },
        ),
        jaeger_span(
            trace_id,
            "00000000000000a2",
            "call payments",
            t + 10_000,
            200_000,
            parent="00000000000000a1",
            tags={"span.kind": "client"},
        ),
        jaeger_span(
            trace_id,
            "00000000000000a3",
            "charge",
            t + 20_000,
            180_000,
            process="p2",
            parent="00000000000000a2",
            tags={"span.kind": "server", "error": True},
            logs=[
                {"timestamp": t + 150_000, "fields": {"event": "exception", "exception.type": "CardDeclined"}}
            ],
        ),
        jaeger_span(
            trace_id, "00000000000000a4", "audit", t + 30_000, 5_000, process="p2", parent="00000000000000ff"
        ),
    ]
    return jaeger_trace(spans, {"p1": FRONTEND, "p2": PAYMENTS})


def healthy_trace(trace_id: str, offset_us: int, op: str = "POST /checkout") -> dict[str, Any]:
    span = jaeger_span(
        trace_id, "00000000000000b1", op, START_US + offset_us, 40_000, tags={"span.kind": "server"}
    )
    return jaeger_trace([span], {"p1": FRONTEND})


def source(fake: JaegerFake, **kwargs: Any) -> JaegerTraceSource:
    return JaegerTraceSource(JaegerConfig(url=fake.url), kwargs.pop("credentials", None), **kwargs)


# --- by id ----------------------------------------------------------------------------------


def test_a_trace_by_id_becomes_the_model_with_parents_kinds_status_and_resource(
    jaeger_fake: JaegerFake,
) -> None:
    jaeger_fake.add_trace(checkout_trace())

    (trace,) = source(jaeger_fake, matcher=MATCHER).get_traces(["00000000000000004bf92f3577b34da6"])

    assert render_tree(trace.spans) == "\n".join(
        [
            "frontend POST /checkout (server, error)",
            "  frontend call payments (client)",
            "    payments charge (server, error)",
            "payments audit (internal, orphan)",
        ]
    )
    assert trace.trace_id == "00000000000000004bf92f3577b34da6"
    assert (trace.journey, trace.session_id) == ("checkout", "sess-42")
    root, client, charge, _audit = sorted(trace.spans, key=lambda s: s.start_ns)
    assert root.parent_span_id is None and client.parent_span_id == root.span_id
    assert (root.start_ns, root.end_ns) == (START, START + 250_000 * US)
    assert root.status_message == "payment failed"
    assert root.attributes == {"http.route": "/checkout", "session.id": "sess-42"}
    assert (root.instance, root.service_version, root.zone, root.language) == (
        "frontend-6b7c",
        "2.3.1",
        "eu-west-1a",
        "python",
    )
    assert (charge.instance, charge.language, charge.kind) == ("payments-0", "go", SpanKind.SERVER)
    assert charge.status is StatusCode.ERROR  # from error=true alone
    (event,) = charge.events
    assert (event.name, event.time_ns, event.attributes) == (
        "exception",
        START + 150_000 * US,
        {"exception.type": "CardDeclined"},
    )
    assert client.status is StatusCode.UNSET


def test_one_request_per_id_and_404_leaves_the_id_out(jaeger_fake: JaegerFake) -> None:
    jaeger_fake.add_trace(checkout_trace())

    traces = source(jaeger_fake).get_traces(
        ["4BF92F3577B34DA6", "0af7651916cd43dd8448eb211c80319c", "4bf92f3577b34da6"]
    )

    assert [t.trace_id for t in traces] == ["00000000000000004bf92f3577b34da6"]
    assert [r.path for r in jaeger_fake.requests] == [
        "/api/traces/00000000000000004bf92f3577b34da6",
        "/api/traces/0af7651916cd43dd8448eb211c80319c",
    ]
    assert jaeger_fake.requests[0].headers["accept"] == "application/json"


def test_references_other_than_the_parent_are_links(jaeger_fake: JaegerFake) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    span = jaeger_span(
        trace_id,
        "00000000000000c1",
        "consume",
        START_US,
        1_000,
        references=[
            {
                "refType": "FOLLOWS_FROM",
                "traceID": "5b8aa5a2d2c872e8321cf37308d69df2",
                "spanID": "051581bf3cb55c13",
            },
            {"refType": "CHILD_OF", "traceID": trace_id, "spanID": "00000000000000c0"},
        ],
    )
    jaeger_fake.add_trace(jaeger_trace([span], {"p1": FRONTEND}))

    ((consume,),) = [t.spans for t in source(jaeger_fake).get_traces([trace_id])]

    assert consume.parent_span_id == "00000000000000c0"
    assert [(ln.trace_id, ln.span_id) for ln in consume.links] == [
        ("5b8aa5a2d2c872e8321cf37308d69df2", "051581bf3cb55c13")
    ]


# --- search ---------------------------------------------------------------------------------


def test_a_search_sends_service_window_limit_and_the_error_tag(jaeger_fake: JaegerFake) -> None:
    answer = jaeger_data(
        [
            checkout_trace("1111111111111111", offset_us=1_000_000),
            checkout_trace("2222222222222222", offset_us=5_000_000),
            checkout_trace("3333333333333333", offset_us=3_000_000, op="GET /search"),
            checkout_trace("4444444444444444", offset_us=-60_000_000),  # started before the window
        ]
    )
    jaeger_fake.search(Reply(200, answer))

    traces = source(jaeger_fake, matcher=MATCHER).find_traces(
        journey="checkout", service="frontend", start_ns=START, end_ns=END + 1, limit=20, error=True
    )

    assert [t.trace_id[-4:] for t in traces] == ["2222", "1111"]  # newest first, checkout only
    (sent,) = jaeger_fake.requests
    assert sent.path == "/api/traces"
    assert {k: v for k, (v,) in sent.query.items()} == {
        "service": "frontend",
        "start": str(START_US),
        "end": str(END // US + 1),  # widened to the next whole microsecond
        "limit": "20",
        "tags": '{"error":"true"}',
    }
    assert json.loads(sent.param("tags") or "") == {"error": "true"}


def test_error_false_asks_without_tags_and_keeps_the_healthy_traces(jaeger_fake: JaegerFake) -> None:
    jaeger_fake.search(
        Reply(
            200,
            jaeger_data([checkout_trace("1111111111111111"), healthy_trace("2222222222222222", 2_000_000)]),
        )
    )

    traces = source(jaeger_fake).find_traces(
        journey=None, service="frontend", start_ns=START, end_ns=END, limit=1, error=False
    )

    assert [t.trace_id[-4:] for t in traces] == ["2222"]
    assert traces[0].journey is None  # no matcher, no journey
    assert "tags" not in jaeger_fake.requests[0].query


def test_a_search_without_a_service_is_refused_before_asking(jaeger_fake: JaegerFake) -> None:
    with pytest.raises(DataSourceError, match="root service"):
        source(jaeger_fake).find_traces(journey="checkout", service=None, start_ns=START, end_ns=END, limit=5)
    assert jaeger_fake.requests == []


# --- failures -------------------------------------------------------------------------------


def test_a_server_error_carries_jaegers_message_and_the_query(jaeger_fake: JaegerFake) -> None:
    jaeger_fake.search(jaeger_error(500, "elasticsearch: search_phase_execution_exception"))

    with pytest.raises(DataSourceError) as caught:
        source(jaeger_fake).find_traces(journey=None, service="frontend", start_ns=START, end_ns=END, limit=5)

    error = caught.value
    assert error.source == f"jaeger {jaeger_fake.url}"
    assert error.reason == "HTTP 500: elasticsearch: search_phase_execution_exception"
    assert "'service': 'frontend'" in error.query


def test_a_hanging_server_fails_within_the_timeout(jaeger_fake: JaegerFake) -> None:
    jaeger_fake.hang("GET", r"/api/traces/.*")

    began = time.monotonic()
    with pytest.raises(DataSourceError, match=r"no answer within 0\.3s"):
        source(jaeger_fake, timeout=0.3).get_traces(["4bf92f3577b34da6", "1111111111111111"])
    assert time.monotonic() - began < 1.5
    assert len(jaeger_fake.requests) == 1, "the deadline is shared: no second request after it passed"


def test_a_token_is_sent_as_a_bearer(jaeger_fake: JaegerFake) -> None:
    credentials = SourceCredentials(jaeger_token=SecretStr("t0k3n"))

    assert source(jaeger_fake, credentials=credentials).get_traces(["4bf92f3577b34da6"]) == []
    assert jaeger_fake.requests[0].headers["authorization"] == "Bearer t0k3n"
