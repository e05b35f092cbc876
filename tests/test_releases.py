"""The leader's release job (bot/releases.py) on SQLite and the PostgreSQL server the
tests start: new versions noticed in stored spans, judged against the version before,
a regression told once in the journey's channel (local mode: the outbox keeps what it
would send), a fine release silent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.changes import ChangeLog
from bot.config import AppConfig, Journey, Sampling
from bot.incidents.expiry import IncidentExpiry
from bot.keys import KeyRegistry
from bot.releases import FIRST, ReleaseLog, ReleaseWatch
from bot.retention import Retention
from bot.server import build_bot, create_app
from bot.settings import ReleaseSettings, RetentionSettings, Settings
from bot.slack.mrkdwn import Quote
from bot.slack.outbox import Outbox
from bot.slack.release_notices import CHANGE_KIND, KIND, ReleaseNotices
from bot.slo.state import JourneyStates
from bot.store import Store
from bot.store.dialect import make_engine
from bot.store.migrations import migrate
from bot.store.schema import metadata
from bot.store.state import ReleaseRow, SlackMessageRow
from correlators.changes import Change
from correlators.regression import OperationComparison, Outcome, ReleaseVerdict, Shift
from tests.asgi import AppClient
from tests.release_traffic import NEW, OLD, SERVICE, Release, S, release_time, traffic
from tests.stored import shop_config

CHANNEL = "C0CHECKOUT"
TOKEN = "the-api-token"


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


def test_retention_drops_old_settled_releases_but_keeps_each_services_newest(any_store: Store) -> None:
    log = ReleaseLog(any_store.engine)
    DAY = 86_400.0
    log.record("orders", "1.0", None, 1 * DAY)  # first: settled
    log.record("orders", "1.1", "1.0", 2 * DAY)
    newest = log.record("orders", "1.2", "1.1", 3 * DAY)
    log.record("search", "7", None, 1 * DAY)  # a service's only version, however old
    watching = log.record("cart", "2", "1", 1 * DAY)  # not settled yet: its watch is not over
    assert newest is not None and watching is not None
    with Session(any_store.engine) as session, session.begin():  # 1.1 and 1.2 judged, settled
        for row in session.scalars(select(ReleaseRow).where(ReleaseRow.service == "orders")):
            row.settled = True
    retention = Retention(
        RetentionSettings(changes_days=10),
        any_store,
        IncidentExpiry(any_store.engine),
        ChangeLog(any_store.engine),
        JourneyStates(any_store.engine),
        releases=log,
        clock=lambda: 12.5 * DAY,  # changes before day 2.5 go
    )
    run = retention.run()
    assert run.deleted["releases"] == 2 and "releases" not in run.failed
    kept = sorted((r.service, r.version) for r in log.listed())
    assert kept == [("cart", "2"), ("orders", "1.2"), ("search", "7")]


# --- the page -------------------------------------------------------------------------------


def judged(journey: str, *, slower: bool) -> ReleaseVerdict:
    shift = Shift(0.95, 28_000_000, 36_700_000, 0.31, 0.24, 0.38)
    operation = OperationComparison(
        "SELECT <items>", (journey,), 900, 800, p50=shift, p95=shift, latency_p=1e-9, slower=slower
    )
    outcome = Outcome.REGRESSED if slower else Outcome.FINE
    return ReleaseVerdict("svc", "1", "2", outcome, 900, 800, (operation,))


@pytest.fixture
def pages(database_url: str) -> Iterator[tuple[Any, ReleaseLog]]:
    settings = Settings(database_url=database_url, api_token=SecretStr(TOKEN))
    settings.collector.writer_process = False
    settings.collector.spool.enabled = False
    config = shop_config()
    owners = {"checkout": "payments", "login": "identity"}
    config = config.model_copy(
        update={"journeys": [j.model_copy(update={"owner": owners.get(j.name)}) for j in config.journeys]}
    )
    bot = build_bot(settings, config)
    log = ReleaseLog(bot.store.engine)
    yield bot, log
    bot.watcher.close()
    bot.investigator.close()
    bot.store.close()


def test_the_releases_page_lists_each_services_verdicts_in_the_readers_scope(
    pages: tuple[Any, ReleaseLog],
) -> None:
    bot, log = pages
    log.record("orders", "1.4.2", None, 1_795_000_000.0)
    slow = log.record("orders", "2.0.0", "1.4.2", 1_795_000_600.0)
    fine = log.record("auth", "5.1.0", "5.0.0", 1_795_000_700.0)
    assert slow is not None and fine is not None
    log.judge(slow, judged("checkout", slower=True), settled=True, at=1_795_000_900.0)
    log.judge(fine, judged("login", slower=False), settled=False, at=1_795_000_900.0)
    app = create_app(bot)

    admin = AppClient(app, headers={"Authorization": f"Bearer {TOKEN}"})
    page = admin.get("/releases")
    assert page.status_code == 200
    html = page.text
    assert html.index("<h2>auth</h2>") < html.index("<h2>orders</h2>")
    assert "regressed" in html and "SELECT &lt;items&gt;: p95 +31% [+24%, +38%] (28.0 → 36.7 ms)" in html
    assert "first version seen" in html and "fine" in html
    assert html.count('class="release-row') == 3

    key = KeyRegistry(bot.store.engine).create("payments", role="viewer")  # payments owns checkout
    viewer = AppClient(app, headers={"Authorization": f"Bearer {key.key}"})
    html = viewer.get("/releases").text
    assert "<h2>orders</h2>" in html and "2.0.0" in html
    assert "<h2>auth</h2>" not in html, "login's release is out of scope"
    assert html.count('class="release-row') == 1, "a first version belongs to no journey"
    assert AppClient(app).get("/releases").status_code == 401


# --- posted changes -----------------------------------------------------------------------


def test_a_flag_flip_that_slows_a_journey_is_told_and_linked_as_a_change(any_store: Store) -> None:
    planted = Release(slower=0.3, before_s=90, after_s=90, flag=True)
    any_store.write_traces(traffic(11, planted))
    changes = ChangeLog(any_store.engine)
    flipped = release_time(planted)
    change_id = changes.add(Change("orders", "flag", flipped, description="new_pricing=on"))
    cfg = config()
    notices_ = ReleaseNotices(cfg, Outbox(any_store.engine, None), Quote(), "http://bot.example")
    job = ReleaseWatch(
        any_store,
        ReleaseLog(any_store.engine),
        cfg,
        ReleaseSettings(),
        notices_,
        changes=changes,
        tell_change=notices_.change,
    )
    assert job.run() == 1
    assert job.run() == 0, "settled once called"
    assert {r.outcome for r in job.releases.listed()} == {FIRST}, "no version changed"
    with Session(any_store.engine) as session:
        [sent] = session.scalars(select(SlackMessageRow).where(SlackMessageRow.kind == CHANGE_KIND))
        assert sent.key == f"change:{change_id}:{CHANNEL}"
        text = json.loads(sent.payload)["text"]
    assert text.startswith(
        ":chart_with_upwards_trend: Since the flag of *orders* (new_pricing=on), the critical path "
        "of checkout is worse, though no SLO burns yet:\n• "
    )
    assert "SELECT items: p" in text
    [linked] = changes.between(flipped / S - 1, flipped / S + 1)
    assert linked.release is not None and linked.release.outcome == "regressed"
    assert linked.release.operation in {"SELECT items", "POST /orders"}


def test_a_schema_12_database_gains_releases_and_change_verdicts(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        metadata.create_all(connection)
        connection.execute(text("DROP TABLE releases"))
        for column in ("outcome", "verdict", "judged_at", "settled"):
            connection.execute(text(f"ALTER TABLE changes DROP COLUMN {column}"))
        connection.execute(
            text(
                "INSERT INTO changes (service, kind, at, source, arrived_at) "
                "VALUES ('orders', 'flag', 1.0, 'api', 1.0)"
            )
        )
        connection.execute(text("INSERT INTO schema_meta (id, version) VALUES (1, 12)"))
    try:
        assert migrate(engine) == 12
        [(_, change)] = ChangeLog(engine).unsettled(0.0)
        assert change.release is None
        assert ReleaseLog(engine).record("orders", "2.0.0", "1.4.2", 2.0) is not None
    finally:
        engine.dispose()
