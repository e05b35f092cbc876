"""The leader's release job (bot/releases.py) on SQLite and the PostgreSQL server the
tests start: new versions noticed in stored spans, judged against the version before,
a regression told once in the journey's channel (local mode: the outbox keeps what it
would send), a fine release silent."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import AppConfig, Journey, Sampling
from bot.releases import FIRST, ReleaseLog, ReleaseWatch
from bot.settings import ReleaseSettings
from bot.slack.mrkdwn import Quote
from bot.slack.outbox import Outbox
from bot.slack.release_notices import KIND, ReleaseNotices
from bot.store import Store
from bot.store.state import SlackMessageRow
from correlators.regression import Outcome
from tests.release_traffic import NEW, OLD, SERVICE, Release, release_time, traffic

CHANNEL = "C0CHECKOUT"


def config() -> AppConfig:
    checkout = Journey(name="checkout", owner="shop", channel=CHANNEL)
    return AppConfig(journeys=[checkout], sampling=Sampling(default_keep_fraction=1.0))


def watch(store: Store) -> ReleaseWatch:
    cfg = config()
    notices = ReleaseNotices(cfg, Outbox(store.engine, None), Quote(), "http://bot.example")
    return ReleaseWatch(store, ReleaseLog(store.engine), cfg, ReleaseSettings(), notices)


def notices(store: Store) -> list[dict[str, Any]]:
    with Session(store.engine) as session:
        rows = session.scalars(select(SlackMessageRow).where(SlackMessageRow.kind == KIND))
        return [{"key": r.key, "channel": r.channel, "text": json.loads(r.payload)["text"]} for r in rows]


def release(store: Store, planted: Release) -> tuple[ReleaseWatch, ReleaseLog]:
    """The old version's traffic stored and looked at, then the new one's."""
    traces = traffic(7, planted)
    released = release_time(planted)
    job = watch(store)
    store.write_traces([t for t in traces if t.spans[0].start_ns < released])
    assert job.run() == 0
    first = {(r.service, r.version): r.outcome for r in job.releases.listed()}
    assert first == {(SERVICE, OLD): FIRST, ("frontend", "3.1.0"): FIRST, ("payments", "3.1.0"): FIRST}
    store.write_traces([t for t in traces if t.spans[0].start_ns >= released])
    return job, job.releases


def test_a_regressed_release_is_told_once_in_the_journeys_channel(any_store: Store) -> None:
    job, log = release(any_store, Release(slower=0.3, before_s=90, after_s=90))
    assert job.run() == 1
    [new] = [r for r in log.listed() if r.version == NEW]
    assert (new.previous, new.outcome, new.settled) == (OLD, Outcome.REGRESSED.value, True)
    assert new.verdict is not None and "SELECT items" in {o.operation for o in new.verdict.regressions}
    [sent] = notices(any_store)
    assert sent["key"] == f"{KIND}:{new.id}:{CHANNEL}" and sent["channel"] == CHANNEL
    text = sent["text"]
    assert text.startswith(f":chart_with_upwards_trend: *{SERVICE} {NEW}* regressed against {OLD} ")
    assert "critical path of checkout, though no SLO burns yet" in text
    assert "\n• SELECT items: p50 +30% [" in text and "<http://bot.example/traces/" in text
    assert job.run() == 0 and len(notices(any_store)) == 1, "settled: never told twice"


def test_a_fine_release_says_nothing(any_store: Store) -> None:
    job, log = release(any_store, Release(before_s=90, after_s=90))
    assert job.run() == 0
    [new] = [r for r in log.listed() if r.version == NEW]
    assert (new.outcome, new.settled) == (Outcome.FINE.value, False), "watched until its time is up"
    assert notices(any_store) == []


def test_a_release_without_enough_traffic_waits(any_store: Store) -> None:
    job, log = release(any_store, Release(slower=0.3, before_s=90, after_s=10))
    assert job.run() == 0
    [new] = [r for r in log.listed() if r.version == NEW]
    assert new.outcome == Outcome.TOO_EARLY.value and not new.settled


def test_a_second_replica_records_a_version_once(any_store: Store) -> None:
    log = ReleaseLog(any_store.engine)
    assert log.record(SERVICE, NEW, OLD, 1.0) is not None
    assert log.record(SERVICE, NEW, OLD, 2.0) is None
    assert [r.first_seen for r in log.listed()] == [1.0]
