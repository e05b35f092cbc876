"""How a shop process lives: who it is, where it listens, and when it stops.

Every service process (Python here, Node in ``node/auth.js``, same contract) is told who
it is through ``SHOP_*`` environment variables, binds 127.0.0.1 on ``SHOP_PORT`` (0: any
free port), prints one JSON line ``{"listening": PORT}`` on stdout once its socket
accepts connections, and serves until one of two things happens:

- SIGTERM, from :class:`demo.shop.Shop` stopping it: it finishes, flushes its telemetry
  and exits;
- end of file on its standard input, the "lifeline" pipe its parent holds open: the
  parent is gone (even killed with SIGKILL, where no clean-up of the parent runs), so the
  process must not outlive it as an orphan.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class Identity:
    """What the service says it is, on every span and log record (resource attributes)."""

    service: str
    version: str
    instance: str
    zone: str

    @classmethod
    def from_env(cls) -> Identity:
        service = os.environ["SHOP_SERVICE"]
        return cls(
            service=service,
            version=os.environ.get("SHOP_VERSION", "1.0.0"),
            instance=os.environ.get("SHOP_INSTANCE", f"{service}-1"),
            zone=os.environ.get("SHOP_ZONE", "demo-a"),
        )


def upstreams_from_env() -> dict[str, list[str]]:
    """``SHOP_UPSTREAMS``: a JSON object of service name -> base URLs of its instances."""
    value: dict[str, list[str]] = json.loads(os.environ.get("SHOP_UPSTREAMS", "{}"))
    return value


def port_from_env() -> int:
    return int(os.environ.get("SHOP_PORT", "0"))


def database_from_env() -> str:
    return os.environ["SHOP_DATABASE"]


POLL_S = 0.05
"""How often the accept loop checks for shutdown (the standard library's 0.5 s makes
every stop half a second slower)."""


def serve(server: ThreadingHTTPServer, *, on_stop: Callable[[], Any] = lambda: None) -> None:
    """Serve until SIGTERM or the lifeline closes, then shut down cleanly."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=_watch_lifeline, args=(stop,), name="lifeline", daemon=True).start()
    threading.Thread(target=server.serve_forever, args=(POLL_S,), name="serve", daemon=True).start()
    print(json.dumps({"listening": server.server_address[1]}), flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    on_stop()


def _watch_lifeline(stop: threading.Event) -> None:
    """Read the raw descriptor, not ``sys.stdin``: a daemon thread blocked inside the
    buffered reader holds its lock, and the interpreter cannot finalize past it."""
    if sys.stdin is None or sys.stdin.isatty():
        return
    fd = sys.stdin.fileno()
    while os.read(fd, 4096):
        pass
    stop.set()


def reply_json(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    """One JSON answer with its length, for every demo process's handler."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
