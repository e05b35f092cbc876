"""The Tempo trace source, against a faithful fake of Tempo's query frontend.

Tempo cannot run here: no package registry we can reach ships it. So these tests run the
source (over httpx) against ``TempoFake`` (tests/fixtures/fake_backends.py), a local HTTP
server on a free loopback port that answers ``/api/traces/<id>`` the way Tempo's JSON
marshaller writes a trace (``batches``, base64 ids, enum names; or the ``resourceSpans``
and v2 ``{"trace": ...}`` shapes), 404 ``trace not found``, and ``/api/search`` with
trace summaries. Each test asserts what we made of the answer and the TraceQL and
parameters we sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from bot.config import AppConfig
from bot.settings import SourceCredentials
from bot.sources.config import TempoConfig
from bot.sources.tempo import TempoTraceSource, otlp_json, traceql
from bot.telemetry.journeys import JourneyMatcher
from correlators.errors import DataSourceError
from correlators.model import Span, SpanKind, StatusCode
from tests.fixtures.fake_backends import (
    FakeServer,
    Reply,
    TempoFake,
    render_tree,
    tempo_search,
    tempo_trace,
)
from tests.spantree import TraceBuilder

MS = 1_000_000
START = 1_714_564_800 * 1_000_000_000  # 2024-05-01T12:00:00Z
END = START + 15 * 60 * 1_000_000_000
MATCHER = JourneyMatcher(
    AppConfig.model_validate(
        {
            "journeys": [
                {"name": "checkout", "match": {"root_service": "frontend", "operation": "POST /checkout"}}
            ]
        }
    )
)


def checkout(
    trace_id: str, at_ms: float = 0, *, error: bool = True, op: str = "POST /checkout"
) -> list[Span]:
    """frontend -> payments, the payment failing unless ``error=False``."""
    b = TraceBuilder(trace_id)
    t = (START // MS) + at_ms
    root = b.span("frontend", op, t, t + 120, kind=SpanKind.SERVER, error=error, **{"enduser.id": "u-7"})
    b.call(root, "payments", "charge", t + 10, t + 100, error=error)
    for span in b.spans:
        span.resource = {"service.instance.id": f"{span.service}-0", "cloud.availability_zone": "eu-west-1b"}
    return b.spans


def summary(trace_id: str, at_ms: float) -> dict[str, Any]:
    return {
        "traceID": trace_id.lstrip("0"),  # Tempo drops leading zeros in search results
        "rootServiceName": "frontend",
        "rootTraceName": "POST /checkout",
        "startTimeUnixNano": str(START + int(at_ms * MS)),
        "durationMs": 120,
    }


def source(fake: TempoFake, **kwargs: Any) -> TempoTraceSource:
    return TempoTraceSource(TempoConfig(url=fake.url), kwargs.pop("credentials", None), **kwargs)


TRACE_A = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_B = "00f067aa0ba902b7a3ce929d0e0e4736"
TRACE_C = "0af7651916cd43dd8448eb211c80319c"


# --- by id ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["batches", "resourceSpans", "trace"])
def test_a_trace_by_id_in_any_of_tempos_shapes(tempo_fake: TempoFake, shape: str) -> None:
    tempo_fake.add_trace(TRACE_A, tempo_trace(checkout(TRACE_A), shape=shape))

    (trace,) = source(tempo_fake, matcher=MATCHER).get_traces([TRACE_A.upper()])

    assert render_tree(trace.spans) == "\n".join(
        [
            "frontend POST /checkout (server, error)",
            "  frontend call payments (client, error)",
            "    payments charge (server, error)",
        ]
    )
    assert trace.trace_id == TRACE_A
    assert all(s.trace_id == TRACE_A and len(s.span_id) == 16 for s in trace.spans)
    assert (trace.journey, trace.user_id) == ("checkout", "u-7")
    charge = next(s for s in trace.spans if s.name == "charge")
    assert (charge.instance, charge.zone, charge.status) == ("payments-0", "eu-west-1b", StatusCode.ERROR)
    (sent,) = tempo_fake.requests
    assert (sent.path, sent.headers["accept"]) == (f"/api/traces/{TRACE_A}", "application/json")


def test_404_leaves_the_id_out_and_missing_parents_are_orphans(tempo_fake: TempoFake) -> None:
    spans = checkout(TRACE_A)
    tempo_fake.add_trace(TRACE_A, tempo_trace(spans[1:]))  # the root never arrived

    (trace,) = source(tempo_fake).get_traces([TRACE_A, TRACE_C])

    assert (
        render_tree(trace.spans)
        == "frontend call payments (client, error, orphan)\n  payments charge (server, error)"
    )
    assert [r.path for r in tempo_fake.requests] == [f"/api/traces/{TRACE_A}", f"/api/traces/{TRACE_C}"]


def test_tempo_1x_instrumentation_library_spans_are_read() -> None:
    """Tempo 1.x stored OTLP of before the rename to scope spans."""
    old = tempo_trace(checkout(TRACE_A))
    for batch in old["batches"]:
        batch["instrumentationLibrarySpans"] = [
            {"instrumentationLibrary": s["scope"], "spans": s["spans"]} for s in batch.pop("scopeSpans")
        ]
    converted = otlp_json(old)
    spans = [s for b in converted["resourceSpans"] for scope in b["scopeSpans"] for s in scope["spans"]]
    assert len(spans) == 3
    assert {s["traceId"] for s in spans} == {TRACE_A}


# --- search ---------------------------------------------------------------------------------


def test_traceql_holds_one_spanset_per_condition() -> None:
    assert traceql(service="frontend", journey=None, journey_attribute=None, error=True) == (
        '{ resource.service.name = "frontend" } && { status = error }'
    )
    assert traceql(service=None, journey="checkout", journey_attribute="journey.name", error=False) == (
        '{ span.journey.name = "checkout" }'
    )
    assert traceql(service='we"ird\\svc', journey="j", journey_attribute="my journey", error=False) == (
        '{ resource.service.name = "we\\"ird\\\\svc" } && { span."my journey" = "j" }'
    )
    assert traceql(service=None, journey=None, journey_attribute=None, error=False) == "{ }"


def test_a_search_sends_traceql_and_the_window_then_fetches_newest_first(tempo_fake: TempoFake) -> None:
    for trace_id, at in ((TRACE_A, 1000), (TRACE_B, 9000), (TRACE_C, 5000)):
        tempo_fake.add_trace(trace_id, tempo_trace(checkout(trace_id, at)))
    tempo_fake.search(
        Reply(200, tempo_search([summary(TRACE_A, 1000), summary(TRACE_B, 9000), summary(TRACE_C, 5000)]))
    )

    traces = source(tempo_fake, journey_attribute="journey.name").find_traces(
        journey="checkout", service="frontend", start_ns=START + 1, end_ns=END, limit=2, error=True
    )

    assert [t.trace_id for t in traces] == [TRACE_B, TRACE_C]
    search, *fetches = tempo_fake.requests
    assert search.path == "/api/search"
    assert search.param("q") == (
        '{ resource.service.name = "frontend" } && { span.journey.name = "checkout" } && { status = error }'
    )
    assert (search.param("start"), search.param("end"), search.param("limit")) == (
        str(START // 1_000_000_000),
        str(END // 1_000_000_000),
        "2",
    )
    assert [r.path for r in fetches] == [f"/api/traces/{TRACE_B}", f"/api/traces/{TRACE_C}"]


def test_what_traceql_cannot_say_is_filtered_after_fetching(tempo_fake: TempoFake) -> None:
    """No journey attribute: the journey is the matcher's; error=False has no TraceQL."""
    tempo_fake.add_trace(TRACE_A, tempo_trace(checkout(TRACE_A, 3000, error=False)))
    tempo_fake.add_trace(TRACE_B, tempo_trace(checkout(TRACE_B, 2000, error=True)))
    tempo_fake.add_trace(TRACE_C, tempo_trace(checkout(TRACE_C, 1000, error=False, op="GET /cart")))
    tempo_fake.search(
        Reply(
            200,
            tempo_search([summary(t, at) for t, at in ((TRACE_A, 3000), (TRACE_B, 2000), (TRACE_C, 1000))]),
        )
    )

    traces = source(tempo_fake, matcher=MATCHER).find_traces(
        journey="checkout", service="frontend", start_ns=START, end_ns=END, limit=10, error=False
    )

    assert [(t.trace_id, t.journey, t.has_error) for t in traces] == [(TRACE_A, "checkout", False)]
    assert tempo_fake.requests[0].param("q") == '{ resource.service.name = "frontend" }'


# --- failures -------------------------------------------------------------------------------


def test_a_refused_query_carries_tempos_message_and_the_traceql(tempo_fake: TempoFake) -> None:
    tempo_fake.search(Reply(400, "invalid TraceQL query: parse error at line 1, col 3: syntax error"))

    with pytest.raises(DataSourceError) as caught:
        source(tempo_fake).find_traces(journey=None, service="frontend", start_ns=START, end_ns=END, limit=5)

    error = caught.value
    assert error.source == f"tempo {tempo_fake.url}"
    assert error.reason == "HTTP 400: invalid TraceQL query: parse error at line 1, col 3: syntax error"
    assert 'resource.service.name = "frontend"' in error.query


def test_a_body_that_is_not_otlp_is_an_error(tempo_fake: TempoFake) -> None:
    """A span that cannot be read is rejected alone (the decoder's rule); a body whose
    frame is not an OTLP request fails the fetch."""
    tempo_fake.add_trace(TRACE_A, {"batches": [{"resource": "nope", "scopeSpans": [{"spans": []}]}]})

    with pytest.raises(DataSourceError, match="not an OTLP trace"):
        source(tempo_fake).get_traces([TRACE_A])


def test_a_hanging_server_fails_within_the_timeout(tempo_fake: TempoFake) -> None:
    tempo_fake.hang("GET", r"/api/search")

    began = time.monotonic()
    with pytest.raises(DataSourceError, match=r"no answer within 0\.3s"):
        source(tempo_fake, timeout=0.3).find_traces(
            journey=None, service=None, start_ns=START, end_ns=END, limit=5
        )
    assert time.monotonic() - began < 1.5


def test_a_token_is_sent_as_a_bearer(tempo_fake: TempoFake) -> None:
    credentials = SourceCredentials(tempo_token=SecretStr("t0k3n"))

    assert source(tempo_fake, credentials=credentials).get_traces([TRACE_A]) == []
    assert tempo_fake.requests[0].headers["authorization"] == "Bearer t0k3n"


def test_a_tenant_is_sent_as_x_scope_orgid_to_a_multi_tenant_tempo(
    start_fake: Callable[[FakeServer], FakeServer],
) -> None:
    fake = start_fake(TempoFake(tenant="shop"))
    assert isinstance(fake, TempoFake)
    fake.add_trace(TRACE_A, tempo_trace(checkout(TRACE_A)))

    with_tenant = TempoTraceSource(TempoConfig(url=fake.url, tenant="shop"))
    (trace,) = with_tenant.get_traces([TRACE_A])
    assert len(trace.spans) == 3
    assert fake.requests[0].headers["x-scope-orgid"] == "shop"

    with pytest.raises(DataSourceError, match="no org id"):
        TempoTraceSource(TempoConfig(url=fake.url)).get_traces([TRACE_A])
