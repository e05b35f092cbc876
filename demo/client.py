"""Traced outgoing HTTP calls, and round-robin over the instances of a service.

A call is a CLIENT span carrying ``peer.service`` (what the bot names the callee when no
span of the callee joins the trace: an uninstrumented third party, or an instance that
refused the connection) and ``server.address``/``server.port``; the W3C ``traceparent``
and ``baggage`` headers are injected from the current context, so the callee continues
the same trace. A 5xx answer or a failed connection marks the span ERROR with the cause
and raises :class:`UpstreamError`, whose message the caller passes on.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

tracer = trace.get_tracer("demo.client")

TIMEOUT_S = 10.0


class UpstreamError(Exception):
    """A call that failed: connection refused or timed out, or a 5xx answer."""

    def __init__(self, peer: str, status: int | None, cause: str) -> None:
        super().__init__(f"{peer} returned {status}: {cause}" if status else f"{peer} unreachable: {cause}")
        self.peer = peer
        self.status = status
        self.cause = cause


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: dict[str, Any]


def call(method: str, url: str, *, peer: str, body: dict[str, Any] | None = None) -> Reply:
    """One HTTP request in a CLIENT span; 4xx answers are returned, 5xx raise."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    attributes: dict[str, str | int] = {
        "http.request.method": method,
        "url.full": url,
        "server.address": host,
        "server.port": port,
        "peer.service": peer,
    }
    with tracer.start_as_current_span(
        f"{method} {parts.path}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        headers = {"content-type": "application/json", "connection": "close"}
        propagate.inject(headers)
        data = json.dumps(body).encode() if body is not None else None
        connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
        try:
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            connection.request(method, target, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except OSError as exc:
            cause = f"{type(exc).__name__}: {exc}"
            span.set_status(Status(StatusCode.ERROR, f"{peer} unreachable: {cause}"))
            span.set_attribute("error.type", type(exc).__name__)
            raise UpstreamError(peer, None, cause) from exc
        finally:
            connection.close()
        span.set_attribute("http.response.status_code", response.status)
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"error": raw.decode(errors="replace")[:200]}
        if response.status >= 500:
            cause = str(parsed.get("error", response.reason))
            span.set_status(Status(StatusCode.ERROR, f"{peer} returned {response.status}: {cause}"))
            span.set_attribute("error.type", str(response.status))
            raise UpstreamError(peer, response.status, cause)
        return Reply(response.status, parsed if isinstance(parsed, dict) else {"value": parsed})


class Upstream:
    """The instances of one service, taken in turn (what a load balancer would do), so
    that a fault in one instance touches every other request and no more."""

    def __init__(self, name: str, urls: Sequence[str]) -> None:
        if not urls:
            raise ValueError(f"no instances of {name}")
        self.name = name
        self._urls = list(urls)
        self._next = 0
        self._lock = threading.Lock()

    def pick(self) -> str:
        with self._lock:
            url = self._urls[self._next % len(self._urls)]
            self._next += 1
            return url

    def replace(self, urls: Sequence[str]) -> None:
        if not urls:
            raise ValueError(f"no instances of {self.name}")
        with self._lock:
            self._urls = list(urls)

    @property
    def urls(self) -> list[str]:
        with self._lock:
            return list(self._urls)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Reply:
        return call(method, self.pick() + path, peer=self.name, body=body)
