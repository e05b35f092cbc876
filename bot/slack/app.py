"""The Slack app on slack-bolt: the slash command, the incident buttons, and the wiring of
the notifier and outbox into the bot.

Slack reaches the app over HTTP (``/slack/events``, only with SLACK_SIGNING_SECRET) or
Socket Mode (SLACK_APP_TOKEN); :func:`check_transports` refuses to start with neither, or
with either and no bot token. Bolt verifies each HTTP request's signature and refuses one
more than five minutes old; ``bot.slack.freshness`` refuses one seen before or dated
ahead of our clock. Every listener acks at once; the slow part (reading traces,
investigating) runs after the ack, in Bolt's listener thread, and answers through the
command's response_url or the outbox. Without SLACK_BOT_TOKEN there is no app: messages
are kept locally (see ``bot.slack.outbox``) and shown by the console and the web pages.

Who may do what is ``bot.policy``'s, as on the API and pages: ``bot.slack.access`` makes
the person a principal through the command's ``slack.access`` rule (a viewer for the
reading commands, a responder for ``investigate`` and the buttons, over the rule's
journeys), and a trace or journey out of scope reads as one that does not exist.

What a person reads or does through Slack is written to the audit trail with their Slack
user id (``bot.audit``): a trace read or shared, an investigation asked for, each button
pressed; the outbox records what the bot posted where.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.durations import format_duration
from bot.incidents.headline import Headlines
from bot.incidents.repository import thread_url
from bot.policy import Principal, may_act, may_read
from bot.render.waterfall import render_png
from bot.runbooks import matching_runbooks
from bot.settings import Settings
from bot.slack import commands
from bot.slack import messages as say
from bot.slack.access import AccessCheck
from bot.slack.blocks import SlackMessage, section, summary_message, to_dicts
from bot.slack.commands import Usage
from bot.slack.freshness import FreshOnce, SeenSignatures
from bot.slack.integration import SlackIntegration
from bot.slack.mrkdwn import Mrkdwn, escape
from bot.slack.notifier import SlackNotifier
from bot.slack.outbox import Outbox
from bot.wiring import Bot, public_url
from correlators.errors import ConfigError, JourneywatchError
from correlators.report import Report

log = logging.getLogger("journeywatch.slack")

BUTTONS = (
    "incident_ack",
    "incident_resolve",
    "incident_reinvestigate",
    "incident_mute_1h",
    "incident_mute_4h",
)
VERDICT_ACTIONS = tuple(f"verdict_{v}" for v in say.VERDICTS)


def tune(client: WebClient, base_url: str) -> WebClient:
    """Bolt's own client, aimed at ``base_url``: slack_sdk retries a 429 after its
    Retry-After and 5xx / connection errors with backoff, a couple of times within the
    call; past that the outbox retries later."""
    client.base_url = base_url
    client.timeout = 10
    client.retry_handlers = [
        RateLimitErrorRetryHandler(max_retry_count=1),
        ServerErrorRetryHandler(max_retry_count=2),
        ConnectionErrorRetryHandler(max_retry_count=2),
    ]
    return client


def build_slack(bot: Bot, *, clock: Callable[[], float] = time.time) -> SlackIntegration:
    """Bolt's app is given the token, as it expects, and builds the Web API client the
    outbox sends with too. (Given a client of ours, Bolt still reads SLACK_BOT_TOKEN
    from the environment and warns at every start that it "will be unused".)"""
    settings = bot.settings
    app = bolt_app(settings, clock=clock)
    client = tune(app.client, settings.slack_api_url) if app is not None else None
    outbox = Outbox(bot.store.engine, client, clock=clock, audit=bot.audit)
    notifier = SlackNotifier(
        bot.config,
        bot.incidents,
        outbox,
        bot.collector.redactor,
        bot.sources.traces,
        base_url=public_url(settings),
        headlines=Headlines(
            bot.config, bot.store, bot.sources.traces, bucket_s=settings.collector.metrics_bucket_s
        ),
        clock=clock,
    )
    if app is not None:
        _register(app, bot, notifier, AccessCheck(bot.config.slack, client, lambda: bot.config.owners()))
    return SlackIntegration(outbox, notifier, app, client)


def bolt_app(settings: Settings, *, clock: Callable[[], float] = time.time) -> App | None:
    """None without a bot token (local mode).

    In Socket Mode alone Bolt is still given a signing secret, as it requires: a random
    one of this process, so that even a request that reached Bolt's dispatch over HTTP
    could never be signed with it (there is no route for one)."""
    check_transports(settings)
    token = settings.slack_bot_token
    if token is None:
        return None
    secret = settings.slack_signing_secret
    app = App(
        token=token.get_secret_value(),
        signing_secret=secret.get_secret_value() if secret is not None else secrets.token_hex(32),
        token_verification_enabled=False,  # start even while Slack is unreachable; the outbox waits
        request_verification_enabled=True,
        process_before_response=False,
    )
    seen = SeenSignatures(settings.slack_replay_memory_bytes)
    app.use(FreshOnce(seen, settings.slack_future_skew_s, clock))
    return app


def check_transports(settings: Settings) -> None:
    """A ConfigError for Slack settings that cannot be meant: a bot token with no way for
    Slack's requests to be verified, or a way in with no bot token to answer with."""
    bot, secret, app = settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token
    if bot is not None and secret is None and app is None:
        raise ConfigError(
            "SLACK_BOT_TOKEN is set but neither SLACK_SIGNING_SECRET (for /slack/events) nor "
            "SLACK_APP_TOKEN (for Socket Mode) is: Slack's requests could not be verified"
        )
    if bot is None:
        given = [
            name
            for name, value in (("SLACK_SIGNING_SECRET", secret), ("SLACK_APP_TOKEN", app))
            if value is not None
        ]
        if given:
            raise ConfigError(
                f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} set but SLACK_BOT_TOKEN "
                "is not: set the bot token to use Slack, or unset them for local mode"
            )


def _register(app: App, bot: Bot, notifier: SlackNotifier, access: AccessCheck) -> None:
    command = bot.config.slack.command

    @app.command(command)
    def on_command(ack: Callable[..., Any], body: dict[str, Any], respond: Callable[..., Any]) -> None:
        try:
            parsed = commands.parse(body.get("text", ""))
        except Usage as exc:
            ack(response_type="ephemeral", text=say.bad_argument(command, str(exc)))
            return
        who = access.principal(
            parsed.name, body.get("channel_id", ""), body.get("channel_name", ""), body.get("user_id", "")
        )
        if isinstance(who, str):
            ack(response_type="ephemeral", text=say.refused(f"{command} {parsed.name}", who))
            return
        if parsed.name == "help":
            ack(response_type="ephemeral", text=say.usage(command))
            return
        try:
            commands.check(bot, parsed, who)  # cheap: a bad argument is answered in the ack itself
        except Usage as exc:
            ack(response_type="ephemeral", text=say.bad_argument(command, str(exc)))
            return
        ack(response_type="ephemeral", text=say.WORKING)
        try:
            _answer(bot, notifier, parsed, who, body, respond)
        except Usage as exc:
            respond(
                response_type="ephemeral", replace_original=True, text=say.bad_argument(command, str(exc))
            )
        except JourneywatchError as exc:
            respond(response_type="ephemeral", replace_original=True, text=say.failed(parsed.name, str(exc)))

    for action_id in (*BUTTONS, *VERDICT_ACTIONS):
        app.action(action_id)(_button_handler(bot, notifier, access, action_id))


def _answer(
    bot: Bot,
    notifier: SlackNotifier,
    parsed: commands.Parsed,
    who: Principal,
    body: dict[str, Any],
    respond: Callable[..., Any],
) -> None:
    user, channel = body.get("user_id", ""), body.get("channel_id", "")
    if parsed.name == "trace":
        args = commands.trace_args(parsed.args)
        found = bot.sources.traces.get_traces([args.trace_id])
        if not found or not may_read(who, found[0].journey):
            respond(response_type="ephemeral", replace_original=True, text=say.trace_not_found(args.trace_id))
            return
        message = commands.trace_message(bot, found[0], notifier.quote)
        if args.share:
            _share_trace(bot, notifier, body, found[0], message)
            bot.audit.record(user, "slack", "share", "trace", args.trace_id, channel=channel)
            respond(response_type="ephemeral", delete_original=True)
        else:
            bot.audit.record(user, "slack", "read", "trace", args.trace_id, channel=channel)
            respond(response_type="ephemeral", replace_original=True, **message.payload())
    elif parsed.name == "journey":
        respond(
            response_type="ephemeral",
            replace_original=True,
            **commands.journey_message(bot, parsed.args, who).payload(),
        )
    elif parsed.name == "incidents":
        respond(
            response_type="ephemeral",
            replace_original=True,
            **commands.incidents_message(bot, _permalinks(bot, notifier, who), who).payload(),
        )
    elif parsed.name == "investigate":
        wanted = commands.investigate_args(bot, parsed.args, who)
        kept, report = commands.investigate(bot, wanted, body.get("user_id"))
        bot.audit.record(
            user, "slack", "investigate", "investigation", str(kept), journey=wanted.journey, channel=channel
        )
        _post_on_demand(bot, notifier, body, wanted, kept, report)
        respond(response_type="ephemeral", delete_original=True)


def _share_trace(
    bot: Bot, notifier: SlackNotifier, body: dict[str, Any], trace: Any, message: SlackMessage
) -> None:
    key = f"share:{uuid.uuid4().hex}"
    channel = body.get("channel_id", "")
    notifier.outbox.put(key, kind="parent", channel=channel, payload=message.payload())
    notifier.outbox.put(
        f"{key}:picture",
        kind="file",
        channel=channel,
        payload={"filename": f"trace-{trace.trace_id}.png", "title": say.trace_title(trace.trace_id)},
        parent_key=key,
        content=render_png(trace, title=say.trace_title(trace.trace_id)),
    )
    notifier.outbox.flush()


def _post_on_demand(
    bot: Bot,
    notifier: SlackNotifier,
    body: dict[str, Any],
    args: commands.InvestigateArgs,
    kept: int,
    report: Report,
) -> None:
    key = f"ondemand:{uuid.uuid4().hex}"
    channel = body.get("channel_id", "")
    title = say.on_demand_title(args.journey, format_duration(args.window_s), body.get("user_id", ""))
    parent = SlackMessage(title, blocks=to_dicts([section(title)]))
    notifier.outbox.put(key, kind="parent", channel=channel, payload=parent.payload())
    journey = bot.config.journey(args.journey)
    summary = summary_message(
        report,
        runbooks=matching_runbooks(bot.config, journey, report),
        incident_url=f"{commands.bot_url(bot)}/investigations/{kept}",
        trace_url=None,
        quote=notifier.quote,
        trace_url_of=lambda trace_id: f"{commands.bot_url(bot)}/traces/{trace_id}",
    )
    notifier.outbox.put(
        f"{key}:report",
        kind="thread",
        channel=channel,
        payload=summary.payload(),
        parent_key=key,
    )
    notifier.outbox.flush()


def _permalinks(bot: Bot, notifier: SlackNotifier, who: Principal) -> dict[int, str]:
    """Each open incident's thread: Slack's permalink once kept, else one built from the
    parent's ts (before Slack answered chat.getPermalink)."""
    links = {}
    for incident in bot.incidents.find(status="open", journeys=who.journeys, limit=20):
        full = bot.incidents.get(incident["id"])
        kept = thread_url(full) if full else None
        if kept:
            links[incident["id"]] = kept
            continue
        for message in notifier.outbox.kept(incident["id"]):
            if message.kind == "parent" and message.ts:
                links[incident["id"]] = (
                    f"https://slack.com/archives/{message.channel}/p{message.ts.replace('.', '')}"
                )
    return links


def _button_handler(
    bot: Bot, notifier: SlackNotifier, access: AccessCheck, action_id: str
) -> Callable[..., None]:
    def handle(ack: Callable[..., Any], body: dict[str, Any], respond: Callable[..., Any]) -> None:
        ack()
        user = (body.get("user") or {}).get("id", "")
        channel = (body.get("channel") or {}).get("id", "")
        action = (body.get("actions") or [{}])[0]
        value = str(action.get("value", ""))
        if not value.isdigit() or len(value) > 18:  # not an incident id (64-bit)
            return
        who = access.principal("buttons", channel, "", user)
        row = None if isinstance(who, str) else bot.incidents.row(int(value))
        if isinstance(who, str) or row is None or not may_act(who, row.journey):
            denied = who if isinstance(who, str) else say.NOT_YOUR_JOURNEY
            respond(
                response_type="ephemeral", replace_original=False, text=say.refused("this button", denied)
            )
            return
        note = press(bot, int(value), action_id, user)
        notifier.refresh(int(value), note)

    return handle


def press(bot: Bot, incident_id: int, action_id: str, user: str) -> Mrkdwn | None:
    """Carry out a button press on the incident; returns the line for the thread. The
    press is audited after it took effect; ``changed`` is false for an acknowledge or
    resolve of an incident already resolved, which changes nothing."""
    now = time.time()

    def audited(action: str, **detail: str | int | bool) -> None:
        bot.audit.record(user, "slack", action, "incident", str(incident_id), **detail)

    if action_id in ("incident_ack", "incident_resolve"):
        status = "acknowledged" if action_id == "incident_ack" else "resolved"
        changed = bot.incidents.set_status(incident_id, status, user, now)
        audited("acknowledge" if status == "acknowledged" else "resolve", changed=changed)
        if not changed:
            return None
        return say.acknowledged_by(user) if status == "acknowledged" else say.resolved_by(user)
    if action_id == "incident_reinvestigate":
        bot.incidents.record(incident_id, "reinvestigation_requested", user, {}, now)
        bot.watcher.investigate_later(incident_id)
        audited("reinvestigate")
        return escape(say.INVESTIGATING)
    if action_id in ("incident_mute_1h", "incident_mute_4h"):
        hours = 1 if action_id.endswith("1h") else 4
        bot.incidents.mute(incident_id, now + hours * 3600, user, now)
        audited("mute", hours=hours)
        return say.muted_until(user, hours)
    verdict = action_id.removeprefix("verdict_")
    bot.incidents.record_verdict(incident_id, user, verdict, now)
    audited("grade", verdict=verdict)
    return say.verdict_recorded(user, verdict)
