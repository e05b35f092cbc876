"""The control interface every shop process has: ``/_health`` and ``/_fault``.

``POST /_fault {"kind": "db-slow", "on": true}`` switches a simulated fault on or off in
that one process; ``GET /_health`` says who the process is and which faults are on. The
endpoints answer callers on the loopback interface only (the processes bind 127.0.0.1
anyway; the check keeps it so if someone binds them wider), are never traced (they are
the operator's hand, not the shop's traffic), and use no OpenTelemetry, so that the
uninstrumented provider stub can share them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from demo.runtime import reply_json

LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})

Extra = Callable[[dict[str, Any]], dict[str, Any]]
"""A process-specific control action: the JSON body in, the JSON answer out."""


class FaultSwitches:
    """The faults a process can simulate, and which are on. Thread-safe: request threads
    read them while the control endpoint flips them."""

    def __init__(self, kinds: Iterable[str]) -> None:
        self.kinds = frozenset(kinds)
        self._on: set[str] = set()
        self._lock = threading.Lock()

    def on(self, kind: str) -> bool:
        return kind in self._on

    def set(self, kind: str, on: bool) -> None:
        if kind not in self.kinds:
            raise ValueError(f"this process simulates {sorted(self.kinds) or 'no faults'}, not {kind!r}")
        with self._lock:
            if on:
                self._on.add(kind)
            else:
                self._on.discard(kind)

    def active(self) -> list[str]:
        with self._lock:
            return sorted(self._on)


def handle_control(
    handler: BaseHTTPRequestHandler,
    *,
    identity: dict[str, str],
    faults: FaultSwitches,
    extra: dict[str, Extra] | None = None,
    on_change: Callable[[str, bool], None] = lambda kind, on: None,
) -> bool:
    """Answer the request if it is a control request (True), else leave it (False).

    ``extra`` adds process-specific control paths, such as the frontend's
    ``POST /_upstreams``; ``on_change`` lets a process act when a fault flips (the CPU
    hog starts its busy thread)."""
    path = handler.path.split("?", 1)[0]
    actions = extra or {}
    if path not in ("/_health", "/_fault", *actions):
        return False
    if handler.client_address[0] not in LOOPBACK:
        reply_json(handler, HTTPStatus.FORBIDDEN, {"error": "control endpoints answer loopback callers only"})
        return True
    if path == "/_health":
        reply_json(handler, HTTPStatus.OK, {**identity, "faults": faults.active()})
        return True
    if handler.command != "POST":
        reply_json(handler, HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"use POST {path}"})
        return True
    try:
        body = json.loads(handler.rfile.read(int(handler.headers.get("content-length") or 0)) or b"{}")
        if path == "/_fault":
            kind, on = str(body["kind"]), bool(body.get("on", True))
            faults.set(kind, on)
            on_change(kind, on)
            answer: dict[str, Any] = {**identity, "faults": faults.active()}
        else:
            answer = actions[path](body)
    except (ValueError, KeyError, TypeError) as exc:
        reply_json(handler, HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        return True
    reply_json(handler, HTTPStatus.OK, answer)
    return True
