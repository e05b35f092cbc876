"""The incident and journey API: what the Slack app and the pages read, for scripts too.

GET  /api/incidents?status=open|resolved&journey=&limit=   newest first, without timelines
GET  /api/incidents/{id}                                   with timeline and report
POST /api/incidents/{id}/investigate                       investigate again, now
GET  /api/journeys, /api/journeys/{name}                   objectives, burn per tier, budget
POST /api/changes                                          a deploy, config change or flag flip

The POSTs take JSON only and no request from another origin (``bot.api.auth``). Reading
one incident, asking for an investigation and posting a change are written to the audit
trail, by ``api-token``, ``anonymous`` (no token configured) or ``key:<id>`` (with its
role). What a reader sees and may do is ``bot.policy``'s: incidents and journeys out of
its scope answer 404 and are left out of lists; re-investigating takes a responder in
scope (403 for a viewer who may read the incident). ``POST /api/changes`` takes an
unscoped responder or admin, or an ingest key with the ``changes`` scope, so CI can post
deploys without a token that reads every trace; a key bound to services posts changes of
those services only.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.api.auth import admitted, cross_site_refusal, forbidden, not_found
from bot.changes import ChangeIn, change_to_json
from bot.keys import Grant
from bot.keys.readers import Readers, audit_detail, key_actor
from bot.keys.registry import PREFIX as KEY_PREFIX
from bot.policy import Principal, Role, may_act, may_post_changes, may_read, readable
from bot.read_model import journey_json
from bot.timeparse import parse_time_ns
from bot.wiring import Bot, public_url
from correlators.changes import Change
from correlators.errors import IngestError

Handler = Callable[[Request], Awaitable[Response]]
PrincipalHandler = Callable[[Request, Principal], Awaitable[Response]]


def incident_routes(bot: Bot, readers: Readers) -> list[Route]:
    ours = public_url(bot.settings)

    async def audited(who: Principal, action: str, subject: str, subject_id: str, **detail: str) -> None:
        await run_in_threadpool(bot.audit.record, who.actor, "api", action, subject, subject_id, **detail)

    def guarded(handler: PrincipalHandler) -> Handler:
        async def wrapper(request: Request) -> Response:
            who = await admitted(request, readers)
            return who if isinstance(who, Response) else await handler(request, who)

        return wrapper

    def writes(handler: PrincipalHandler, *, body: bool) -> Handler:
        """Guarded, and refused when a browser could have been made to send it."""
        inner = guarded(handler)

        async def wrapper(request: Request) -> Response:
            return cross_site_refusal(request, ours, body=body) or await inner(request)

        return wrapper

    def keyed(handler: PrincipalHandler) -> Handler:
        """As :func:`writes`, taking an ingest key with the ``changes`` scope as well: such
        a request is by the key, whose grant the handler finds on ``request.state``."""
        by_reader = writes(handler, body=True)

        async def wrapper(request: Request) -> Response:
            presented = bot.keys.header.presented(request.headers)
            if presented is None or not presented.startswith(KEY_PREFIX):
                return await by_reader(request)
            denied = cross_site_refusal(request, ours, body=True)
            if denied is not None:
                return denied
            try:
                grant = request.state.grant = await bot.keys.admit(request.headers, "changes")
            except IngestError as exc:
                if exc.status_code == 403 and await _has_role(presented):  # an access key's turn
                    return await by_reader(request)
                return JSONResponse({"error": str(exc)}, status_code=exc.status_code)
            # the grant permits the change, not a role: the principal only names the key
            return await handler(request, Principal(key_actor(grant.key_id), Role.VIEWER, frozenset()))

        return wrapper

    async def _has_role(presented: str) -> bool:
        """Whether a key without the ``changes`` scope is an access key (cached: it was
        just looked up)."""
        try:
            return (await bot.keys.keyring.identify(presented)).role is not None
        except IngestError:  # expired between the two looks: refused as it was
            return False

    async def list_incidents(request: Request, who: Principal) -> Response:
        params = request.query_params
        status = params.get("status")
        if status not in (None, "", "open", "acknowledged", "resolved"):
            return _bad("status must be open, acknowledged or resolved")
        limit = params.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= 500:
            return _bad("limit must be a whole number from 1 to 500")
        found = await run_in_threadpool(
            bot.incidents.find,
            status=status or None,
            journey=params.get("journey") or None,
            journeys=who.journeys,
            limit=int(limit),
        )
        return JSONResponse({"incidents": found})

    async def get_incident(request: Request, who: Principal) -> Response:
        incident_id = _id(request)
        if incident_id is None:
            return _bad("incident id must be a whole number")
        found = await run_in_threadpool(bot.incidents.get, incident_id, who.journeys)
        if found is None or not may_read(who, found["journey"]):
            return not_found(f"incident {incident_id}")
        await audited(who, "read", "incident", str(incident_id), **audit_detail(who))
        return JSONResponse(found)

    async def reinvestigate(request: Request, who: Principal) -> Response:
        incident_id = _id(request)
        row = None if incident_id is None else await run_in_threadpool(bot.incidents.row, incident_id)
        if incident_id is None or row is None or not may_read(who, row.journey):
            return JSONResponse({"error": "no such incident"}, status_code=404)
        if not may_act(who, row.journey):
            return forbidden(f"a {who.role.label} may read incident {incident_id} but not act on it")
        bot.watcher.investigate_later(incident_id)
        await audited(who, "reinvestigate", "incident", str(incident_id), **audit_detail(who))
        return JSONResponse({"incident": incident_id, "status": "investigating"}, status_code=202)

    async def journeys(_: Request, who: Principal) -> Response:
        names = readable(who, (j.name for j in bot.config.journeys))
        return JSONResponse({"journeys": await run_in_threadpool(_journeys, bot, names)})

    async def journey(request: Request, who: Principal) -> Response:
        name = request.path_params["name"]
        if bot.config.journey(name) is None or not may_read(who, name):
            return JSONResponse({"error": f"no journey {name!r}"}, status_code=404)
        return JSONResponse(await run_in_threadpool(journey_json, bot, name))

    async def post_change(request: Request, who: Principal) -> Response:
        grant: Grant | None = getattr(request.state, "grant", None)
        if grant is None and not may_post_changes(who):
            return forbidden(
                f"a {who.role.label} of some journeys posts no changes; use an unscoped "
                "responder or an ingest key with the changes scope"
            )
        try:
            given = ChangeIn.model_validate_json(await request.body())
            time_ns = parse_time_ns(str(given.time)) if given.time is not None else time.time_ns()
        except ValidationError as exc:
            first = exc.errors()[0]
            return _bad(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        except ValueError as exc:
            return _bad(f"time: {exc}")
        if grant is not None and not grant.may_send(given.service):
            refused = f"ingest key {grant.key_id} may not post changes of service {given.service[:100]!r}"
            return JSONResponse({"error": refused}, status_code=403)
        change = Change(given.service, given.kind, time_ns, given.version, given.link, given.description)
        change_id = await run_in_threadpool(bot.changes.add, change)
        role = audit_detail(who) if grant is None else {}  # an ingest key has no role
        await audited(who, "create", "change", str(change_id), service=given.service, kind=given.kind, **role)
        return JSONResponse({"id": change_id, **change_to_json(change)}, status_code=201)

    return [
        Route("/api/incidents", guarded(list_incidents), methods=["GET"]),
        Route("/api/incidents/{incident_id}", guarded(get_incident), methods=["GET"]),
        Route(
            "/api/incidents/{incident_id}/investigate", writes(reinvestigate, body=False), methods=["POST"]
        ),
        Route("/api/journeys", guarded(journeys), methods=["GET"]),
        Route("/api/journeys/{name}", guarded(journey), methods=["GET"]),
        Route("/api/changes", keyed(post_change), methods=["POST"]),
    ]


def _journeys(bot: Bot, names: list[str]) -> list[dict[str, Any]]:
    return [journey_json(bot, name) for name in names]


def _id(request: Request) -> int | None:
    """The id in the path, or None when it is not one an incident can have (ids are
    64-bit: a larger number would fail the query, not find nothing)."""
    text = request.path_params["incident_id"]
    return int(text) if text.isdigit() and len(text) <= 18 else None


def _bad(reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=400)
