"""catalog: product search and price quotes, run as two instances behind the frontend.

``GET /search?q=`` finds products by name; ``GET /price?items=p-001,p-002`` quotes a
cart. Both price products through :meth:`Catalog.quote`, which is where three of the
demo's faults live:

- the ``new_pricing`` feature flag (from the baggage the frontend sets) sends a request
  through the new pricing engine; with ``flag-slow-path`` on, that engine takes +800 ms;
- version 2.x (the ``bad-release`` fault redeploys catalog as 2.0.0) formats prices with
  a per-category table that forgot the "garden" category, so any request that touches a
  garden product fails with an error log naming the category;
- ``instance-cpu`` starts a busy loop in this one process (:class:`CpuHog`).
"""

from __future__ import annotations

import random
import re
import threading
import time
from typing import Any

from opentelemetry import baggage, trace

from demo.control import FaultSwitches
from demo.db import DB_SLOW, Database
from demo.runtime import Identity, database_from_env
from demo.telemetry import setup
from demo.web import HttpError, Request, Service, run

FLAG_SLOW_PATH = "flag-slow-path"
INSTANCE_CPU = "instance-cpu"
FAULTS = (DB_SLOW, FLAG_SLOW_PATH, INSTANCE_CPU)
FLAG = "feature_flag.new_pricing"
SLOW_PATH_S = 0.8

_FORMATS_V2 = {"books": "EUR {:.2f}", "kitchen": "EUR {:.2f}", "toys": "EUR {:.2f}", "outdoor": "EUR {:.2f}"}
"""Release 2.0.0's per-category price formats: "garden" is missing (the bug)."""

tracer = trace.get_tracer("demo.catalog")


class PricingError(Exception):
    pass


class CpuHog:
    """A runaway busy loop inside this instance: a background job stuck on a
    backtracking regular expression, a classic way for one host to burn its CPU.

    The regex engine holds the interpreter lock for a whole match (about 0.8 s here), so
    while the hog runs, this process answers only in the pauses between matches: requests
    wait, mostly before their handler even starts, as they queue at any saturated
    instance. The other instance is untouched. It takes about 80% of a core."""

    PATTERN = re.compile(r"(a+)+$")
    SUBJECT = "a" * 25 + "!"
    PAUSE_S = 0.2

    def __init__(self) -> None:
        self._stop: threading.Event | None = None

    def switch(self, on: bool) -> None:
        if on and self._stop is None:
            self._stop = threading.Event()
            threading.Thread(target=self._spin, args=(self._stop,), name="cpu-hog", daemon=True).start()
        elif not on and self._stop is not None:
            self._stop.set()
            self._stop = None

    def _spin(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.PATTERN.match(self.SUBJECT)
            stop.wait(self.PAUSE_S)


class Catalog:
    def __init__(self, identity: Identity, database: Database, faults: FaultSwitches) -> None:
        self._identity = identity
        self._db = database
        self._faults = faults
        self._major = int(identity.version.split(".", 1)[0])

    def search(self, request: Request) -> dict[str, Any]:
        words = request.query.get("q", "").strip()
        if not words:
            raise HttpError(400, "q is required")
        rows = self._db.query(
            "SELECT id, name, category, price_cents FROM products WHERE name LIKE ? ORDER BY id LIMIT 8",
            (f"%{words}%",),
            table="products",
        )
        ranked = sorted(rows, key=lambda row: _relevance(words, row["name"]), reverse=True)
        time.sleep(random.uniform(0.01, 0.03))  # the ranking model's round trip
        trace.get_current_span().set_attribute("search.results", len(ranked))
        return {"query": words, "results": self.quote(ranked)}

    def price(self, request: Request) -> dict[str, Any]:
        items = [item for item in request.query.get("items", "").split(",") if item]
        if not items:
            raise HttpError(400, "items is required")
        marks = ",".join("?" * len(set(items)))
        rows = self._db.query(
            f"SELECT id, name, category, price_cents FROM products WHERE id IN ({marks})",  # noqa: S608
            tuple(sorted(set(items))),
            table="products",
        )
        found = {row["id"]: row for row in rows}
        missing = sorted(set(items) - set(found))
        if missing:
            raise HttpError(404, f"unknown products {', '.join(missing)}")
        quoted = self.quote([found[item] for item in items])
        return {"items": quoted, "total_cents": sum(line["price_cents"] for line in quoted)}

    def quote(self, products: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The pricing code: classic prices, or the new engine for users in the rollout."""
        new_engine = baggage.get_baggage(FLAG) == "on"
        with tracer.start_as_current_span(
            "pricing.quote",
            attributes={
                FLAG: "on" if new_engine else "off",
                "pricing.engine": "v2" if new_engine else "classic",
            },
        ):
            if new_engine and self._faults.on(FLAG_SLOW_PATH):
                time.sleep(SLOW_PATH_S)  # the new engine recomputes every rule on a cache miss
            lines = []
            for product in products:
                cents = int(product["price_cents"] * (0.95 if new_engine else 1.0))
                lines.append(
                    {"id": product["id"], "price_cents": cents, "label": self._label(product, cents)}
                )
            return lines

    def _label(self, product: dict[str, Any], cents: int) -> str:
        if self._major < 2:
            return f"EUR {cents / 100:.2f}"
        try:
            return _FORMATS_V2[product["category"]].format(cents / 100)
        except KeyError:
            raise PricingError(
                f"no price format for category {product['category']!r} (product {product['id']}, "
                f"catalog {self._identity.version})"
            ) from None


def _relevance(words: str, name: str) -> float:
    """A little real CPU per result, as scoring does (and as a CPU hog slows down)."""
    score = 0.0
    for word in words.lower().split():
        for n in range(200):
            score += (hash((word, name, n)) % 1000) / 1e6
    return score


def main() -> None:
    identity = Identity.from_env()
    telemetry = setup(identity)
    faults = FaultSwitches(FAULTS)
    catalog = Catalog(identity, Database(database_from_env(), faults), faults)
    hog = CpuHog()
    service = Service(
        identity,
        {"GET /search": catalog.search, "GET /price": catalog.price},
        faults,
        on_fault=lambda kind, on: hog.switch(on) if kind == INSTANCE_CPU else None,
    )
    run(service, telemetry)


if __name__ == "__main__":
    main()
