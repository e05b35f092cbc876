"""How Slack reaches the app: POST /slack/events on the bot's own server (HTTP mode), or
Socket Mode when an app-level token (SLACK_APP_TOKEN) is set, for bots behind a firewall.
The route exists only with a signing secret (SLACK_SIGNING_SECRET) to verify it with: in
Socket Mode alone, nothing on the server takes a request as Slack's.

Bolt's dispatch is blocking (it waits for the listener's ack), so it runs in the thread
pool: a slow listener never stalls ingest, which shares the event loop.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.settings import Settings
from bot.slack.integration import SlackIntegration

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
"""Seconds since 1970, as Slack dates a request: anything else would fail Bolt's int()
with a 500 rather than a refusal."""


def slack_routes(slack: SlackIntegration | None, settings: Settings) -> list[Route]:
    if slack is None or slack.app is None or settings.slack_signing_secret is None:
        return []
    app = slack.app

    async def events(request: Request) -> Response:
        if not _TIMESTAMP.fullmatch(request.headers.get("x-slack-request-timestamp", "")):
            return JSONResponse({"error": "invalid request"}, status_code=401)  # as Bolt answers
        body = await request.body()
        answer = await run_in_threadpool(app.dispatch, to_bolt_request(request, body))
        return to_starlette_response(answer)

    return [Route("/slack/events", events, methods=["POST"])]


def start_socket_mode(slack: SlackIntegration | None, settings: Settings) -> Any:
    """Connect over Socket Mode when an app-level token is set; returns the handler."""
    if slack is None or slack.app is None or settings.slack_app_token is None:
        return None
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(slack.app, settings.slack_app_token.get_secret_value())
    handler.connect()  # type: ignore[no-untyped-call]
    return handler
