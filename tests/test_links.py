"""Links both ways between Slack and the pages: the incident page names its Slack thread
(Slack's own permalink), a trace page the incidents it is evidence for, an on-demand
investigation's "Full report" a page of its own (in test_slack.py, with the command); the
session page judges each request
against its journey's objective."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from bot.server import create_app
from bot.wiring import Bot
from correlators.model import SpanKind
from tests.asgi import AppClient
from tests.fixtures.fake_slack import FakeSlack
from tests.fixtures.slack_requests import slash_command
from tests.scenarios import Scenario, generate
from tests.spantree import TraceBuilder
from tests.stored import store_telemetry
from tests.test_slack import CHANNEL_ID, SECRET, dispatch, make_bot, page, parents  # noqa: F401

pytestmark = pytest.mark.usefixtures("fake_slack")


@pytest.fixture(scope="module")
def release() -> Scenario:
    return generate("deploy_exception", 3)


def test_the_incident_page_links_its_slack_thread_and_the_trace_page_its_incident(
    make_bot: Callable[..., Bot],  # noqa: F811
    fake_slack: FakeSlack,
    release: Scenario,
) -> None:
    bot = make_bot()
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    [opened] = page(bot, release)
    [parent] = parents(fake_slack)
    digits = parent.response["ts"].replace(".", "")
    permalink = f"https://{FakeSlack.TEAM}.slack.com/archives/{CHANNEL_ID}/p{digits}"

    incident = bot.incidents.get(opened.incident_id)
    assert incident is not None
    [event] = [e for e in incident["timeline"] if e["kind"] == "slack_thread"]
    assert event["detail"]["url"] == permalink, "Slack's answer, not a URL we built"
    client = AppClient(create_app(bot))
    html = client.get(f"/incidents/{opened.incident_id}").text
    assert f'id="slack-thread" href="{permalink}"' in html
    dispatch(bot, slash_command(SECRET, response_url=fake_slack.response_url(), text="incidents"))
    fake_slack.wait_for("respond", count=1)
    assert f"<{permalink}|thread>" in json.dumps(fake_slack.responses[-1])

    worst = incident["report"]["worst_traces"][0]
    trace_html = client.get(f"/traces/{worst}").text
    assert re.search(rf'id="evidence-for".*href="/incidents/{opened.incident_id}"', trace_html, re.S)
    healthy = next(t for t in release.traces if t.trace_id not in json.dumps(incident["report"]))
    assert 'id="evidence-for"' not in client.get(f"/traces/{healthy.trace_id}").text


def test_a_failed_permalink_is_asked_for_again_at_the_next_change(
    make_bot: Callable[..., Bot],  # noqa: F811
    fake_slack: FakeSlack,
    release: Scenario,
) -> None:
    bot = make_bot()
    assert bot.slack is not None
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    fake_slack.fail_always("chat.getPermalink", status=500)
    [opened] = page(bot, release)
    incident = bot.incidents.get(opened.incident_id)
    assert incident is not None and not [e for e in incident["timeline"] if e["kind"] == "slack_thread"]

    fake_slack.heal()
    bot.slack.notifier.refresh(opened.incident_id)
    incident = bot.incidents.get(opened.incident_id)
    assert incident is not None
    assert [e["kind"] for e in incident["timeline"]].count("slack_thread") == 1


def test_the_session_page_judges_each_request_against_its_objective(
    make_bot: Callable[..., Bot],  # noqa: F811
) -> None:
    bot = make_bot()  # checkout's objective: under 1500 ms
    traces = []
    for n, (ms, error) in enumerate(((1738, False), (120, False), (90, True))):
        builder = TraceBuilder(f"{n + 1:032x}")
        builder.span("frontend", "POST /checkout", 0, ms, kind=SpanKind.SERVER, error=error)
        trace = builder.trace()
        trace.journey, trace.session_id = "checkout", "sess-slow"
        traces.append(trace)
    store_telemetry(bot.store, bot.config, traces)

    html = AppClient(create_app(bot)).get("/sessions/sess-slow").text
    outcomes = re.findall(r'<span class="badge status-\w+"[^>]*>(\w+)</span>', html)
    assert outcomes == ["slow", "ok", "failed"]
    assert "1 failed, 1 slower than their objective" in html
    assert "slower than its journey&#39;s 1500 ms objective" in html
