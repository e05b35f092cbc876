"""Requests in progress per remote address, and a quiet end for requests whose client went
away (or was cut off by a read deadline) mid-body.

An ASGI middleware rather than a protocol hook: a request is "in progress" from the app's
point of view (until its response is sent), and the answer past the limit is an ordinary
HTTP response. The address is the ASGI scope's client, i.e. after uvicorn applied
``X-Forwarded-For`` from its trusted proxies (FORWARDED_ALLOW_IPS, loopback by default), so
behind a local reverse proxy each real client is counted, not the proxy.
"""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("journeywatch.edge")

RETRY_AFTER_S = 1


class PerClientLimit:
    """At most ``limit`` requests in progress from one address; more get 429 with
    ``Retry-After`` (OTLP exporters retry it). The table holds only addresses with a
    request in progress, so its size is bounded by the connection limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_progress: dict[str, int] = {}
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else ""
        count = self.in_progress.get(address, 0)
        if count >= self.limit:
            self.refused += 1
            await _too_many(send, self.limit)
            return
        self.in_progress[address] = count + 1
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            # the client left, or the server cut it off for trickling its body: nobody is
            # there to answer, and it is not the server's error
            log.info("client %s went away before its request body was complete", address)
        finally:
            left = self.in_progress[address] - 1
            if left:
                self.in_progress[address] = left
            else:
                del self.in_progress[address]


async def _too_many(send: Send, limit: int) -> None:
    body = f"more than {limit} requests in progress from this address; retry later".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(RETRY_AFTER_S).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
