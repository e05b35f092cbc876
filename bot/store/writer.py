"""Writes off the request path: one thread drains a queue into batched transactions.

An ingest request returns as soon as its spans are buffered; the writer coalesces many
small submissions into one transaction, which is what makes SQLite fast. When the queue
holds more than ``max_pending`` items the writer refuses new work with
:class:`Saturated`, so the HTTP layer can answer 503 + Retry-After and the exporter
retries, instead of the process growing until it dies.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from bot.collector.spanmetrics import SpanMetricRow
from bot.store.store import Store
from correlators.errors import JourneywatchError, Saturated
from correlators.model import LogRecord, Trace

log = logging.getLogger("journeywatch.store")

MAX_ITEMS_PER_TRANSACTION = 5_000


@dataclass(slots=True)
class WriterStats:
    spans_written: int = 0
    logs_written: int = 0
    metric_rows_written: int = 0
    transactions: int = 0
    write_errors: int = 0
    items_lost: int = 0


@dataclass(slots=True)
class _Work:
    traces: Sequence[Trace] = ()
    logs: Sequence[LogRecord] = ()
    metrics: Sequence[SpanMetricRow] = ()
    size: int = 0


class BatchWriter:
    def __init__(self, store: Store, *, max_pending: int) -> None:
        self.store = store
        self.max_pending = max_pending
        self.stats = WriterStats()
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._pending = 0
        self._submitted = 0
        self._completed = 0
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Spans and logs submitted but not yet written."""
        return self._pending

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="journeywatch-writer", daemon=True
            )
            self._thread.start()

    def submit_traces(self, trace_batch: Sequence[Trace]) -> None:
        size = sum(len(t.spans) for t in trace_batch)
        if size:
            self._submit(_Work(traces=trace_batch, size=size), refusable=True)

    def submit_logs(self, log_batch: Sequence[LogRecord]) -> None:
        if log_batch:
            self._submit(_Work(logs=log_batch, size=len(log_batch)), refusable=True)

    def submit_span_metrics(self, rows: Sequence[SpanMetricRow]) -> None:
        """Never refused: rows are few, and losing them would bias the SLIs."""
        if rows:
            self._submit(_Work(metrics=rows, size=0), refusable=False)

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything submitted before the call is written (or timeout)."""
        with self._lock:
            target = self._submitted
            if not self._lock.wait_for(lambda: self._completed >= target, timeout):
                raise TimeoutError(f"store writer did not drain within {timeout}s")

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    # --- internals ---------------------------------------------------------------------

    def _submit(self, work: _Work, *, refusable: bool) -> None:
        with self._lock:
            if refusable and self._pending + work.size > self.max_pending and self._pending:
                raise Saturated(f"store writer has {self._pending} items pending", retry_after=2)
            self._pending += work.size
            self._submitted += 1
        self._queue.put(work)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = first.size
            stop = False
            while size < MAX_ITEMS_PER_TRANSACTION:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
                size += more.size
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Work]) -> None:
        traces = [t for w in batch for t in w.traces]
        logs = [r for w in batch for r in w.logs]
        metrics = [m for w in batch for m in w.metrics]
        for attempt in (1, 2):
            try:
                self.store.write_batch(traces, logs, metrics)
                self._count(traces, logs, metrics)
                break
            except JourneywatchError:
                self.stats.write_errors += 1
                log.exception("store write failed (attempt %d of 2)", attempt)
        else:
            self.stats.items_lost += sum(w.size for w in batch) + len(metrics)
        with self._lock:
            self._pending -= sum(w.size for w in batch)
            self._completed += len(batch)
            self._lock.notify_all()

    def _count(
        self, traces: list[Trace], logs: list[LogRecord], metrics: list[SpanMetricRow]
    ) -> None:
        self.stats.spans_written += sum(len(t.spans) for t in traces)
        self.stats.logs_written += len(logs)
        self.stats.metric_rows_written += len(metrics)
        self.stats.transactions += 1
