"""Connection-level limits uvicorn does not have: header and body read deadlines, a cap on
header bytes, and a connection table that makes room for a new client by closing an idle
or stalled one.

uvicorn arms a timer only between requests on a keep-alive connection, and any byte
cancels it: a client that opens a connection and sends its headers a byte at a time holds
a file descriptor for ever. Its ``limit_concurrency`` counts those stalled connections and
answers 503 to *every* new request once they fill it, which is the denial of service
itself. So the limits live here, in a subclass of uvicorn's httptools protocol (the one
``uvicorn[standard]`` picks): it sees the parser's events (message begin, headers
complete, message complete, response complete), which is where each deadline starts and
ends, and it can close a transport, which an ASGI middleware cannot.

Deadlines are totals, not gaps between bytes: a byte every few seconds resets nothing.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import resource
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("journeywatch.edge")

FD_RESERVE = 128
"""File descriptors kept back from connections: the database and its journal, the writer's
pipes, outgoing calls to sources and Slack (their pools), log files."""


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float
    body_timeout_s: float
    max_header_bytes: int
    max_connections: int


class Phase(enum.Enum):
    WAITING = "waiting"
    """No request in progress: a fresh connection, an idle keep-alive one, or one whose
    request line and headers are still arriving. Such a connection may be closed to make
    room."""
    REQUEST = "request"
    """Headers complete, response not yet: the app owns it, it is never evicted."""


class ConnectionTable:
    """The open connections in the order they were opened, each with its phase."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[GuardedProtocol, None] = {}
        self.evicted = 0
        self.refused = 0

    def admit(self, connection: GuardedProtocol) -> bool:
        """Make room for ``connection``: close the oldest waiting connection when full; if
        every one is mid-request, refuse the newcomer (False). Either way the process never
        holds more than ``limit`` + 1 connections, so it does not run out of descriptors."""
        if len(self._open) >= self.limit:
            victim = next((c for c in self._open if c.phase is Phase.WAITING), None)
            if victim is None:
                self.refused += 1
                return False
            self.evicted += 1
            self.discard(victim)
            victim.close_for("evicted: the connection limit is reached and it had no request in progress")
        self._open[connection] = None
        return True

    def discard(self, connection: GuardedProtocol) -> None:
        self._open.pop(connection, None)

    def __len__(self) -> int:
        return len(self._open)


def effective_connection_limit(configured: int) -> int:
    """``configured``, lowered to what the descriptor limit leaves after ``FD_RESERVE``:
    past that the accept loop would fail with EMFILE and no client would get in."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    room = max(8, soft - FD_RESERVE)
    if room < configured:
        log.warning(
            "connection limit lowered from %d to %d: the file-descriptor limit is %d "
            "(raise it with ulimit -n for more)",
            configured,
            room,
            soft,
        )
    return min(configured, room)


_TIMEOUT_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_TOO_LARGE_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
)
_FULL_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\nretry-after: 1\r\n\r\n"
)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines and the connection table; see the module
    docstring. Each server gets its own subclass from :func:`guarded_protocol`."""

    limits: ClassVar[ConnectionLimits]
    table: ClassVar[ConnectionTable]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.phase = Phase.WAITING
        self._deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._reading_body = False

    # --- the connection ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        if not self.table.admit(self):
            self.transport.write(_FULL_503)
            self.transport.close()
            return
        self._arm(self.limits.header_timeout_s, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.table.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.phase is Phase.WAITING and not self._reading_body:
            # everything in this chunk came before the headers were complete
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes and not self.transport.is_closing():
                log.info("closing %s: headers over %d bytes", self.client, self.limits.max_header_bytes)
                self.transport.write(_TOO_LARGE_431)
                self.transport.close()

    def close_for(self, reason: str) -> None:
        log.info("closing %s: %s", self.client, reason)
        self.transport.close()

    # --- the parser's events ----------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        if self._deadline is None:  # a fresh connection's deadline is already running
            self._arm(self.limits.header_timeout_s, "headers")

    def on_headers_complete(self) -> None:
        self._disarm()
        self.phase = Phase.REQUEST
        self._reading_body = True
        self._arm(self.limits.body_timeout_s, "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading_body = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self.phase = Phase.WAITING
        super().on_response_complete()

    # --- deadlines --------------------------------------------------------------------

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, what: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.info("closing %s: the request %s did not arrive in time", self.client, what)
        answerable = self.phase is Phase.WAITING if what == "headers" else not self.cycle.response_started
        if answerable:  # else a response is under way on this connection: just close
            self.transport.write(_TIMEOUT_408)
        self.transport.close()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedProtocol]:
    """A protocol class for one server: its own limits and its own connection table."""
    return type(
        "ServerProtocol",
        (GuardedProtocol,),
        {"limits": limits, "table": ConnectionTable(limits.max_connections)},
    )
