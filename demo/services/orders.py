"""orders: writes a paid order to the shared database (the last step of checkout)."""

from __future__ import annotations

import json
import logging
from typing import Any

from demo.control import FaultSwitches
from demo.db import DB_SLOW, Database, DatabaseError
from demo.runtime import Identity, database_from_env
from demo.telemetry import setup
from demo.web import HttpError, Request, Service, run

log = logging.getLogger("shop.orders")


class Orders:
    def __init__(self, database: Database) -> None:
        self._db = database

    def place(self, request: Request) -> dict[str, Any]:
        body = request.json()
        try:
            order_id, user, items = str(body["order_id"]), str(body["user"]), list(body["items"])
            total = int(body["total_cents"])
        except (KeyError, TypeError, ValueError) as exc:
            raise HttpError(400, f"order_id, user, items and total_cents are required: {exc}") from None
        try:
            self._db.execute(
                "INSERT INTO orders (id, user_id, items, total_cents) VALUES (?, ?, ?, ?)",
                (order_id, user, json.dumps(items), total),
                table="orders",
            )
        except DatabaseError as exc:
            raise HttpError(500, f"order not saved: {exc}") from None
        log.info("order placed with %d items", len(items))
        return {"order_id": order_id, "status": "placed"}


def main() -> None:
    identity = Identity.from_env()
    telemetry = setup(identity)
    faults = FaultSwitches((DB_SLOW,))
    service = Service(identity, {"POST /orders": Orders(Database(database_from_env(), faults)).place}, faults)
    run(service, telemetry)


if __name__ == "__main__":
    main()
