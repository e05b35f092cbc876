"""Ingest keys (issue 16): who may send, as which services, for how long.

The registry and the keyring run against SQLite and the PostgreSQL server the tests start,
with a fake clock; the edge is the real ASGI app with keys required, and `journeywatch
serve` itself with the CLI making the key against its database.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from bot.collector.pipeline import Collector
from bot.collector.spool import Spool
from bot.config import AppConfig, Sampling, load_config
from bot.keys import KeyRegistry, Keyring
from bot.server import build_bot, create_app
from bot.settings import CollectorSettings, Settings
from bot.store import BatchWriter, Store
from bot.telemetry.redact import Redactor
from correlators.errors import IngestKeyError, NotPermitted, Unauthenticated
from tests.fixtures.bot_server import REPO

NOW_NS = time.time_ns() // 1_000_000_000 * 1_000_000_000
PROTOBUF = {"content-type": "application/x-protobuf"}
DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def spans_of(*services: str, trace_id: str = "ab" * 16) -> bytes:
    """One request, one resource per service, two spans each (a trace id per service)."""
    resources = []
    for n, service in enumerate(services):
        resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))])
        spans = [
            Span(
                trace_id=bytes.fromhex(trace_id[:-2] + f"{n:02x}"),
                span_id=(index + 1).to_bytes(8, "big"),
                parent_span_id=b"" if index == 0 else (1).to_bytes(8, "big"),
                name=f"{service} step {index}",
                kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=NOW_NS,
                end_time_unix_nano=NOW_NS + 5_000_000,
            )
            for index in range(2)
        ]
        resources.append(ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)]))
    return ExportTraceServiceRequest(resource_spans=resources).SerializeToString()


# --- the registry and the keyring, SQLite and PostgreSQL ---------------------------------


def keyring(store: Store, clock: Clock, **options: Any) -> tuple[KeyRegistry, Keyring]:
    registry = KeyRegistry(store.engine, clock)
    options = {"cache_bytes": 64 * 1024, "ttl_s": 30.0, **options}
    return registry, Keyring(registry, clock=clock, monotonic=clock, **options)


def check(ring: Keyring, key: str, scope: str = "ingest") -> Any:
    return asyncio.run(ring.check(key, scope))


def test_a_rotated_key_works_during_the_overlap_and_not_after(any_store: Store) -> None:
    clock = Clock()
    registry, ring = keyring(any_store, clock)
    old = registry.create("shop", services=["checkout"], expires_in_s=90 * DAY)
    assert check(ring, old.key).team == "shop"

    clock.now += DAY
    before, new = registry.rotate(old.info.id, overlap_s=7 * DAY)
    assert before.expires_at == clock.now + 7 * DAY and before.replaced_by == new.info.id
    assert new.info.services == frozenset({"checkout"}) and new.info.expires_at == clock.now + 90 * DAY
    clock.now += 7 * DAY - 1  # the last second of the overlap: both work (the old one from cache)
    assert check(ring, old.key).key_id == old.info.id
    assert check(ring, new.key).key_id == new.info.id

    clock.now += 1
    with pytest.raises(Unauthenticated, match=f"ingest key {old.info.id} is expired"):
        check(ring, old.key)
    assert check(ring, new.key).key_id == new.info.id
    with pytest.raises(IngestKeyError, match="expired"):
        registry.rotate(old.info.id, overlap_s=DAY)


def test_a_revoked_key_is_refused_once_the_cache_has_forgotten_it(any_store: Store) -> None:
    clock = Clock()
    registry, ring = keyring(any_store, clock, ttl_s=30.0)
    made = registry.create("shop")
    assert check(ring, made.key).services is None and ring.lookups == 1
    assert check(ring, made.key) and ring.lookups == 1, "the second request is served from the cache"

    registry.revoke(made.info.id)  # as `journeywatch keys revoke`, another process
    clock.now += 31
    with pytest.raises(Unauthenticated, match="is revoked"):
        check(ring, made.key)
    assert registry.listed() == []
    assert [k.id for k in registry.listed(include_revoked=True)] == [made.info.id]


def test_a_wrong_secret_an_unknown_id_and_junk_are_refused_alike(any_store: Store) -> None:
    registry, ring = keyring(any_store, Clock())
    made = registry.create("shop")
    wrong = made.key[:-4] + ("AAAA" if not made.key.endswith("AAAA") else "BBBB")
    for presented in (wrong, f"jwk_{'0' * 12}_{'x' * 43}"):
        with pytest.raises(Unauthenticated, match="unknown or wrong ingest key"):
            check(ring, presented)
    lookups = ring.lookups
    for junk in ("", "Basic abc", "jwk_../../etc_" + "x" * 40, "jwk_" + "a" * 5000):
        with pytest.raises(Unauthenticated):
            check(ring, junk)
    assert ring.lookups == lookups, "junk never reaches the database"
    with pytest.raises(NotPermitted, match="no 'changes' scope"):
        check(ring, made.key, "changes")


def test_the_secret_is_stored_only_as_its_hash(any_store: Store) -> None:
    registry, _ = keyring(any_store, Clock())
    made = registry.create("shop", scopes=["ingest", "changes"])
    secret = made.key.split("_", 2)[2]  # the secret itself may hold "_" (base64url)
    with any_store.engine.connect() as connection:
        rows = [tuple(map(str, r)) for r in connection.exec_driver_sql("SELECT * FROM ingest_keys")]
    assert rows and not any(secret in value for row in rows for value in row)


def test_the_cache_holds_at_most_its_bytes(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/k.db")
    store.migrate()
    clock = Clock()
    registry, ring = keyring(store, clock, cache_bytes=64 * 1024)
    made = [registry.create("shop", services=[f"service-{n}" for n in range(5)]) for n in range(200)]
    for key in made:
        check(ring, key.key)
    assert 0 < ring.cached_bytes <= 64 * 1024
    assert ring.lookups == 200
    check(ring, made[-1].key)
    assert ring.lookups == 200, "the most recent stays"
    store.close()


def test_registry_refuses_what_it_cannot_do(any_store: Store) -> None:
    registry, _ = keyring(any_store, Clock())
    with pytest.raises(IngestKeyError, match="no ingest key"):
        registry.revoke("0" * 12)
    with pytest.raises(IngestKeyError, match="scopes are ingest, changes"):
        registry.create("shop", scopes=["admin"])
    made = registry.create("shop")
    registry.rotate(made.info.id, overlap_s=60)
    with pytest.raises(IngestKeyError, match="already rotated"):
        registry.rotate(made.info.id, overlap_s=60)


# --- the edge: the real app with keys required -------------------------------------------


@pytest.fixture
def keyed_bot(tmp_path: Path, keep_all_config: Path) -> Iterator[Any]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/jw.db",
        collector={"quiet_period_s": 0, "writer_process": False, "spool": {"enabled": False}},
    )
    assert settings.ingest_keys.required, "on unless turned off"
    bot = build_bot(settings, load_config(keep_all_config))
    yield bot
    bot.store.close()


def send(bot: Any, path: str, body: bytes, **headers: str) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(bot))
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            return await client.post(path, content=body, headers=headers)

    return asyncio.run(call())


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def test_no_key_gets_401_with_the_header_to_send(keyed_bot: Any) -> None:
    for path, body, media in (
        ("/v1/traces", spans_of("checkout"), "application/x-protobuf"),
        ("/v1/logs", b"{}", "application/json"),
        ("/api/v2/spans", b"[]", "application/json"),
    ):
        answer = send(keyed_bot, path, body, **{"content-type": media})
        assert answer.status_code == 401, path
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert "no ingest key; send the header Authorization: Bearer <key>" in answer.text
        assert "journeywatch keys create --team" in answer.text
    assert keyed_bot.collector.stats.spans_received == 0


def test_a_revoked_key_gets_401(keyed_bot: Any) -> None:
    registry = KeyRegistry(keyed_bot.store.engine)
    made = registry.create("shop")
    assert (
        send(keyed_bot, "/v1/traces", spans_of("checkout"), **PROTOBUF, **bearer(made.key)).status_code == 200
    )
    registry.revoke(made.info.id)
    keyed_bot.keys.keyring._cache.clear()  # as the cache's 30 s would
    answer = send(keyed_bot, "/v1/traces", spans_of("checkout"), **PROTOBUF, **bearer(made.key))
    assert answer.status_code == 401 and f"ingest key {made.info.id} is revoked" in answer.text


def test_a_key_bound_to_checkout_cannot_send_payments_spans(keyed_bot: Any) -> None:
    made = KeyRegistry(keyed_bot.store.engine).create("shop", services=["checkout"])
    body = spans_of("checkout", "payments", "checkout-2")
    answer = send(keyed_bot, "/v1/traces", body, **PROTOBUF, **bearer(made.key))
    assert answer.status_code == 200
    partial = ExportTraceServiceResponse.FromString(answer.content).partial_success
    assert partial.rejected_spans == 4
    assert "service 'payments' is not one this key may send (checkout)" in partial.error_message
    collector = keyed_bot.collector
    assert collector.stats.refused_service == 4 and collector.stats.spans_received == 2
    collector.close()  # decide every buffered trace and hand it to the writer
    keyed_bot.writer.start()
    try:
        keyed_bot.writer.flush()
    finally:
        keyed_bot.writer.stop()
    assert keyed_bot.store.get_trace("ab" * 15 + "00") is not None, "checkout's spans landed"
    assert keyed_bot.store.get_trace("ab" * 15 + "01") is None
    assert keyed_bot.store.get_trace("ab" * 15 + "02") is None


def test_a_configured_header_name_carries_the_key_and_names_itself_in_the_hint(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/jw.db",
        ingest_keys={"header": "X-Journeywatch-Key"},
        collector={"writer_process": False, "spool": {"enabled": False}},
    )
    bot = build_bot(settings, load_config(REPO / "config" / "journeys.yaml"))
    made = KeyRegistry(bot.store.engine).create("shop")
    refused = send(bot, "/v1/traces", spans_of("cart"), **PROTOBUF, **bearer(made.key))
    assert refused.status_code == 401 and "send the header x-journeywatch-key: <key>" in refused.text
    taken = send(bot, "/v1/traces", spans_of("cart"), **PROTOBUF, **{"x-journeywatch-key": made.key})
    assert taken.status_code == 200
    bot.store.close()


def test_changes_take_a_key_with_the_changes_scope(keyed_bot: Any) -> None:
    registry = KeyRegistry(keyed_bot.store.engine)
    keyed_bot.settings.api_token = None
    ingest_only = registry.create("shop")
    deployer = registry.create("shop", services=["cart"], scopes=["changes"])
    change = json.dumps({"service": "cart", "kind": "deploy", "version": "2.0.0"}).encode()
    json_body = {"content-type": "application/json"}
    refused = send(keyed_bot, "/api/changes", change, **json_body, **bearer(ingest_only.key))
    assert refused.status_code == 403 and "no 'changes' scope" in refused.text
    posted = send(keyed_bot, "/api/changes", change, **json_body, **bearer(deployer.key))
    assert posted.status_code == 201 and posted.json()["version"] == "2.0.0"
    other = json.dumps({"service": "payments", "kind": "deploy"}).encode()
    refused = send(keyed_bot, "/api/changes", other, **json_body, **bearer(deployer.key))
    assert refused.status_code == 403 and "may not post changes of service 'payments'" in refused.text
    spans = send(keyed_bot, "/v1/traces", spans_of("cart"), **PROTOBUF, **bearer(deployer.key))
    assert spans.status_code == 403, "a changes-only key sends no telemetry"


# --- the spool keeps what the key allowed ------------------------------------------------


def test_a_replayed_request_refuses_the_same_services_again(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/db.sqlite")
    store.migrate()
    config = AppConfig(sampling=Sampling(default_keep_fraction=1.0))

    def collector(spool: Spool) -> Collector:
        writer = BatchWriter(store, max_pending=10_000, process=False)
        return Collector(
            config, CollectorSettings(), writer, Redactor(config.redaction, b"k" * 32), spool=spool
        )

    first = Spool(tmp_path / "spool", max_bytes=1 << 20, segment_bytes=1 << 20, fsync="never")
    taken = collector(first).ingest_otlp_traces(
        spans_of("checkout", "payments"), "protobuf", frozenset({"checkout"})
    )
    assert (len(taken.items), taken.rejected) == (2, 2)
    first.close()  # a crash before the spans were stored

    again = Spool(tmp_path / "spool", max_bytes=1 << 20, segment_bytes=1 << 20, fsync="never")
    replaying = collector(again)
    assert asyncio.run(replaying.replay()) == 1
    assert replaying.stats.refused_service == 2 and replaying.stats.spans_received == 2
    again.close()
    store.close()


# --- `journeywatch serve` and the CLI ---------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_serve_takes_a_key_made_with_the_cli_and_refuses_it_once_revoked(start_bot, keep_all_config) -> None:  # type: ignore[no-untyped-def]
    bot = start_bot(
        keep_all_config, JOURNEYWATCH_INGEST_KEYS__REQUIRED="true", JOURNEYWATCH_INGEST_KEYS__CACHE_TTL_S="1"
    )
    database = f"sqlite:///{bot.database}"
    made = cli(
        "keys",
        "create",
        "--team",
        "shop",
        "--services",
        "checkout",
        "--expires",
        "90d",
        "--database-url",
        database,
    )
    assert made.returncode == 0, made.stderr
    key_id, key = made.stdout.split()[1], made.stdout.split()[-1]
    listed = cli("keys", "list", "--format", "json", "--database-url", database)
    [shown] = json.loads(listed.stdout)
    assert (shown["id"], shown["services"], shown["state"]) == (key_id, ["checkout"], "active")
    assert key not in listed.stdout and key.rsplit("_", 1)[1] not in listed.stdout

    with httpx.Client(base_url=bot.url, timeout=10) as client:
        unkeyed = client.post(
            "/v1/traces", content=spans_of("checkout", trace_id="cd" * 16), headers=PROTOBUF
        )
        assert unkeyed.status_code == 401 and "Authorization: Bearer <key>" in unkeyed.text
        keyed = client.post(
            "/v1/traces",
            content=spans_of("checkout", trace_id="cd" * 16),
            headers={**PROTOBUF, **bearer(key)},
        )
        assert keyed.status_code == 200
        bot.wait_for_trace("cd" * 15 + "00", spans=2)

        revoked = cli("keys", "revoke", key_id, "--database-url", database)
        assert revoked.returncode == 0 and "revoked" in revoked.stdout
        time.sleep(1.2)  # the cache's TTL, set to 1 s
        after = client.post("/v1/traces", content=spans_of("checkout"), headers={**PROTOBUF, **bearer(key)})
        assert after.status_code == 401 and "is revoked" in after.text
    assert cli("keys", "revoke", "0" * 12, "--database-url", database).returncode == 2
