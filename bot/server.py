"""Wiring: settings and config in, one Starlette app out (collector, store, read API).

Everything long-lived is built here and started in the app's lifespan, so tests can build
the same app in-process and a process gets exactly one of each.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.api.traces import query_routes
from bot.collector.http import ingest_routes
from bot.collector.pipeline import Collector
from bot.collector.redact import Redactor
from bot.config import AppConfig
from bot.settings import Settings
from bot.store import BatchWriter, Store

log = logging.getLogger("journeywatch")

TICK_SECONDS = 1.0
RETENTION_EVERY_MINUTES = 15


@dataclass
class Bot:
    """The long-lived parts of one journeywatch process."""

    settings: Settings
    config: AppConfig
    store: Store
    writer: BatchWriter
    collector: Collector


def build_bot(settings: Settings, config: AppConfig) -> Bot:
    store = Store(settings.database_url)
    store.migrate()
    writer = BatchWriter(
        store,
        max_pending=settings.collector.max_pending_writes,
        process=settings.collector.writer_process,
    )
    redactor = Redactor(config.redaction, _hmac_key(settings))
    collector = Collector(config, settings.collector, writer, redactor)
    return Bot(settings, config, store, writer, collector)


def create_app(bot: Bot) -> Starlette:
    async def healthz(_: Request) -> Response:
        sampler = bot.collector.sampler
        return JSONResponse(
            {
                "status": "ok",
                "pending_writes": bot.writer.pending,
                "collector": {
                    **dataclasses.asdict(bot.collector.stats),
                    "buffered_spans": sampler.buffered_spans,
                    "buffered_traces": sampler.buffered_traces,
                    "kept": dict(sampler.stats.kept),
                    "dropped": sampler.stats.dropped,
                    "early_decisions": sampler.stats.early_decisions,
                },
                "writer": dataclasses.asdict(bot.writer.stats),
            }
        )

    routes = [
        *ingest_routes(bot.collector, bot.settings.collector.max_body_bytes),
        *query_routes(bot.store, bot.collector.redactor, bot.settings.api_token),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=_lifespan(bot))


def _lifespan(bot: Bot):  # type: ignore[no-untyped-def]
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        bot.writer.start()
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(_retention, "interval", minutes=RETENTION_EVERY_MINUTES, args=[bot], id="retention")
        scheduler.start()
        ticker = asyncio.create_task(_tick_forever(bot.collector))
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            scheduler.shutdown(wait=False)
            bot.collector.close()
            bot.writer.stop()
            bot.store.close()

    return lifespan


async def _tick_forever(collector: Collector) -> None:
    while True:
        await asyncio.sleep(TICK_SECONDS)
        try:
            collector.tick()
        except Exception:  # the loop must outlive any one bad trace
            log.exception("collector tick failed")


def _retention(bot: Bot) -> None:
    now_ns = time.time_ns()
    hour_ns = 3600 * 1_000_000_000
    retention = bot.settings.retention
    deleted = bot.store.purge(
        traces_before_ns=now_ns - int(retention.traces_hours * hour_ns),
        logs_before_ns=now_ns - int(retention.logs_hours * hour_ns),
        metrics_before_s=int(now_ns / 1e9 - retention.span_metrics_hours * 3600),
    )
    log.info("retention: deleted %s", deleted)


def _hmac_key(settings: Settings) -> bytes:
    if settings.redaction_hmac_key is not None:
        return settings.redaction_hmac_key.get_secret_value().encode()
    log.warning(
        "JOURNEYWATCH_REDACTION_HMAC_KEY is not set: hashed values will not match "
        "across restarts; set it to keep them stable"
    )
    return os.urandom(32)
