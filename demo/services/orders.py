"""orders: writes a paid order to the shared database (the last step of checkout).

The ``n-plus-one`` fault switches on what a hurried feature would ship: the order
confirmation's "recommended for you" block. Orders then reads the customer's order
history and the products related to the cart, one query after the other though neither
needs the other's answer, and stores the 12 products it recommends with one INSERT each
instead of one multi-row INSERT. Each of those statements costs what it would cost a
database server (:mod:`demo.db`): the history is a scan of ``orders`` by a column with no
index, and every INSERT is a round trip. Together they add about 0.8 s to checkout.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from opentelemetry import trace

from demo.control import FaultSwitches
from demo.db import DB_SLOW, Database, DatabaseError
from demo.runtime import Identity, database_from_env
from demo.telemetry import setup
from demo.web import HttpError, Request, Service, run

N_PLUS_ONE = "n-plus-one"
RECOMMENDED = 12
HISTORY_S = 0.18
"""The customer's order history: ``orders`` scanned by ``user_id``, which has no index."""
RELATED_S = 0.15
"""Products of the cart's categories, sorted: a second scan."""
ROUND_TRIP_S = 0.04
"""One INSERT's round trip to a busy database server."""

log = logging.getLogger("shop.orders")
tracer = trace.get_tracer("demo.orders")


class Orders:
    def __init__(self, database: Database, faults: FaultSwitches) -> None:
        self._db = database
        self._faults = faults

    def place(self, request: Request) -> dict[str, Any]:
        body = request.json()
        try:
            order_id, user, items = str(body["order_id"]), str(body["user"]), list(body["items"])
            total = int(body["total_cents"])
        except (KeyError, TypeError, ValueError) as exc:
            raise HttpError(400, f"order_id, user, items and total_cents are required: {exc}") from None
        try:
            picks = (
                self._recommend(user, [str(item) for item in items]) if self._faults.on(N_PLUS_ONE) else []
            )
            self._db.execute(
                "INSERT INTO orders (id, user_id, items, total_cents) VALUES (?, ?, ?, ?)",
                (order_id, user, json.dumps(items), total),
                table="orders",
            )
            for rank, product in enumerate(picks):  # the N+1: one INSERT per row
                self._db.execute(
                    "INSERT INTO order_recommendations (order_id, product_id, rank) VALUES (?, ?, ?)",
                    (order_id, product, rank),
                    table="order_recommendations",
                    server_s=ROUND_TRIP_S,
                )
        except DatabaseError as exc:
            raise HttpError(500, f"order not saved: {exc}") from None
        log.info("order placed with %d items", len(items))
        return {"order_id": order_id, "status": "placed"}

    def _recommend(self, user: str, items: list[str]) -> list[str]:
        """What to recommend: the history and the related products are read one after the
        other, though neither query needs the other's answer."""
        history = self._db.query(
            "SELECT COUNT(*) AS orders, COALESCE(SUM(total_cents), 0) AS spent FROM orders WHERE user_id = ?",
            (user,),
            table="orders",
            server_s=HISTORY_S,
        )
        marks = ",".join("?" * len(items))
        related = self._db.query(
            f"SELECT id FROM products WHERE category IN (SELECT category FROM products WHERE id IN ({marks}))"  # noqa: S608
            f" AND id NOT IN ({marks}) ORDER BY price_cents DESC LIMIT {RECOMMENDED}",
            (*items, *items),
            table="products",
            server_s=RELATED_S,
        )
        with tracer.start_as_current_span("recommendations.rank") as span:
            loyal = int(history[0]["orders"]) if history else 0
            span.set_attribute("customer.orders", loyal)
            return [row["id"] for row in related]


def main() -> None:
    identity = Identity.from_env()
    telemetry = setup(identity)
    faults = FaultSwitches((DB_SLOW, N_PLUS_ONE))
    service = Service(
        identity, {"POST /orders": Orders(Database(database_from_env(), faults), faults).place}, faults
    )
    run(service, telemetry)


if __name__ == "__main__":
    main()
