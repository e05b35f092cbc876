"""The writer's loop: take what is queued, coalesce it into one transaction, write, ack.

The same loop runs in a thread (``BatchWriter(process=False)``) or in a child process
(the default, see ``bot.store.writer``); only the :class:`Channel` it reads from differs.
A failed write is logged, counted and retried once; nothing a batch does ends the loop,
since a dead writer would silently turn every later ingest into a 503. A write that fails
because the database cannot be written at all (disk full, locked, connection gone) is
different: the rows are fine and were acknowledged to their senders, so it is retried,
backing off, until the database takes them; meanwhile the queue fills and ingest answers
503, which is the truth.
"""

from __future__ import annotations

import logging
import pickle
import queue
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, NamedTuple, Protocol

from sqlalchemy.exc import DBAPIError

from bot.store.rows import Rows

log = logging.getLogger("journeywatch.store")

MAX_ROWS_PER_TRANSACTION = 5_000
"""Coalescing stops once a transaction holds this many spans and logs."""
UNAVAILABLE_BACKOFF_S = (0.1, 0.5, 1.0, 2.0, 5.0)
"""Waits between attempts while the database cannot be written; the last one repeats."""
_UNAVAILABLE_SQLITE = ("database or disk is full", "database is locked", "disk i/o error", "unable to open")
_UNAVAILABLE_SQLSTATE = ("08", "53", "57P")
"""PostgreSQL: connection exception, insufficient resources (disk full, out of memory),
operator intervention (shutdown, not yet accepting connections)."""

Item = tuple[int, Rows]
"""(submission sequence number, rows); None on a channel means "stop"."""


class Ack(NamedTuple):
    """What one transaction did: the last sequence it covered, rows it was given, rows
    written (0 when both attempts failed) and failed attempts."""

    last: int
    size: int
    written: int
    errors: int


class Channel(Protocol):
    def get(self) -> Item | None: ...
    def ready(self) -> bool: ...
    def ack(self, ack: Ack) -> None: ...


class RowWriter(Protocol):
    def write_rows(self, rows: Rows) -> None: ...


def serve(store: RowWriter, channel: Channel) -> None:
    """Write everything the channel delivers until it delivers the stop mark."""
    while True:
        item = channel.get()
        if item is None:
            return
        last, rows, stop = _coalesce(item, channel)
        written, errors = write_with_retry(store, rows)
        channel.ack(Ack(last, rows.size, written, errors))
        if stop:
            return


def _coalesce(first: Item, channel: Channel) -> tuple[int, Rows, bool]:
    """Join what is already waiting behind ``first`` into one batch, up to the cap."""
    last, rows = first
    while rows.size < MAX_ROWS_PER_TRANSACTION and channel.ready():
        item = channel.get()
        if item is None:
            return last, rows, True
        last, more = item
        rows.extend(more)
    return last, rows, False


def write_with_retry(
    store: RowWriter, rows: Rows, sleep: Callable[[float], None] = time.sleep
) -> tuple[int, int]:
    """(rows written, failed attempts): one retry, then the batch is given up; as many as
    it takes while the database is unavailable (see the module docstring)."""
    errors = 0
    attempt = 1
    while True:
        try:
            store.write_rows(rows)
            return rows.size, errors
        except Exception as exc:  # any failure: the loop must outlive one bad batch
            errors += 1
            if unavailable(exc):
                wait = UNAVAILABLE_BACKOFF_S[min(errors - 1, len(UNAVAILABLE_BACKOFF_S) - 1)]
                log.error(
                    "store unavailable, %d rows wait (attempt %d, next in %.1fs): %s",
                    rows.size,
                    errors,
                    wait,
                    exc,
                )
                sleep(wait)
                continue
            log.exception("store write of %d rows failed (attempt %d of 2)", rows.size, attempt)
            attempt += 1
            if attempt > 2:
                return 0, errors


def unavailable(exc: BaseException) -> bool:
    """Whether a failed write says the database cannot be written at all, rather than
    that these rows are wrong (an error from SQLAlchemy, possibly wrapped)."""
    cause = exc if isinstance(exc, DBAPIError) else exc.__cause__
    if not isinstance(cause, DBAPIError):
        return False
    if cause.connection_invalidated:
        return True
    sqlstate = getattr(cause.orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith(_UNAVAILABLE_SQLSTATE)
    message = str(cause.orig).lower()
    return any(text in message for text in _UNAVAILABLE_SQLITE)


# --- channels ------------------------------------------------------------------------------


class QueueChannel:
    """In-process: the writer thread reads the submit queue directly."""

    def __init__(self, inbox: queue.SimpleQueue[Item | None], on_ack: Callable[[Ack], None]):
        self._inbox = inbox
        self._on_ack = on_ack

    def get(self) -> Item | None:
        return self._inbox.get()

    def ready(self) -> bool:
        return not self._inbox.empty()

    def ack(self, ack: Ack) -> None:
        self._on_ack(ack)


class PipeChannel:
    """In the writer process: pickled items in, acks out, over one duplex pipe. An
    empty message is the stop mark."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def get(self) -> Item | None:
        payload = self._connection.recv_bytes()
        if not payload:
            return None
        item: Any = pickle.loads(payload)  # noqa: S301 - our own pipe from our own parent
        return int(item[0]), item[1]

    def ready(self) -> bool:
        return self._connection.poll()

    def ack(self, ack: Ack) -> None:
        self._connection.send(tuple(ack))


def encode_item(item: Item | None) -> bytes:
    """The parent's side of :class:`PipeChannel`: one message."""
    if item is None:
        return b""
    return pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
