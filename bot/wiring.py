"""The long-lived parts of one journeywatch process, and where people reach its pages.

A low module on purpose: the edges (``bot.slack``, ``bot.web``, ``bot.api``) are handed a
:class:`Bot` and build links with :func:`public_url`, and ``bot.server``, which builds the
Bot and mounts the edges, imports them. Were these in ``bot.server`` the edges would
import the module that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.audit import AuditTrail
from bot.changes import ChangeLog
from bot.collector.pipeline import Collector
from bot.config import AppConfig
from bot.incidents.repository import IncidentRepository
from bot.investigate import Investigator
from bot.keys import KeyGate
from bot.retention import Retention
from bot.scheduling import Scheduling
from bot.settings import Settings
from bot.slack.integration import SlackIntegration
from bot.slo.state import JourneyStates
from bot.slo.watcher import Watcher
from bot.sources import Sources
from bot.store import BatchWriter, Store


@dataclass
class Bot:
    """The long-lived parts of one journeywatch process."""

    settings: Settings
    config: AppConfig
    store: Store
    writer: BatchWriter
    collector: Collector
    sources: Sources
    incidents: IncidentRepository
    states: JourneyStates
    changes: ChangeLog
    investigator: Investigator
    watcher: Watcher
    scheduling: Scheduling
    keys: KeyGate
    """Checks ingest keys: on ingest when ``ingest_keys.required``, on ``/api/changes``."""
    retention: Retention
    audit: AuditTrail
    """Who read and did what; every edge records into it (``bot.audit``)."""
    slack: SlackIntegration | None = None
    grpc_port: int | None = None
    """Where OTLP/gRPC listens once started (None: not listening)."""


def public_url(settings: Settings) -> str:
    """The base of links to this bot's pages."""
    return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
