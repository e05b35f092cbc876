"""The audit trail's Slack side, against the fake Slack Web API with signed requests
through Bolt's dispatch (as tests/test_slack.py drives them): each button press and each
command that reads or shares a trace or starts an investigation writes exactly its row
under the presser's Slack user id, and every message Slack took is recorded as the bot's
with its channel, ts and thread ts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.audit import AuditRecord, AuditTrail
from bot.wiring import Bot
from tests.fixtures.fake_slack import FakeSlack
from tests.fixtures.slack_requests import block_action, slash_command
from tests.scenarios import Scenario
from tests.stored import S, store_telemetry
from tests.test_slack import CHANNEL_ID, SECRET, dispatch, make_bot, page, release

__all__ = ["make_bot", "release"]  # fixtures of tests/test_slack.py, used here

Row = tuple[str, str, str, str, str, dict[str, Any]]


def by_people(trail: AuditTrail) -> list[Row]:
    """What people did through Slack, oldest first."""
    found = sorted(trail.since(0), key=lambda r: r.id)
    return [(r.actor, r.via, r.action, r.subject, r.subject_id, r.detail) for r in found if r.via == "slack"]


def posted(trail: AuditTrail) -> list[AuditRecord]:
    return sorted((r for r in trail.since(0) if r.actor == "journeywatch"), key=lambda r: r.id)


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Bolt runs a listener after its ack, in a thread of its own."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not recorded in time")
        time.sleep(0.05)


def test_each_button_press_writes_its_row_with_who_pressed_it(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    bot = make_bot()
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    [opened] = page(bot, release)
    incident = str(opened.incident_id)
    pressed = ("slack", "incident", incident)

    def row(user: str, action: str, **detail: Any) -> Row:
        return (user, pressed[0], action, pressed[1], pressed[2], detail)

    presses = [
        ("incident_ack", "U0ALICE", row("U0ALICE", "acknowledge", changed=True)),
        ("incident_mute_1h", "U0BOB", row("U0BOB", "mute", hours=1)),
        ("incident_reinvestigate", "U0ALICE", row("U0ALICE", "reinvestigate")),
        ("incident_resolve", "U0BOB", row("U0BOB", "resolve", changed=True)),
        ("incident_ack", "U0CAROL", row("U0CAROL", "acknowledge", changed=False)),  # already resolved
        ("verdict_right", "U0ALICE", row("U0ALICE", "grade", verdict="right")),
    ]
    for n, (action, user, _) in enumerate(presses, start=1):
        request = block_action(
            SECRET, response_url=fake_slack.response_url(), action_id=action, value=incident, user_id=user
        )
        assert dispatch(bot, request).status == 200
        wait_until(lambda n=n: len(by_people(bot.audit)) == n)
    assert by_people(bot.audit) == [row for _, _, row in presses]


def test_a_refused_or_forged_press_writes_nothing(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    bot = make_bot()
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    [opened] = page(bot, release)
    forged = block_action(
        SECRET,
        response_url=fake_slack.response_url(),
        action_id="incident_resolve",
        value=str(opened.incident_id),
        forge=True,
    )
    assert dispatch(bot, forged).status == 401
    time.sleep(0.5)
    assert by_people(bot.audit) == []


def test_what_the_bot_posted_is_recorded_where_slack_put_it(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    bot = make_bot()
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    [opened] = page(bot, release)
    assert bot.slack is not None
    wait_until(lambda: bot.slack is not None and bot.slack.outbox.pending() == 0)
    sent = fake_slack.calls_to("chat.postMessage", ok=True)
    updated = fake_slack.calls_to("chat.update", ok=True)
    uploads = [u for u in fake_slack.uploads.values() if u.completed]
    records = posted(bot.audit)
    assert all((r.via, r.subject) == ("bot", "slack_message") for r in records)
    assert sorted(
        (r.detail["channel"], r.detail["ts"], r.detail["thread_ts"]) for r in records if r.action == "post"
    ) == sorted((c.response["channel"], c.response["ts"], c.args.get("thread_ts")) for c in sent)
    assert sorted((r.detail["channel"], r.detail["ts"]) for r in records if r.action == "update") == sorted(
        (c.args["channel"], c.args["ts"]) for c in updated
    )
    assert [(r.detail["kind"], r.detail["thread_ts"]) for r in records if r.action == "upload"] == [
        ("file", u.thread_ts) for u in uploads
    ]
    parent = next(r for r in records if r.action == "post" and r.detail["kind"] == "parent")
    assert parent.subject_id == f"incident:{opened.incident_id}:parent"
    assert parent.detail["incident"] == opened.incident_id and parent.detail["channel"] == CHANNEL_ID
    assert {r.detail["kind"] for r in records} == {"parent", "thread", "file"}


def test_commands_that_read_share_or_investigate_write_their_rows(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = make_bot()
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    monkeypatch.setattr("bot.slack.commands.clock", lambda: release.incident[1] / S)
    failed = next(t for t in release.traces if t.journey == "checkout" and t.root and t.root.is_error)

    def command(text: str, user: str) -> None:
        request = slash_command(
            SECRET, response_url=fake_slack.response_url(), text=text, channel_id=CHANNEL_ID, user_id=user
        )
        assert dispatch(bot, request).status == 200

    command(f"trace {failed.trace_id}", "U0ALICE")
    wait_until(lambda: len(by_people(bot.audit)) == 1)
    command(f"trace {failed.trace_id} share", "U0BOB")
    wait_until(lambda: len(by_people(bot.audit)) == 2)
    command("investigate checkout 5m", "U0CAROL")
    wait_until(lambda: len(by_people(bot.audit)) == 3)
    command("help", "U0ALICE")  # answered in the ack: reads nothing
    command("journey checkout", "U0ALICE")  # objectives and burn, no telemetry
    fake_slack.wait_for("respond", count=4)
    [investigation] = [r for r in bot.audit.since(0) if r.action == "investigate"]
    assert by_people(bot.audit) == [
        ("U0ALICE", "slack", "read", "trace", failed.trace_id, {"channel": CHANNEL_ID}),
        ("U0BOB", "slack", "share", "trace", failed.trace_id, {"channel": CHANNEL_ID}),
        (
            "U0CAROL",
            "slack",
            "investigate",
            "investigation",
            investigation.subject_id,
            {"journey": "checkout", "channel": CHANNEL_ID},
        ),
    ]
    wait_until(lambda: bot.slack is not None and bot.slack.outbox.pending() == 0)
    shared = [r.subject_id for r in posted(bot.audit) if r.action == "post"]
    assert any(key.startswith("share:") for key in shared)
    assert any(key.startswith("ondemand:") for key in shared)
