"""Memory bounded in bytes, not entries (issue 14, item 4): the sampler's buffer and the
writer's queue count what their spans and rows hold, and a budget in bytes bounds them
however few the items are: 128 attributes of 32 KiB are 4 MiB in one span."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from bot.collector.sizes import span_bytes
from bot.config import load_config
from bot.server import Bot, build_bot, create_app
from bot.settings import Settings
from bot.store import BatchWriter, Store
from bot.store.rows import to_rows
from correlators.errors import Saturated
from correlators.model import LogRecord, Span, Trace
from tests.asgi import AppClient
from tests.fixtures.bot_server import REPO
from tests.test_ingest_http import NOW_NS, PROTOBUF, otlp_request
from tests.test_sampling import sampler, spans

KIB = 1024


def big_span(trace_id: str, values: int = 128, value_chars: int = 32 * KIB) -> Span:
    span = Span(trace_id, "1" * 16, None, "shop", "op", NOW_NS, NOW_NS + 10)
    span.attributes.update({f"key.{i}": os.urandom(value_chars // 2).hex() for i in range(values)})
    return span


def test_a_span_is_estimated_by_what_it_holds() -> None:
    small = Span("a" * 32, "1" * 16, None, "shop", "op", 0, 1, attributes={"http.route": "/items"})
    assert 400 < span_bytes(small) < 600
    assert span_bytes(big_span("b" * 32)) > 128 * 32 * KIB  # 4 MiB of values
    huge_int = Span("c" * 32, "1" * 16, None, "shop", "op", 0, 1, attributes={"n": 2**70, "s": "x" * 1000})
    assert span_bytes(huge_int) > 1000  # counted without JSON, which cannot write it


def test_the_sampler_decides_early_past_its_byte_budget_with_few_spans() -> None:
    """Ten spans of 4 MiB each: far under the span budget (100,000), over 16 MiB."""
    s = sampler(span_budget_bytes=16 * KIB * KIB)
    for n in range(10):
        s.add([big_span(f"{n + 1:032x}")], now=n)
        assert s.buffered_bytes <= 16 * KIB * KIB + 5 * KIB * KIB  # one span past it at most
        decided = s.over_budget()
        if decided:
            assert s.buffered_bytes <= 0.9 * 16 * KIB * KIB
    assert s.stats.early_decisions >= 6
    assert s.buffered_spans <= 4
    s.flush_all(now=10)
    assert s.buffered_bytes == 0  # every byte counted in is counted out


def test_small_spans_stay_under_the_span_budget_not_the_byte_one() -> None:
    s = sampler(span_budget=4)
    for n in range(3):
        s.add(spans(f"{n + 1:032x}"), now=n)
    assert s.tick(now=2.5) and s.buffered_spans == 2
    assert 0 < s.buffered_bytes < 2 * KIB


def test_the_writer_refuses_past_its_byte_budget_with_few_rows(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/w.db")
    store.migrate()
    writer = BatchWriter(store, max_pending=50_000, max_pending_bytes=8 * KIB * KIB, process=False)
    big = [Trace(f"{n + 1:032x}", [big_span(f"{n + 1:032x}", values=64)]) for n in range(4)]  # 2 MiB each
    assert 2 * KIB * KIB < to_rows(trace_batch=big[:1]).bytes < 3 * KIB * KIB
    for trace in big[:3]:
        writer.submit_traces([trace])  # not started: nothing drains
    assert writer.pending == 3 and writer.pending_bytes > 6 * KIB * KIB
    with pytest.raises(Saturated):
        writer.submit_traces(big[3:])
    assert writer.full() is False  # 3 rows, 6+ MiB: a small one would still pass
    writer.submit_logs([LogRecord(NOW_NS, "shop", "small")])
    writer.start()
    writer.flush(timeout=60)
    assert (writer.pending, writer.pending_bytes) == (0, 0)  # every byte reserved is released
    writer.stop()
    store.close()


@pytest.fixture
def small_budget_bot(tmp_path: Path) -> Iterator[Bot]:
    settings = Settings(
        ingest_keys={"required": False},  # these tests send without a key
        database_url=f"sqlite:///{tmp_path}/b.db",
        require_token=False,
        collector={
            "quiet_period_s": 0,
            "max_pending_write_bytes": 4 * KIB * KIB,
            "spool": {"enabled": False},
        },
    )
    bot = build_bot(settings, load_config(REPO / "config" / "journeys.yaml"))
    yield bot
    bot.store.close()


def test_ingest_answers_503_with_retry_after_when_the_write_budget_is_full(small_budget_bot: Bot) -> None:
    """The writer is not started, so what is kept stays queued: a few traces of 1 MiB of
    attributes fill 4 MiB, and the next request is refused before it is read."""
    bot = small_budget_bot
    client = AppClient(create_app(bot))
    for _ in range(6):
        request = otlp_request(os.urandom(16).hex(), spans=1, error=True)
        span = request.resource_spans[0].scope_spans[0].spans[0]
        for i in range(32):
            span.attributes.append(
                KeyValue(key=f"big.{i}", value=AnyValue(string_value=os.urandom(16 * KIB).hex()))
            )
        answer = client.post("/v1/traces", content=request.SerializeToString(), headers=PROTOBUF)
        if answer.status_code == 503:
            break
        assert answer.status_code == 200
        bot.collector.tick()
    assert answer.status_code == 503 and answer.headers["retry-after"] == "2"
    health = client.get("/healthz").json()
    assert health["status"] == "degraded" and "bytes" in health["degraded"][0]
    assert health["pending_write_bytes"] > 3 * KIB * KIB  # the next trace would cross 4 MiB: held
    assert health["collector"]["buffered_bytes"] == 0


def test_span_metric_rows_past_their_byte_budget_are_written_at_once_future_buckets_too(
    tmp_path: Path,
) -> None:
    """Spans may be stamped ten minutes ahead; each distinct long operation name makes a
    row in a bucket that closes only then. Past the budget the next tick writes them all."""
    settings = Settings(
        ingest_keys={"required": False},  # these tests send without a key
        database_url=f"sqlite:///{tmp_path}/m.db",
        require_token=False,
        collector={"quiet_period_s": 0, "span_metrics_budget_bytes": 256 * KIB, "spool": {"enabled": False}},
    )
    bot = build_bot(settings, load_config(REPO / "config" / "journeys.yaml"))
    ahead_ns = NOW_NS + 300 * 1_000_000_000
    for n in range(40):
        span = Span(
            f"{n + 1:032x}", "1" * 16, None, "shop", f"op-{n}-" + "x" * 8 * KIB, ahead_ns, ahead_ns + 10
        )
        bot.collector.ingest_spans([span])
        bot.collector.tick()
        assert bot.collector.metrics.bytes <= 256 * KIB + 10 * KIB  # one row past it at most
    assert bot.collector.metrics.bytes < 256 * KIB
    assert bot.writer.pending > 0  # the drained rows went to the writer, not away
    bot.store.close()
