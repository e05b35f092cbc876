"""An external payment provider's API, stubbed: a separate process with no telemetry.

It stands for a third party the shop cannot instrument: the bot only ever sees it
through the payments service's CLIENT spans (``peer.service=payment-provider``). With
the ``payment-errors`` fault on, about 60% of charges fail with 500 and a reason.
It imports nothing from OpenTelemetry, on purpose.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from demo.control import FaultSwitches, handle_control
from demo.runtime import port_from_env, reply_json, serve

PAYMENT_ERRORS = "payment-errors"
FAILURE_RATE = 0.6
LATENCY_S = (0.02, 0.06)


class ProviderHandler(BaseHTTPRequestHandler):
    faults = FaultSwitches((PAYMENT_ERRORS,))
    identity = {"service": "payment-provider", "instance": os.environ.get("SHOP_INSTANCE", "provider-1")}
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if not handle_control(self, identity=self.identity, faults=self.faults):
            reply_json(self, 404, {"error": "not found"})

    def do_POST(self) -> None:
        if handle_control(self, identity=self.identity, faults=self.faults):
            return
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path != "/v1/charges":
            reply_json(self, 404, {"error": "not found"})
            return
        time.sleep(random.uniform(*LATENCY_S))
        if self.faults.on(PAYMENT_ERRORS) and random.random() < FAILURE_RATE:
            reply_json(self, 500, {"error": "card processor unavailable (acquirer timeout)"})
            return
        reply_json(self, 200, {"charge_id": f"ch_{uuid.uuid4().hex[:16]}", "status": "succeeded"})

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port_from_env()), ProviderHandler)
    server.daemon_threads = True
    serve(server)


if __name__ == "__main__":
    main()
