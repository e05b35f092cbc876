"""Sources from configuration: the built-in store for every signal unless ``sources:``
names a backend for it."""

from __future__ import annotations

from bot.config import AppConfig
from bot.settings import Settings
from bot.sources import Sources
from bot.sources.builtin import (
    BuiltinExemplarSource,
    BuiltinLogSource,
    BuiltinMetricSource,
    BuiltinSliSource,
    BuiltinTraceSource,
)
from bot.store import Store


def build_sources(config: AppConfig, settings: Settings, store: Store) -> Sources:
    sources = Sources(
        traces=BuiltinTraceSource(store),
        logs=BuiltinLogSource(store),
        metrics=BuiltinMetricSource(store),
        exemplars=BuiltinExemplarSource(store),
        sli=BuiltinSliSource(store),
    )
    return sources
