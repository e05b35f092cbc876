"""Wiring: settings and config in, one Starlette app out (collector, store, read API).

The :class:`~bot.wiring.Bot` it builds and ``public_url`` live in ``bot.wiring``, below
the edges (Slack, pages, API) that this module mounts; none of them imports this one.

Everything long-lived is built here and started in the app's lifespan, so tests can build
the same app in-process and a process gets exactly one of each.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.api.incidents import incident_routes
from bot.api.traces import query_routes
from bot.audit import AuditTrail
from bot.changes import ChangeLog
from bot.collector.http import ingest_routes
from bot.collector.otlp_grpc import grpc_server
from bot.collector.pipeline import Collector
from bot.collector.spool import Spool
from bot.config import AppConfig
from bot.edge.clients import PerClientLimit
from bot.incidents.expiry import IncidentExpiry
from bot.incidents.repository import IncidentRepository
from bot.investigate import Investigator
from bot.keys import KeyGate, KeyHeader, KeyRates, KeyRegistry, Keyring, Readers
from bot.releases import ReleaseLog, ReleaseWatch
from bot.retention import Retention, RetentionRun
from bot.scheduling import Job, Scheduling
from bot.settings import DEFAULT_DATA_DIR, Settings
from bot.slack.app import build_slack
from bot.slack.console import ConsoleListener
from bot.slack.digest import WeeklyDigest
from bot.slack.http import slack_routes, start_socket_mode
from bot.slack.integration import SlackIntegration
from bot.slack.key_reminders import KeyReminders
from bot.slack.notifier import LOCAL_CHANNEL
from bot.slack.outbox import Outbox
from bot.slack.release_notices import ReleaseNotices
from bot.slo.state import JourneyStates
from bot.slo.watcher import Watcher
from bot.sources.build import build_sources
from bot.store import BatchWriter, Store
from bot.store.dialect import WRITER_CACHE_MIB
from bot.telemetry.redact import Redactor
from bot.web import web_routes
from bot.wiring import Bot, public_url
from correlators.errors import ConfigError

log = logging.getLogger("journeywatch")

TICK_SECONDS = 0.25
"""How often the collector decides quiet traces. Under load each tick decides a second's
worth of arrivals at 1 s, and builds their rows in one go on the event loop; at 0.25 s the
bursts are a quarter the size: p99 170-204 ms against 248-321 ms, peak RSS 170-172 MB
against 179-182 MB (bench/ingest.py --rate 8000, two runs each)."""
RETENTION_EVERY_MINUTES = 15
OUTBOX_EVERY_S = 15
GRPC_GRACE_S = 5.0
"""At shutdown, how long calls under way may take to finish."""
KEY_REMINDERS_EVERY_S = 3600
"""Expiry reminders are told in days: an hour late is on time."""
DIGEST_EVERY_S = 600
"""The weekly digest comes within ten minutes of its hour; once it is stored, a run reads
one outbox row per journey and one trace of each quiet one."""


def build_bot(settings: Settings, config: AppConfig) -> Bot:
    store = Store(settings.database_url)
    store.migrate()
    writer = BatchWriter(
        # a thread writer gets a Store of its own, with the writer's large page cache
        store
        if settings.collector.writer_process
        else Store(settings.database_url, page_cache_mib=WRITER_CACHE_MIB),
        max_pending=settings.collector.max_pending_writes,
        max_pending_bytes=settings.collector.max_pending_write_bytes,
        process=settings.collector.writer_process,
    )
    redactor = Redactor(config.redaction, _hmac_key(settings), max_chars=settings.collector.max_text_chars)
    collector = Collector(
        config,
        settings.collector,
        writer,
        redactor,
        spool=build_spool(settings),
        max_age_s=settings.retention.traces_hours * 3600,
    )
    sources = build_sources(config, settings, store, redactor)
    incidents = IncidentRepository(store.engine, group_within_s=config.watcher.group_within)
    states = JourneyStates(store.engine)
    changes = ChangeLog(store.engine)
    releases = ReleaseLog(store.engine)
    investigator = Investigator(
        config, sources, incidents, changes, releases=releases, link_base=public_url(settings)
    )
    watcher = Watcher(config, sources, incidents, states, investigator)
    audit = AuditTrail(store.engine, retention_s=settings.retention.audit_hours * 3600, hasher=redactor)
    bot = Bot(
        settings,
        config,
        store,
        writer,
        collector,
        sources,
        incidents,
        states,
        changes,
        investigator,
        watcher,
        Scheduling(store.engine, []),
        build_key_gate(settings, store),
        Retention(
            settings.retention,
            store,
            IncidentExpiry(store.engine),
            changes,
            states,
            audit=audit,
            releases=releases,
        ),
        audit,
    )
    slack = bot.slack = build_slack(bot)
    watcher.listeners.append(slack.notifier)
    if slack.outbox.local:
        watcher.listeners.append(ConsoleListener(incidents))
    bot.scheduling.jobs.extend(
        [
            Job("evaluate", config.watcher.evaluate_every, lambda: watcher.evaluate_all()),
            Job("slack-outbox", OUTBOX_EVERY_S, slack.outbox.flush),
            Job("retention", RETENTION_EVERY_MINUTES * 60, bot.retention.run),
            Job("key-reminders", KEY_REMINDERS_EVERY_S, key_reminders(bot, slack.outbox).run),
            Job("releases", settings.releases.every_s, release_watch(bot, slack).run),
            Job("weekly-digest", DIGEST_EVERY_S, weekly_digest(bot).run),
        ]
    )
    return bot


def release_watch(bot: Bot, slack: SlackIntegration) -> ReleaseWatch:
    notices = ReleaseNotices(bot.config, slack.outbox, slack.notifier.quote, public_url(bot.settings))
    return ReleaseWatch(
        bot.store,
        ReleaseLog(bot.store.engine),
        bot.config,
        bot.settings.releases,
        notices,
        changes=bot.changes,
        tell_change=notices.change,
    )


def key_reminders(bot: Bot, outbox: Outbox) -> KeyReminders:
    keys = bot.settings.ingest_keys
    channel = keys.reminder_channel or bot.config.slack.default_channel or LOCAL_CHANNEL
    return KeyReminders(KeyRegistry(bot.store.engine), outbox, channel, keys.remind_before_days)


def weekly_digest(bot: Bot) -> WeeklyDigest:
    assert bot.slack is not None
    notifier = bot.slack.notifier
    return WeeklyDigest(
        bot.config,
        bot.sources.traces,
        bot.slack.outbox,
        bot.settings.advice,
        channel_of=notifier.channel_of,
        quote=notifier.quote,
        base_url=public_url(bot.settings),
    )


def build_key_gate(settings: Settings, store: Store) -> KeyGate:
    keys = settings.ingest_keys
    keyring = Keyring(KeyRegistry(store.engine), cache_bytes=keys.cache_bytes, ttl_s=keys.cache_ttl_s)
    rates = None
    if keys.rate_bytes_per_s:
        rates = KeyRates(
            bytes_per_s=keys.rate_bytes_per_s,
            burst_bytes=keys.burst_bytes,
            memory_bytes=keys.rate_memory_bytes,
        )
    return KeyGate(keyring, KeyHeader(keys.header), rates)


def build_spool(settings: Settings) -> Spool | None:
    """The ingest spool, beside a SQLite database by default (``journeywatch.db-spool``,
    as SQLite's own ``-wal``), so that two servers on two databases never share one."""
    spooling = settings.collector.spool
    if not spooling.enabled:
        return None
    directory = spooling.directory
    if directory is None:
        url = make_url(settings.database_url)
        in_file = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
        directory = Path(f"{url.database}-spool") if in_file else DEFAULT_DATA_DIR / "spool"
    return Spool(
        directory,
        max_bytes=spooling.max_bytes,
        segment_bytes=spooling.segment_bytes,
        fsync=spooling.fsync,
        fsync_interval_s=spooling.fsync_interval_ms / 1000,
    )


GC_THRESHOLDS = (50_000, 10, 100)
"""Python's defaults are (700, 10, 10)."""


def tune_garbage_collector() -> None:
    """Collect cycles less often, and never rescan what startup built.

    Under ingest the heap holds ~100k buffered spans that live for seconds, then die by
    reference counting (they form no cycles). With the defaults they are promoted to the
    oldest generation, whose full scans took 400-500 ms each and ~14 % of the collector's
    CPU at 12k spans/s; those pauses were the p99 of ingest requests. With a young
    generation of 50k objects the spans die before reaching it: p99 at 8k spans/s went
    from 389-820 ms to 120-158 ms (bench/ingest.py --rate 8000, docs/benchmarks.md).
    ``gc.freeze`` moves the imported modules' objects out of every later scan.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(bot: Bot, announce: Callable[[str], None] = log.info) -> Starlette:
    """``announce``: told where OTLP/gRPC listens once it is bound (`serve` prints it)."""

    async def healthz(_: Request) -> Response:
        sampler = bot.collector.sampler
        degraded = bot.collector.degraded()
        spool = bot.collector.spool
        return JSONResponse(
            {
                "status": "degraded" if degraded else "ok",
                "degraded": degraded,
                "pending_writes": bot.writer.pending,
                "pending_write_bytes": bot.writer.pending_bytes,
                "collector": {
                    **dataclasses.asdict(bot.collector.stats),
                    "buffered_spans": sampler.buffered_spans,
                    "buffered_traces": sampler.buffered_traces,
                    "buffered_bytes": sampler.buffered_bytes,
                    "kept": dict(sampler.stats.kept),
                    "dropped": sampler.stats.dropped,
                    "early_decisions": sampler.stats.early_decisions,
                    "cache_bytes": bot.collector.cache_bytes(),
                    "span_metric_bytes": bot.collector.metrics.bytes,
                    "overdue_decisions": sampler.stats.overdue_decisions,
                },
                "writer": {
                    **dataclasses.asdict(bot.writer.stats),
                    "restarts": bot.writer.restarts,
                    "quarantine_reasons": list(bot.writer.quarantine_reasons),
                },
                "grpc_port": bot.grpc_port,
                "ingest_keys": {
                    "required": bot.settings.ingest_keys.required,
                    "cache_bytes": bot.keys.keyring.cached_bytes,
                    "lookups": bot.keys.keyring.lookups,
                    "rate_limited": bot.keys.rates.refused if bot.keys.rates else 0,
                    "rate_bucket_bytes": bot.keys.rates.held_bytes if bot.keys.rates else 0,
                },
                "retention": _retention_json(bot.retention.last),
                "audit": dataclasses.asdict(bot.audit.stats),
                "spool": None
                if spool is None
                else {
                    **dataclasses.asdict(spool.stats),
                    "bytes": spool.bytes_held,
                    "segments": spool.segments,
                },
            }
        )

    readers = Readers(bot.keys.keyring, bot.settings.api_token, lambda: bot.config.owners())
    routes = [
        *slack_routes(bot.slack, bot.settings),
        *ingest_routes(
            bot.collector,
            bot.settings.collector.max_body_bytes,
            bot.keys if bot.settings.ingest_keys.required else None,
        ),
        *query_routes(bot.store, bot.collector.redactor, readers, bot.audit),
        *incident_routes(bot, readers),
        Route("/healthz", healthz, methods=["GET"]),
        *web_routes(bot, readers),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(PerClientLimit, limit=bot.settings.http.max_requests_per_client)],
        lifespan=_lifespan(bot, announce),
    )


def _lifespan(bot: Bot, announce: Callable[[str], None]):  # type: ignore[no-untyped-def]
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        bot.writer.start()
        ticker = asyncio.create_task(_tick_forever(bot.collector))
        replayed = await bot.collector.replay()  # before the first request: the old ones first
        if replayed:
            log.warning("replayed %d requests from the ingest spool", replayed)
        grpc = await _start_grpc(bot, announce)
        socket_mode = start_socket_mode(bot.slack, bot.settings)
        bot.scheduling.start()
        try:
            yield
        finally:
            if grpc is not None:
                await grpc.stop(GRPC_GRACE_S)
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            bot.scheduling.stop()
            if socket_mode is not None:
                socket_mode.close()
            bot.watcher.close()
            bot.investigator.close()
            bot.sources.close()
            bot.collector.close()
            bot.writer.stop()
            bot.collector.close_spool()
            if bot.writer.store is not bot.store:
                bot.writer.store.close()
            bot.store.close()

    return lifespan


async def _start_grpc(bot: Bot, announce: Callable[[str], None]) -> grpc.aio.Server | None:
    """OTLP/gRPC on ``grpc_port`` of the HTTP host (-1: none), bound before the first
    request so that a port in use stops startup with a reason."""
    settings = bot.settings
    if settings.grpc_port < 0:
        return None
    server = grpc_server(
        bot.collector, bot.keys if settings.ingest_keys.required else None, settings.collector.max_body_bytes
    )
    address = f"[{settings.host}]" if ":" in settings.host else settings.host
    try:
        port = server.add_insecure_port(f"{address}:{settings.grpc_port}")
    except RuntimeError:
        raise ConfigError(
            f"OTLP/gRPC cannot listen on {address}:{settings.grpc_port} (in use?); "
            "set JOURNEYWATCH_GRPC_PORT to another port, or -1 for no gRPC"
        ) from None
    await server.start()
    bot.grpc_port = port
    announce(f"journeywatch OTLP/gRPC listening on {address}:{port}")
    return server


async def _tick_forever(collector: Collector) -> None:
    while True:
        await asyncio.sleep(TICK_SECONDS)
        try:
            collector.tick()
        except Exception:  # the loop must outlive any one bad trace
            log.exception("collector tick failed")


def _retention_json(run: RetentionRun | None) -> dict[str, object] | None:
    """Rows per tier as the last retention run counted them (every 15 minutes: counting a
    large spans table at each probe would cost more than the probe)."""
    if run is None:
        return None
    return {"at": run.at_s, "rows": run.sizes, "deleted": run.deleted, "failed": run.failed}


def _hmac_key(settings: Settings) -> bytes:
    if settings.redaction_hmac_key is not None:
        return settings.redaction_hmac_key.get_secret_value().encode()
    log.warning(
        "JOURNEYWATCH_REDACTION_HMAC_KEY is not set: hashed values will not match "
        "across restarts; set it to keep them stable"
    )
    return os.urandom(32)
