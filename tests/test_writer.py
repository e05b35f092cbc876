"""The batch writer: coalesced transactions off the request path, back-pressure, retries."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from bot.store import BatchWriter, Store, TraceQuery
from bot.store.drain import unavailable, write_batch
from bot.store.rows import Rows
from bot.telemetry.spanmetrics import SpanMetricRow
from correlators.errors import DataSourceError, Saturated
from correlators.model import LogRecord, Span, Trace

REPO = Path(__file__).resolve().parents[1]


def trace(n: int, spans: int = 2) -> Trace:
    trace_id = f"{n:032x}"
    return Trace(
        trace_id,
        [Span(trace_id, f"{i + 1:016x}", None, "svc", "op", 10 + i, 20 + i) for i in range(spans)],
    )


class RecordingStore(Store):
    """A real store that records each transaction's size and can fail the first N."""

    def __init__(self, url: str, *, failures: int = 0) -> None:
        super().__init__(url)
        self.failures = failures
        self.sizes: list[int] = []

    def write_rows(self, rows: Rows) -> None:
        if self.failures:
            self.failures -= 1
            raise DataSourceError("test", "write", "disk on fire")
        self.sizes.append(rows.size)
        super().write_rows(rows)


@pytest.fixture
def store(tmp_path: Path) -> RecordingStore:
    store = RecordingStore(f"sqlite:///{tmp_path}/w.db")
    store.migrate()
    return store


def count(store: Store) -> int:
    return len(store.find_traces(TraceQuery(limit=1000)))


def test_everything_submitted_is_written_by_the_writer_process(store: Store) -> None:
    writer = BatchWriter(store, max_pending=10_000)
    assert writer.process is True
    writer.start()
    try:
        for n in range(1, 51):
            writer.submit_traces([trace(n)])
        writer.submit_logs([LogRecord(1, "svc", "hello")])
        writer.submit_span_metrics([SpanMetricRow(0, "j", "svc", "op", True, requests=7)])
        writer.flush(timeout=60)
        assert writer.pending == 0
        assert count(store) == 50
        assert [r.body for r in store.logs(service="svc", start_ns=0, end_ns=10, limit=5)] == ["hello"]
        assert store.span_metrics(journey="j", start_s=0, end_s=1)[0].requests == 7
        assert writer.stats.rows_written == 101
        assert writer.stats.write_errors == 0
    finally:
        writer.stop()
        store.close()


def test_queued_submissions_coalesce_into_transactions_of_about_5000(
    store: RecordingStore,
) -> None:
    writer = BatchWriter(store, max_pending=100_000, process=False)
    for n in range(12):  # queued before the worker runs: all waiting at once
        writer.submit_traces([trace(n * 1000 + t, spans=8) for t in range(64)])
    writer.start()
    writer.flush()
    assert store.sizes == [5120, 1024]  # ten 512-span submissions, then the other two
    assert writer.stats.transactions == 2
    assert writer.stats.rows_written == 12 * 512
    assert count(store) == 12 * 64
    writer.stop()
    store.close()


def test_a_large_submission_is_queued_in_chunks_of_whole_traces(store: RecordingStore) -> None:
    writer = BatchWriter(store, max_pending=100_000, process=False)
    writer.submit_traces([trace(n, spans=100) for n in range(30)])
    assert writer._outbox.qsize() == 3  # 10 traces (1,000 spans) a chunk
    writer.start()
    writer.flush()
    assert store.sizes == [3000]  # and coalesced again into one transaction
    writer.stop()
    store.close()


def test_back_pressure_refuses_spans_and_logs_but_not_metrics(store: Store) -> None:
    writer = BatchWriter(store, max_pending=3)  # not started: nothing drains
    writer.submit_traces([trace(1, spans=2)])
    with pytest.raises(Saturated) as refused:
        writer.submit_traces([trace(2, spans=2)])
    assert refused.value.retry_after == 2
    with pytest.raises(Saturated):
        writer.submit_logs([LogRecord(1, "svc", "x"), LogRecord(2, "svc", "y")])
    writer.submit_logs([LogRecord(1, "svc", "fits")])
    writer.submit_span_metrics([SpanMetricRow(0, "j", "s", "o", True)])
    assert writer.pending == 3
    store.close()


def test_a_batch_larger_than_the_limit_is_accepted_when_nothing_is_pending(store: Store) -> None:
    writer = BatchWriter(store, max_pending=3)
    writer.submit_traces([trace(1, spans=10)])  # one big batch must not be refused forever
    assert writer.pending == 10
    store.close()


def test_flush_blocks_until_written_and_needs_a_running_writer(store: Store) -> None:
    writer = BatchWriter(store, max_pending=1000, process=False)
    writer.submit_traces([trace(1)])
    with pytest.raises(RuntimeError, match="call start"):
        writer.flush()
    writer.start()
    writer.submit_traces([trace(2)])
    writer.flush()
    assert writer.pending == 0
    assert count(store) == 2
    writer.stop()
    store.close()


def test_a_failed_write_is_counted_and_retried_once(tmp_path: Path) -> None:
    store = RecordingStore(f"sqlite:///{tmp_path}/w.db", failures=1)
    store.migrate()
    writer = BatchWriter(store, max_pending=1000, process=False)
    writer.start()
    writer.submit_traces([trace(1, spans=3)])
    writer.flush()
    assert (writer.stats.write_errors, writer.stats.rows_written, writer.stats.items_lost) == (
        1,
        3,
        0,
    )
    assert count(store) == 1
    writer.stop()
    store.close()


def test_a_batch_failing_twice_is_quarantined_and_the_writer_lives_on(tmp_path: Path) -> None:
    """Refused whole, then its trace row alone: nothing of it can be written, so the
    trace goes to the quarantine table, and the next batch is written as any other."""
    store = RecordingStore(f"sqlite:///{tmp_path}/w.db", failures=3)
    store.migrate()
    writer = BatchWriter(store, max_pending=1000, process=False)
    writer.start()
    writer.submit_traces([trace(1, spans=3)])
    writer.flush()
    assert (writer.stats.write_errors, writer.stats.items_lost, writer.pending) == (3, 0, 0)
    assert (writer.stats.items_quarantined, list(writer.quarantine_reasons)) == (
        3,
        ["DataSourceError: test: disk on fire (query: write)"],
    )
    writer.submit_traces([trace(2, spans=4)])
    writer.flush()
    assert [t.trace_id for t in store.find_traces(TraceQuery())] == [trace(2).trace_id]
    assert writer.stats.rows_written == 4
    assert any(t.name == "store-writer" for t in threading.enumerate())
    writer.stop()
    store.close()


def test_stop_writes_what_is_pending_then_ends_the_thread(store: Store) -> None:
    writer = BatchWriter(store, max_pending=1000, process=False)
    writer.start()
    for n in range(5):
        writer.submit_traces([trace(n)])
    writer.stop()
    assert count(store) == 5
    assert not any(t.name == "store-writer" for t in threading.enumerate())
    store.close()


def test_a_killed_writer_process_is_restarted_and_what_it_held_is_resent(tmp_path: Path) -> None:
    """Without a restart, ingest would answer 503 for ever after the writer dies; without
    the resend, what the dead process had been sent was lost (issue 14: ~45 % of spans
    after six kills under load)."""
    import os
    import signal
    import time

    store = Store(f"sqlite:///{tmp_path}/restart.db")
    store.migrate()
    writer = BatchWriter(store, max_pending=1_000_000)
    writer.start()
    try:
        writer.submit_traces([_trace(1)])
        writer.flush(timeout=60)
        for kill in range(3):
            # 20,000 spans in 20 chunks: the process is killed with most of them in flight
            writer.submit_traces([trace(n, spans=20) for n in range(1000 * kill + 2, 1000 * kill + 1002)])
            child = writer._child
            assert child is not None
            time.sleep(0.05)
            os.kill(child.pid, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while writer.restarts == kill and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
        writer.submit_traces([_trace(5000)])
        writer.flush(timeout=120)
        assert writer.restarts == 3
        assert writer.pending == 0
        assert writer.completed == writer.submitted
        assert writer.stats.items_lost == 0
        assert writer.stats.items_resent > 0
        with sqlite3.connect(tmp_path / "restart.db") as db:
            assert db.execute("select count(*) from spans").fetchone()[0] == 3 * 1000 * 20 + 2
    finally:
        writer.stop()
        store.close()


def _trace(n: int) -> Trace:
    trace_id = f"{n:032x}"
    return Trace(trace_id, [Span(trace_id, "1" * 16, None, "svc", "op", 10, 20)])


def test_the_writer_process_imports_the_store_without_the_orm() -> None:
    """The ORM (the bot's own tables) is 6 MB the writer process never uses: it writes
    telemetry through Core only, so its module must not pull the ORM in."""
    probe = "import sys, bot.store.writer_process; print('sqlalchemy.orm' in sys.modules)"
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert found.stdout.strip() == "False"


def test_a_database_that_cannot_be_written_is_waited_for_not_given_up() -> None:
    """A full disk is no fault of the rows, which were acknowledged: they wait (and the
    queue fills, so ingest answers 503) instead of being dropped after two attempts."""

    class FullDisk:
        def __init__(self) -> None:
            self.failures = 7
            self.written: list[Rows] = []

        def write_rows(self, rows: Rows) -> None:
            if self.failures:
                self.failures -= 1
                full = OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))
                raise DataSourceError("sqlite", "write", "full") from full
            self.written.append(rows)

    waits: list[float] = []
    store = FullDisk()
    rows = Rows()
    rows.spans.append(("row",))
    assert write_batch(store, rows, sleep=waits.append) == (rows.size, 7, [])
    assert store.written == [rows]
    assert waits == [0.1, 0.5, 1.0, 2.0, 5.0, 5.0, 5.0]
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    bad_rows = OperationalError("INSERT", {}, sqlite3.OperationalError("too many SQL variables"))
    assert unavailable(locked)
    assert not unavailable(bad_rows)
    assert not unavailable(DataSourceError("sqlite", "write", "disk on fire"))
