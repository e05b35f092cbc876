"""The Slack app against a local fake Slack Web API (tests/fixtures/fake_slack.py), since
Slack's servers cannot be reached here: the fake records and checks every call, and can
answer 429 with Retry-After or 500. Slash commands and button presses are signed as Slack
signs them and go through Bolt's own dispatch, so signature checks are real."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from slack_bolt.request import BoltRequest

from bot.config import AppConfig, Runbook
from bot.server import build_bot, create_app
from bot.settings import Settings
from bot.slack.commands import InvestigateArgs, investigate
from bot.slack.config import CommandAccess, SlackConfig
from bot.slack.http import start_socket_mode
from bot.wiring import Bot
from correlators.errors import ConfigError
from correlators.model import LogRecord
from tests.asgi import AppClient
from tests.fixtures.fake_slack import FakeSlack
from tests.fixtures.fake_socket_mode import ACK_DEADLINE_S, SocketModeFake
from tests.fixtures.slack_requests import block_action, slash_command, slash_command_fields
from tests.scenarios import Scenario, generate
from tests.stored import S, shop_config, steady_traffic, store_telemetry

SECRET = "signing-secret"
CHANNEL_ID = "C0CHECKOUT"


@pytest.fixture(scope="module")
def release() -> Scenario:
    return generate("deploy_exception", 3)  # cart's new release throws on checkout


def slack_config(**slack: Any) -> AppConfig:
    config = shop_config()
    runbooks = [
        Runbook(title="Cart service runbook", url="https://runbooks.example/cart", service="cart"),
        Runbook(title="Shared database", url="https://runbooks.example/db", fault="shared_dependency"),
    ]
    return config.model_copy(update={"runbooks": runbooks, "slack": SlackConfig(**slack)})


@pytest.fixture
def make_bot(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[Callable[..., Bot]]:
    """A bot wired to the fake Slack; several calls share one database (restarts, replicas)."""
    fake_slack.channels[CHANNEL_ID] = "checkout-oncall"
    built: list[Bot] = []

    def make(config: AppConfig | None = None, **more_settings: Any) -> Bot:
        given: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path}/jw.db",
            "slack_bot_token": SecretStr(fake_slack.expected_token),
            "slack_signing_secret": SecretStr(SECRET),
            "slack_api_url": fake_slack.api_url,
            "public_url": "https://jw.example",
        }
        settings = Settings(**{**given, **more_settings})
        settings.collector.writer_process = False
        settings.collector.spool.enabled = False  # one spool a process: replicas here share one
        bot = build_bot(settings, config or slack_config())
        built.append(bot)
        return bot

    yield make
    for bot in built:
        bot.watcher.close()
        bot.investigator.close()
        bot.store.close()


def page(bot: Bot, scenario: Scenario, at_s: float | None = None) -> list[Any]:
    changes = bot.watcher.evaluate_all(at_s or scenario.incident[1] / S)
    for future in bot.watcher.pending:
        future.result(timeout=60)
    return changes


def parents(fake: FakeSlack) -> list[Any]:
    return [c for c in fake.calls_to("chat.postMessage", ok=True) if not c.args.get("thread_ts")]


def dispatch(bot: Bot, request: Any) -> Any:
    assert bot.slack is not None and bot.slack.app is not None
    body, headers = request
    return bot.slack.app.dispatch(BoltRequest(body=body, headers=headers))


def test_an_incident_gets_one_parent_updated_in_place_and_a_thread(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    bot = make_bot()
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    page(bot, release)

    [parent] = parents(fake_slack)
    assert parent.args["channel"] == "#checkout-oncall" and parent.token == fake_slack.expected_token
    ts = parent.response["ts"]
    history = fake_slack.message_history(CHANNEL_ID, ts)
    assert len(history) >= 2  # posted, then updated in place with the summary
    final = json.dumps(history[-1])
    assert "Localized fault" in final and "Acknowledge" in final
    thread = fake_slack.replies(CHANNEL_ID, ts)
    summary = json.dumps(thread[0])
    assert "*1. cart*" in summary
    assert "Cart service runbook" in summary and "Shared database" not in summary
    assert "cart" in summary and "Bad requests by hop" in summary
    [upload] = [u for u in fake_slack.uploads.values() if u.completed]
    assert upload.thread_ts == ts and upload.content.startswith(b"\x89PNG")


def test_restarts_and_a_second_replica_never_post_a_second_parent(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    first = make_bot()
    store_telemetry(first.store, first.config, release.traces, release.logs)
    page(first, release)
    restarted, replica = make_bot(), make_bot()
    page(restarted, release, release.incident[1] / S + 30)
    page(replica, release, release.incident[1] / S + 30)
    page(replica, release, release.incident[1] / S + 60)
    assert len(parents(fake_slack)) == 1
    assert len(restarted.incidents.find()) == 1


def test_a_429_storm_loses_no_message(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    bot = make_bot()
    assert bot.slack is not None
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    fake_slack.fail_always("*", status=429, retry_after=1)
    page(bot, release)
    assert parents(fake_slack) == [] and bot.slack.outbox.pending() >= 2
    assert any(c.status == 429 for c in fake_slack.calls_to("chat.postMessage"))

    fake_slack.heal()
    bot.slack.outbox.clock = lambda: 2e9  # past every Retry-After the outbox noted
    bot.slack.outbox.flush()
    [parent] = parents(fake_slack)
    assert fake_slack.replies(CHANNEL_ID, parent.response["ts"])  # the summary followed its parent
    assert any(u.completed for u in fake_slack.uploads.values())
    assert bot.slack.outbox.pending() == 0


def test_slash_commands_answer_and_bad_arguments_get_the_usage(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    bot = make_bot()
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    page(bot, release)

    bad = dispatch(bot, slash_command(SECRET, response_url=fake_slack.response_url(), text="trace not-an-id"))
    assert bad.status == 200 and "is not a trace id" in bad.body and "*Usage*" in bad.body
    unknown = dispatch(bot, slash_command(SECRET, response_url=fake_slack.response_url(), text="frobnicate"))
    assert "I don't know `frobnicate`" in unknown.body

    failed = next(t for t in release.traces if t.journey == "checkout" and t.root and t.root.is_error)
    answer = dispatch(
        bot, slash_command(SECRET, response_url=fake_slack.response_url(), text=f"trace {failed.trace_id}")
    )
    assert answer.status == 200 and "Working on it" in answer.body  # acked before the slow part
    fake_slack.wait_for("respond", count=1)
    reply = json.dumps(fake_slack.responses[-1])
    assert "Critical path" in reply and "Error origin" in reply and "cart" in reply

    dispatch(bot, slash_command(SECRET, response_url=fake_slack.response_url(), text="journey checkout"))
    fake_slack.wait_for("respond", count=2)
    assert "page-burst" in json.dumps(fake_slack.responses[-1])
    dispatch(bot, slash_command(SECRET, response_url=fake_slack.response_url(), text="incidents"))
    fake_slack.wait_for("respond", count=3)
    listed = json.dumps(fake_slack.responses[-1])
    assert "checkout" in listed and "thread" in listed


def test_forged_and_stale_signatures_are_refused(make_bot: Callable[..., Bot], fake_slack: FakeSlack) -> None:
    bot = make_bot()
    for kind in ({"forge": True}, {"stale": True}):
        refused = dispatch(
            bot, slash_command(SECRET, response_url=fake_slack.response_url(), text="help", **kind)
        )
        assert refused.status == 401
    assert fake_slack.calls_to("respond") == []


def test_buttons_are_recorded_with_who_pressed_them(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    bot = make_bot()
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    [opened] = page(bot, release)
    incident_id = str(opened.incident_id)
    presses = (("incident_ack", "U0ALICE"), ("incident_resolve", "U0BOB"), ("verdict_right", "U0ALICE"))
    for n, (action, user) in enumerate(presses, start=1):
        request = block_action(
            SECRET, response_url=fake_slack.response_url(), action_id=action, value=incident_id, user_id=user
        )
        assert dispatch(bot, request).status == 200
        # one press at a time, as people press them: each adds a line to the thread
        fake_slack.wait_for("chat.postMessage", count=2 + n, ok=True)
    assert len(fake_slack.calls_to("chat.update", ok=True)) == 3  # summary, acknowledged, resolved
    incident = bot.incidents.get(opened.incident_id)
    assert incident is not None
    timeline = [(e["kind"], e["actor"]) for e in incident["timeline"]]
    assert ("acknowledged", "U0ALICE") in timeline
    assert ("resolved", "U0BOB") in timeline
    assert ("verdict", "U0ALICE") in timeline
    assert bot.incidents.accuracy() == {"checkout": {"right": 1}}
    [parent] = parents(fake_slack)
    latest = json.dumps(fake_slack.messages[(CHANNEL_ID, parent.response["ts"])])
    assert "resolved" in latest and "Was the root cause right?" in latest


def test_a_command_outside_its_channels_is_refused_privately(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack
) -> None:
    config = slack_config(access={"investigate": CommandAccess(channels=["#checkout-oncall"])})
    bot = make_bot(config)
    answer = dispatch(
        bot,
        slash_command(
            SECRET, response_url=fake_slack.response_url(), text="investigate checkout", channel_name="random"
        ),
    )
    assert "not allowed in this channel" in answer.body and '"ephemeral"' in answer.body


def cart_errors(release: Scenario, line: Callable[[int], str]) -> list[LogRecord]:
    """Thirty ERROR lines of cart in the incident, a second apart, the n-th reading line(n)."""
    return [
        LogRecord(release.incident[0] + n * S, "cart", line(n), severity_text="ERROR", severity_number=17)
        for n in range(30)
    ]


def test_nothing_posted_carries_what_redaction_removes(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    """Logs written before redaction existed (or by a source we do not redact) still pass
    the rules on their way out: the summary quotes the new error line, scrubbed."""
    bot = make_bot()
    leaky = cart_errors(
        release, lambda n: f"payment refused for alice{n}@example.com card 4111 1111 1111 1111"
    )
    store_telemetry(bot.store, bot.config, release.traces, [*release.logs, *leaky])
    page(bot, release)
    sent = json.dumps([c.args for c in fake_slack.calls_to("chat.postMessage")])
    assert "payment refused for" in sent  # the line is quoted ...
    assert "@example.com" not in sent and "4111 1111 1111 1111" not in sent  # ... scrubbed


def test_journeywatch_accuracy_reports_the_verdicts(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bot.cli import app
    from bot.incidents.lifecycle import Action, Firing
    from bot.incidents.repository import IncidentRepository
    from bot.store import Store

    url = f"sqlite:///{tmp_path}/jw.db"
    store = Store(url)
    store.migrate()
    incidents = IncidentRepository(store.engine)
    firing = Firing("availability", "page-fast", 1, "page", 20.0, 0.9, 0.0)
    for journey, verdicts in (("checkout", ["right", "one_hop", "wrong"]), ("login", ["right"])):
        applied = incidents.apply(journey, Action.OPEN, firing, 100.0)
        assert applied is not None
        for n, verdict in enumerate(verdicts):
            incidents.record_verdict(applied.incident_id, f"U{n}", verdict, 200.0)
    store.close()
    result = CliRunner().invoke(app, ["accuracy", "--database-url", url, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["journey"]: r for r in json.loads(result.output)}
    assert rows["checkout"]["verdicts"] == 3
    assert rows["checkout"]["right"] == pytest.approx(1 / 3)
    assert rows["checkout"]["within_one_hop"] == pytest.approx(2 / 3)
    assert rows["login"]["right"] == 1.0 and rows["all"]["verdicts"] == 4


def test_without_tokens_the_same_messages_are_kept_locally(
    tmp_path: Path, release: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/local.db")
    settings.collector.writer_process = False
    bot = build_bot(settings, slack_config())
    assert bot.slack is not None and bot.slack.app is None and bot.slack.outbox.local
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    [opened] = page(bot, release)
    kept = bot.slack.outbox.kept(opened.incident_id)
    assert [(k.kind, k.status) for k in kept][:2] == [("parent", "local"), ("thread", "local")]
    assert "*1. cart*" in json.dumps(kept[1].payload["blocks"])
    out = capsys.readouterr().out
    assert f"[incident #{opened.incident_id}] checkout: Open, page" in out
    bot.watcher.close()
    bot.investigator.close()
    bot.store.close()


def test_investigate_and_trace_share_post_into_the_channel(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = make_bot()
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    monkeypatch.setattr("bot.slack.commands.clock", lambda: release.incident[1] / S)
    answer = dispatch(
        bot,
        slash_command(
            SECRET,
            response_url=fake_slack.response_url(),
            text="investigate checkout 5m",
            channel_id=CHANNEL_ID,
        ),
    )
    assert "Working on it" in answer.body
    fake_slack.wait_for("chat.postMessage", count=2, ok=True)
    [parent] = parents(fake_slack)
    assert "On-demand investigation of *checkout* over the last 5m" in json.dumps(parent.args)
    [summary] = fake_slack.replies(CHANNEL_ID, parent.response["ts"])
    assert "*1. cart*" in json.dumps(summary)
    [full] = re.findall(r"<https://jw\.example(/[^|>]+)\|Full report>", json.dumps(summary))
    assert re.fullmatch(r"/investigations/\d+", full), "a page of its own, not the journey's"
    pages = AppClient(create_app(bot))
    html = pages.get(full).text
    assert "Investigation #" in html and "U0ONCALL" in html
    assert 'data-service="cart"' in html  # the report itself, its top suspect first
    assert pages.get("/investigations/999").status_code == 404

    failed = next(t for t in release.traces if t.journey == "checkout" and t.root and t.root.is_error)
    dispatch(
        bot,
        slash_command(
            SECRET,
            response_url=fake_slack.response_url(),
            text=f"trace {failed.trace_id} share",
            channel_id=CHANNEL_ID,
        ),
    )
    fake_slack.wait_for("files.completeUploadExternal", count=1, ok=True)
    shared = [c for c in parents(fake_slack) if "Critical path" in json.dumps(c.args)]
    assert len(shared) == 1
    [upload] = [u for u in fake_slack.uploads.values() if u.completed]
    assert upload.thread_ts == shared[0].response["ts"] and upload.content.startswith(b"\x89PNG")
    fake_slack.wait_for("respond", count=2)  # each command's "working" note is removed last


def test_slack_events_over_http_are_verified(make_bot: Callable[..., Bot], fake_slack: FakeSlack) -> None:
    """The same signed request through the bot's own server route, /slack/events."""
    client = AppClient(create_app(make_bot()))
    body, headers = slash_command(SECRET, response_url=fake_slack.response_url(), text="help")
    answer = client.post("/slack/events", content=body, headers=headers)
    assert answer.status_code == 200 and "*Usage*" in answer.json()["text"]
    body, headers = slash_command(SECRET, response_url=fake_slack.response_url(), text="help", forge=True)
    assert client.post("/slack/events", content=body, headers=headers).status_code == 401


def test_user_group_access_reads_the_members_from_slack(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack
) -> None:
    fake_slack.usergroups["S0ONCALL"] = ["U0ALICE"]
    bot = make_bot(slack_config(access={"journey": CommandAccess(user_groups=["S0ONCALL"])}))
    member = dispatch(
        bot, slash_command(SECRET, response_url=fake_slack.response_url(), text="journey", user_id="U0ALICE")
    )
    assert "Working on it" in member.body
    stranger = dispatch(
        bot,
        slash_command(SECRET, response_url=fake_slack.response_url(), text="journey", user_id="U0MALLORY"),
    )
    assert "it is for members of S0ONCALL" in stranger.body
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1  # cached for the second check
    fake_slack.wait_for("respond", count=1)


def test_a_muted_incident_posts_no_escalation_notes(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    from bot.incidents.lifecycle import Action
    from bot.incidents.repository import Applied

    bot = make_bot()
    assert bot.slack is not None
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    [opened] = page(bot, release)
    request = block_action(
        SECRET,
        response_url=fake_slack.response_url(),
        action_id="incident_mute_1h",
        value=str(opened.incident_id),
    )
    dispatch(bot, request)
    fake_slack.wait_for("chat.postMessage", count=3, ok=True)  # parent, summary, "muted" note
    before = len(fake_slack.calls_to("chat.postMessage", ok=True))
    bot.slack.notifier.incident_changed(Applied(opened.incident_id, Action.ESCALATE, "checkout"))
    assert len(fake_slack.calls_to("chat.postMessage", ok=True)) == before
    incident = bot.incidents.get(opened.incident_id)
    assert incident is not None and incident["muted_until"] is not None
    assert ("muted", "U0ONCALL") in [(e["kind"], e["actor"]) for e in incident["timeline"]]


def test_socket_mode_connects_with_the_app_token_and_acks_a_command_in_time(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack
) -> None:
    """Socket Mode against a fake WebSocket end (tests/fixtures/fake_socket_mode.py):
    the app opens the connection with the app-level token, takes a slash command
    envelope, acks it with the usage within Slack's 3 s, and answers a real command
    through response_url as over HTTP."""
    socket = SocketModeFake().start()
    fake_slack.socket_mode_url = socket.url
    bot = make_bot(slack_app_token=SecretStr(fake_slack.app_token))
    handler = start_socket_mode(bot.slack, bot.settings)
    try:
        assert handler is not None
        (opened,) = fake_slack.calls_to("apps.connections.open", ok=True)
        assert opened.token == fake_slack.app_token
        socket.wait_connected()

        bad = socket.send(
            "slash_commands", slash_command_fields(response_url=fake_slack.response_url(), text="nope")
        )
        ack = socket.ack(bad)
        assert time.monotonic() - socket.sent_at[bad] < ACK_DEADLINE_S
        assert "I don't know `nope`" in json.dumps(ack["payload"]) and "Usage" in json.dumps(ack["payload"])

        listed = socket.send(
            "slash_commands", slash_command_fields(response_url=fake_slack.response_url(), text="incidents")
        )
        assert "Working on it" in json.dumps(socket.ack(listed)["payload"])
        fake_slack.wait_for("respond", count=1)
    finally:
        if handler is not None:
            handler.close()
        socket.stop()


# --- telemetry is text in Slack ---------------------------------------------------------------

HOSTILE = "refused <!channel> <!here> <!everyone> <@U0BOSS> <#C0ALL> <!subteam^S0ALL> & <https://evil.example|reset>"
"""A log line written to notify a channel, mention people and hide a link."""
OUR_LINKS = ("https://jw.example/", "https://runbooks.example/", "https://slack.com/archives/")


def mrkdwn_texts(value: Any) -> Iterator[str]:
    """Every string Slack reads as mrkdwn in a payload: ``text`` fields, and the ``text``
    of mrkdwn objects (plain_text button labels are never parsed)."""
    if isinstance(value, dict):
        if value.get("type") != "plain_text":
            for key, item in value.items():
                if key in ("text", "comment", "initial_comment") and isinstance(item, str):
                    yield item
                else:
                    yield from mrkdwn_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from mrkdwn_texts(item)


def assert_only_our_markup(payloads: list[Any]) -> None:
    for text in (t for p in payloads for t in mrkdwn_texts(p)):
        for token in re.findall(r"<([^>]*)>", text):
            assert token.startswith(OUR_LINKS), f"markup not ours: <{token}> in {text!r}"
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), f"raw & in {text!r}"


def test_telemetry_cannot_mention_link_or_break_markup_in_any_message(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    bot = make_bot()
    hostile = cart_errors(release, lambda n: f"{HOSTILE} order {n}")
    traces = copy.deepcopy(release.traces)
    for trace in traces:
        for span in trace.spans:
            if span.service == "cart":
                span.name = f"{span.name} <int:id>&x"  # a route template, as Flask writes them
    store_telemetry(bot.store, bot.config, traces, [*release.logs, *hostile])
    page(bot, release)

    sent = [c.args for c in fake_slack.calls if c.method in ("chat.postMessage", "chat.update")]
    assert len(sent) >= 3
    assert_only_our_markup(sent)
    everything = json.dumps(sent)
    assert "refused &lt;!channel&gt; &lt;!here&gt;" in everything  # the line is quoted, as text
    assert "&lt;int:id&gt;&amp;x" in everything
    objects = [b.get("text") for p in sent for b in p.get("blocks") or [] if isinstance(b.get("text"), dict)]
    assert objects and all(o.get("verbatim") is True for o in objects if o["type"] == "mrkdwn")

    failed = next(t for t in traces if t.journey == "checkout" and t.root and t.root.is_error)
    dispatch(
        bot, slash_command(SECRET, response_url=fake_slack.response_url(), text=f"trace {failed.trace_id}")
    )
    fake_slack.wait_for("respond", count=1)
    assert_only_our_markup(fake_slack.responses)
    assert "&lt;int:id&gt;" in json.dumps(fake_slack.responses)


def test_a_slack_ts_that_passes_luhn_survives_in_the_thread_link(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    """Redaction is for telemetry: our links carry a ts of 16 digits, and about one in
    ten passes the Luhn check that card numbers pass."""
    from bot.telemetry.scrub import luhn_valid

    bot = make_bot()
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    page(bot, release)
    [parent] = parents(fake_slack)
    digits = parent.response["ts"].replace(".", "")
    assert luhn_valid(digits) and len(digits) == 16

    dispatch(bot, slash_command(SECRET, response_url=fake_slack.response_url(), text="incidents"))
    fake_slack.wait_for("respond", count=1)
    listed = json.dumps(fake_slack.responses[-1])
    assert f"/archives/{CHANNEL_ID}/p{digits}|thread>" in listed
    assert "[card]" not in listed


def test_journey_answers_the_budget_left_of_the_slo_window(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack
) -> None:
    """Half an hour of history (1,800 events, 120 failed): 30 days at 99.9 % allow
    1,800 * 1,440 * 0.001 = 2,592 bad events, so 1 - 120 / 2,592 = 95 % is left."""
    bot = make_bot()
    now = 1_700_000_000
    traffic = steady_traffic(
        "checkout", now - 1800, now, per_bucket=10, failing_from_s=now - 300, failing_per_bucket=4
    )
    store_telemetry(bot.store, bot.config, traffic)
    bot.watcher.evaluate_all(now)

    dispatch(bot, slash_command(SECRET, response_url=fake_slack.response_url(), text="journey checkout"))
    fake_slack.wait_for("respond", count=1)
    answer = json.dumps(fake_slack.responses[-1])
    assert "*Budget (30 days)*: availability 95 % left, latency 100 % left" in answer
    dispatch(bot, slash_command(SECRET, response_url=fake_slack.response_url(), text="journey"))
    fake_slack.wait_for("respond", count=2)
    assert "budget 95 % left" in json.dumps(fake_slack.responses[-1])


def test_slack_starts_without_bolts_token_warning(
    tmp_path: Path, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Tokens from the environment, as Bolt names them: Bolt reads SLACK_BOT_TOKEN itself,
    and warned at each start that it "will be unused" when it was also given a client."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", fake_slack.expected_token)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("JOURNEYWATCH_SLACK_API_URL", fake_slack.api_url)
    settings = Settings(database_url=f"sqlite:///{tmp_path}/jw.db")
    settings.collector.writer_process = False
    with caplog.at_level("WARNING"):
        bot = build_bot(settings, slack_config())
    try:
        assert bot.slack is not None and bot.slack.app is not None
        assert not [r for r in caplog.records if "unused" in r.getMessage()]
        assert bot.slack.client is bot.slack.app.client and bot.slack.client.base_url == fake_slack.api_url
        bot.slack.client.chat_postMessage(channel=CHANNEL_ID, text="hello")
        assert fake_slack.calls_to("chat.postMessage", ok=True)[0].token == fake_slack.expected_token
    finally:
        bot.watcher.close()
        bot.investigator.close()
        bot.store.close()


def test_an_investigation_of_a_long_window_compares_the_trouble_with_the_calm_before_it(
    make_bot: Callable[..., Bot], release: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment younger than the asked window has no traffic an hour before it: the
    window's calm part before the first bad requests is the baseline, and the report says
    what it found, not "the baseline window has no traces"."""
    bot = make_bot()
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    end_s = release.incident[1] / S
    monkeypatch.setattr("bot.slack.commands.clock", lambda: end_s)
    whole = int(end_s - release.baseline[0] / S) + 60  # reaches back past the first trace
    _, report = investigate(bot, InvestigateArgs("checkout", whole))
    assert report.baseline_traces > 20
    assert not any(m.what == "no_baseline" for m in report.missing)
    assert report.candidates[0].service == "cart"


# --- who may send: signatures, replays, clocks ----------------------------------------------


def test_socket_mode_alone_takes_no_request_over_http(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack, release: Scenario
) -> None:
    """The forgery that worked: Socket Mode without a signing secret verified /slack/events
    with a constant, so a request signed with it got a trace posted to the sender's
    response_url. Now there is no such route, and Bolt's secret is nobody's."""
    bot = make_bot(slack_signing_secret=None, slack_app_token=SecretStr(fake_slack.app_token))
    store_telemetry(bot.store, bot.config, release.traces, release.logs)
    trace_id = release.traces[0].trace_id
    for secret in ("socket-mode", SECRET):
        forged = slash_command(secret, response_url=fake_slack.response_url(), text=f"trace {trace_id}")
        answer = AppClient(create_app(bot)).post("/slack/events", content=forged.body, headers=forged.headers)
        assert answer.status_code == 404
        assert dispatch(bot, forged).status == 401
    pressed = block_action(
        "socket-mode", response_url=fake_slack.response_url(), action_id="incident_ack", value="1"
    )
    assert dispatch(bot, pressed).status == 401
    time.sleep(0.2)  # a listener would answer in Bolt's thread: give it the chance
    assert fake_slack.calls_to("respond") == []


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"slack_signing_secret": None}, "neither SLACK_SIGNING_SECRET"),
        ({"slack_signing_secret": SecretStr("  ")}, "neither SLACK_SIGNING_SECRET"),
        ({"slack_bot_token": None}, "SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is not"),
        (
            {"slack_bot_token": None, "slack_signing_secret": None, "slack_app_token": SecretStr("xapp-1")},
            "SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not",
        ),
    ],
)
def test_slack_settings_that_cannot_be_meant_stop_startup(
    make_bot: Callable[..., Bot], given: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        make_bot(**given)


def test_a_replayed_command_is_refused_over_http_and_through_bolt(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack
) -> None:
    client = AppClient(create_app(make_bot()))
    signed = slash_command(SECRET, response_url=fake_slack.response_url(), text="incidents")
    first = client.post("/slack/events", content=signed.body, headers=signed.headers)
    assert first.status_code == 200 and "Working on it" in first.text
    again = client.post("/slack/events", content=signed.body, headers=signed.headers)
    assert again.status_code == 401
    fake_slack.wait_for("respond", count=1)
    time.sleep(0.2)
    assert len(fake_slack.calls_to("respond")) == 1  # answered once, to the first

    bot = make_bot()
    pressed = block_action(
        SECRET, response_url=fake_slack.response_url(), action_id="incident_ack", value="99"
    )
    assert dispatch(bot, pressed).status == 200
    assert dispatch(bot, pressed).status == 401
    other = slash_command(SECRET, response_url=fake_slack.response_url(), text="help")
    assert "*Usage*" in dispatch(bot, other).body  # a fresh valid request still works


def test_requests_dated_ahead_of_our_clock_are_refused_past_the_skew(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack
) -> None:
    def help_ahead_by(seconds: float) -> Any:
        return slash_command(
            SECRET, response_url=fake_slack.response_url(), text="help", now=time.time() + seconds
        )

    bot = make_bot()
    assert dispatch(bot, help_ahead_by(250)).status == 401
    assert "*Usage*" in dispatch(bot, help_ahead_by(10)).body  # within the 30 s skew
    assert dispatch(make_bot(slack_future_skew_s=5), help_ahead_by(10)).status == 401
    assert fake_slack.calls_to("respond") == []


def test_a_malformed_timestamp_is_refused_not_a_server_error(
    make_bot: Callable[..., Bot], fake_slack: FakeSlack
) -> None:
    client = AppClient(create_app(make_bot()))
    body, headers = slash_command(SECRET, response_url=fake_slack.response_url(), text="help")
    for timestamp in ("abc", "", "1e9", b"\xb2", "1" * 30):  # b"\xb2" reads as "²", a digit to isdigit()
        answer = client.post(
            "/slack/events", content=body, headers={**headers, "X-Slack-Request-Timestamp": timestamp}
        )
        assert answer.status_code == 401, timestamp
