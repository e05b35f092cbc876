"""payments: charges a cart through the external payment provider.

``POST /pay {"order_id", "amount_cents"}`` calls the provider's ``POST /v1/charges`` in a
CLIENT span with ``peer.service=payment-provider``. The provider sends no telemetry, so
when it fails (the ``payment-errors`` fault, switched on in the provider stub) the error
originates in that client span and the bot blames the ``payment-provider`` dependency;
payments answers 502 with the provider's reason and logs it at ERROR.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace

from demo.client import Upstream, UpstreamError
from demo.control import FaultSwitches
from demo.runtime import Identity, upstreams_from_env
from demo.telemetry import setup
from demo.web import HttpError, Request, Service, run

PROVIDER = "payment-provider"
log = logging.getLogger("shop.payments")


class Payments:
    def __init__(self, provider: Upstream) -> None:
        self._provider = provider

    def pay(self, request: Request) -> dict[str, Any]:
        body = request.json()
        order_id, cents = str(body.get("order_id", "")), int(body.get("amount_cents", 0))
        if not order_id or cents <= 0:
            raise HttpError(400, "order_id and a positive amount_cents are required")
        span = trace.get_current_span()
        span.set_attribute("payment.amount", round(cents / 100, 2))
        span.set_attribute("payment.currency", "EUR")
        try:
            reply = self._provider.call("POST", "/v1/charges", {"amount": cents, "currency": "EUR"})
        except UpstreamError as exc:
            raise HttpError(502, f"charge failed: {exc}") from None
        if reply.status != 200:
            raise HttpError(402, f"card declined: {reply.body.get('error', reply.status)}")
        log.info("charged %.2f EUR", cents / 100)
        return {"order_id": order_id, "charge_id": reply.body.get("charge_id")}


def main() -> None:
    identity = Identity.from_env()
    telemetry = setup(identity)
    provider = Upstream(PROVIDER, upstreams_from_env()[PROVIDER])
    service = Service(identity, {"POST /pay": Payments(provider).pay}, FaultSwitches(()))
    run(service, telemetry)


if __name__ == "__main__":
    main()
