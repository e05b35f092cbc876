"""Slack reminders before an ingest key expires (issue 16), on SQLite and the PostgreSQL
server the tests start, with a fake clock; messages land in the outbox as they would be
sent (local mode: no Slack client)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import load_config
from bot.keys import KeyRegistry
from bot.server import build_bot
from bot.settings import Settings
from bot.slack.key_reminders import DAY_S, KIND, KeyReminders
from bot.slack.outbox import Outbox
from bot.store import Store
from bot.store.state import SlackMessageRow


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0  # 2027-01-15 08:00 UTC

    def __call__(self) -> float:
        return self.now


def reminders(store: Store) -> list[dict[str, Any]]:
    with Session(store.engine) as session:
        rows = session.scalars(
            select(SlackMessageRow).where(SlackMessageRow.kind == KIND).order_by(SlackMessageRow.id)
        )
        return [{"key": r.key, "channel": r.channel, "text": json.loads(r.payload)["text"]} for r in rows]


def test_a_key_is_reminded_once_at_each_threshold_and_never_again(any_store: Store) -> None:
    clock = Clock()
    registry = KeyRegistry(any_store.engine, clock)
    made = registry.create("shop", services=["payments", "checkout"], expires_in_s=30 * DAY_S)
    job = KeyReminders(registry, Outbox(any_store.engine, None, clock=clock), "C0SECURITY", [14, 3], clock)
    assert job.run() == 0, "30 days left: nothing yet"
    clock.now += 17 * DAY_S  # 13 days left
    assert job.run() == 1
    clock.now += 3600
    assert job.run() == 0, "the same reminder is not sent twice"
    clock.now += 10 * DAY_S  # 3 days less an hour left
    assert job.run() == 1
    assert job.run() == 0
    sent = reminders(any_store)
    assert [r["key"] for r in sent] == [f"{KIND}:{made.info.id}:14d", f"{KIND}:{made.info.id}:3d"]
    assert {r["channel"] for r in sent} == {"C0SECURITY"}
    assert sent[0]["text"] == (
        f":key: Ingest key `{made.info.id}` of team *shop* (sends as checkout, payments) expires on "
        "2027-02-14 08:00 UTC, in less than 14 days. Rotate it before then: "
        f"`journeywatch keys rotate {made.info.id}` makes a new key and keeps this one working "
        "through the overlap, so the senders can switch without losing telemetry."
    )
    assert "in less than 3 days" in sent[1]["text"]


def test_a_key_first_seen_close_to_its_end_gets_only_the_nearest_reminder(any_store: Store) -> None:
    clock = Clock()
    registry = KeyRegistry(any_store.engine, clock)
    made = registry.create("shop", expires_in_s=2 * DAY_S)
    job = KeyReminders(registry, Outbox(any_store.engine, None, clock=clock), "C1", [14, 3], clock)
    assert job.run() == 1
    assert [r["key"] for r in reminders(any_store)] == [f"{KIND}:{made.info.id}:3d"]


def test_revoked_expired_rotated_and_endless_keys_get_no_reminder(any_store: Store) -> None:
    clock = Clock()
    registry = KeyRegistry(any_store.engine, clock)
    registry.create("endless")
    revoked = registry.create("gone", expires_in_s=DAY_S)
    registry.revoke(revoked.info.id)
    registry.create("over", expires_in_s=60)
    rotated = registry.create("moving", expires_in_s=100 * DAY_S)
    _old, new = registry.rotate(rotated.info.id, overlap_s=DAY_S)
    clock.now += 120
    job = KeyReminders(registry, Outbox(any_store.engine, None, clock=clock), "C1", [14, 3], clock)
    assert job.run() == 0, "the old key of a rotation ends by choice; the new one has 100 days"
    assert new.info.expires_at is not None and new.info.expires_at - clock.now > 14 * DAY_S


def test_a_team_name_is_text_in_slack_not_markup(any_store: Store) -> None:
    clock = Clock()
    registry = KeyRegistry(any_store.engine, clock)
    registry.create("<!channel> & co", expires_in_s=DAY_S)
    KeyReminders(registry, Outbox(any_store.engine, None, clock=clock), "C1", [3], clock).run()
    (sent,) = reminders(any_store)
    assert "team *&lt;!channel&gt; &amp; co*" in sent["text"]
    assert "<!channel>" not in sent["text"]


def test_an_access_key_is_reminded_as_one(any_store: Store) -> None:
    clock = Clock()
    registry = KeyRegistry(any_store.engine, clock)
    made = registry.create("payments", role="viewer", expires_in_s=DAY_S).info
    KeyReminders(registry, Outbox(any_store.engine, None, clock=clock), "C1", [3], clock).run()
    (sent,) = reminders(any_store)
    assert f"Access key `{made.id}` of team *payments* (viewer) expires on" in sent["text"]
    assert "its readers can switch without losing access" in sent["text"]


def test_the_server_runs_the_reminders_on_its_leader_into_the_configured_channel(
    tmp_path: Path, keep_all_config: Path
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/jw.db",
        collector={"writer_process": False, "spool": {"enabled": False}},
        ingest_keys={"reminder_channel": "C0KEYS", "remind_before_days": [30]},
    )
    bot = build_bot(settings, load_config(keep_all_config))
    try:
        made = KeyRegistry(bot.store.engine).create("shop", expires_in_s=10 * DAY_S)
        (job,) = [job for job in bot.scheduling.jobs if job.name == "key-reminders"]
        job.run()
        (sent,) = reminders(bot.store)
        assert (sent["key"], sent["channel"]) == (f"{KIND}:{made.info.id}:30d", "C0KEYS")
        assert "in less than 30 days" in sent["text"]
    finally:
        bot.store.close()
