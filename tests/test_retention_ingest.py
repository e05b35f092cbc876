"""Retention at the door (issue 16): event times clamped into what the server takes, a
request replayed after a restart kept whatever its age now, sizes per tier on /healthz."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.collector.pipeline import Collector
from bot.collector.spool import Spool
from bot.config import AppConfig, Sampling, load_config
from bot.server import build_bot, create_app
from bot.settings import CollectorSettings, Settings
from bot.store import BatchWriter, Store
from bot.telemetry.redact import Redactor
from bot.wiring import Bot
from tests.asgi import AppClient
from tests.fixtures.bot_server import REPO
from tests.test_ingest_http import PROTOBUF, otlp_request

HOUR_NS = 3600 * 1_000_000_000
FAR_FUTURE_NS = 9_200_000_000 * 1_000_000_000


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    settings = Settings(
        ingest_keys={"required": False},
        database_url=f"sqlite:///{tmp_path}/db.sqlite",
        collector={"quiet_period_s": 0},
    )
    built = build_bot(settings, load_config(REPO / "config" / "journeys.yaml"))
    built.writer.start()
    yield built
    built.writer.stop()
    built.store.close()


def test_a_span_ending_in_2262_is_cut_at_the_servers_horizon_and_the_tiers_are_on_healthz(bot: Bot) -> None:
    trace_id = os.urandom(16).hex()
    request = otlp_request(trace_id, spans=2, error=True)  # kept by the shipped sampling
    request.resource_spans[0].scope_spans[0].spans[1].end_time_unix_nano = FAR_FUTURE_NS
    client = AppClient(create_app(bot))
    assert client.post("/v1/traces", content=request.SerializeToString(), headers=PROTOBUF).status_code == 200
    bot.collector.tick()
    bot.writer.flush(timeout=60)
    stored = bot.store.get_trace(trace_id)
    assert stored is not None
    horizon = time.time_ns() + int(bot.settings.collector.max_future_s * 1e9)
    assert max(s.end_ns for s in stored.spans) <= horizon

    assert client.get("/healthz").json()["retention"] is None  # before the first run
    bot.retention.run()
    retention = client.get("/healthz").json()["retention"]
    assert retention["failed"] == []
    rows = retention["rows"]
    assert (rows["traces"], rows["traces_cited"], rows["spans"]) == (1, 0, 2)
    assert {"logs", "incidents", "incidents_summarized", "slack_messages", "changes"} <= set(rows)


def test_a_request_replayed_after_a_restart_is_kept_though_now_older_than_retention(tmp_path: Path) -> None:
    """Taken 71 h after its spans' stamps, then the server died before storing it and came
    back two hours later: the spans are 73 h old now, but the 200 promised them. They are
    stored, and the first retention run deletes nothing."""
    trace_id = os.urandom(16).hex()
    request = otlp_request(trace_id, spans=3)
    stamped = request.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano
    config = AppConfig(sampling=Sampling(default_keep_fraction=1.0))
    redactor = Redactor(config.redaction, b"k" * 32)

    def collector(store: Store, wall_ns: int) -> tuple[Collector, BatchWriter, Spool]:
        writer = BatchWriter(store, max_pending=10_000, process=False)
        spool = Spool(tmp_path / "spool", max_bytes=1 << 20, segment_bytes=1 << 20, fsync="never")
        taken = Collector(
            config,
            CollectorSettings(quiet_period_s=0),
            writer,
            redactor,
            spool=spool,
            wall=lambda: wall_ns / 1e9,
        )
        return taken, writer, spool

    store = Store(f"sqlite:///{tmp_path}/db.sqlite")
    store.migrate()
    first, _, spool = collector(store, stamped + 71 * HOUR_NS)
    first.ingest_otlp_traces(request.SerializeToString(), "protobuf")
    spool.close()  # the crash: buffered for its decision, never stored

    restarted, writer, spool = collector(store, stamped + 73 * HOUR_NS)
    writer.start()
    try:
        assert asyncio.run(restarted.replay()) == 1
        restarted.tick()
        writer.flush(timeout=60)
        assert store.get_trace(trace_id) is not None
    finally:
        writer.stop()
        spool.close()
    live = otlp_request(os.urandom(16).hex(), spans=1)
    assert restarted.ingest_otlp_traces(live.SerializeToString(), "protobuf").rejected == 1, (
        "a live request that old is still refused"
    )
