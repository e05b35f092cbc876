"""Each ingest key's share of ingest (issue 16): a token bucket of body bytes per key.

The bucket runs on a fake clock; the edge is the real ASGI app with keys required and a
small rate, driven over HTTP with real OTLP protobuf bodies.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from bot.config import load_config
from bot.keys import KeyRates, KeyRegistry
from bot.server import build_bot, create_app
from bot.settings import Settings
from correlators.errors import RateLimited
from tests.test_ingest_keys import PROTOBUF, bearer, spans_of


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def rates(clock: Clock, **options: Any) -> KeyRates:
    settings = {"bytes_per_s": 1000, "burst_bytes": 3000, "memory_bytes": 64 * 1024, **options}
    return KeyRates(monotonic=clock, **settings)


def refused(bucket: KeyRates, key_id: str) -> int | None:
    """The Retry-After of a refusal, or None when the key is let in."""
    try:
        bucket.admit(key_id)
    except RateLimited as exc:
        return exc.retry_after
    return None


def test_a_key_sends_its_burst_then_waits_as_long_as_its_debt_takes_to_pay() -> None:
    clock = Clock()
    bucket = rates(clock)
    for _ in range(3):
        assert refused(bucket, "k1") is None
        bucket.charge("k1", 1000)
    assert refused(bucket, "k1") is None, "a bucket at zero is not in debt"
    bucket.charge("k1", 2500)
    assert refused(bucket, "k1") == 3, "2,500 bytes of debt at 1,000 bytes/s: back in 3 s"
    clock.now += 2.0
    assert refused(bucket, "k1") == 1
    clock.now += 0.5
    assert refused(bucket, "k1") is None
    assert bucket.refused == 2


def test_one_request_larger_than_the_burst_passes_once_and_its_debt_holds_the_average() -> None:
    clock = Clock()
    bucket = rates(clock)
    bucket.admit("k1")
    bucket.charge("k1", 10_000)  # 7,000 bytes beyond the burst
    assert refused(bucket, "k1") == 7
    clock.now += 7.0
    assert refused(bucket, "k1") is None


def test_the_bucket_refills_only_up_to_the_burst() -> None:
    clock = Clock()
    bucket = rates(clock)
    bucket.admit("k1")
    clock.now += 3600.0  # an hour of quiet saves no more than the burst
    bucket.charge("k1", 3000)
    assert refused(bucket, "k1") is None
    bucket.charge("k1", 1)
    assert refused(bucket, "k1") == 1


def test_one_key_over_its_rate_leaves_the_others_alone() -> None:
    clock = Clock()
    bucket = rates(clock)
    bucket.admit("noisy")
    bucket.charge("noisy", 50_000)
    assert refused(bucket, "noisy") == 47
    assert refused(bucket, "quiet") is None


def test_the_buckets_hold_at_most_their_bytes() -> None:
    clock = Clock()
    bucket = rates(clock, memory_bytes=16 * 1024)
    for n in range(1000):
        bucket.admit(f"key{n}")
    assert 0 < bucket.held_bytes <= 16 * 1024
    bucket.admit("key999")
    bucket.charge("key999", 10_000)
    assert refused(bucket, "key999") == 7, "the most recent key is still remembered"


@pytest.fixture
def limited_bot(tmp_path: Path, keep_all_config: Path) -> Iterator[Any]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/jw.db",
        collector={"quiet_period_s": 0, "writer_process": False, "spool": {"enabled": False}},
        ingest_keys={"rate_bytes_per_s": 1024, "burst_bytes": 1024},
    )
    bot = build_bot(settings, load_config(keep_all_config))
    yield bot
    bot.store.close()


def post_all(bot: Any, requests: list[tuple[str, dict[str, str]]], body: bytes) -> list[httpx.Response]:
    async def call() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(bot))
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            return [await client.post(path, content=body, headers=headers) for path, headers in requests]

    return asyncio.run(call())


def test_a_key_over_its_rate_gets_429_with_retry_after_and_another_key_still_lands(limited_bot: Any) -> None:
    registry = KeyRegistry(limited_bot.store.engine)
    noisy, quiet = registry.create("noisy"), registry.create("quiet")
    body = spans_of(*(f"service-{n}" for n in range(120)))  # 240 spans
    debt_s = (len(body) - 1024) / 1024  # at 1,024 bytes/s, after a burst of 1,024
    assert debt_s > 10
    headers = {**PROTOBUF, **bearer(noisy.key)}
    first, second, other = post_all(
        limited_bot,
        [("/v1/traces", headers), ("/v1/traces", headers), ("/v1/traces", {**PROTOBUF, **bearer(quiet.key)})],
        body,
    )
    assert first.status_code == 200, "a request larger than the burst passes once, into debt"
    assert second.status_code == 429
    assert debt_s - 5 < int(second.headers["retry-after"]) <= math.ceil(debt_s)
    assert f"ingest key {noisy.info.id} is over its rate of 1,024 bytes/s" in second.text
    assert other.status_code == 200
    assert ExportTraceServiceResponse.FromString(other.content).partial_success.rejected_spans == 0
    assert limited_bot.keys.rates.refused == 1
    assert limited_bot.collector.stats.spans_received == 480, "two requests of 240 spans landed"
