"""One crafted item never stops ingest nor takes good items with it (issue 14, items 1 and
3): times no column can hold are refused per item at the edge; a row the database cannot
take is left out of its write, the rest written; a failing write never leaves capacity
reserved, so ingest never answers 503 for ever."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from bot.config import load_config
from bot.server import build_bot, create_app
from bot.settings import Settings
from bot.store import BatchWriter, Store, TraceQuery
from bot.telemetry.otlp import decode_traces
from bot.telemetry.zipkin import decode_zipkin
from correlators.model import Span, Trace
from tests.asgi import AppClient
from tests.fixtures.bot_server import REPO
from tests.test_ingest_http import NOW_NS, PROTOBUF, otlp_request


def zipkin_span(trace_id: str, span_id: str, **extra: object) -> dict[str, object]:
    return {
        "traceId": trace_id,
        "id": span_id,
        "name": "get /zipkin",
        "timestamp": NOW_NS // 1000,
        "duration": 1500,
        "localEndpoint": {"serviceName": "legacy"},
        **extra,
    }


def test_a_zipkin_annotation_far_in_the_future_refuses_only_its_span() -> None:
    trace_id = os.urandom(16).hex()
    body = json.dumps(
        [
            zipkin_span(trace_id, "00000000000000aa"),
            zipkin_span(trace_id, "00000000000000bb", annotations=[{"timestamp": 1e30, "value": "x"}]),
            zipkin_span(trace_id, "00000000000000cc", tags=["not", "a", "map"]),
        ]
    ).encode()
    decoded = decode_zipkin(body)
    assert [s.span_id for s in decoded.items] == ["00000000000000aa"]
    assert decoded.rejected == 2
    assert "event time out of range" in decoded.errors[0]


def test_an_otlp_end_time_past_2262_refuses_only_its_span() -> None:
    request = otlp_request(os.urandom(16).hex(), spans=200)
    request.resource_spans[0].scope_spans[0].spans[7].end_time_unix_nano = 2**64 - 1
    decoded = decode_traces(request.SerializeToString(), "protobuf")
    assert len(decoded.items) == 199
    assert decoded.rejected == 1
    assert decoded.errors == ["span with a time past the year 2262"]


def trace(n: int, **attributes: object) -> Trace:
    trace_id = f"{n:032x}"
    span = Span(trace_id, "00000000000000aa", None, "svc", "op", NOW_NS, NOW_NS + 10)
    span.attributes.update(attributes)  # type: ignore[arg-type]
    return Trace(trace_id, [span])


def test_a_value_json_cannot_hold_is_made_text_and_a_row_none_can_build_is_quarantined(
    tmp_path: Path,
) -> None:
    """An integer past 64 bits (a JSON sender's) is kept as its digits; a value nested
    past orjson's depth limit makes its trace unbuildable: left out of the write, the rest
    written, the trace in the quarantine table with the reason."""
    store = Store(f"sqlite:///{tmp_path}/w.db")
    store.migrate()
    writer = BatchWriter(store, max_pending=10_000, process=False)
    writer.start()
    deep: list[object] = []
    for _ in range(300):
        deep = [deep]
    try:
        writer.submit_traces([trace(1), trace(2, huge=2**70), trace(3, deep=deep), trace(4)])
        writer.flush()
    finally:
        writer.stop()
    stored = {t.trace_id for t in store.find_traces(TraceQuery(limit=10))}
    assert stored == {f"{n:032x}" for n in (1, 2, 4)}
    huge = store.get_trace(f"{2:032x}")
    assert huge is not None and huge.spans[0].attributes["huge"] == str(2**70)
    assert writer.stats.items_refused == 1
    assert writer.stats.quarantine_entries == 1
    total, entries = store.quarantined()
    assert total == 1 and f"{3:032x}" in entries[0]["what"] and "recursion" in entries[0]["reason"].lower()
    assert writer.pending == 0


@pytest.fixture
def bot_in_process(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = Settings(
        ingest_keys={"required": False},  # these tests send without a key
        database_url=f"sqlite:///{tmp_path}/db.sqlite",
        collector={"quiet_period_s": 0},
    )
    bot = build_bot(settings, load_config(REPO / "config" / "journeys.yaml"))
    yield bot
    bot.store.close()


def test_a_writer_that_fails_never_keeps_ingest_refused(bot_in_process, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Before: the tick's exception left the batch reserved and held, and every later
    request got 503 until restart."""
    bot = bot_in_process
    client = AppClient(create_app(bot))

    def broken(traces: object) -> None:
        raise RuntimeError("a bug in the writer")

    monkeypatch.setattr(bot.writer, "submit_traces", broken)
    errored = otlp_request(os.urandom(16).hex(), error=True)  # errors are always kept
    assert client.post("/v1/traces", content=errored.SerializeToString(), headers=PROTOBUF).status_code == 200
    bot.collector.tick()  # the writer fails on the kept trace
    assert bot.collector.stats.spans_lost == 3
    again = otlp_request(os.urandom(16).hex()).SerializeToString()
    assert client.post("/v1/traces", content=again, headers=PROTOBUF).status_code == 200


@pytest.mark.parametrize(("depth", "status"), [(200, 200), (3000, 400)])
def test_values_nested_deep_get_an_answer_not_a_500(bot_in_process, depth: int, status: int) -> None:  # type: ignore[no-untyped-def]
    """Past JSON's nesting limit the body is malformed (400); below it the span is taken."""
    value = '{"stringValue": "leaf"}'
    for _ in range(depth):
        value = '{"arrayValue": {"values": [' + value + "]}}"
    span = (
        f'{{"traceId": "{os.urandom(16).hex()}", "spanId": "00000000000000aa", "startTimeUnixNano": '
        f'"{NOW_NS}", "attributes": [{{"key": "deep", "value": {value}}}]}}'
    )
    body = f'{{"resourceSpans": [{{"scopeSpans": [{{"spans": [{span}]}}]}}]}}'
    client = AppClient(create_app(bot_in_process))
    answer = client.post("/v1/traces", content=body.encode(), headers={"content-type": "application/json"})
    assert answer.status_code == status


def test_spans_stamped_far_ahead_or_before_retention_are_refused_per_item(bot_in_process) -> None:  # type: ignore[no-untyped-def]
    """Issue 14, item 4: 200k spans stamped in the future made span-metric buckets that
    never closed (1.7 GB). Two hours ahead of the clock, or older than retention, is no
    real span; the rest of the request is taken."""
    request = otlp_request(os.urandom(16).hex(), spans=3)
    spans = request.resource_spans[0].scope_spans[0].spans
    hour = 3600 * 10**9
    spans[1].start_time_unix_nano = spans[1].end_time_unix_nano = NOW_NS + 2 * hour
    spans[2].start_time_unix_nano = spans[2].end_time_unix_nano = NOW_NS - 100 * 24 * hour
    client = AppClient(create_app(bot_in_process))
    answer = client.post("/v1/traces", content=request.SerializeToString(), headers=PROTOBUF)
    assert answer.status_code == 200
    result = ExportTraceServiceResponse.FromString(answer.content)
    assert result.partial_success.rejected_spans == 2
    assert "ahead of the server's clock" in result.partial_success.error_message
    assert "retention" in result.partial_success.error_message
    assert bot_in_process.collector.stats.spans_received == 1


def test_a_failure_inside_the_tick_loses_no_trace_and_reserves_nothing(bot_in_process, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Span metrics and the sampler's verdict each fail on one trace of a tick: every
    decided trace is still handed to the writer and stored, nothing stays pending or held,
    and the next request is taken."""
    bot = bot_in_process
    bot.writer.start()
    try:
        client = AppClient(create_app(bot))
        ids = [os.urandom(16).hex() for _ in range(4)]
        for trace_id in ids:
            body = otlp_request(trace_id, error=True).SerializeToString()
            assert client.post("/v1/traces", content=body, headers=PROTOBUF).status_code == 200
        count, verdict = bot.collector.metrics.count, bot.collector.sampler._verdict

        def count_failing(trace: Trace, threshold: float | None) -> None:
            if trace.trace_id == ids[0]:
                raise ValueError("a bug in span metrics")
            count(trace, threshold)

        def verdict_failing(trace: Trace) -> tuple[str | None, float]:
            if trace.trace_id == ids[1]:
                raise KeyError("a bug in a sampling rule")
            return verdict(trace)

        monkeypatch.setattr(bot.collector.metrics, "count", count_failing)
        monkeypatch.setattr(bot.collector.sampler, "_verdict", verdict_failing)
        bot.collector.tick()
        bot.writer.flush(timeout=60)
        assert all(bot.store.get_trace(trace_id) is not None for trace_id in ids)
        assert bot.collector.stats.uncounted == 1
        assert bot.collector.sampler.stats.kept["undecided"] == 1
        assert (bot.writer.pending, bot.collector.sampler.buffered_spans, bot.collector.degraded()) == (
            0,
            0,
            [],
        )
        bot.collector.check_capacity()  # refuses nothing
        again = otlp_request(os.urandom(16).hex()).SerializeToString()
        assert client.post("/v1/traces", content=again, headers=PROTOBUF).status_code == 200
    finally:
        bot.writer.stop()
