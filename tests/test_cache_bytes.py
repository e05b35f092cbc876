"""The ingest caches count what they hold in bytes, and /healthz shows it (issue 14, item
4): distinct short values fill them up to their entry bound and no further, and long
values, which rarely repeat, never enter them."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from bot.config import load_config
from bot.server import build_bot, create_app
from bot.settings import Settings
from bot.telemetry.lite import PairCache, pair_size
from tests.asgi import AppClient
from tests.fixtures.bot_server import REPO
from tests.test_ingest_http import PROTOBUF, otlp_request


def raw(key: str, value: str) -> bytes:
    serialized: bytes = KeyValue(key=key, value=AnyValue(string_value=value)).SerializeToString()
    return serialized


def test_the_pair_cache_counts_its_bytes_and_starts_over_with_its_entries() -> None:
    cache = PairCache(limit=3)
    cache.attributes([raw("a", "1"), raw("b", "2"), raw("a", "1")])
    first_two = cache.cached_bytes
    assert first_two > 0
    cache.attributes([raw("long", "x" * 2000)])  # converted, not cached
    assert cache.cached_bytes == first_two
    cache.attributes([raw("c", "3")])
    assert cache.cached_bytes > first_two
    cache.attributes([raw("d", "4")])  # the fourth distinct pair: the cache starts over
    assert cache.cached_bytes == sys.getsizeof(raw("d", "4")) + pair_size(("d", "4"))


def test_healthz_shows_what_the_ingest_caches_hold(tmp_path: Path) -> None:
    settings = Settings(
        ingest_keys={"required": False},  # these tests send without a key
        database_url=f"sqlite:///{tmp_path}/db.sqlite",
        collector={"max_pending_writes": 10**9},
    )
    bot = build_bot(settings, load_config(REPO / "config" / "journeys.yaml"))
    app = AppClient(create_app(bot))

    def cache_bytes() -> dict[str, int]:
        found: dict[str, int] = app.get("/healthz").json()["collector"]["cache_bytes"]
        return found

    def post(value_of: Callable[[int], str], key: str = "order.id") -> None:
        request = otlp_request(os.urandom(16).hex(), spans=50)
        for index, span in enumerate(request.resource_spans[0].scope_spans[0].spans):
            value = AnyValue(string_value=value_of(index))
            span.attributes.append(KeyValue(key=key, value=value))
        answer = app.post("/v1/traces", content=request.SerializeToString(), headers=PROTOBUF)
        assert answer.status_code == 200

    before = cache_bytes()
    assert set(before) == {"attribute_pairs", "redacted_texts", "attribute_keys", "statements"}
    post(lambda i: f"ord-{i}")
    short = cache_bytes()
    assert short["attribute_pairs"] > before["attribute_pairs"] + 50 * 40  # 50 distinct pairs
    post(lambda i: os.urandom(600).hex())  # 50 distinct 1,200-character values
    assert cache_bytes()["attribute_pairs"] == short["attribute_pairs"]
    post(lambda i: f"SELECT * FROM items WHERE id = {i}", key="db.statement")
    shapes = cache_bytes()["statements"]
    assert shapes > before["statements"] + 50 * 80  # 50 distinct statements, shaped once each
    post(lambda i: f"SELECT * FROM items WHERE id IN ({', '.join(['7'] * 200)}, {i})", key="db.statement")
    assert cache_bytes()["statements"] == shapes  # long statements are shaped each time
    bot.store.close()
