"""Writes off the request path, in a process of its own.

The collector is bound by one core (Python's GIL); the database work — binding rows,
SQLite's B-tree inserts, commits and checkpoints — is a third of it at ingest rate. So the
rows are built here, pickled to a writer process over a pipe, and written there in
coalesced transactions, on the machine's other core (measured in bench/ingest.py).

Back-pressure: when more than ``max_pending`` spans and logs are on their way to the
database, :meth:`BatchWriter.submit_traces` and :meth:`~BatchWriter.submit_logs` raise
:class:`Saturated`, so the HTTP layer answers 503 + Retry-After and the exporter retries
instead of the process growing until it dies. Span-metric rows are never refused.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from bot.collector.spanmetrics import SpanMetricRow
from bot.store.store import Rows, Store, to_rows
from correlators.errors import JourneywatchError, Saturated
from correlators.model import LogRecord, Trace

log = logging.getLogger("journeywatch.store")

MAX_ROWS_PER_TRANSACTION = 5_000
CHUNK_ROWS = 1_000


@dataclass(slots=True)
class WriterStats:
    rows_written: int = 0
    """Spans and logs."""
    transactions: int = 0
    write_errors: int = 0
    items_lost: int = 0


class BatchWriter:
    def __init__(self, store: Store, *, max_pending: int) -> None:
        self.url = store.url
        self.max_pending = max_pending
        self.stats = WriterStats()
        self._outbox: queue.SimpleQueue[tuple[int, Rows] | None] = queue.SimpleQueue()
        self._lock = threading.Condition()
        self._pending = 0
        self._submitted = 0
        self._completed = 0
        self._process: multiprocessing.process.BaseProcess | None = None
        self._threads: list[threading.Thread] = []

    @property
    def pending(self) -> int:
        """Spans and logs submitted but not yet written."""
        return self._pending

    def start(self) -> None:
        if self._process is not None:
            return
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self._process = context.Process(
            target=_writer_main, args=(self.url, theirs), name="journeywatch-writer", daemon=True
        )
        self._process.start()
        theirs.close()
        self._threads = [
            threading.Thread(target=self._send, args=(ours,), name="writer-send", daemon=True),
            threading.Thread(target=self._receive, args=(ours,), name="writer-ack", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def submit_traces(self, trace_batch: Sequence[Trace]) -> None:
        """Refused whole or accepted whole; sent in chunks, so that neither process ever
        holds one huge pickle (a tick can decide a second's worth of traces at once)."""
        size = sum(len(t.spans) for t in trace_batch)
        if not size:
            return
        self._reserve(size)
        chunk: list[Trace] = []
        chunk_spans = 0
        for trace in trace_batch:
            chunk.append(trace)
            chunk_spans += len(trace.spans)
            if chunk_spans >= CHUNK_ROWS:
                self._send_rows(to_rows(trace_batch=chunk))
                chunk, chunk_spans = [], 0
        if chunk:
            self._send_rows(to_rows(trace_batch=chunk))

    def submit_logs(self, log_batch: Sequence[LogRecord]) -> None:
        if log_batch:
            self._submit(to_rows(log_batch=log_batch), refusable=True)

    def submit_span_metrics(self, rows: Sequence[SpanMetricRow]) -> None:
        """Never refused: rows are few, and losing them would bias the SLIs."""
        if rows:
            self._submit(to_rows(metric_rows=rows), refusable=False)

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything submitted before the call is written."""
        with self._lock:
            target = self._submitted
            if not self._lock.wait_for(lambda: self._completed >= target, timeout):
                raise TimeoutError(f"store writer did not drain within {timeout}s")

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is pending, then end the writer process."""
        if self._process is None:
            return
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout)
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()
        self._process = None

    # --- this side ---------------------------------------------------------------------

    def _submit(self, rows: Rows, *, refusable: bool) -> None:
        if refusable:
            self._reserve(rows.size)
        else:
            with self._lock:
                self._pending += rows.size
        self._send_rows(rows)

    def _reserve(self, size: int) -> None:
        """Count ``size`` rows as pending, or refuse them all when over the limit (one
        batch larger than the limit is let through when nothing else is pending)."""
        with self._lock:
            if self._pending and self._pending + size > self.max_pending:
                raise Saturated(f"store writer has {self._pending} rows pending", retry_after=2)
            self._pending += size

    def _send_rows(self, rows: Rows) -> None:
        with self._lock:
            self._submitted += 1
            sequence = self._submitted
        self._outbox.put((sequence, rows))

    def _send(self, connection: Connection) -> None:
        while True:
            item = self._outbox.get()
            try:
                if item is None:
                    connection.send_bytes(b"")
                    return
                connection.send_bytes(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
            except (OSError, ValueError):
                log.exception("store writer process is gone")
                return

    def _receive(self, connection: Connection) -> None:
        while True:
            try:
                sequence, size, written, errors = connection.recv()
            except (EOFError, OSError):
                return
            with self._lock:
                self._pending -= size
                self._completed = sequence
                self.stats.rows_written += written
                self.stats.transactions += 1
                self.stats.write_errors += errors
                self.stats.items_lost += size - written
                self._lock.notify_all()


# --- the writer process --------------------------------------------------------------------


def _writer_main(url: str, connection: Connection) -> None:
    """Receive row batches, coalesce what is waiting, write, acknowledge. Runs until the
    other side sends the empty message or goes away."""
    logging.basicConfig(level=logging.WARNING)
    store = Store(url)
    try:
        while True:
            batch = _next_batch(connection)
            if batch is None:
                return
            last, rows, done = batch
            written, errors = _write(store, rows)
            connection.send((last, rows.size, written, errors))
            if done:
                return
    except (EOFError, OSError):
        return
    finally:
        store.close()


def _next_batch(connection: Connection) -> tuple[int, Rows, bool] | None:
    """(last sequence, coalesced rows, whether the end was seen) or None at the end."""
    first = connection.recv_bytes()
    if not first:
        return None
    last, rows = _load(first)
    done = False
    while rows.size < MAX_ROWS_PER_TRANSACTION and connection.poll():
        more = connection.recv_bytes()
        if not more:
            done = True
            break
        last, extra = _load(more)
        rows.extend(extra)
    return last, rows, done


def _load(payload: bytes) -> tuple[int, Rows]:
    item: Any = pickle.loads(payload)  # noqa: S301 - our own pipe to our own child
    return item[0], item[1]


def _write(store: Store, rows: Rows) -> tuple[int, int]:
    """(rows written, write errors): one retry, then the batch is counted as lost."""
    errors = 0
    for attempt in (1, 2):
        try:
            store.write_rows(rows)
            return rows.size, errors
        except JourneywatchError:
            errors += 1
            log.exception("store write failed (attempt %d of 2)", attempt)
    return 0, errors
