"""The guard of the pages: a bearer header for scripts, ``?token=`` once for people.

A person opens a link from Slack in a browser, which cannot send a header; so a page
(every one is a GET) opened with ``?token=`` sets a cookie and redirects to the same address without the
token, keeping it out of the history, the address bar and any Referer. The cookie holds
an HMAC rather than the credential itself: it opens the pages but is no bearer token for
the API, and changing the API token signs everyone out. For the API token it is an HMAC
of a fixed purpose under the token; for an access key (``journeywatch keys create
--role``), the key's id and an HMAC of it under the API token, so the cookie still names
the key's principal (``bot.keys.readers``) and ends as soon as the key is revoked or
expires (it is looked up at each request, as the API's header is). It is HttpOnly (no
script reads it) and SameSite=Strict (no other site's link or form sends it). The header
is matched as the API matches it (``bot.keys.header.bearer``), which takes no ``?token=``.

With no API token configured (the demo's setting) there is nothing to sign a cookie
with and the pages are open: a request without a header is ``anonymous``.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.keys.header import bearer
from bot.keys.readers import Readers
from bot.keys.registry import split_key
from bot.policy import Principal
from bot.web import text
from bot.web.templating import render
from correlators.errors import NotPermitted, Unauthenticated

COOKIE = "journeywatch_session"
_COOKIE_PURPOSE = b"journeywatch web pages v1"
_KEY_PURPOSE = b"journeywatch web pages, access key v1:"


class PageGuard:
    """Decides, per request, who a page is shown to."""

    def __init__(self, readers: Readers) -> None:
        self.readers = readers

    async def check(self, request: Request) -> Principal | Response:
        """The principal, a redirect that sets the cookie, or the 401 page.

        A credential that is given must be right: a wrong ``?token=`` or header is
        refused even when a good cookie is present, so a mistyped token never passes
        unnoticed.
        """
        token = self.readers.token
        query = request.query_params.get("token")
        if query is not None and token is not None:
            return await self._remember(request, query, token)
        header = request.headers.get("authorization")
        if header is not None:
            return await self._presented(request, bearer(header) or "")
        if token is None:
            return await self._presented(request, None)
        return await self._from_cookie(request, token)

    async def _presented(self, request: Request, given: str | None) -> Principal | Response:
        try:
            found = await self.readers.presenting(given)
        except Unauthenticated:
            return refusal(request, wrong=True)
        except NotPermitted:
            return refusal(request, wrong=True, sends_only=True)
        return refusal(request, wrong=True) if found is None else found

    async def _from_cookie(self, request: Request, token: SecretStr) -> Principal | Response:
        given = request.cookies.get(COOKIE)
        if given is None:
            return refusal(request)
        if hmac.compare_digest(given.encode(), cookie_value(token).encode()):
            return self.readers.admin()
        key_id, _, _ = given.partition(".")
        if not hmac.compare_digest(given.encode(), key_cookie_value(token, key_id).encode()):
            return refusal(request)  # from before the token changed, or made up
        try:
            return await self.readers.principal_of_id(key_id)
        except (Unauthenticated, NotPermitted):
            return refusal(request)  # revoked or expired since

    async def _remember(self, request: Request, given: str, token: SecretStr) -> Response:
        principal = await self._presented(request, given)
        if isinstance(principal, Response):
            return principal
        parts = split_key(given)
        value = cookie_value(token) if parts is None else key_cookie_value(token, parts[0])
        clean = request.url.remove_query_params("token")
        target = clean.path + (f"?{clean.query}" if clean.query else "")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            value,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path=request.scope.get("root_path", "") or "/",
        )
        return response


def cookie_value(token: SecretStr) -> str:
    """What the cookie holds for the API token: an HMAC of a fixed purpose under it."""
    return hmac.new(token.get_secret_value().encode(), _COOKIE_PURPOSE, hashlib.sha256).hexdigest()


def key_cookie_value(token: SecretStr, key_id: str) -> str:
    """What the cookie holds for an access key: its id and an HMAC of it under the token
    (only this server can make one; the key's secret is in neither)."""
    mac = hmac.new(token.get_secret_value().encode(), _KEY_PURPOSE + key_id.encode(), hashlib.sha256)
    return f"{key_id}.{mac.hexdigest()}"


def refusal(request: Request, *, wrong: bool = False, sends_only: bool = False) -> Response:
    """The small 401 page (403 for a key that only sends): what is needed and how to
    give it, nothing about what is behind."""
    said = text.REFUSED_SENDS_ONLY if sends_only else text.REFUSED_WRONG if wrong else None
    response = render(
        request,
        "refused.html",
        status_code=403 if sends_only else 401,
        title=text.REFUSED_TITLE,
        wrong=said,
    )
    response.headers["WWW-Authenticate"] = "Bearer"
    return response
