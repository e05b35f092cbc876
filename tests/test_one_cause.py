"""One incident per cause, end to end: a generated shared-database incident that burns
two journeys, through the real watcher, investigations, the fake Slack Web API (signed
button presses through Bolt's dispatch) and the real pages. Checkout, whose many services
call the database, calls it a shared dependency; login, which reaches it through auth
alone, a dependency: one cause, and the two incidents must say so, both ways."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.incidents.lifecycle import Action
from bot.incidents.repository import Applied
from bot.server import create_app
from bot.telemetry.assembly import session_of
from bot.wiring import Bot
from correlators.scope import Scope
from tests.asgi import AppClient
from tests.fixtures.fake_slack import FakeSlack
from tests.fixtures.slack_requests import block_action
from tests.scenarios import Scenario, generate
from tests.stored import store_telemetry
from tests.test_slack import SECRET, dispatch, make_bot, page, parents  # noqa: F401
from tests.test_slack_parent import latency_config

CHANNELS = {"checkout": "C0CHECKOUT", "login": "C0LOGIN"}


@pytest.fixture(scope="module")
def shared_db() -> Scenario:
    scenario = generate("shared_db_slow", 3)
    for trace in scenario.traces:  # as the collector's sampler does
        trace.session_id, trace.user_id = session_of(trace.spans)
    return scenario


def paged(make: Callable[..., Bot], fake_slack: FakeSlack, scenario: Scenario) -> tuple[Bot, int, int]:
    fake_slack.channels["C0LOGIN"] = "login-oncall"
    bot = make(latency_config())
    store_telemetry(bot.store, bot.config, scenario.traces, scenario.logs)
    page(bot, scenario)
    ids = {i["journey"]: i["id"] for i in bot.incidents.find()}
    return bot, ids["checkout"], ids["login"]


def parent_text(fake_slack: FakeSlack, channel: str) -> str:
    """The parent's blocks as Slack shows them now (after every chat.update)."""
    [call] = [c for c in parents(fake_slack) if c.response["channel"] == channel]
    final = fake_slack.message_history(channel, call.response["ts"])[-1]
    return "\n".join(str(b.get("text", {}).get("text", "")) for b in final["attachments"][0]["blocks"])


def thread_texts(fake_slack: FakeSlack, channel: str) -> list[str]:
    [call] = [c for c in parents(fake_slack) if c.response["channel"] == channel]
    return [str(r.get("text", "")) for r in fake_slack.replies(channel, call.response["ts"])]


def thread_of(bot: Bot, incident_id: int) -> str:
    incident = bot.incidents.get(incident_id)
    assert incident is not None
    [event] = [e for e in incident["timeline"] if e["kind"] == "slack_thread"]
    return str(event["detail"]["url"])


def investigated(bot: Bot, incident_id: int, times: int) -> dict[str, Any]:
    """The incident once its report has been stored ``times`` times (a button press runs
    its investigation after Bolt's ack, on the watcher's worker)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for future in list(bot.watcher.pending):
            future.result(timeout=60)
        found = bot.incidents.get(incident_id)
        assert found is not None
        if [e["kind"] for e in found["timeline"]].count("investigated") >= times:
            return found
        time.sleep(0.05)
    raise AssertionError(f"incident {incident_id} was not investigated {times} times within 60 s")


def test_a_shared_database_gives_one_primary_with_the_other_linked_both_ways(
    make_bot: Callable[..., Bot],  # noqa: F811
    fake_slack: FakeSlack,
    shared_db: Scenario,
) -> None:
    bot, checkout, login = paged(make_bot, fake_slack, shared_db)
    assert checkout < login  # checkout opened first: it is the primary

    checkout_thread, login_thread = thread_of(bot, checkout), thread_of(bot, login)
    cause = "systemic (shared dependency) postgresql:shop"
    # Slack: each parent names the other's thread; the member carries the shared cause
    # and says what its own analysis said
    primary_parent = parent_text(fake_slack, CHANNELS["checkout"])
    member_parent = parent_text(fake_slack, CHANNELS["login"])
    assert f":link: *Same cause in <{login_thread}|login #{login}>*: {cause}." in primary_parent
    assert (
        f":link: *Same cause as <{checkout_thread}|checkout #{checkout}>*: {cause}. "
        "This journey's own analysis said localized (dependency) postgresql:shop." in member_parent
    )
    assert "Localized fault (dependency)" in member_parent  # its own summary is still shown
    # each thread says it once
    [joined] = [t for t in thread_texts(fake_slack, CHANNELS["login"]) if t.startswith(":link:")]
    assert joined.startswith(f":link: Grouped with <{checkout_thread}|checkout #{checkout}>")
    [gained] = [t for t in thread_texts(fake_slack, CHANNELS["checkout"]) if t.startswith(":link:")]
    assert gained.startswith(f":link: <{login_thread}|login #{login}> has the same cause, {cause}")

    # the pages: both ways, with the Slack threads, the member's own verdict beside the cause
    client = AppClient(create_app(bot))
    primary_html = client.get(f"/incidents/{checkout}").text
    member_html = client.get(f"/incidents/{login}").text
    assert re.search(
        rf'id="same-cause" data-role="primary".*'
        rf'href="/incidents/{login}">login #{login}</a> \(<a class="group-thread" href="{login_thread}"',
        primary_html,
        re.S,
    )
    assert re.search(
        rf'id="same-cause" data-role="member".*href="/incidents/{checkout}">checkout #{checkout}</a>'
        rf' \(<a class="group-thread" href="{checkout_thread}"',
        member_html,
        re.S,
    )
    assert f"{cause}." in member_html
    assert "This journey&#39;s own analysis said localized (dependency) postgresql:shop." in member_html
    assert 'id="own-verdict"' not in primary_html  # checkout's own verdict is the cause
    listed = client.get("/incidents").text
    assert re.search(rf'same cause as <a href="/incidents/{checkout}">#{checkout}</a>', listed)
    api = client.get(f"/api/incidents/{login}").json()
    assert api["group"]["primary"]["id"] == checkout and api["group"]["cause"]["level"] == "shared_dependency"


def test_a_re_investigation_rechecks_the_group_and_a_verdict_that_differs_ungroups_it(
    make_bot: Callable[..., Bot],  # noqa: F811
    fake_slack: FakeSlack,
    shared_db: Scenario,
) -> None:
    bot, checkout, login = paged(make_bot, fake_slack, shared_db)
    link_notes = len([t for t in thread_texts(fake_slack, CHANNELS["login"]) if t.startswith(":link:")])

    # someone presses Re-investigate on login's parent (signed, through Bolt): the new
    # report still names the database, so the group stands and nothing is said twice
    press = block_action(
        SECRET, response_url=fake_slack.response_url(), action_id="incident_reinvestigate", value=str(login)
    )
    assert dispatch(bot, press).status == 200
    fake_slack.wait_for("chat.postMessage", count=len(fake_slack.calls_to("chat.postMessage")) + 1, ok=True)
    investigated(bot, login, times=2)
    group = bot.incidents.group(login)
    assert group is not None and group.primary.id == checkout
    assert (
        len([t for t in thread_texts(fake_slack, CHANNELS["login"]) if t.startswith(":link:")]) == link_notes
    )

    # the next report of login blames auth alone: stored as any re-investigation stores
    # it, and told as the watcher tells it
    report = bot.incidents.reports(login).current
    assert report is not None
    report.scope = Scope("localized", "service", 0.7, [], "auth")
    report.candidates = [c for c in report.candidates if c.service == "auth"]
    bot.incidents.store_report(login, report, bot.watcher.clock(), 1.0)
    bot.watcher._tell(Applied(login, Action.INVESTIGATED, "login"))

    assert bot.incidents.group(login) is None and bot.incidents.group(checkout) is None
    checkout_thread, login_thread = thread_of(bot, checkout), thread_of(bot, login)
    primary_parent = parent_text(fake_slack, CHANNELS["checkout"])
    member_parent = parent_text(fake_slack, CHANNELS["login"])
    assert "Same cause" not in primary_parent and "Same cause" not in member_parent
    left = thread_texts(fake_slack, CHANNELS["login"])[-1]
    assert left == (
        f":heavy_minus_sign: No longer grouped with <{checkout_thread}|checkout #{checkout}>: "
        "systemic (shared dependency) postgresql:shop is not the cause of both any more "
        "(this incident's verdict is localized (service) auth; "
        f"<{checkout_thread}|checkout #{checkout}>'s is systemic (shared dependency) postgresql:shop)."
    )
    assert thread_texts(fake_slack, CHANNELS["checkout"])[-1].startswith(
        f":heavy_minus_sign: No longer grouped with <{login_thread}|login #{login}>"
    )
    member_html = AppClient(create_app(bot)).get(f"/incidents/{login}").text
    assert 'id="same-cause"' not in member_html
    assert re.search(r'id="ungrouped">No longer grouped with checkout #\d+: systemic', member_html)
