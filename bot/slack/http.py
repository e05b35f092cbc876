"""How Slack reaches the app: POST /slack/events on the bot's own server (HTTP mode), or
Socket Mode when an app-level token (SLACK_APP_TOKEN) is set, for bots behind a firewall.

Bolt's dispatch is blocking (it waits for the listener's ack), so it runs in the thread
pool: a slow listener never stalls ingest, which shares the event loop.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.settings import Settings
from bot.slack.integration import SlackIntegration


def slack_routes(slack: SlackIntegration | None) -> list[Route]:
    if slack is None or slack.app is None:
        return []
    app = slack.app

    async def events(request: Request) -> Response:
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
