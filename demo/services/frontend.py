"""frontend: the entry of every journey, and the checkout logic.

``POST /login``, ``GET /search?q=`` and ``POST /checkout`` are the root spans of the
login, search and checkout journeys (``config/journeys.yaml`` matches them by root
service and operation). The caller is known from ``x-session-id`` and ``x-user-id``
headers, standing in for a session cookie; the frontend puts on its root span what an
on-call engineer filters by (``session.id``, ``enduser.id``, ``user.tier`` and the
``feature_flag.new_pricing`` variant) and sends ``journey.name`` and the flag variant
downstream as W3C baggage, so that every service prices with the same variant.

Checkout: auth checks the session (Node), catalog quotes the cart, payments charges it,
orders writes it. A failure downstream answers 502 with the whole chain of causes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from opentelemetry import baggage, context, trace

from demo import data
from demo.client import Reply, Upstream, UpstreamError
from demo.control import FaultSwitches
from demo.runtime import Identity, upstreams_from_env
from demo.telemetry import setup
from demo.web import HttpError, Request, Service, run

log = logging.getLogger("shop.frontend")
FLAG = "feature_flag.new_pricing"
DOWNSTREAM = ("auth", "catalog", "payments", "orders")


class Frontend:
    def __init__(self, upstreams: dict[str, Upstream]) -> None:
        self.upstreams = upstreams

    def login(self, request: Request) -> dict[str, Any]:
        with self._journey("login", request) as user:
            reply = self._call("auth", "POST", "/login", {"user": user})
            if reply.status != 200:
                raise HttpError(reply.status, f"login refused: {reply.body.get('error')}")
            return {"user": user, "tier": reply.body.get("tier")}

    def search(self, request: Request) -> dict[str, Any]:
        with self._journey("search", request):
            query = request.query.get("q", "")
            reply = self._call("catalog", "GET", f"/search?q={quote(query, safe='')}")
            if reply.status != 200:
                raise HttpError(reply.status, str(reply.body.get("error")))
            return reply.body

    def checkout(self, request: Request) -> dict[str, Any]:
        with self._journey("checkout", request) as user:
            items = [str(item) for item in request.json().get("items", [])]
            if not items:
                raise HttpError(400, "the cart is empty")
            session = self._call("auth", "POST", "/session", {"user": user})
            if session.status != 200:
                raise HttpError(401, f"not logged in: {session.body.get('error')}")
            priced = self._call("catalog", "GET", f"/price?items={','.join(items)}")
            if priced.status != 200:
                raise HttpError(priced.status, str(priced.body.get("error")))
            total = int(priced.body["total_cents"])
            order_id = uuid.uuid4().hex[:16]
            trace.get_current_span().set_attribute("cart.items", len(items))
            payment = self._call("payments", "POST", "/pay", {"order_id": order_id, "amount_cents": total})
            if payment.status != 200:
                raise HttpError(payment.status, str(payment.body.get("error")))
            self._call(
                "orders",
                "POST",
                "/orders",
                {"order_id": order_id, "user": user, "items": items, "total_cents": total},
            )
            log.info("checkout complete: %d items, %.2f EUR", len(items), total / 100)
            return {"order_id": order_id, "total_cents": total}

    def set_upstreams(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /_upstreams {"catalog": [urls]}``: the shop's rolling restarts swap
        instances here, as a load balancer's target list would change."""
        for name, urls in body.items():
            if name not in self.upstreams:
                raise ValueError(f"unknown upstream {name!r}; known: {sorted(self.upstreams)}")
            self.upstreams[name].replace([str(url) for url in urls])
        return {name: upstream.urls for name, upstream in self.upstreams.items()}

    @contextmanager
    def _journey(self, journey: str, request: Request) -> Iterator[str]:
        """Who is asking, on the root span; journey and flag variant into the baggage."""
        user = request.headers.get("x-user-id") or str(request.json().get("user", ""))
        if not user:
            raise HttpError(401, "no user")
        flag = data.new_pricing(user)
        span = trace.get_current_span()
        span.set_attribute("journey.name", journey)
        span.set_attribute("session.id", request.headers.get("x-session-id", ""))
        span.set_attribute("enduser.id", user)
        span.set_attribute("user.tier", data.tier_of(user))
        span.set_attribute(FLAG, flag)
        carried = baggage.set_baggage(FLAG, flag, baggage.set_baggage("journey.name", journey))
        token = context.attach(carried)
        try:
            yield user
        finally:
            context.detach(token)

    def _call(self, name: str, method: str, path: str, body: dict[str, Any] | None = None) -> Reply:
        try:
            return self.upstreams[name].call(method, path, body)
        except UpstreamError as exc:
            raise HttpError(502, str(exc)) from None


def main() -> None:
    identity = Identity.from_env()
    telemetry = setup(identity)
    urls = upstreams_from_env()
    frontend = Frontend({name: Upstream(name, urls[name]) for name in DOWNSTREAM})
    service = Service(
        identity,
        {"POST /login": frontend.login, "GET /search": frontend.search, "POST /checkout": frontend.checkout},
        FaultSwitches(()),
        control={"/_upstreams": frontend.set_upstreams},
    )
    run(service, telemetry)


if __name__ == "__main__":
    main()
