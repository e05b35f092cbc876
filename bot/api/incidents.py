"""The incident and journey API: what the Slack app and the pages read, for scripts too.

GET  /api/incidents?status=open|resolved&journey=&limit=   newest first, without timelines
GET  /api/incidents/{id}                                   with timeline and report
POST /api/incidents/{id}/investigate                       investigate again, now
GET  /api/journeys, /api/journeys/{name}                   objectives, burn per tier, budget
POST /api/changes                                          a deploy, config change or flag flip

The POSTs take JSON only and no request from another origin (``bot.api.auth``). Reading
one incident, asking for an investigation and posting a change are written to the audit
trail, by ``api-token``, ``anonymous`` (no token configured) or ``key:<id>``.
``POST /api/changes`` also takes an ingest key with the ``changes`` scope instead of the
API token, so CI can post deploys without a token that reads every trace; a key bound to
services posts changes of those services only.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import SecretStr, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.api.auth import cross_site_refusal, refusal
from bot.audit import token_actor
from bot.changes import ChangeIn, change_to_json
from bot.keys import Grant
from bot.keys.registry import PREFIX as KEY_PREFIX
from bot.read_model import journey_json
from bot.timeparse import parse_time_ns
from bot.wiring import Bot, public_url
from correlators.changes import Change
from correlators.errors import IngestError

Handler = Callable[[Request], Awaitable[Response]]


def incident_routes(bot: Bot, token: SecretStr | None) -> list[Route]:
    ours = public_url(bot.settings)
    actor = token_actor(token is not None)

    async def audited(who: str, action: str, subject: str, subject_id: str, **detail: str) -> None:
        await run_in_threadpool(bot.audit.record, who, "api", action, subject, subject_id, **detail)

    def guarded(handler: Handler) -> Handler:
        async def wrapper(request: Request) -> Response:
            return refusal(request, token) or await handler(request)

        return wrapper

    def writes(handler: Handler, *, body: bool, by_key: bool = False) -> Handler:
        """Guarded (by the API token, or by ``by_key`` an ingest key with the ``changes``
        scope), and refused when a browser could have been made to send it."""

        async def wrapper(request: Request) -> Response:
            return cross_site_refusal(request, ours, body=body) or await handler(request)

        return keyed(wrapper) if by_key else guarded(wrapper)

    def keyed(handler: Handler) -> Handler:
        async def wrapper(request: Request) -> Response:
            presented = bot.keys.header.presented(request.headers)
            if presented is None or not presented.startswith(KEY_PREFIX):
                return refusal(request, token) or await handler(request)
            try:
                request.state.grant = await bot.keys.admit(request.headers, "changes")
            except IngestError as exc:
                return JSONResponse({"error": str(exc)}, status_code=exc.status_code)
            return await handler(request)

        return wrapper

    async def list_incidents(request: Request) -> Response:
        params = request.query_params
        status = params.get("status")
        if status not in (None, "", "open", "acknowledged", "resolved"):
            return _bad("status must be open, acknowledged or resolved")
        limit = params.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= 500:
            return _bad("limit must be a whole number from 1 to 500")
        found = await run_in_threadpool(
            bot.incidents.find, status=status or None, journey=params.get("journey") or None, limit=int(limit)
        )
        return JSONResponse({"incidents": found})

    async def get_incident(request: Request) -> Response:
        incident_id = _id(request)
        if incident_id is None:
            return _bad("incident id must be a whole number")
        found = await run_in_threadpool(bot.incidents.get, incident_id)
        if found is None:
            return JSONResponse({"error": f"incident {incident_id} not found"}, status_code=404)
        await audited(actor, "read", "incident", str(incident_id))
        return JSONResponse(found)

    async def reinvestigate(request: Request) -> Response:
        incident_id = _id(request)
        if incident_id is None or await run_in_threadpool(bot.incidents.row, incident_id) is None:
            return JSONResponse({"error": "no such incident"}, status_code=404)
        bot.watcher.investigate_later(incident_id)
        await audited(actor, "reinvestigate", "incident", str(incident_id))
        return JSONResponse({"incident": incident_id, "status": "investigating"}, status_code=202)

    async def journeys(_: Request) -> Response:
        return JSONResponse({"journeys": await run_in_threadpool(_journeys, bot)})

    async def journey(request: Request) -> Response:
        name = request.path_params["name"]
        if bot.config.journey(name) is None:
            return JSONResponse({"error": f"no journey {name!r}"}, status_code=404)
        return JSONResponse(await run_in_threadpool(journey_json, bot, name))

    async def post_change(request: Request) -> Response:
        try:
            given = ChangeIn.model_validate_json(await request.body())
            time_ns = parse_time_ns(str(given.time)) if given.time is not None else time.time_ns()
        except ValidationError as exc:
            first = exc.errors()[0]
            return _bad(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        except ValueError as exc:
            return _bad(f"time: {exc}")
        grant: Grant | None = getattr(request.state, "grant", None)
        if grant is not None and not grant.may_send(given.service):
            refused = f"ingest key {grant.key_id} may not post changes of service {given.service[:100]!r}"
            return JSONResponse({"error": refused}, status_code=403)
        change = Change(given.service, given.kind, time_ns, given.version, given.link, given.description)
        change_id = await run_in_threadpool(bot.changes.add, change)
        who = actor if grant is None else f"key:{grant.key_id}"
        await audited(who, "create", "change", str(change_id), service=given.service, kind=given.kind)
        return JSONResponse({"id": change_id, **change_to_json(change)}, status_code=201)

    return [
        Route("/api/incidents", guarded(list_incidents), methods=["GET"]),
        Route("/api/incidents/{incident_id}", guarded(get_incident), methods=["GET"]),
        Route(
            "/api/incidents/{incident_id}/investigate", writes(reinvestigate, body=False), methods=["POST"]
        ),
        Route("/api/journeys", guarded(journeys), methods=["GET"]),
        Route("/api/journeys/{name}", guarded(journey), methods=["GET"]),
        Route("/api/changes", writes(post_change, body=True, by_key=True), methods=["POST"]),
    ]


def _journeys(bot: Bot) -> list[dict[str, Any]]:
    return [journey_json(bot, j.name) for j in bot.config.journeys]


def _id(request: Request) -> int | None:
    """The id in the path, or None when it is not one an incident can have (ids are
    64-bit: a larger number would fail the query, not find nothing)."""
    text = request.path_params["incident_id"]
    return int(text) if text.isdigit() and len(text) <= 18 else None


def _bad(reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=400)
