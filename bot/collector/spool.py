"""The ingest spool: what the collector acknowledged, on disk until the store has it.

A 200 from ``/v1/traces`` must mean the spans survive a crash, yet the collector holds
spans in memory for seconds while the tail sampler waits for their trace to go quiet, and
then the store writer holds them a while longer. So each accepted request body is appended
here before it is acknowledged, and replayed through the same path after a restart; a
segment is deleted once everything in it has been stored or decided as dropped (the
collector tells, see :class:`Releases`). The idea is Prometheus' WAL and the OpenTelemetry
Collector's persistent queue; the delivery is at least once (spans are stored idempotently,
by trace and span id; a log record replayed after a crash may be stored twice).

On disk: a directory of segment files named by the log sequence number (LSN, the byte
offset in the whole spool) of their first record. A record is framed as::

    magic "JWS1" | kind (u8) | length (u32) | crc32 of kind, length and payload (u32) | payload

A segment rolls once it holds ``segment_bytes``. A crash can leave the last record torn,
and a disk can return a damaged one: replay checks every frame, skips what fails (counted
in :class:`SpoolStats`) and resynchronises on the next frame whose checksum holds.

Durability follows ``fsync`` (see :class:`bot.settings.SpoolSettings`): ``always`` and
``interval`` acknowledge only after an fdatasync that covers the record, grouping the
requests that wait at the same time (``interval`` waits at most that long for others to
join, bounding the rate of syncs); ``never`` acknowledges once the kernel has the bytes,
which survives the process dying but not the machine.

The spool holds bodies as the client sent them, before redaction (redacting and re-encoding
would cost more than the rest of ingest); the directory and files are private to the user
(0700/0600), and the data lives there only until stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import logging
import os
import struct
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Literal

from correlators.errors import ConfigError, Saturated

log = logging.getLogger("journeywatch.collector")

FsyncPolicy = Literal["always", "interval", "never"]
MAGIC = b"JWS1"
_HEADER = struct.Struct("<4sBII")
"""magic, kind, payload length, crc32."""
_PREFIX = struct.Struct("<4sBI")
HEADER_BYTES = _HEADER.size
_SUFFIX = ".seg"
FULL_RETRY_AFTER_S = 2
DISK_RETRY_AFTER_S = 5


class Kind(IntEnum):
    """What a record's payload is, so replay can decode it as the request was."""

    OTLP_TRACES_PROTOBUF = 1
    OTLP_TRACES_JSON = 2
    OTLP_LOGS_PROTOBUF = 3
    OTLP_LOGS_JSON = 4
    ZIPKIN_JSON = 5
    BOUND = 6
    """A request of another kind sent with a key bound to some services (:func:`bind`):
    replay refuses the other services' items again, as the request did."""
    OTLP_METRICS_PROTOBUF = 7
    OTLP_METRICS_JSON = 8


_KINDS = frozenset(int(kind) for kind in Kind)
_BOUND = struct.Struct("<BI")


def bind(kind: Kind, services: frozenset[str], payload: bytes) -> bytes:
    """The payload of a :attr:`Kind.BOUND` record: the request's kind, the services its
    key may send (JSON), then the request as it came."""
    names = json.dumps(sorted(services)).encode()
    return _BOUND.pack(kind, len(names)) + names + payload


def unbind(payload: bytes) -> tuple[Kind, frozenset[str], bytes]:
    """What :func:`bind` wrapped."""
    kind, length = _BOUND.unpack_from(payload)
    start = _BOUND.size
    names = frozenset(json.loads(payload[start : start + length]))
    return Kind(kind), names, payload[start + length :]


@dataclass(frozen=True, slots=True)
class Record:
    lsn: int
    kind: Kind
    payload: bytes


@dataclass(slots=True)
class SpoolStats:
    records_appended: int = 0
    bytes_appended: int = 0
    syncs: int = 0
    segments_deleted: int = 0
    refused_full: int = 0
    """Appends refused because the spool was at ``max_bytes``."""
    refused_disk: int = 0
    """Appends the file system refused (disk full, I/O error)."""
    sync_errors: int = 0
    records_replayed: int = 0
    records_corrupt: int = 0
    """Records that failed their checksum in the middle of a segment, skipped on replay."""
    torn_tails: int = 0
    """Segments whose end held no whole record (a crash mid-write), skipped on replay."""
    bytes_skipped: int = 0


# --- framing ---------------------------------------------------------------------------


def frame(kind: int, payload: bytes) -> bytes:
    """The header of one record (the payload follows it unchanged)."""
    prefix = _PREFIX.pack(MAGIC, kind, len(payload))
    return prefix + struct.pack("<I", zlib.crc32(payload, zlib.crc32(prefix)))


def _record_at(data: bytes | memoryview, at: int) -> tuple[int, bytes] | None:
    """(kind, payload) of a whole, intact record at ``at``, else None."""
    if len(data) - at < HEADER_BYTES:
        return None
    magic, kind, length, crc = _HEADER.unpack_from(data, at)
    end = at + HEADER_BYTES + length
    if magic != MAGIC or end > len(data) or kind not in _KINDS:
        return None
    payload = bytes(data[at + HEADER_BYTES : end])
    if zlib.crc32(payload, zlib.crc32(data[at : at + _PREFIX.size])) != crc:
        return None
    return kind, payload


def scan(data: bytes, base_lsn: int, stats: SpoolStats) -> Iterator[Record]:
    """The intact records of one segment's bytes, in order. A bad frame is skipped up to
    the next intact one (counted corrupt), or to the end (counted a torn tail)."""
    at = 0
    view = memoryview(data)
    while at < len(data):
        found = _record_at(view, at)
        if found is not None:
            kind, payload = found
            yield Record(base_lsn + at, Kind(kind), payload)
            at += HEADER_BYTES + len(payload)
            continue
        resync = _next_intact(view, data, at + 1)
        stats.bytes_skipped += (resync if resync is not None else len(data)) - at
        if resync is None:
            stats.torn_tails += 1
            return
        stats.records_corrupt += 1
        at = resync


def _next_intact(view: memoryview, data: bytes, start: int) -> int | None:
    at = data.find(MAGIC, start)
    while at != -1:
        if _record_at(view, at) is not None:
            return at
        at = data.find(MAGIC, at + 1)
    return None


# --- segments ----------------------------------------------------------------------------


@dataclass(slots=True)
class Segment:
    start: int
    """LSN of its first byte."""
    path: Path
    size: int = 0
    fd: int | None = None
    """Open while it is the segment appended to."""

    @property
    def end(self) -> int:
        return self.start + self.size


Writer = Callable[[int, Sequence[bytes]], int]


class Spool:
    """Append-only, checksummed segments in one directory, locked to one process."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        segment_bytes: int,
        fsync: FsyncPolicy = "interval",
        fsync_interval_s: float = 0.005,
        write: Writer = os.writev,
    ) -> None:
        """``write`` is ``os.writev``; tests pass one that fails as a full disk does."""
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.fsync_interval_s = fsync_interval_s
        self.stats = SpoolStats()
        self._write = write
        self.refusing: str | None = None
        """Why the last append was refused, until one succeeds: /healthz shows it."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_fd = _lock(directory)
        self._segments: deque[Segment] = deque(_existing_segments(directory))
        self._held = sum(segment.size for segment in self._segments)
        self._unreplayed = list(self._segments)
        self._head = self._segments[-1].end if self._segments else 0
        self._current: Segment | None = None
        self._synced = self._head
        self._to_sync: list[int] = []
        """Duplicated descriptors of rolled segments with bytes not yet synced."""
        self._dir_dirty = False
        self._sync_task: asyncio.Future[None] | None = None
        self._last_sync = 0.0

    # --- state ---------------------------------------------------------------------------

    @property
    def head(self) -> int:
        """LSN just past the last record appended."""
        return self._head

    @property
    def bytes_held(self) -> int:
        return self._held

    @property
    def segments(self) -> int:
        return len(self._segments)

    def full(self) -> bool:
        return self.bytes_held >= self.max_bytes

    # --- replay --------------------------------------------------------------------------

    def replay(self) -> Iterator[Record]:
        """The intact records the spool held when it was opened, oldest first. They stay on
        disk until released, so a crash during replay replays them again."""
        for segment in self._unreplayed:
            for record in scan(segment.path.read_bytes(), segment.start, self.stats):
                self.stats.records_replayed += 1
                yield record
        self._unreplayed = []

    # --- appending -----------------------------------------------------------------------

    def append(self, kind: Kind, payload: bytes) -> int:
        """Write one record (not yet synced, see :meth:`durable`) and return its LSN, or
        raise :class:`Saturated` when the spool is at its size or the disk refuses."""
        size = HEADER_BYTES + len(payload)
        held = self._held
        if held and held + size > self.max_bytes:
            self.stats.refused_full += 1
            self._refuse(f"the ingest spool holds {held} bytes, its limit is {self.max_bytes}")
            raise Saturated("the ingest spool is full; retry later", retry_after=FULL_RETRY_AFTER_S)
        try:
            segment = self._current or self._open_segment()
            self._write_fully(segment, [frame(kind, payload), payload])
        except OSError as exc:
            self.stats.refused_disk += 1
            reason = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else str(exc)
            self._refuse(f"the ingest spool cannot be written: {reason}")
            raise Saturated(
                f"the ingest spool cannot be written ({reason}); retry later", retry_after=DISK_RETRY_AFTER_S
            ) from None
        lsn = self._head
        segment.size += size
        self._held += size
        self._head += size
        self.stats.records_appended += 1
        self.stats.bytes_appended += size
        self.refusing = None
        if segment.size >= self.segment_bytes:
            self._roll()
        return lsn

    def _refuse(self, reason: str) -> None:
        if self.refusing != reason:
            log.warning("%s: ingest answers 503", reason)
        self.refusing = reason

    def _open_segment(self) -> Segment:
        path = self.directory / f"{self._head:020d}{_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        segment = Segment(self._head, path, 0, fd)
        self._segments.append(segment)
        self._current = segment
        self._dir_dirty = True
        return segment

    def _write_fully(self, segment: Segment, parts: list[bytes]) -> None:
        """All of ``parts`` or nothing: a short write (the disk filled up in the middle) is
        cut back off, so the segment never holds a torn record it could append after."""
        assert segment.fd is not None
        want = sum(len(part) for part in parts)
        try:
            written = self._write(segment.fd, parts)
        except OSError:
            self._truncate(segment)
            raise
        if written != want:
            self._truncate(segment)
            raise OSError(errno.ENOSPC, f"short write: {written} of {want} bytes")

    def _truncate(self, segment: Segment) -> None:
        assert segment.fd is not None
        with contextlib.suppress(OSError):
            os.ftruncate(segment.fd, segment.size)

    def _roll(self) -> None:
        """Close the segment appended to; the next append starts a new one."""
        segment = self._current
        if segment is None or segment.fd is None:
            return
        if self.fsync != "never" and segment.end > self._synced:
            self._to_sync.append(os.dup(segment.fd))
        os.close(segment.fd)
        segment.fd = None
        self._current = None

    # --- durability ------------------------------------------------------------------------

    async def durable(self, lsn: int | None = None) -> None:
        """Return once every record up to ``lsn`` (default: all appended so far) is as
        durable as the policy makes it; :class:`Saturated` when the sync failed."""
        target = self._head if lsn is None else lsn
        if self.fsync == "never":
            return
        while self._synced < target:
            if self._sync_task is None:
                self._sync_task = asyncio.ensure_future(self._sync_soon())
            await asyncio.shield(self._sync_task)

    async def _sync_soon(self) -> None:
        """One group commit: wait out the interval, then sync everything appended so far,
        off the event loop. Requests that arrive meanwhile join this sync or the next."""
        try:
            if self.fsync == "interval":
                wait = self._last_sync + self.fsync_interval_s - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            target = self._head
            fds, self._to_sync = self._to_sync, []
            if self._current is not None and self._current.fd is not None:
                fds.append(os.dup(self._current.fd))
            if self._dir_dirty:
                fds.append(os.open(self.directory, os.O_RDONLY | os.O_CLOEXEC))
                self._dir_dirty = False
            try:
                await asyncio.to_thread(_sync_all, fds)
            except OSError as exc:
                self.stats.sync_errors += 1
                self._refuse(f"the ingest spool cannot be synced: {exc}")
                raise Saturated(f"the ingest spool cannot be synced ({exc})", DISK_RETRY_AFTER_S) from None
            self.stats.syncs += 1
            self._last_sync = time.monotonic()
            self._synced = max(self._synced, target)
        finally:
            self._sync_task = None

    # --- release -----------------------------------------------------------------------

    def release_below(self, lsn: int) -> None:
        """Delete every segment whose records all lie below ``lsn``: the store has them or
        they were dropped by sampling. The segment appended to goes too when it is wholly
        below (the next append starts a new one)."""
        while self._segments and self._segments[0].end <= lsn:
            segment = self._segments[0]
            if segment is self._current:
                self._roll()
            if segment in self._unreplayed:
                return
            self._segments.popleft()
            self._held -= segment.size
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()
            self.stats.segments_deleted += 1
            self.refusing = None  # room was made: the next append finds out again

    def close(self) -> None:
        self._roll()
        for fd in self._to_sync:
            os.close(fd)
        self._to_sync = []
        os.close(self._lock_fd)


def _sync_all(fds: list[int]) -> None:
    try:
        for fd in fds:
            os.fdatasync(fd)
    finally:
        for fd in fds:
            os.close(fd)


def _lock(directory: Path) -> int:
    """One process per spool: two appending to it would interleave their records."""
    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(f"the ingest spool {directory} is in use by another journeywatch process") from None
    return fd


def _existing_segments(directory: Path) -> list[Segment]:
    found = []
    for path in directory.glob(f"*{_SUFFIX}"):
        if path.stem.isdigit():
            found.append(Segment(int(path.stem), path, path.stat().st_size))
    found.sort(key=lambda segment: segment.start)
    for segment in found:
        if not segment.size:  # opened, then the first write failed
            segment.path.unlink()
    return [segment for segment in found if segment.size]


class Releases:
    """When spooled records may be deleted.

    The collector knows, at each tick, an LSN ``floor`` below which no record's items are
    still with it (none buffered for a sampling decision, none held back from the writer,
    none still to replay); what it handed to the writer by then is covered by the writer's
    sequence number at that moment. So each tick notes (writer sequence, floor), and once
    the writer has acknowledged that sequence everything below the floor is stored, or was
    dropped on purpose, and its segments go.
    """

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self._waiting: deque[tuple[int, int]] = deque()
        self._noted = -1

    def note(self, floor: int, writer_sequence: int) -> None:
        if floor > self._noted:
            self._noted = floor
            self._waiting.append((writer_sequence, floor))

    def settle(self, writer_completed: int) -> None:
        released = None
        while self._waiting and self._waiting[0][0] <= writer_completed:
            released = self._waiting.popleft()[1]
        if released is not None:
            self.spool.release_below(released)
