"""One way from spans to a Trace (``bot.telemetry.assembly``): the store, the Jaeger source
and the Tempo source, given the same spans, hand out the same Trace: the same spans in the
same order, the same orphans, journey, session and user."""

from __future__ import annotations

from typing import Any

from bot.config import AppConfig
from bot.sources.config import JaegerConfig, TempoConfig
from bot.sources.jaeger import JaegerTraceSource
from bot.sources.tempo import TempoTraceSource
from bot.store import Store
from bot.telemetry.assembly import Kept, TraceAssembly, mark_orphans
from bot.telemetry.journeys import JourneyMatcher, assemble_traces
from correlators.model import (
    InstrumentationScope,
    Span,
    SpanKind,
    StatusCode,
    Trace,
    span_from_dict,
    span_to_dict,
)
from tests.fixtures.fake_backends import JaegerFake, TempoFake, jaeger_span, jaeger_trace, tempo_trace

CONFIG = AppConfig.model_validate(
    {
        "journeys": [
            {"name": "checkout", "match": {"root_service": "frontend", "operation": "POST /checkout*"}}
        ]
    }
)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
T0_US = 1_714_564_800_000_000
FLASK = InstrumentationScope("opentelemetry.instrumentation.flask", "0.50b0")
REQUESTS = InstrumentationScope("opentelemetry.instrumentation.requests", "0.50b0")


def _resource(service: str) -> dict[str, Any]:
    return {
        "service.name": service,
        "service.instance.id": f"{service}-1",
        "service.version": "2.0.1",
        "telemetry.sdk.language": "python",
    }


def _span(
    span_id: str,
    parent: str | None,
    service: str,
    name: str,
    start_us: int,
    kind: SpanKind,
    scope: InstrumentationScope,
    **attributes: Any,
) -> Span:
    return Span(
        TRACE,
        span_id * 16,
        parent * 16 if parent else None,
        service,
        name,
        (T0_US + start_us) * 1000,
        (T0_US + start_us + 500) * 1000,
        kind,
        StatusCode.ERROR if attributes.pop("failed", False) else StatusCode.UNSET,
        "declined" if attributes.get("declined") else "",
        f"{service}-1",
        "2.0.1",
        None,
        None,
        "python",
        attributes,
        _resource(service),
        scope=scope,
    )


SPANS = [  # in start order, each service's spans together: as all three answer them
    _span("a", None, "frontend", "POST /checkout", 0, SpanKind.SERVER, FLASK, **{"session.id": "s-1"}),
    _span("b", "a", "frontend", "POST payments", 10, SpanKind.CLIENT, REQUESTS, **{"enduser.id": "u-7"}),
    _span("c", "b", "payments", "charge", 20, SpanKind.SERVER, FLASK, failed=True, declined=True),
    _span("d", "f", "payments", "audit", 30, SpanKind.INTERNAL, FLASK),  # its parent never came
]


def copies() -> list[Span]:
    return [span_from_dict(span_to_dict(s)) for s in SPANS]


def _jaeger_answer() -> dict[str, Any]:
    processes = {
        s.service: (s.service, {k: v for k, v in s.resource.items() if k != "service.name"}) for s in SPANS
    }
    spans = []
    for s in SPANS:
        tags: dict[str, Any] = {
            **s.attributes,
            "span.kind": s.kind.value,
            "otel.scope.name": s.scope.name,
            "otel.scope.version": s.scope.version,
        }
        if s.status is StatusCode.ERROR:
            tags |= {"otel.status_code": "ERROR", "otel.status_description": s.status_message, "error": True}
        start_us = s.start_ns // 1000
        duration_us = (s.end_ns - s.start_ns) // 1000
        spans.append(
            jaeger_span(
                TRACE,
                s.span_id,
                s.name,
                start_us,
                duration_us,
                process=s.service,
                parent=s.parent_span_id,
                tags=tags,
            )
        )
    return jaeger_trace(spans, processes)


def test_the_store_jaeger_and_tempo_make_the_same_trace_of_the_same_spans(
    any_store: Store, jaeger_fake: JaegerFake, tempo_fake: TempoFake
) -> None:
    matcher = JourneyMatcher(CONFIG)
    any_store.write_traces(TraceAssembly(matcher).traces(copies()))  # as the collector's sampler builds it
    jaeger_fake.add_trace(_jaeger_answer())
    tempo_fake.add_trace(TRACE, tempo_trace(copies()))
    jaeger = JaegerTraceSource(JaegerConfig(url=jaeger_fake.url), matcher=matcher)
    tempo = TempoTraceSource(TempoConfig(url=tempo_fake.url), matcher=matcher)
    try:
        (from_jaeger,) = jaeger.get_traces([TRACE])
        (from_tempo,) = tempo.get_traces([TRACE])
    finally:
        jaeger.close()
        tempo.close()
    from_store = any_store.get_trace(TRACE)

    expected = Trace(TRACE, copies(), "checkout", "s-1", "u-7")
    expected.spans[-1].orphan = True
    assert from_store == from_jaeger == from_tempo == expected


def test_a_kept_trace_keeps_its_decision_and_its_orphans_are_what_its_spans_say() -> None:
    spans = copies()
    spans[0].orphan = True  # a stale flag: the root is no orphan
    trace = TraceAssembly().trace(TRACE, spans, Kept("search", "s-9", None, 4.0, "sampled"))
    assert (trace.journey, trace.session_id, trace.user_id) == ("search", "s-9", None)
    assert (trace.sampling_weight, trace.sampling_reason) == (4.0, "sampled")
    assert [s.orphan for s in trace.spans] == [False, False, False, True]


def test_files_name_an_unmatched_trace_by_its_entry_point() -> None:
    other = [span_from_dict({**span_to_dict(s), "trace_id": "1" * 32}) for s in SPANS]
    other[0].name = "GET /health"
    checkout, health = assemble_traces(copies() + other, CONFIG)
    assert (checkout.journey, health.journey) == ("checkout", "frontend GET /health")
    assert TraceAssembly(JourneyMatcher(CONFIG)).trace("1" * 32, other).journey is None


def test_orphans_are_spans_whose_named_parent_is_absent() -> None:
    spans = copies()
    mark_orphans(spans)
    assert [s.orphan for s in spans] == [False, False, False, True]
    mark_orphans(spans[2:])
    assert [s.orphan for s in spans[2:]] == [True, True]
