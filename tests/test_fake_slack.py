"""The fake Slack Web API behaves like Slack where our code depends on it.

Slack's servers cannot be reached here, so the bot's Slack tests run against
tests/fixtures/fake_slack.py. These tests drive it with the real clients (slack_sdk's
WebClient, its retry handlers, slack_bolt's App) to show that what passes against the
fake would pass against Slack: the answers have Slack's shapes, bad payloads get Slack's
errors, and injected 429s and 500s are the ones slack_sdk knows how to retry.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from slack_bolt import Ack, App, BoltRequest, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from tests.fixtures.fake_slack import RESPOND, UPLOAD, FakeSlack
from tests.fixtures.slack_requests import block_action, slash_command

CHANNEL = "C0INCIDENT"
SECRET = "signing-secret-for-tests"
TS = re.compile(r"^\d{10}\.\d{6}$")


def client_for(fake: FakeSlack, **kwargs: Any) -> WebClient:
    """A real WebClient aimed at the fake; no retry handlers unless a test adds them."""
    kwargs.setdefault("retry_handlers", [])
    return WebClient(token=kwargs.pop("token", fake.expected_token), base_url=fake.api_url, **kwargs)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


# --- messages ----------------------------------------------------------------------------------


def test_post_then_update_keeps_one_message_updated_in_place(fake_slack: FakeSlack) -> None:
    client = client_for(fake_slack)

    posted = client.chat_postMessage(channel=CHANNEL, text="Checkout is failing", blocks=[section("*open*")])
    updated = client.chat_update(channel=CHANNEL, ts=posted["ts"], text="Checkout recovered")

    assert posted["ok"] and posted["channel"] == CHANNEL and TS.match(posted["ts"])
    assert posted["message"]["text"] == "Checkout is failing"
    assert posted["message"]["bot_id"] == FakeSlack.BOT_ID
    assert (updated["channel"], updated["ts"], updated["text"]) == (
        CHANNEL,
        posted["ts"],
        "Checkout recovered",
    )
    assert list(fake_slack.messages) == [(CHANNEL, posted["ts"])]
    message = fake_slack.messages[(CHANNEL, posted["ts"])]
    assert message["text"] == "Checkout recovered"
    assert message["blocks"] == [section("*open*")], "chat.update keeps the blocks it did not send"
    assert [v["text"] for v in fake_slack.message_history(CHANNEL, posted["ts"])] == [
        "Checkout is failing",
        "Checkout recovered",
    ]
    call = fake_slack.calls_to("chat.postMessage")[0]
    assert call.token == "xoxb-test"
    assert call.headers["content-type"].startswith("application/json"), "slack_sdk posts chat.* as JSON"
    assert call.args["blocks"] == [section("*open*")]


def test_form_encoded_arguments_are_parsed_and_json_text_decoded(fake_slack: FakeSlack) -> None:
    client = client_for(fake_slack)

    client.api_call(
        "chat.postMessage",
        data={"channel": CHANNEL, "text": "hi", "blocks": json.dumps([section("form")])},
    )

    call = fake_slack.calls_to("chat.postMessage")[0]
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert call.args["blocks"] == [section("form")]


def test_thread_replies_and_channel_names(fake_slack: FakeSlack) -> None:
    fake_slack.channels[CHANNEL] = "incidents"
    client = client_for(fake_slack)

    parent = client.chat_postMessage(channel="#incidents", text="parent")
    reply = client.chat_postMessage(channel=CHANNEL, thread_ts=parent["ts"], text="reply")

    assert parent["channel"] == CHANNEL, "a known channel name resolves to its id, as in Slack"
    assert reply["message"]["thread_ts"] == parent["ts"]
    assert [m["text"] for m in fake_slack.replies(CHANNEL, parent["ts"])] == ["reply"]


def test_permalinks_name_the_message_and_refuse_unknown_ones(fake_slack: FakeSlack) -> None:
    client = client_for(fake_slack)
    parent = client.chat_postMessage(channel=CHANNEL, text="parent")
    reply = client.chat_postMessage(channel=CHANNEL, thread_ts=parent["ts"], text="reply")

    link = client.chat_getPermalink(channel=CHANNEL, message_ts=parent["ts"])
    threaded = client.chat_getPermalink(channel=CHANNEL, message_ts=reply["ts"])

    digits = parent["ts"].replace(".", "")
    assert link["permalink"] == f"https://{FakeSlack.TEAM}.slack.com/archives/{CHANNEL}/p{digits}"
    assert threaded["permalink"].endswith(f"?thread_ts={parent['ts']}&cid={CHANNEL}")
    for channel, ts, error in (
        (CHANNEL, "1.000001", "message_not_found"),
        ("C0NOWHERE", parent["ts"], "channel_not_found"),
    ):
        with pytest.raises(SlackApiError) as raised:
            client.chat_getPermalink(channel=channel, message_ts=ts)
        assert raised.value.response["error"] == error


def test_ts_values_are_unique_and_increasing_under_concurrent_posts(fake_slack: FakeSlack) -> None:
    client = client_for(fake_slack)
    seen: list[str] = []
    lock = threading.Lock()

    def post_ten() -> None:
        for _ in range(10):
            ts = client.chat_postMessage(channel=CHANNEL, text="x")["ts"]
            with lock:
                seen.append(ts)

    threads = [threading.Thread(target=post_ten) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(seen)) == 80
    in_order = [c.response["ts"] for c in fake_slack.calls_to("chat.postMessage")]
    assert in_order == sorted(in_order) and all(TS.match(ts) for ts in in_order)


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"channel": CHANNEL}, "no_text"),
        ({"text": "no channel"}, "channel_not_found"),
        ({"channel": CHANNEL, "text": "x", "blocks": [section("b")] * 51}, "invalid_blocks"),
        ({"channel": CHANNEL, "text": "x", "blocks": [section("a" * 3001)]}, "invalid_blocks"),
        ({"channel": CHANNEL, "text": "x", "blocks": {"type": "section"}}, "invalid_blocks"),
        ({"channel": CHANNEL, "text": "x" * 40_001}, "msg_too_long"),
    ],
)
def test_post_message_refuses_what_slack_refuses(
    fake_slack: FakeSlack, arguments: dict[str, Any], error: str
) -> None:
    # api_call, not chat_postMessage: the latter warns (an error here) when text is missing
    with pytest.raises(SlackApiError) as raised:
        client_for(fake_slack).api_call("chat.postMessage", json=arguments)

    assert raised.value.response["error"] == error
    assert fake_slack.messages == {}


def test_section_text_of_3000_characters_is_accepted(fake_slack: FakeSlack) -> None:
    client_for(fake_slack).chat_postMessage(channel=CHANNEL, text="x", blocks=[section("a" * 3000)] * 50)

    assert len(fake_slack.messages) == 1


def test_invalid_blocks_answer_names_the_limit(fake_slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as raised:
        client_for(fake_slack).chat_postMessage(channel=CHANNEL, text="x", blocks=[section("a" * 3001)])

    assert raised.value.response["errors"] == [
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]


def test_update_of_a_message_this_server_never_issued_is_message_not_found(fake_slack: FakeSlack) -> None:
    client = client_for(fake_slack)
    posted = client.chat_postMessage(channel=CHANNEL, text="x")

    for channel, ts in [(CHANNEL, "1700000000.999999"), ("C0OTHER", posted["ts"])]:
        with pytest.raises(SlackApiError) as raised:
            client.chat_update(channel=channel, ts=ts, text="y")
        assert raised.value.response["error"] == "message_not_found"


def test_ephemeral_lookups_and_unknown_methods(fake_slack: FakeSlack) -> None:
    fake_slack.channels[CHANNEL] = "incidents"
    fake_slack.usergroups["S0ONCALL"] = ["U1", "U2"]
    client = client_for(fake_slack)

    assert TS.match(client.chat_postEphemeral(channel=CHANNEL, user="U1", text="only you")["message_ts"])
    assert client.conversations_info(channel=CHANNEL)["channel"]["name"] == "incidents"
    assert client.usergroups_users_list(usergroup="S0ONCALL")["users"] == ["U1", "U2"]
    auth = client.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == (
        FakeSlack.BOT_USER_ID,
        FakeSlack.BOT_ID,
        FakeSlack.TEAM_ID,
    )
    assert auth["url"].startswith("https://")
    refused: list[tuple[Callable[[], object], str]] = [
        (lambda: client.conversations_info(channel="C0NOPE"), "channel_not_found"),
        (lambda: client.usergroups_users_list(usergroup="S0NOPE"), "no_such_subteam"),
        (lambda: client.api_call("reactions.add"), "unknown_method"),
    ]
    for call, error in refused:
        with pytest.raises(SlackApiError) as raised:
            call()
        assert raised.value.response["error"] == error

    fake_slack.on("reactions.add", {"ok": True})
    assert client.reactions_add(channel=CHANNEL, timestamp="1.2", name="eyes")["ok"]


# --- tokens ------------------------------------------------------------------------------------


def test_wrong_token_is_invalid_auth_and_no_token_is_not_authed(fake_slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as wrong:
        client_for(fake_slack, token="xoxb-wrong").chat_postMessage(channel=CHANNEL, text="x")
    with pytest.raises(SlackApiError) as missing:
        WebClient(base_url=fake_slack.api_url, retry_handlers=[]).auth_test()

    assert wrong.value.response["error"] == "invalid_auth"
    assert missing.value.response["error"] == "not_authed"
    assert fake_slack.messages == {}
    assert [c.token for c in fake_slack.calls] == ["xoxb-wrong", None]


# --- faults ------------------------------------------------------------------------------------


def test_429_is_retried_after_retry_after_and_the_message_lands_once(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1, times=1)
    client = client_for(fake_slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])

    posted = client.chat_postMessage(channel=CHANNEL, text="during a storm")

    first, second = fake_slack.calls_to("chat.postMessage")
    assert (first.status, first.response["error"]) == (429, "ratelimited")
    assert second.ok and posted["ts"] == second.response["ts"]
    waited = second.at - first.at
    assert 1.0 <= waited < 2.5, f"slack_sdk sleeps Retry-After plus up to 1 s of jitter; waited {waited:.2f}s"
    assert len(fake_slack.messages) == 1


def test_429_without_a_retry_handler_surfaces_ratelimited_and_retry_after(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=7)

    with pytest.raises(SlackApiError) as raised:
        client_for(fake_slack).chat_postMessage(channel=CHANNEL, text="x")

    assert raised.value.response.status_code == 429
    assert raised.value.response["error"] == "ratelimited"
    assert raised.value.response.headers["Retry-After"] == "7"


def test_500_is_retried_by_the_server_error_handler(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", status=500, times=2)
    handler = ServerErrorRetryHandler(
        max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
    )
    client = client_for(fake_slack, retry_handlers=[handler])

    client.chat_postMessage(channel=CHANNEL, text="x")

    assert [c.status for c in fake_slack.calls_to("chat.postMessage")] == [500, 500, 200]
    assert len(fake_slack.calls_to("chat.postMessage", ok=True)) == 1


def test_fail_always_until_heal(fake_slack: FakeSlack) -> None:
    fake_slack.fail_always("*", status=503)
    client = client_for(fake_slack)

    for _ in range(3):
        with pytest.raises(SlackApiError):
            client.chat_postMessage(channel=CHANNEL, text="x")
    fake_slack.heal()
    client.chat_postMessage(channel=CHANNEL, text="x")

    assert [c.status for c in fake_slack.calls] == [503, 503, 503, 200]


def test_delay_answers_late(fake_slack: FakeSlack) -> None:
    fake_slack.delay("auth.test", 0.3, times=1)
    client = client_for(fake_slack)

    started = time.monotonic()
    client.auth_test()
    slow = time.monotonic() - started
    started = time.monotonic()
    client.auth_test()

    assert slow >= 0.3 > time.monotonic() - started


# --- files -------------------------------------------------------------------------------------


def test_files_upload_v2_lands_the_bytes_in_the_thread(fake_slack: FakeSlack) -> None:
    client = client_for(fake_slack)
    parent = client.chat_postMessage(channel=CHANNEL, text="incident")
    data = b"\x00\xff trace bytes\r\n--not-a-boundary\r\n" * 100

    result = client.files_upload_v2(
        channel=CHANNEL,
        thread_ts=parent["ts"],
        file=data,
        filename="trace.json",
        title="Slowest trace",
        initial_comment="The slowest trace",
    )

    file_id = result["file"]["id"]
    upload = fake_slack.uploads[file_id]
    assert upload.content == data and upload.length == len(data)
    assert (upload.channel_id, upload.thread_ts, upload.initial_comment) == (
        CHANNEL,
        parent["ts"],
        "The slowest trace",
    )
    assert upload.completed and result["file"]["title"] == "Slowest trace"
    assert [c.method for c in fake_slack.calls][1:] == [
        "files.getUploadURLExternal",
        UPLOAD,
        "files.completeUploadExternal",
    ]
    upload_call = fake_slack.calls_to(UPLOAD)[0]
    assert upload_call.token is None, "slack_sdk posts the bytes to the upload URL without a token"
    complete = fake_slack.calls_to("files.completeUploadExternal")[0]
    assert complete.headers["content-type"] == "application/x-www-form-urlencoded"
    assert complete.args["files"] == [{"id": file_id, "title": "Slowest trace"}]


def test_upload_url_takes_multipart_too(fake_slack: FakeSlack) -> None:
    client = client_for(fake_slack)
    issued = client.files_getUploadURLExternal(filename="a.bin", length=3)

    httpx.post(issued["upload_url"], files={"file": ("a.bin", b"a\r\nb")}).raise_for_status()

    assert fake_slack.uploads[issued["file_id"]].content == b"a\r\nb"


def test_complete_upload_of_an_unknown_file_is_refused(fake_slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as raised:
        client_for(fake_slack).files_completeUploadExternal(files=[{"id": "F0NOPE", "title": "x"}])

    assert raised.value.response["error"] == "file_not_found"


# --- Bolt --------------------------------------------------------------------------------------


def bolt_app(fake: FakeSlack) -> App:
    """A minimal Bolt app on the fake; its constructor calls auth.test, as in production."""
    return App(signing_secret=SECRET, client=client_for(fake))


def test_signed_slash_command_reaches_the_handler_and_respond_reaches_the_fake(fake_slack: FakeSlack) -> None:
    app = bolt_app(fake_slack)
    seen: list[dict[str, Any]] = []

    @app.command("/journeywatch")
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack()
        seen.append(command)
        respond(text=f"looking into {command['text']}")

    request = slash_command(SECRET, response_url=fake_slack.response_url("cmd"), text="checkout")
    response = app.dispatch(request.bolt_request())

    assert response.status == 200
    fake_slack.wait_for(RESPOND)
    assert seen[0]["user_id"] == "U0ONCALL" and seen[0]["channel_id"] == CHANNEL
    assert fake_slack.responses[0]["text"] == "looking into checkout"
    assert fake_slack.calls_to("auth.test", ok=True)


def test_signed_button_click_reaches_the_action_handler(fake_slack: FakeSlack) -> None:
    app = bolt_app(fake_slack)
    parent = app.client.chat_postMessage(channel=CHANNEL, text="incident", blocks=[section("open")])
    clicked: list[dict[str, Any]] = []

    @app.action("acknowledge")
    def on_click(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        clicked.append(action)
        respond(text="acknowledged", replace_original=False, thread_ts=body["message"]["ts"])

    request = block_action(
        SECRET,
        response_url=fake_slack.response_url("act"),
        action_id="acknowledge",
        value="incident-7",
        message_ts=parent["ts"],
        message=fake_slack.messages[(CHANNEL, parent["ts"])],
    )
    response = app.dispatch(request.bolt_request())

    assert response.status == 200
    fake_slack.wait_for(RESPOND)
    assert clicked[0]["value"] == "incident-7" and clicked[0]["block_id"] == "actions"
    assert fake_slack.responses[0]["thread_ts"] == parent["ts"]


@pytest.mark.parametrize("fault", ["forge", "stale"])
def test_forged_or_stale_signature_is_401(fake_slack: FakeSlack, fault: str) -> None:
    app = bolt_app(fake_slack)
    handled: list[str] = []

    @app.command("/journeywatch")
    def on_command(ack: Ack) -> None:
        handled.append("yes")
        ack()

    body, headers = slash_command(
        SECRET, response_url=fake_slack.response_url(), forge=fault == "forge", stale=fault == "stale"
    )
    response = app.dispatch(BoltRequest(body=body, headers={**headers}))

    assert response.status == 401
    assert handled == []
