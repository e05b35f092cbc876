"""The token guard of the pages: a bearer header for scripts, ``?token=`` once for people.

A person opens a link from Slack in a browser, which cannot send a header; so a page
(every one is a GET) opened with ``?token=`` sets a cookie and redirects to the same address without the
token, keeping it out of the history, the address bar and any Referer. The cookie holds
an HMAC of the token rather than the token itself: it opens the pages but is no bearer
token for the API, and changing the token signs everyone out. It is HttpOnly (no script
reads it) and SameSite=Strict (no other site's link or form sends it). The header is
matched as the API matches it (``bot.keys.header.bearer``), which takes no ``?token=``.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.keys.header import bearer
from bot.web import text
from bot.web.templating import render

COOKIE = "journeywatch_session"
_COOKIE_PURPOSE = b"journeywatch web pages v1"


class PageGuard:
    """Decides, per request, whether a page may be shown; None from :meth:`check` means yes."""

    def __init__(self, token: SecretStr | None) -> None:
        self._secret = token
        self._token = token.get_secret_value().encode() if token is not None else None

    def check(self, request: Request) -> Response | None:
        """None to go on, a redirect that sets the cookie, or the 401 page.

        A token that is given must be right: a wrong ``?token=`` or header is refused
        even when a good cookie is present, so a mistyped token never passes unnoticed.
        """
        if self._secret is None:
            return None
        query = request.query_params.get("token")
        if query is not None:
            return self._remember(request) if self._is_token(query) else refusal(request, wrong=True)
        header = request.headers.get("authorization")
        if header is not None:
            given = bearer(header)
            return None if given is not None and self._is_token(given) else refusal(request, wrong=True)
        if has_cookie(request, self._secret):
            return None
        return refusal(request)  # no cookie, or one from before the token changed

    def _is_token(self, given: str) -> bool:
        assert self._token is not None
        return bool(given) and hmac.compare_digest(given.encode(), self._token)

    def _remember(self, request: Request) -> Response:
        assert self._secret is not None
        clean = request.url.remove_query_params("token")
        target = clean.path + (f"?{clean.query}" if clean.query else "")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            cookie_value(self._secret),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path=request.scope.get("root_path", "") or "/",
        )
        return response


def cookie_value(token: SecretStr) -> str:
    """What the cookie holds for ``token``: an HMAC of a fixed purpose under it."""
    return hmac.new(token.get_secret_value().encode(), _COOKIE_PURPOSE, hashlib.sha256).hexdigest()


def has_cookie(request: Request, token: SecretStr) -> bool:
    """Whether the request carries the cookie a ``?token=`` visit set (the read API may
    accept it too: SameSite=Strict keeps other sites from sending it)."""
    given = request.cookies.get(COOKIE)
    return given is not None and hmac.compare_digest(given.encode(), cookie_value(token).encode())


def refusal(request: Request, *, wrong: bool = False) -> Response:
    """The small 401 page: what is needed and how to give it, nothing about what is behind."""
    response = render(
        request,
        "refused.html",
        status_code=401,
        title=text.REFUSED_TITLE,
        wrong=wrong,
    )
    response.headers["WWW-Authenticate"] = "Bearer"
    return response
