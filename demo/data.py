"""The shop's data: users, products, the feature-flag rollout, and the SQLite file.

Users and products are generated from fixed lists, so the services, the seeded database
and the traffic generator agree on the same ids without talking to each other. The user
tier and the ``new_pricing`` rollout are pure functions of the user id, the way a
profile cache and a percentage rollout in a flag service behave: every service that asks
gets the same answer for the same user.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

DATABASE_NAME = "shop"
"""``db.name`` on the database spans: the bot names the dependency ``sqlite:shop``."""

USERS = 200
"""More distinct users than the bot's identifier cut-off (30 values), so that user ids
read as identifiers and never as a "cohort" over-represented in bad traces."""

TIERS = ("free", "premium", "enterprise")
NEW_PRICING_PERCENT = 30

CATEGORIES = ("books", "kitchen", "garden", "toys", "outdoor")
_ADJECTIVES = ("red", "steel", "wooden", "compact", "deluxe", "classic", "smart", "folding")
_NOUNS = {
    "books": ("novel", "atlas", "cookbook"),
    "kitchen": ("kettle", "pan", "knife"),
    "garden": ("hose", "rake", "planter"),
    "toys": ("puzzle", "robot", "kite"),
    "outdoor": ("tent", "lantern", "backpack"),
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, name TEXT NOT NULL, tier TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS products (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, price_cents INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, items TEXT NOT NULL,
    total_cents INTEGER NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS order_recommendations (
    order_id TEXT NOT NULL, product_id TEXT NOT NULL, rank INTEGER NOT NULL,
    PRIMARY KEY (order_id, rank)
);
"""


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    name: str
    category: str
    price_cents: int


def _digest(text: str) -> int:
    """A stable hash (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def user_ids() -> list[str]:
    return [f"user-{n:03d}" for n in range(1, USERS + 1)]


def tier_of(user_id: str) -> str:
    """free for most, premium for some, enterprise for a few, as shops usually are."""
    bucket = _digest(f"tier:{user_id}") % 10
    return TIERS[0] if bucket < 6 else TIERS[1] if bucket < 9 else TIERS[2]


def new_pricing(user_id: str) -> str:
    """The ``new_pricing`` flag for a user: "on" for about 30% of users, sticky per user."""
    return "on" if _digest(f"flag:new_pricing:{user_id}") % 100 < NEW_PRICING_PERCENT else "off"


def products() -> list[Product]:
    found: list[Product] = []
    for category in CATEGORIES:
        for noun in _NOUNS[category]:
            for adjective in _ADJECTIVES[:3] if category in ("books", "toys") else _ADJECTIVES[3:6]:
                number = len(found) + 1
                price = 500 + _digest(f"price:{number}") % 9500
                found.append(Product(f"p-{number:03d}", f"{adjective} {noun}", category, price))
    return found


def search_words() -> list[str]:
    """Words that find something: the nouns and adjectives of the product names."""
    return sorted({word for p in products() for word in p.name.split()})


def create_database(path: Path) -> None:
    """Create and seed the shop's SQLite file, in WAL mode so that several processes
    read while one writes."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(SCHEMA)
        connection.executemany(
            "INSERT OR REPLACE INTO users (id, name, tier) VALUES (?, ?, ?)",
            [(u, f"Customer {u[5:]}", tier_of(u)) for u in user_ids()],
        )
        connection.executemany(
            "INSERT OR REPLACE INTO products (id, name, category, price_cents) VALUES (?, ?, ?, ?)",
            [(p.id, p.name, p.category, p.price_cents) for p in products()],
        )
    connection.close()
