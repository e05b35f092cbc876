"""What one slow, stalled or greedy client may hold of a real `journeywatch serve` (issue 14,
item 6): request headers and bodies have deadlines, idle keep-alive connections close, the
connection table never exhausts the process's file descriptors and makes room for new
clients, and one address has a bounded number of requests in progress. Throughout, a good
client's batch is served and stored."""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fixtures.bot_server import BotProcess
from tests.test_ingest_http import PROTOBUF, otlp_request

EDGE = {
    "JOURNEYWATCH_HTTP__HEADER_TIMEOUT_S": "2",
    "JOURNEYWATCH_HTTP__BODY_TIMEOUT_S": "2",
    "JOURNEYWATCH_HTTP__KEEP_ALIVE_TIMEOUT_S": "1",
}

PROTOBUF_POST = b"POST /v1/traces HTTP/1.1\r\nhost: bot\r\ncontent-type: application/x-protobuf\r\n"


def address(bot: BotProcess) -> tuple[str, int]:
    parts = urlsplit(bot.url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


@pytest.fixture
def connect() -> Iterator[Callable[[BotProcess], socket.socket]]:
    """Raw client connections, all closed at the end of the test."""
    opened: list[socket.socket] = []

    def open_one(bot: BotProcess) -> socket.socket:
        sock = socket.create_connection(address(bot), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        opened.append(sock)
        return sock

    yield open_one
    for sock in opened:
        sock.close()


def post_good_batch(bot: BotProcess, source: str = "127.0.0.1") -> str:
    """A good client's batch, sent on a fresh connection and answered within 10 s."""
    trace_id = os.urandom(16).hex()
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=bot.url, timeout=10, transport=transport) as http:
        body = otlp_request(trace_id).SerializeToString()
        response = http.post("/v1/traces", content=body, headers=PROTOBUF)
    assert response.status_code == 200, response.text
    return trace_id


def closed_by_server(sock: socket.socket) -> bytes | None:
    """What the server sent before closing, or None while the connection is still open."""
    sock.setblocking(False)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
    except BlockingIOError:
        return data or None  # what came so far, e.g. a 408 ahead of the close
    except ConnectionResetError:
        return data
    finally:
        sock.setblocking(True)


def trickle(socks: list[socket.socket], payload: bytes, every_s: float, for_s: float) -> dict[int, float]:
    """Send ``payload`` a byte every ``every_s`` on each socket, for at most ``for_s``;
    return when each one was closed by the server (seconds from the start)."""
    start = time.monotonic()
    closed: dict[int, float] = {}
    position = 0
    while len(closed) < len(socks) and time.monotonic() - start < for_s:
        for index, sock in enumerate(socks):
            if index in closed:
                continue
            try:
                sock.send(payload[position : position + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed[index] = time.monotonic() - start
        position = min(position + 1, len(payload) - 1)
        readable, _, _ = select.select([s for i, s in enumerate(socks) if i not in closed], [], [], every_s)
        for sock in readable:
            if closed_by_server(sock) is not None:
                closed[socks.index(sock)] = time.monotonic() - start
    return closed


def test_slowloris_headers_are_cut_off_at_the_deadline_while_good_clients_are_served(  # type: ignore[no-untyped-def]
    start_bot, keep_all_config, connect
) -> None:
    bot = start_bot(keep_all_config, **EDGE)
    slow = [connect(bot) for _ in range(20)]
    headers = b"POST /v1/traces HTTP/1.1\r\nhost: bot\r\ncontent-type: application/x-protobuf\r\n" * 4
    good = post_good_batch(bot)
    closed = trickle(slow, headers, every_s=1.0, for_s=8)
    # all 20 dropped about 2 s after connecting, although each kept sending a byte a second
    assert len(closed) == 20, closed
    assert all(1.0 < at < 4.5 for at in closed.values()), closed
    assert post_good_batch(bot)
    assert len(bot.wait_for_trace(good, 3)["spans"]) == 3


def test_a_trickled_body_is_answered_408_and_cut_off(start_bot, keep_all_config, connect) -> None:  # type: ignore[no-untyped-def]
    bot = start_bot(keep_all_config, **EDGE)
    body = otlp_request(os.urandom(16).hex()).SerializeToString()
    sock = connect(bot)
    sock.sendall(
        b"POST /v1/traces HTTP/1.1\r\nhost: bot\r\ncontent-type: application/x-protobuf\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
    )
    start = time.monotonic()
    closed = trickle([sock], body, every_s=0.5, for_s=8)
    assert closed and 1.5 < closed[0] < 4.5, closed
    good = post_good_batch(bot)
    assert len(bot.wait_for_trace(good, 3)["spans"]) == 3
    assert time.monotonic() - start < 15
    log = bot.stop()
    assert "Exception in ASGI application" not in log  # a cut-off client is not a server error


def test_the_408_comes_before_the_close(start_bot, keep_all_config, connect) -> None:  # type: ignore[no-untyped-def]
    bot = start_bot(keep_all_config, **EDGE)
    sock = connect(bot)
    sock.sendall(PROTOBUF_POST + b"content-length: 100\r\n\r\nabc")
    sock.settimeout(6)
    answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert sock.recv(4096) == b""


def test_idle_keep_alive_connections_are_closed(start_bot, keep_all_config, connect) -> None:  # type: ignore[no-untyped-def]
    bot = start_bot(keep_all_config, **EDGE)
    sock = connect(bot)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: bot\r\n\r\n")
    sock.settimeout(6)
    answer = sock.recv(65536)
    start = time.monotonic()
    while chunk := sock.recv(65536):  # the rest of the answer, then the server's close
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert 0.5 < time.monotonic() - start < 3  # the keep-alive timeout is 1 s


def test_oversized_headers_get_431(start_bot, keep_all_config, connect) -> None:  # type: ignore[no-untyped-def]
    bot = start_bot(keep_all_config, JOURNEYWATCH_HTTP__MAX_HEADER_BYTES="4096")
    sock = connect(bot)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: bot\r\nx-filler: " + b"a" * 10_000)
    sock.settimeout(6)
    assert sock.recv(4096).startswith(b"HTTP/1.1 431 ")
    assert sock.recv(4096) == b""
    assert post_good_batch(bot)


def test_idle_connections_past_the_limit_make_room_for_a_good_client(  # type: ignore[no-untyped-def]
    start_bot, keep_all_config, connect
) -> None:
    bot = start_bot(
        keep_all_config, JOURNEYWATCH_HTTP__MAX_CONNECTIONS="16", JOURNEYWATCH_HTTP__HEADER_TIMEOUT_S="60"
    )
    idle = [connect(bot) for _ in range(40)]
    time.sleep(0.5)
    good = post_good_batch(bot)
    # the oldest waiting connections were closed to keep at most 16 open
    assert sum(closed_by_server(sock) is not None for sock in idle) >= 40 - 16
    assert len(bot.wait_for_trace(good, 3)["spans"]) == 3


def test_more_connections_than_file_descriptors_never_lock_out_a_good_client(  # type: ignore[no-untyped-def]
    start_bot, keep_all_config, connect
) -> None:
    """Under a descriptor limit of 256 (the connection limit is lowered to 128), 400
    connections that send nothing would otherwise make every accept fail with EMFILE."""
    bot = start_bot(keep_all_config, nofile=256, JOURNEYWATCH_HTTP__HEADER_TIMEOUT_S="60")
    idle = [connect(bot) for _ in range(400)]
    time.sleep(0.5)
    good = post_good_batch(bot)
    assert len(bot.wait_for_trace(good, 3)["spans"]) == 3
    assert sum(closed_by_server(sock) is not None for sock in idle) >= 400 - 128
    log = bot.stop()
    assert "connection limit lowered from 1000 to 128" in log
    assert "Too many open files" not in log


def test_requests_in_progress_are_limited_per_client_address(start_bot, keep_all_config, connect) -> None:  # type: ignore[no-untyped-def]
    bot = start_bot(
        keep_all_config,
        JOURNEYWATCH_HTTP__MAX_REQUESTS_PER_CLIENT="2",
        JOURNEYWATCH_HTTP__BODY_TIMEOUT_S="60",
    )
    stalled = []
    for _ in range(2):  # headers sent, body still to come: two requests in progress
        sock = connect(bot)
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nhost: bot\r\ncontent-type: application/x-protobuf\r\n")
        sock.sendall(b"content-length: 100\r\n\r\nabc")
        stalled.append(sock)
    time.sleep(0.3)
    with httpx.Client(base_url=bot.url, timeout=10) as http:
        refused = http.post("/v1/traces", content=b"", headers=PROTOBUF)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    # another address is not held back by this one
    assert post_good_batch(bot, source="127.0.0.2")
    for sock in stalled:
        sock.close()
    time.sleep(0.3)
    good = post_good_batch(bot)  # the address's requests ended with its connections
    assert len(bot.wait_for_trace(good, 3)["spans"]) == 3
