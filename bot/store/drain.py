"""The writer's loop: take what is queued, coalesce it into one transaction, write, ack.

The same loop runs in a thread (``BatchWriter(process=False)``) or in a child process
(the default, see ``bot.store.writer``); only the :class:`Channel` it reads from differs.
Nothing a batch does ends the loop, since a dead writer would silently turn every later
ingest into a 503. A batch the database refuses is split until the refused rows are found
(``bot.store.isolate``): every other row is written, the refused ones go to the
quarantine table with the database's reason. A write that fails because the database
cannot be written at all (disk full, locked, connection gone) is different: the rows are
fine and were acknowledged to their senders, so it is retried, backing off, until the
database takes them; meanwhile the queue fills and ingest answers 503, which is the truth.
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

from bot.store.isolate import Refused, isolate, reason
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
    """What one batch did: the last sequence it covered, spans and logs it was given,
    written, and quarantined (refused by the database), failed attempts, and the reasons
    of the quarantine entries it made (the rows' own net's included)."""

    last: int
    size: int
    written: int
    errors: int
    quarantined: int = 0
    reasons: tuple[str, ...] = ()
    nbytes: int = 0
    """``Rows.bytes`` of what it was given: released from the writer's byte budget."""


class Channel(Protocol):
    def get(self) -> Item | None: ...
    def ready(self) -> bool: ...
    def ack(self, ack: Ack) -> None: ...


class RowWriter(Protocol):
    def write_rows(self, rows: Rows) -> None: ...
    def write_quarantine(self, entries: list[dict[str, Any]]) -> None: ...


def serve(store: RowWriter, channel: Channel) -> None:
    """Write everything the channel delivers until it delivers the stop mark."""
    while True:
        item = channel.get()
        if item is None:
            return
        last, rows, stop = _coalesce(item, channel)
        written, errors, refused = write_batch(store, rows)
        entries = [*(r.row() for r in refused), *rows.quarantine]
        reasons: tuple[str, ...] = ()
        quarantined = 0
        if entries and quarantine(store, entries):
            reasons = tuple(str(entry["reason"]) for entry in entries)
            quarantined = sum(r.items for r in refused)
        channel.ack(Ack(last, rows.size, written, errors, quarantined, reasons, rows.bytes))
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


def write_batch(
    store: RowWriter, rows: Rows, sleep: Callable[[float], None] = time.sleep
) -> tuple[int, int, list[Refused]]:
    """(spans and logs written, failed attempts, what the database refused): a refused
    batch is isolated; each attempt waits as long as the database is unavailable."""
    errors = 0

    def attempt(piece: Rows) -> BaseException | None:
        nonlocal errors
        waits = 0
        while True:
            try:
                store.write_rows(piece)
                return None
            except Exception as exc:  # any failure: the loop must outlive one bad batch
                errors += 1
                if not unavailable(exc):
                    return exc
                wait = UNAVAILABLE_BACKOFF_S[min(waits, len(UNAVAILABLE_BACKOFF_S) - 1)]
                waits += 1
                log.error("store unavailable, %d rows wait (next try in %.1fs): %s", piece.size, wait, exc)
                sleep(wait)

    error = attempt(rows)
    if error is None:
        return rows.size, errors, []
    log.warning(
        "the database refused a batch of %d rows (%s): isolating what it refuses", rows.size, reason(error)
    )
    found = isolate(rows, attempt)
    for refused in found.refused:
        log.error(
            "quarantined a %s the database refused: %s (%s)", refused.kind, refused.what, refused.reason
        )
    return found.written, errors, found.refused


def quarantine(store: RowWriter, entries: list[dict[str, Any]]) -> bool:
    """Write quarantine entries; False (logged) when even that fails: they are lost."""
    try:
        store.write_quarantine(entries)
        return True
    except Exception:  # the loop must outlive it; what is lost is counted by the ack
        log.exception("writing %d quarantine entries failed; the rows they hold are lost", len(entries))
        return False


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
