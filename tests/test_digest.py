"""The weekly digest per journey (issue 18) against the local fake Slack Web API, with a
fake clock: once per journey and ISO week at the configured day and hour, nothing for a
journey without traffic, and what changed since last week's digest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from bot.server import weekly_digest
from bot.slack.digest import EVENT_TYPE, WeeklyDigest, due_moment, week_label
from bot.wiring import Bot
from correlators.model import Span, SpanKind, Trace
from tests.fixtures.fake_slack import FakeSlack
from tests.spantree import TraceBuilder
from tests.stored import S
from tests.test_slack import make_bot  # noqa: F401  (a bot wired to the fake Slack, one database)

MONDAY_9 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
"""A Monday: the default digest moment, the first of ISO week 2026-W49."""
INSERT = "INSERT INTO order_items (order_id, sku) VALUES ({i}, 'sku')"


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.now = at.timestamp()

    def __call__(self) -> float:
        return self.now

    def at(self, moment: dt.datetime) -> None:
        self.now = moment.timestamp()


def checkout(n: int, at: dt.datetime, inserts: int) -> Trace:
    """orders' checkout running ``inserts`` INSERTs one by one (none below two)."""
    b = TraceBuilder(f"{n:032x}")
    root = b.span("frontend", "POST /checkout", 0, 20 + inserts * 10, kind=SpanKind.SERVER)
    _, orders = b.call(root, "orders", "POST /orders", 5, 15 + inserts * 10)
    for i in range(inserts):
        query(b, orders, 10 + i * 10, 19 + i * 10, INSERT.format(i=n * 100 + i))
    shift = int(at.timestamp() * S)
    spans = [replace(s, start_ns=s.start_ns + shift, end_ns=s.end_ns + shift) for s in b.spans]
    return Trace(b.trace_id, spans, journey="checkout")


def query(b: TraceBuilder, parent: Span, start: float, end: float, sql: str) -> None:
    attributes = {"db.system": "postgresql", "db.name": "shop", "db.statement": sql}
    b.span(parent.service, "INSERT", start, end, parent=parent, kind=SpanKind.CLIENT, **attributes)


def week_of_checkouts(bot: Bot, first: int, week_due: dt.datetime, inserts: int) -> None:
    """Thirty checkouts spread over the five days before ``week_due``."""
    start = week_due - dt.timedelta(days=5)
    traces = [checkout(first + i, start + dt.timedelta(hours=4 * i), inserts) for i in range(30)]
    bot.store.write_traces(traces)


def digest_job(bot: Bot, clock: Clock) -> WeeklyDigest:
    job = weekly_digest(bot)
    job.clock = clock
    return job


def posts(fake: FakeSlack) -> list[Any]:
    return fake.calls_to("chat.postMessage", ok=True)


def test_each_journey_with_traffic_gets_one_digest_a_week_at_its_hour(
    make_bot: Callable[..., Bot],  # noqa: F811
    fake_slack: FakeSlack,
) -> None:
    bot = make_bot()
    assert bot.slack is not None
    week_of_checkouts(bot, 0, MONDAY_9, inserts=8)
    clock = Clock(MONDAY_9 - dt.timedelta(minutes=1))
    job = digest_job(bot, clock)
    assert job.run() == 0, "before the hour: nothing"
    clock.at(MONDAY_9 + dt.timedelta(minutes=5))
    assert job.run() == 1, "checkout only: login and search had no traffic"
    assert job.run() == 0, "once a week"
    assert digest_job(make_bot(), clock).run() == 0, "and once on every replica"
    bot.slack.outbox.flush()

    [post] = posts(fake_slack)
    assert post.args["channel"] == "#checkout-oncall"
    text = post.args["text"]
    assert text.startswith(
        ":bar_chart: *checkout*, week 2026-W49: where the time went and what would win it back."
    )
    assert "30 kept requests, p50 100 ms and p95 100 ms." in text
    body = " ".join(b["text"]["text"] for b in post.args["blocks"])
    assert (
        "1. orders runs `INSERT INTO order_items (order_id, sku) VALUES (?)` on postgresql:shop 8 times "
        "one by one in POST /orders: batch them into one call (an IN-list, a bulk endpoint)\n"
        "    wins back 63 ms at p95 and 63 ms at p50; in 30 of 30 requests, up to 63 ms each "
        "(<https://jw.example/traces/" in body
    )
    assert "last week" not in body, "no digest last week to compare with"
    metadata = post.args["metadata"]
    assert metadata["event_type"] == EVENT_TYPE
    assert metadata["event_payload"]["week"] == "2026-W49"
    assert [a["p95_gain_ns"] for a in metadata["event_payload"]["advice"]] == [63_000_000]


def test_the_next_digest_says_what_changed_since_the_last(
    make_bot: Callable[..., Bot],  # noqa: F811
    fake_slack: FakeSlack,
) -> None:
    bot = make_bot()
    assert bot.slack is not None
    clock = Clock(MONDAY_9 + dt.timedelta(minutes=5))
    job = digest_job(bot, clock)
    week_of_checkouts(bot, 0, MONDAY_9, inserts=8)
    assert job.run() == 1
    next_monday = MONDAY_9 + dt.timedelta(days=7)
    week_of_checkouts(bot, 1000, next_monday, inserts=12)
    clock.at(next_monday + dt.timedelta(minutes=5))
    assert job.run() == 1
    week_after = next_monday + dt.timedelta(days=7)
    week_of_checkouts(bot, 2000, week_after, inserts=1)  # the loop is gone
    clock.at(week_after + dt.timedelta(hours=30))  # a leader down for a day still posts it
    assert job.run() == 1
    bot.slack.outbox.flush()

    _, second, third = posts(fake_slack)
    assert "(last week 100 ms and 100 ms)" in second.args["text"]
    grown = " ".join(b["text"]["text"] for b in second.args["blocks"])
    assert "12 times one by one" in grown and "wins back 99 ms at p95" in grown
    assert "(63 ms at p95 last week; <https://jw.example/traces/" in grown
    gone = " ".join(b["text"]["text"] for b in third.args["blocks"])
    assert "No pattern found in the week's kept traces: nothing to win back." in gone
    assert "Gone from last week's top: orders runs `INSERT INTO order_items" in gone
    assert third.args["metadata"]["event_payload"]["week"] == "2026-W51"


def test_the_day_and_hour_are_settings(
    make_bot: Callable[..., Bot],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JOURNEYWATCH_ADVICE__DIGEST_WEEKDAY", "4")
    monkeypatch.setenv("JOURNEYWATCH_ADVICE__DIGEST_HOUR", "16")
    bot = make_bot()
    assert (bot.settings.advice.digest_weekday, bot.settings.advice.digest_hour) == (4, 16)
    friday = dt.datetime(2026, 12, 4, 16, 0, tzinfo=dt.UTC)
    assert due_moment(friday + dt.timedelta(hours=3), 4, 16) == friday
    assert week_label(friday) == "2026-W49"
    week_of_checkouts(bot, 0, friday, inserts=8)
    clock = Clock(friday - dt.timedelta(seconds=1))
    job = digest_job(bot, clock)
    assert job.run() == 0
    clock.at(friday)
    assert job.run() == 1
    (job_entry,) = [j for j in bot.scheduling.jobs if j.name == "weekly-digest"]
    assert job_entry.every_s <= 3600
