"""Shared fixtures. Fixtures for real servers live in tests/fixtures/ and are plugged in here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store import Store

pytest_plugins: list[str] = [
    "tests.fixtures.bot_server",
    "tests.fixtures.node_service",
    "tests.fixtures.postgres",
    "tests.fixtures.prometheus",
    "tests.fixtures.fake_backends",
    "tests.fixtures.fake_slack",
    "tests.fixtures.browser",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's own JOURNEYWATCH_* or SLACK_* variables."""
    for name in list(os.environ):
        if name.startswith(("JOURNEYWATCH_", "SLACK_")):
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """An empty, migrated store in a SQLite file of the test's own."""
    store = Store(f"sqlite:///{tmp_path}/jw.db")
    store.migrate()
    yield store
    store.close()
