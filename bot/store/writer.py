"""Writes off the request path: queued, coalesced, and written by one background worker.

By default the worker is a process of its own. The collector is bound by one core
(Python's GIL) and the database work (binding rows, SQLite's B-tree inserts, commits,
checkpoints) was a third of it at ingest rate; rows are built here, pickled over a pipe and
written there, on the machine's other core (measured in bench/ingest.py, docs/benchmarks.md;
see bot.store.writer_process for how that process starts).
``process=False`` runs the same loop (``bot.store.drain``) in a thread of this process,
writing through the given Store object itself (tests inject a failing one that way).

A writer process that dies (killed, out of memory) is restarted, and what it was sent but
had not acknowledged is sent again to the new one, in order: nothing handed to the writer
is lost with its process. The rows of a transaction that was committed just before the
death are written twice, which spans, stored by trace and span id, absorb. The writer
writes in order, so a batch that kills it is the oldest in flight when it dies; one that
was the oldest through ``MAX_DEATHS`` deaths in a row is given up (lost, counted), so that
it cannot keep killing the writer, and ingest with it.

Back-pressure: when more than ``max_pending`` spans, logs and metric data points, or
``max_pending_bytes`` of their rows (``Rows.bytes``), are on their way to the database,
:meth:`BatchWriter.submit_traces`, :meth:`~BatchWriter.submit_logs` and
:meth:`~BatchWriter.submit_metric_points` raise
:class:`Saturated`, so the HTTP layer answers 503 + Retry-After and the exporter retries
instead of the process growing until it dies. Span-metric rows are never refused.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from bot.store.drain import Ack, Item, QueueChannel, encode_item, serve
from bot.store.isolate import Refused, describe_log, describe_point, describe_trace
from bot.store.rows import Rows, to_rows
from bot.store.store import Store
from bot.telemetry.spanmetrics import SpanMetricRow
from correlators.errors import Saturated
from correlators.model import LogRecord, MetricDataPoint, Trace

log = logging.getLogger("journeywatch.store")

CHUNK_ROWS = 1_000
"""Large submissions are queued in chunks of about this many spans (whole traces), so
that neither side ever holds one huge pickle; the worker coalesces them again."""
_UNSTORABLE = (TypeError, ValueError, OverflowError)
"""What building a row raises on a value no column holds (orjson's range errors are
TypeErrors)."""
T = TypeVar("T")
MAX_DEATHS = 5
"""Writer processes that may die with a batch the oldest in flight before it is given up."""
REASONS_SHOWN = 5
"""The latest quarantine reasons shown on /healthz."""


@dataclass(slots=True)
class WriterStats:
    rows_written: int = 0
    """Spans and logs."""
    transactions: int = 0
    write_errors: int = 0
    """Failed attempts, retries included."""
    items_lost: int = 0
    """Spans and logs of batches that were the oldest in flight through ``MAX_DEATHS``
    writer deaths, or that the database refused when the quarantine could not be written
    either."""
    items_resent: int = 0
    """Spans and logs sent again to a restarted writer process."""
    items_refused: int = 0
    """Spans and logs no row could be built of, left out of their batch so that the rest
    of it is written, and quarantined."""
    items_quarantined: int = 0
    """Spans and logs the database refused, found by splitting their batch, and kept in
    the quarantine table (``bot.store.isolate``)."""
    quarantine_entries: int = 0
    """Entries written to the quarantine table, both kinds."""


class BatchWriter:
    """Queue of writes for one Store, drained by one worker; see the module docstring."""

    def __init__(
        self, store: Store, *, max_pending: int, max_pending_bytes: int = 2**62, process: bool = True
    ) -> None:
        self.store = store
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self.process = process
        self.stats = WriterStats()
        self._outbox: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._lock = threading.Condition()
        self._pending = 0
        self._pending_bytes = 0
        self._submitted = 0
        self._completed = 0
        self._threads: list[threading.Thread] = []
        self._child: subprocess.Popen[bytes] | None = None
        self._stopping = False
        self._inflight: dict[int, _Flight] = {}
        """Sequence -> what was sent to the writer process and not yet acknowledged: sent
        again to the next one if that process dies."""
        self._connection: Connection | None = None
        self._send_lock = threading.Lock()
        """Held while sending, so that a restart's resending comes before anything newer."""
        self.restarts = 0
        self.quarantine_reasons: deque[str] = deque(maxlen=REASONS_SHOWN)
        """The latest reasons of quarantine entries, newest last."""

    @property
    def pending(self) -> int:
        """Spans and logs submitted but not yet written (or given up)."""
        return self._pending

    @property
    def pending_bytes(self) -> int:
        """Bytes of the rows submitted but not yet written (or given up)."""
        return self._pending_bytes

    def full(self) -> bool:
        """Whether a submission now would be refused (either budget reached)."""
        return self._pending >= self.max_pending or self._pending_bytes >= self.max_pending_bytes

    @property
    def submitted(self) -> int:
        """Sequence number of the last submission."""
        return self._submitted

    @property
    def completed(self) -> int:
        """Every submission up to this sequence number is written (or given up)."""
        with self._lock:
            return self._done()

    def _done(self) -> int:
        return min(self._inflight) - 1 if self._inflight else self._completed

    def start(self) -> None:
        if self._threads:
            return
        self._stopping = False
        if self.process:
            self._start_process()
        else:
            channel = QueueChannel(self._outbox, self._acknowledge)
            self._threads = [_thread(self._serve_here, "store-writer", channel)]

    def submit_traces(self, trace_batch: Sequence[Trace]) -> None:
        """Accepted whole or refused whole (Saturated), queued in chunks of whole traces,
        less any trace that no row can hold (``items_refused``). Rows are built before
        anything is reserved, so a failure never leaves rows reserved for ever."""
        self._submit(
            [
                self._rows_of(chunk, lambda traces: to_rows(trace_batch=traces), describe_trace)
                for chunk in _chunks(trace_batch)
            ]
        )

    def submit_logs(self, log_batch: Sequence[LogRecord]) -> None:
        """Accepted whole or refused whole (Saturated), less any record that no row can
        hold (``items_refused``)."""
        if log_batch:
            self._submit([self._rows_of(log_batch, lambda records: to_rows(log_batch=records), describe_log)])

    def submit_metric_points(self, points: Sequence[MetricDataPoint]) -> None:
        """OTLP data points: accepted whole or refused whole (Saturated), as logs are."""
        if points:
            self._submit([self._rows_of(points, lambda batch: to_rows(point_batch=batch), describe_point)])

    def submit_span_metrics(self, rows: Sequence[SpanMetricRow]) -> None:
        """Never refused: rows are few, and losing them would bias the SLIs."""
        if rows:
            self._enqueue(to_rows(metric_rows=rows))

    def flush(self, timeout: float = 10.0) -> None:
        """Block until everything submitted before the call is written (or given up)."""
        with self._lock:
            target = self._submitted
            if self._completed < target and not self._threads:
                raise RuntimeError("store writer is not running: call start() first")
            if not self._lock.wait_for(lambda: self._done() >= target, timeout):
                raise TimeoutError(f"store writer did not drain within {timeout}s")

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is pending, then end the worker."""
        if not self._threads:
            return
        self._stopping = True
        self._outbox.put(None)
        for thread in list(self._threads):
            thread.join(timeout)
        self._end_child(timeout)
        self._child = None
        self._threads = []

    # --- submitting ----------------------------------------------------------------------

    def _rows_of(
        self,
        items: Sequence[T],
        build: Callable[[Sequence[T]], Rows],
        describe: Callable[[T, BaseException], Refused],
    ) -> Rows:
        """Rows of ``items``; when one of them cannot be a row (a value the database cannot
        hold), the rows of all the others, and a quarantine entry for each refused one."""
        try:
            return build(items)
        except _UNSTORABLE:
            rows = Rows()
            for item in items:
                try:
                    rows.extend(build([item]))
                except _UNSTORABLE as exc:
                    refused = describe(item, exc)
                    rows.quarantine.append(refused.row())
                    with self._lock:
                        self.stats.items_refused += refused.items
                    log.warning("left out of a write, no row can hold it: %s", refused.reason)
            return rows

    def _submit(self, batches: Sequence[Rows]) -> None:
        size = sum(rows.size for rows in batches)
        if not size and not any(rows.quarantine for rows in batches):
            return
        self._reserve(size, sum(rows.bytes for rows in batches))
        for rows in batches:
            if rows.size or rows.quarantine:
                self._enqueue(rows)

    def _reserve(self, size: int, nbytes: int) -> None:
        """Count ``size`` rows of ``nbytes`` as pending, or refuse them all when over either
        limit (one batch larger than a limit is let through when nothing else is pending)."""
        with self._lock:
            if self._pending and (
                self._pending + size > self.max_pending
                or self._pending_bytes + nbytes > self.max_pending_bytes
            ):
                raise Saturated(
                    f"store writer has {self._pending} rows ({self._pending_bytes} bytes) pending",
                    retry_after=2,
                )
            self._pending += size
            self._pending_bytes += nbytes

    def _enqueue(self, rows: Rows) -> None:
        with self._lock:
            self._submitted += 1
            sequence = self._submitted
        self._outbox.put((sequence, rows))

    def _acknowledge(self, ack: Ack) -> None:
        with self._lock:
            for sequence in [s for s in self._inflight if s <= ack.last]:
                del self._inflight[sequence]
            self._pending -= ack.size
            self._pending_bytes -= ack.nbytes
            self._completed = ack.last
            self.stats.rows_written += ack.written
            self.stats.transactions += 1
            self.stats.write_errors += ack.errors
            self.stats.items_quarantined += ack.quarantined
            self.stats.quarantine_entries += len(ack.reasons)
            self.quarantine_reasons.extend(ack.reasons)
            self.stats.items_lost += ack.size - ack.written - ack.quarantined
            self._lock.notify_all()

    # --- the worker ----------------------------------------------------------------------

    def _serve_here(self, channel: QueueChannel) -> None:
        serve(self.store, channel)

    def _start_process(self) -> None:
        self._connection = self._spawn()
        self._threads = [
            _thread(self._send, "store-writer-send", None),
            _thread(self._receive, "store-writer-ack", self._connection),
        ]

    def _spawn(self) -> Connection:
        """See bot.store.writer_process for why this is a plain subprocess."""
        ours_socket, theirs = socket.socketpair()
        with theirs:
            self._child = subprocess.Popen(  # noqa: S603 - our interpreter, our module
                [sys.executable, "-m", "bot.store.writer_process", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        ours = Connection(ours_socket.detach())
        ours.send_bytes(self.store.url.encode())
        return ours

    def _send(self, _: object) -> None:
        """Everything submitted, in order, to whichever writer process is current. A send
        that fails (the process died) leaves the item in flight: the restart resends it."""
        while True:
            item = self._outbox.get()
            payload = encode_item(item)
            with self._send_lock:
                if item is not None:
                    with self._lock:
                        self._inflight[item[0]] = _Flight(item[1].size, item[1].bytes, payload)
                assert self._connection is not None
                with contextlib.suppress(OSError, ValueError):  # it died: see _restart
                    self._connection.send_bytes(payload)
            if item is None:
                return

    def _receive(self, connection: Connection) -> None:
        while True:
            try:
                ack = Ack(*connection.recv())
            except (EOFError, OSError):
                if not self._stopping:
                    self._restart()
                connection.close()
                return
            self._acknowledge(ack)

    def _restart(self) -> None:
        """The writer process died (killed, out of memory): start a new one and send it,
        first and in order, what the dead one had not acknowledged, so that ingest neither
        loses it nor answers 503 for ever after."""
        self._end_child(5)
        self.restarts += 1
        connection = self._spawn()
        self._threads[1:] = [_thread(self._receive, "store-writer-ack", connection)]
        with self._send_lock:
            self._connection = connection
            with self._lock:
                flights = sorted(self._inflight.items())
            poison = []
            if flights:
                oldest = flights[0][1]
                oldest.deaths += 1
                if oldest.deaths >= MAX_DEATHS:
                    poison = [flights.pop(0)[0]]
                    self._give_up(poison)
            resent = 0
            for _, flight in flights:
                resent += flight.size
                try:
                    connection.send_bytes(flight.payload)
                except (OSError, ValueError):
                    break  # this one died too: its own receiver restarts it
        with self._lock:
            self.stats.items_resent += resent
        log.error(
            "store writer process ended unexpectedly; restarted, %d spans and logs sent again%s",
            resent,
            f" (batch {poison[0]} given up: the oldest through {MAX_DEATHS} deaths)" if poison else "",
        )

    def _end_child(self, timeout: float) -> None:
        """Wait for the writer process to exit (collecting its status, so no zombie is
        left), ending it after ``timeout``."""
        if self._child is None:
            return
        try:
            self._child.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("store writer process did not stop within %ss; terminating", timeout)
            self._child.terminate()
            self._child.wait(timeout)

    def _give_up(self, sequences: list[int]) -> None:
        with self._lock:
            for sequence in sequences:
                flight = self._inflight.pop(sequence, None)
                size = flight.size if flight else 0
                self._pending -= size
                self._pending_bytes -= flight.nbytes if flight else 0
                self.stats.items_lost += size
                self._completed = max(self._completed, sequence)
            self._lock.notify_all()


@dataclass(slots=True)
class _Flight:
    size: int
    nbytes: int
    payload: bytes
    """As sent: pickled once, sent again as is."""
    deaths: int = 0
    """Writer processes that died with this batch the oldest in flight."""


def _thread(target: Callable[[Any], None], name: str, arg: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=(arg,), name=name, daemon=True)
    thread.start()
    return thread


def _chunks(traces: Sequence[Trace]) -> list[list[Trace]]:
    """Whole traces in chunks of about ``CHUNK_ROWS`` spans."""
    chunks: list[list[Trace]] = [[]]
    spans = 0
    for trace in traces:
        if spans >= CHUNK_ROWS:
            chunks.append([])
            spans = 0
        chunks[-1].append(trace)
        spans += len(trace.spans)
    return chunks
