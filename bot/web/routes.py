"""The pages' routes. Handlers are thin: they check the token, read in a worker thread
(store and database calls block, and ingest shares the event loop), and render.

GET /                     redirect to /journeys
GET /journeys[/{name}]    objectives, burn per tier with sparklines, budget left, open incident;
                          one journey's page also where its time goes and what would win it back
GET /incidents[/{id}]     the list; one incident's timeline, report and kept Slack messages
GET /traces/{id}[.png]    the waterfall with span details and logs; the PNG for Slack links
GET /sessions/{key}       a user's or session's journeys and traces, in order
GET /quarantine           what the database refused to store, with its reasons
GET /releases             each service's versions with their verdict against the one before
GET /investigations/{id}  an on-demand investigation's report
GET /audit                the audit trail; an admin page: the API token or an admin key
/static/...               the stylesheet and script (not guarded: nothing in them is private)

Each page that shows a trace, a session, an incident, an investigation, the quarantine
or the audit trail is written to the audit trail once it has been read (``bot.audit``).
What a page shows is its reader's scope (``bot.policy``), as the API's answers are: a
journey, incident, investigation or trace out of it is "not found" (404), and lists
leave out what is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.durations import parse_duration
from bot.incidents.ondemand import OnDemandReports
from bot.journey_advice import AdviceCache, Ranked
from bot.keys.readers import Readers, audit_detail
from bot.policy import Principal, may_administer, may_read, readable
from bot.releases import Release, ReleaseLog
from bot.render.waterfall import render_png
from bot.web import text
from bot.web.auth import PageGuard
from bot.web.incidents import STATUSES, incident_list, incident_page
from bot.web.journeys import journey_view, journey_views
from bot.web.releases import release_journeys, release_rows
from bot.web.sessions import read_session
from bot.web.templating import render
from bot.web.traces import TRACE_ID, read_trace
from bot.wiring import Bot
from correlators.errors import DataSourceError, JourneywatchError

log = logging.getLogger("journeywatch.web")

STATIC = Path(__file__).parent / "static"
Handler = Callable[[Request], Awaitable[Response]]
PageHandler = Callable[[Request, Principal], Awaitable[Response]]
MAX_ID_DIGITS = 18
"""Longer ids cannot be incidents, and would overflow the database's integer."""
QUARANTINE_SHOWN = 200
AUDIT_SHOWN = 1000
RELEASES_SHOWN = 500
AUDIT_DEFAULT_SINCE = "7d"


def web_routes(bot: Bot, readers: Readers) -> list[BaseRoute]:
    guard = PageGuard(readers)
    pages = Pages(bot)

    def page(handler: PageHandler) -> Handler:
        async def guarded(request: Request) -> Response:
            who = await guard.check(request)
            if isinstance(who, Response):
                return who
            try:
                return await handler(request, who)
            except DataSourceError:
                log.exception("page %s failed", request.url.path)
                return error_page(request, 503, text.STORE_FAILED_TITLE, text.STORE_FAILED)

        return guarded

    return [
        Route("/", page(pages.home), methods=["GET"]),
        Route("/journeys", page(pages.journeys), methods=["GET"]),
        Route("/journeys/{name}", page(pages.journey), methods=["GET"]),
        Route("/incidents", page(pages.incidents), methods=["GET"]),
        Route("/incidents/{incident_id}", page(pages.incident), methods=["GET"]),
        Route("/traces/{trace_id}.png", page(pages.trace_png), methods=["GET"]),
        Route("/traces/{trace_id}", page(pages.trace), methods=["GET"]),
        Route("/sessions/{key}", page(pages.session), methods=["GET"]),
        Route("/quarantine", page(pages.quarantine), methods=["GET"]),
        Route("/releases", page(pages.releases), methods=["GET"]),
        Route("/investigations/{investigation_id}", page(pages.investigation), methods=["GET"]),
        Route("/audit", page(pages.audit), methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="web-static"),
    ]


class Pages:
    """One handler per page, sharing the bot; each is given who reads it."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        advice = bot.settings.advice
        self.advice = AdviceCache(
            bot.sources.traces,
            window_s=advice.page_window_hours * 3600,
            limit=advice.page_traces,
            refresh_s=advice.page_refresh_s,
        )

    async def _audited(
        self, who: Principal, action: str, subject: str, subject_id: str = "", **detail: str | int
    ) -> None:
        """After the page's read, before it is sent; never fails the page (``AuditTrail.record``)."""
        audit = self.bot.audit.record
        detail.update(audit_detail(who))
        await run_in_threadpool(audit, who.actor, "page", action, subject, subject_id, **detail)

    async def home(self, request: Request, _: Principal) -> Response:
        return RedirectResponse(f"{request.scope.get('root_path', '')}/journeys", status_code=302)

    async def journeys(self, request: Request, who: Principal) -> Response:
        names = readable(who, (j.name for j in self.bot.config.journeys))
        views = await run_in_threadpool(journey_views, self.bot, names)
        return render(request, "journeys.html", title="Journeys", journeys=views)

    async def journey(self, request: Request, who: Principal) -> Response:
        name = request.path_params["name"]
        if self.bot.config.journey(name) is None or not may_read(who, name):
            return error_page(request, 404, text.NOT_FOUND_TITLE, text.not_found(f"journey {name!r}"))
        view = await run_in_threadpool(journey_view, self.bot, name)
        found = await run_in_threadpool(incident_list, self.bot, None, name, who.journeys)
        ranked = await run_in_threadpool(self._ranked, name, view.evaluated_at or time.time())
        return render(
            request, "journey.html", title=f"Journey {name}", journey=view, incidents=found, ranked=ranked
        )

    def _ranked(self, name: str, end_s: float) -> Ranked | None:
        """The journey's advice, up to its last evaluation (as the sparklines are); None
        when the traces could not be read, which costs the page that section only."""
        journey = self.bot.config.journey(name)
        assert journey is not None
        try:
            return self.advice.of(journey, end_s)
        except JourneywatchError:
            log.exception("advice for journey %s not worked out", name)
            return None

    async def incidents(self, request: Request, who: Principal) -> Response:
        status = request.query_params.get("status") or None
        if status is not None and status not in STATUSES:
            status = None
        journey = request.query_params.get("journey") or None
        found = await run_in_threadpool(incident_list, self.bot, status, journey, who.journeys)
        filters = [
            (label, _relative(request.url.include_query_params(status=value)), value == (status or ""))
            for value, label in text.STATUS_FILTERS.items()
        ]
        return render(
            request, "incidents.html", title="Incidents", incidents=found, filters=filters, journey=journey
        )

    async def incident(self, request: Request, who: Principal) -> Response:
        given = request.path_params["incident_id"]
        valid = given.isdigit() and len(given) <= MAX_ID_DIGITS
        found = await run_in_threadpool(incident_page, self.bot, int(given), who.journeys) if valid else None
        if found is None or not may_read(who, found.incident["journey"]):
            return error_page(request, 404, text.NOT_FOUND_TITLE, text.not_found(f"incident {given}"))
        await self._audited(who, "read", "incident", given)
        return render(request, "incident.html", title=f"Incident #{given}", page=found)

    async def investigation(self, request: Request, who: Principal) -> Response:
        given = request.path_params["investigation_id"]
        valid = given.isdigit() and len(given) <= MAX_ID_DIGITS
        reports = OnDemandReports(self.bot.store.engine)
        found = await run_in_threadpool(reports.get, int(given)) if valid else None
        if found is None or not may_read(who, found.journey):
            return error_page(request, 404, text.NOT_FOUND_TITLE, text.not_found(f"investigation {given}"))
        await self._audited(who, "read", "investigation", given)
        return render(request, "investigation.html", title=f"Investigation #{given}", page=found)

    async def trace(self, request: Request, who: Principal) -> Response:
        trace_id = request.path_params["trace_id"].lower()
        view = (
            await run_in_threadpool(read_trace, self.bot.store, trace_id)
            if TRACE_ID.match(trace_id)
            else None
        )
        if view is None or not may_read(who, view.trace.journey):
            return error_page(request, 404, text.NOT_FOUND_TITLE, text.not_found(f"kept trace {trace_id}"))
        citing = await run_in_threadpool(self.bot.incidents.citing, trace_id)
        incidents = [i for i in citing if may_read(who, i["journey"])]
        await self._audited(who, "read", "trace", trace_id)
        return render(request, "trace.html", title=f"Trace {trace_id[:16]}", view=view, incidents=incidents)

    async def trace_png(self, request: Request, who: Principal) -> Response:
        trace_id = request.path_params["trace_id"].lower()
        found = (
            await run_in_threadpool(self.bot.store.get_trace, trace_id) if TRACE_ID.match(trace_id) else None
        )
        if found is None or not found.spans or not may_read(who, found.journey):
            return error_page(request, 404, text.NOT_FOUND_TITLE, text.not_found(f"kept trace {trace_id}"))
        png = await run_in_threadpool(render_png, found)
        await self._audited(who, "read", "trace", trace_id, picture=1)
        # late spans may still join a kept trace, so caches keep the picture only briefly
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=60"})

    async def session(self, request: Request, who: Principal) -> Response:
        key = request.path_params["key"]
        view = await run_in_threadpool(
            read_session, self.bot.store, self.bot.collector.redactor, key, self.bot.config, who
        )
        await self._audited(who, "read", "session", key, traces=len(view.traces))
        return render(request, "session.html", title=f"Session {key}", view=view)

    async def quarantine(self, request: Request, who: Principal) -> Response:
        """Rows of no journey yet (refused before a journey was known): every journey's reader's."""
        if not may_read(who, None):
            return error_page(request, 404, text.NOT_FOUND_TITLE, text.not_found("quarantine"))
        total, entries = await run_in_threadpool(self.bot.store.quarantined, QUARANTINE_SHOWN)
        await self._audited(who, "read", "quarantine", shown=len(entries))
        return render(request, "quarantine.html", title=text.QUARANTINE_TITLE, total=total, entries=entries)

    async def releases(self, request: Request, who: Principal) -> Response:
        """A release is shown to readers of a journey whose critical path its compared
        operations lie on; one that touched none (a first version, one not judged yet)
        belongs to no journey, and only a reader of every journey sees it."""
        listed = await run_in_threadpool(ReleaseLog(self.bot.store.engine).listed, RELEASES_SHOWN)
        shown = [r for r in listed if _may_read_release(who, r)]
        await self._audited(who, "read", "releases", shown=len(shown))
        return render(request, "releases.html", title=text.RELEASES_TITLE, services=release_rows(shown))

    async def audit(self, request: Request, who: Principal) -> Response:
        """An admin page: the API token's or an admin key's. With no token configured (the
        demo's setting) the open pages' anonymous reader is no admin, so it stays shut."""
        if not may_administer(who):
            return error_page(request, 403, text.AUDIT_ADMIN_ONLY_TITLE, text.AUDIT_ADMIN_ONLY)
        given = request.query_params.get("since") or AUDIT_DEFAULT_SINCE
        try:
            since_s = parse_duration(given)
        except ValueError:
            given, since_s = AUDIT_DEFAULT_SINCE, parse_duration(AUDIT_DEFAULT_SINCE)
        now = self.bot.audit.clock()
        entries = await run_in_threadpool(self.bot.audit.since, now - since_s, limit=AUDIT_SHOWN)
        await self._audited(who, "read", "audit_log", shown=len(entries))
        return render(
            request, "audit.html", title=text.AUDIT_TITLE, entries=entries, since=given, shown=AUDIT_SHOWN
        )


def _may_read_release(who: Principal, release: Release) -> bool:
    journeys = release_journeys(release)
    return any(may_read(who, j) for j in journeys) if journeys else may_read(who, None)


def _relative(url: URL) -> str:
    """Path and query only: a link built from the Host header would point wherever it says."""
    return url.path + (f"?{url.query}" if url.query else "")


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "error.html", status_code=status, title=title, message=message)
