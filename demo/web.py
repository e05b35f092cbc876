"""A traced JSON HTTP service on the standard library's ThreadingHTTPServer.

What an HTTP server instrumentation would do, in the open so the demo shows it: each
request continues the caller's trace from its W3C ``traceparent`` (and ``baggage``)
headers in a SERVER span named ``"{method} {route}"`` with ``http.route`` set; the
journey and feature-flag entries of the baggage are copied onto the span (baggage is not
exported by itself); a failure sets the span's status to ERROR, is logged at ERROR with
its cause, and answers 5xx. Handlers raise :class:`HttpError` for answers that are not
200, with the cause in the message.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from demo.control import Extra, FaultSwitches, handle_control
from demo.runtime import Identity, port_from_env, reply_json, serve
from demo.telemetry import Telemetry

log = logging.getLogger("shop.web")
tracer = trace.get_tracer("demo.web")

BAGGAGE_TO_ATTRIBUTES = ("journey.name", "feature_flag.")
"""Baggage entries (exact key, or prefix ending in a dot) put on every server span."""


class HttpError(Exception):
    """An answer other than 200; ``message`` names the cause and is logged for 5xx."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise HttpError(400, f"body is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise HttpError(400, "body must be a JSON object")
        return value


Handler = Callable[[Request], dict[str, Any]]
"""A route: the request in, the JSON body of a 200 answer out (or raise HttpError)."""


@dataclass(slots=True)
class Service:
    """One shop service: its identity, routes (``"GET /search"`` -> handler), faults."""

    identity: Identity
    routes: dict[str, Handler]
    faults: FaultSwitches
    control: dict[str, Extra] = field(default_factory=dict)
    on_fault: Callable[[str, bool], None] = lambda kind, on: None
    _inflight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def server(self, port: int) -> ThreadingHTTPServer:
        handler = type("Handler", (_Handler,), {"service": self})
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        server.daemon_threads = True
        return server

    def drain(self, timeout: float = 3.0) -> None:
        """Wait for requests in flight, so that a rolling restart loses none of them
        (the threads are daemons: idle keep-alive connections must not hold the exit)."""
        deadline = time.monotonic() + timeout
        while self._inflight and time.monotonic() < deadline:
            time.sleep(0.02)

    def _enter(self, delta: int) -> None:
        with self._lock:
            self._inflight += delta


class _Handler(BaseHTTPRequestHandler):
    service: Service
    protocol_version = "HTTP/1.1"
    _received_ns = 0

    def parse_request(self) -> bool:
        """The request line has arrived: the server span starts here, as a server's
        instrumentation starts it when it begins to handle the request, and ends once
        the answer is written, so time the process spends on the request is in it."""
        self._received_ns = time.time_ns()
        return super().parse_request()

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Access logs stay out of the log pipeline (the spans say it all)."""

    def _handle(self) -> None:
        service = self.service
        identity = {
            "service": service.identity.service,
            "instance": service.identity.instance,
            "version": service.identity.version,
        }
        if handle_control(
            self,
            identity=identity,
            faults=service.faults,
            extra=service.control,
            on_change=service.on_fault,
        ):
            return
        service._enter(1)
        try:
            self._traced()
        finally:
            service._enter(-1)

    def _port(self) -> int:
        address = self.server.server_address
        return int(address[1]) if isinstance(address, tuple) else 0

    def _traced(self) -> None:
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        context = propagate.extract(headers)
        attributes: dict[str, Any] = {
            "http.request.method": self.command,
            "http.route": parts.path,
            "url.path": parts.path,
            "server.address": "127.0.0.1",
            "server.port": self._port(),
        }
        for key, value in baggage.get_all(context).items():
            if any(key == k or (k.endswith(".") and key.startswith(k)) for k in BAGGAGE_TO_ATTRIBUTES):
                attributes[key] = str(value)
        route = f"{self.command} {parts.path}"
        token = otel_context.attach(context)  # the baggage, current for the handler
        try:
            with tracer.start_as_current_span(
                route,
                kind=SpanKind.SERVER,
                attributes=attributes,
                start_time=self._received_ns or None,
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                length = int(self.headers.get("content-length") or 0)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=dict(parse_qsl(parts.query)),
                    headers=headers,
                    body=self.rfile.read(length) if length else b"",
                )
                status, body = self._answer(span, route, request)
                span.set_attribute("http.response.status_code", status)
                reply_json(self, status, body)
        finally:
            otel_context.detach(token)

    def _answer(self, span: Span, route: str, request: Request) -> tuple[int, dict[str, Any]]:
        """Run the route; an error becomes the span's status, an ERROR log and a 5xx."""
        handler = self.service.routes.get(route)
        try:
            if handler is None:
                raise HttpError(404, f"no route {route}")
            return 200, handler(request)
        except HttpError as exc:
            if exc.status >= 500:
                span.set_status(Status(StatusCode.ERROR, exc.message))
                log.error("%s failed with %d: %s", route, exc.status, exc.message)
            return exc.status, {"error": exc.message}
        except Exception as exc:
            cause = f"{type(exc).__name__}: {exc}"
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, cause))
            log.exception("%s failed with 500: %s", route, cause)
            return 500, {"error": cause}


def run(service: Service, telemetry: Telemetry) -> None:
    """Serve until stopped (see :mod:`demo.runtime`), then drain and flush telemetry."""

    def stop() -> None:
        service.drain()
        telemetry.shutdown()

    serve(service.server(port_from_env()), on_stop=stop)
