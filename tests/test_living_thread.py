"""The living thread: an open incident is investigated again on a schedule and on
escalation, its parent always shows the latest report, and its thread hears only of a
hypothesis that moved. The real watcher, investigator and correlators on SQLite, the
real notifier and outbox against the fake Slack Web API (tests/fixtures/fake_slack.py)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.incidents.hypothesis import HYPOTHESIS_EVENT
from bot.server import create_app
from bot.settings import Settings
from bot.slack.console import ConsoleListener
from bot.sources.build import build_sources
from bot.store import Store
from bot.store.state import IncidentRow
from bot.wiring import Bot
from tests.asgi import AppClient
from tests.fixtures.fake_slack import FakeSlack
from tests.fixtures.slack_requests import block_action
from tests.scenarios import Scenario, generate
from tests.stored import S, store_telemetry
from tests.test_slack import CHANNEL_ID, SECRET, dispatch, make_bot, page, parents  # noqa: F401

EVERY_S = 300  # watcher.reinvestigate_every's default


@pytest.fixture(scope="module")
def release() -> Scenario:
    return generate("deploy_exception", 3)  # cart's new release throws on checkout


@pytest.fixture(scope="module")
def cache_down() -> Scenario:
    return generate("cache_down", 3)  # the same windows (seed 3), redis down instead


class Clock:
    """The investigator's clock, moved with the evaluations' times: the scenario's
    telemetry is in the past, and "five minutes later" is a time the test picks."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def opened(bot: Bot, scenario: Scenario) -> tuple[int, Clock]:
    """Store the scenario, evaluate at its end: one incident, investigated once."""
    store_telemetry(bot.store, bot.config, scenario.traces, scenario.logs)
    clock = Clock(scenario.incident[1] / S)
    bot.investigator.clock = clock
    [change] = page(bot, scenario, clock.now_s)
    return change.incident_id, clock


@dataclass(frozen=True, slots=True)
class Live:
    bot: Bot
    incident_id: int
    clock: Clock
    ts: str
    """The parent's ts in the fake Slack."""


@pytest.fixture
def live(
    make_bot: Callable[..., Bot],  # noqa: F811
    fake_slack: FakeSlack,
    release: Scenario,
) -> Live:
    """The bad release's incident, opened, investigated and posted once."""
    bot = make_bot()
    incident_id, clock = opened(bot, release)
    [parent] = parents(fake_slack)
    return Live(bot, incident_id, clock, parent.response["ts"])


def later(bot: Bot, scenario: Scenario, clock: Clock, seconds: float) -> None:
    clock.now_s = scenario.incident[1] / S + seconds
    page(bot, scenario, clock.now_s)


def kinds(bot: Bot, incident_id: int) -> list[str]:
    """The timeline's kinds, without the thread's permalink (recorded once posted)."""
    incident = bot.incidents.get(incident_id)
    assert incident is not None
    return [e["kind"] for e in incident["timeline"] if e["kind"] != "slack_thread"]


def thread_texts(fake: FakeSlack, ts: str) -> list[str]:
    return [json.dumps(m) for m in fake.replies(CHANNEL_ID, ts)]


def test_the_same_hypothesis_updates_the_parent_and_posts_nothing_in_the_thread(
    make_bot: Callable[..., Bot],  # noqa: F811
    fake_slack: FakeSlack,
    release: Scenario,
) -> None:
    bot = make_bot()
    console = io.StringIO()  # local mode's voice follows the same rule
    bot.watcher.listeners.append(ConsoleListener(bot.incidents, console))
    incident_id, clock = opened(bot, release)
    [parent] = parents(fake_slack)
    ts = parent.response["ts"]
    thread = thread_texts(fake_slack, ts)
    assert "*1. cart*" in thread[0]
    printed = console.getvalue().splitlines()
    assert len(printed) == 2 and "— Localized fault (service); most likely cart" in printed[1]
    versions = len(fake_slack.message_history(CHANNEL_ID, ts))

    later(bot, release, clock, EVERY_S - 60)  # not due yet
    assert kinds(bot, incident_id).count("investigated") == 1

    later(bot, release, clock, EVERY_S + 1)
    assert kinds(bot, incident_id) == ["opened", "investigated", HYPOTHESIS_EVENT, "investigated"]
    assert thread_texts(fake_slack, ts) == thread  # nothing new in the thread
    assert len(fake_slack.calls_to("chat.postMessage", ok=True)) == 1 + len(thread)
    history = fake_slack.message_history(CHANNEL_ID, ts)
    assert len(history) > versions  # the parent, updated in place
    assert "most likely cart" in json.dumps(history[-1])
    updated = fake_slack.calls_to("chat.update", ok=True)
    assert updated and all(c.args["ts"] == ts for c in updated)
    assert console.getvalue().splitlines() == printed


def test_another_top_suspect_posts_one_changed_message_and_the_parent_follows(
    live: Live, fake_slack: FakeSlack, release: Scenario, cache_down: Scenario, tmp_path: Path
) -> None:
    bot = live.bot
    before = thread_texts(fake_slack, live.ts)

    # the evidence moves: the next investigation reads a store where redis is down
    other = Store(f"sqlite:///{tmp_path}/other.db")
    other.migrate()
    try:
        store_telemetry(other, bot.config, cache_down.traces, cache_down.logs)
        bot.investigator.sources = build_sources(bot.config, Settings(), other)
        later(bot, release, live.clock, EVERY_S + 1)
    finally:
        other.close()

    incident = bot.incidents.get(live.incident_id)
    assert incident is not None
    assert incident["report"]["candidates"][0]["service"] == "redis"
    [changed] = thread_texts(fake_slack, live.ts)[len(before) :]
    lead = fake_slack.replies(CHANNEL_ID, live.ts)[-1]["blocks"][0]["text"]["text"]
    assert lead == "*Hypothesis changed:* now redis (dependency), was cart (service)"
    assert "*1. redis*" in changed and "Bad requests by hop" in changed  # the evidence follows
    assert "most likely redis" in json.dumps(fake_slack.message_history(CHANNEL_ID, live.ts)[-1])
    moves = [e["detail"]["shift"] for e in incident["timeline"] if e["kind"] == HYPOTHESIS_EVENT]
    assert moves == ["new", "changed"]
    page_html = AppClient(create_app(bot)).get(f"/incidents/{live.incident_id}").text  # no api_token set
    assert "Hypothesis changed: redis (dependency), was cart (service)" in page_html
    assert "Hypothesis: cart (service), confidence " in page_html


def test_an_escalation_investigates_at_once(live: Live, release: Scenario) -> None:
    with Session(live.bot.store.engine) as session, session.begin():  # as if a slow tier had opened it
        session.execute(update(IncidentRow).where(IncidentRow.id == live.incident_id).values(tier_rank=3))
    later(live.bot, release, live.clock, 30)
    assert kinds(live.bot, live.incident_id)[-2:] == ["escalated", "investigated"]


def test_a_resolved_incident_is_not_investigated_again(live: Live, release: Scenario) -> None:
    bot, incident_id = live.bot, live.incident_id
    assert bot.incidents.set_status(incident_id, "resolved", "U0ONCALL", live.clock.now_s)
    later(bot, release, live.clock, EVERY_S + 1)
    later(bot, release, live.clock, 3 * EVERY_S)
    future = bot.watcher.investigate_later(incident_id, open_only=True)  # queued before it resolved
    assert future is not None
    future.result(timeout=60)
    assert kinds(bot, incident_id).count("investigated") == 1


def test_one_investigation_of_an_incident_waits_at_a_time(live: Live) -> None:
    bot, incident_id = live.bot, live.incident_id
    investigate, gate = bot.investigator.investigate_incident, threading.Event()
    started = threading.Event()

    def slow(incident: int) -> Any:
        started.set()
        gate.wait(30)
        return investigate(incident)

    bot.investigator.investigate_incident = slow  # type: ignore[method-assign]
    live.clock.now_s += EVERY_S + 1
    assert bot.watcher.reinvestigate_due(live.clock.now_s) == [incident_id]
    started.wait(30)
    assert bot.watcher.reinvestigate_due(live.clock.now_s) == []  # running: the schedule waits for it
    waiting = bot.watcher.investigate_later(incident_id)  # a person asks meanwhile: one more after it
    assert bot.watcher.investigate_later(incident_id) is waiting  # and no third
    gate.set()
    for future in bot.watcher.pending:
        future.result(timeout=60)
    assert kinds(bot, incident_id).count("investigated") == 3


def test_a_person_who_asked_hears_that_nothing_moved(live: Live, fake_slack: FakeSlack) -> None:
    before = len(fake_slack.replies(CHANNEL_ID, live.ts))
    dispatch(
        live.bot,
        block_action(
            SECRET,
            response_url=fake_slack.response_url(),
            action_id="incident_reinvestigate",
            value=str(live.incident_id),
        ),
    )
    fake_slack.wait_for("chat.postMessage", count=1 + before + 2, ok=True)  # "Investigating…", the answer
    texts = [m["text"] for m in fake_slack.replies(CHANNEL_ID, live.ts)[before:]]
    unchanged = "Re-investigated: the hypothesis has not changed (cart (service), confidence "
    assert texts[-1].startswith(unchanged), texts
