"""The writer process: coalesced transactions off the request path, and back-pressure."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.collector.spanmetrics import SpanMetricRow
from bot.store import BatchWriter, Store, TraceQuery
from correlators.errors import Saturated
from correlators.model import LogRecord, Span, Trace


def trace(n: int, spans: int = 2) -> Trace:
    trace_id = f"{n:032x}"
    return Trace(
        trace_id,
        [Span(trace_id, f"{i + 1:016x}", None, "svc", "op", 10 + i, 20 + i) for i in range(spans)],
    )


def test_everything_submitted_is_written_by_the_writer_process(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/w.db")
    store.migrate()
    writer = BatchWriter(store, max_pending=10_000)
    writer.start()
    try:
        for n in range(1, 51):
            writer.submit_traces([trace(n)])
        writer.submit_logs([LogRecord(1, "svc", "hello")])
        writer.submit_span_metrics([SpanMetricRow(0, "j", "svc", "op", True, requests=7)])
        writer.flush(timeout=60)
        assert writer.pending == 0
        assert len(store.find_traces(TraceQuery(limit=100))) == 50
        assert [r.body for r in store.logs(service="svc", start_ns=0, end_ns=10, limit=5)] == [
            "hello"
        ]
        assert store.span_metrics(journey="j", start_s=0, end_s=1)[0].requests == 7
        assert writer.stats.rows_written == 101
        # 50 submissions arrive faster than they are written, so they share transactions
        assert writer.stats.transactions < 52
    finally:
        writer.stop()
        store.close()


def test_back_pressure_refuses_spans_and_logs_but_not_metrics(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/w.db")
    writer = BatchWriter(store, max_pending=3)  # not started: nothing drains
    writer.submit_traces([trace(1, spans=2)])
    with pytest.raises(Saturated) as refused:
        writer.submit_traces([trace(2, spans=2)])
    assert refused.value.retry_after == 2
    with pytest.raises(Saturated):
        writer.submit_logs([LogRecord(1, "svc", "x"), LogRecord(2, "svc", "y")])
    writer.submit_span_metrics([SpanMetricRow(0, "j", "s", "o", True)])
    assert writer.pending == 2
    store.close()


def test_a_batch_larger_than_the_limit_is_accepted_when_nothing_is_pending(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/w.db")
    writer = BatchWriter(store, max_pending=3)
    writer.submit_traces([trace(1, spans=10)])  # one big batch must not be refused forever
    assert writer.pending == 10
    store.close()
