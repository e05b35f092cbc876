"""Access to reads in Slack (``bot.policy`` through ``bot.slack.access``): a user-group
rule of ``slack.access`` makes its members principals over the rule's journeys (named,
or owned by its teams), with the role its command needs. Driven as tests/test_slack.py
drives the app: signed requests through Bolt's dispatch, the fake Slack Web API
answering. A responder rule over checkout resolves checkout's incident; one over login
is refused on it and changes nothing, and so is a viewer of checkout; a reader of login
finds checkout's trace, journey and incidents as if they did not exist."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from bot.config import AppConfig
from bot.slack.config import CommandAccess
from bot.wiring import Bot
from tests.fixtures.fake_slack import FakeSlack
from tests.fixtures.slack_requests import block_action, slash_command
from tests.scenarios import Scenario
from tests.stored import store_telemetry
from tests.test_slack import CHANNEL_ID, SECRET, dispatch, make_bot, page, release, slack_config

__all__ = ["make_bot", "release"]  # fixtures of tests/test_slack.py, used here

OWNERS = {"checkout": "payments", "login": "identity"}
ONCALL = "S0ONCALL"
MEMBER = "U0ALICE"


def owned(**access: CommandAccess) -> AppConfig:
    config = slack_config(access=access)
    journeys = [j.model_copy(update={"owner": OWNERS.get(j.name)}) for j in config.journeys]
    return config.model_copy(update={"journeys": journeys})


def opened_incident(bot: Bot, scenario: Scenario) -> int:
    store_telemetry(bot.store, bot.config, scenario.traces, scenario.logs)
    [opened] = page(bot, scenario)
    return int(opened.incident_id)


def press(bot: Bot, fake_slack: FakeSlack, incident: int, user: str) -> None:
    request = block_action(
        SECRET,
        response_url=fake_slack.response_url(),
        action_id="incident_resolve",
        value=str(incident),
        user_id=user,
    )
    assert dispatch(bot, request).status == 200


def pressed_by(bot: Bot, user: str) -> list[tuple[str, str]]:
    return [(r.action, r.subject_id) for r in bot.audit.since(0) if r.actor == user]


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.05)


def test_a_responder_rule_over_checkout_resolves_checkouts_incident(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    fake_slack.usergroups[ONCALL] = [MEMBER]
    bot = make_bot(owned(buttons=CommandAccess(user_groups=[ONCALL], teams=["payments"])))
    incident = opened_incident(bot, release)
    press(bot, fake_slack, incident, MEMBER)
    wait_until(lambda: pressed_by(bot, MEMBER) == [("resolve", str(incident))])
    row = bot.incidents.row(incident)
    assert row is not None and row.status == "resolved"


def test_a_responder_rule_over_login_cannot_press_checkouts_buttons(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    fake_slack.usergroups[ONCALL] = [MEMBER]
    fake_slack.usergroups["S0VIEWERS"] = ["U0VIEWER"]
    bot = make_bot(
        owned(
            buttons=CommandAccess(user_groups=[ONCALL], journeys=["login"]),
            trace=CommandAccess(user_groups=["S0VIEWERS"], teams=["payments"]),  # checkout's viewers
        )
    )
    incident = opened_incident(bot, release)
    press(bot, fake_slack, incident, MEMBER)
    fake_slack.wait_for("respond", count=1)
    refused = json.dumps(fake_slack.responses[-1])
    assert "not allowed for you on this incident" in refused and '"ephemeral"' in refused
    press(bot, fake_slack, incident, "U0VIEWER")  # reads checkout, presses nothing
    fake_slack.wait_for("respond", count=2)
    assert "it is for members of S0ONCALL" in json.dumps(fake_slack.responses[-1])
    row = bot.incidents.row(incident)
    assert row is not None and row.status == "open"
    assert pressed_by(bot, MEMBER) == [] and pressed_by(bot, "U0VIEWER") == []


def test_a_reader_of_login_finds_nothing_of_checkout(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    fake_slack.usergroups[ONCALL] = [MEMBER]
    identity = CommandAccess(user_groups=[ONCALL], teams=["identity"])
    bot = make_bot(owned(trace=identity, journey=identity, incidents=identity))
    opened_incident(bot, release)
    failed = next(t for t in release.traces if t.journey == "checkout" and t.root and t.root.is_error)

    def ask(words: str) -> Any:
        before = len(fake_slack.responses)
        request = slash_command(
            SECRET, response_url=fake_slack.response_url(), text=words, channel_id=CHANNEL_ID, user_id=MEMBER
        )
        return before, dispatch(bot, request)

    before, _ = ask(f"trace {failed.trace_id}")
    fake_slack.wait_for("respond", count=before + 1)
    assert f"Trace `{failed.trace_id}` was not found" in json.dumps(fake_slack.responses[-1])
    _, answer = ask("journey checkout")  # refused in the ack, as a journey that does not exist
    assert "No journey `checkout`. Journeys: login." in answer.body
    before, _ = ask("incidents")
    fake_slack.wait_for("respond", count=before + 1)
    assert "No open incidents" in json.dumps(fake_slack.responses[-1])
    assert pressed_by(bot, MEMBER) == []  # nothing was read
