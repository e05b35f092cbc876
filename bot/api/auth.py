"""The guards of the API: who may call it, and what a browser cannot be made to send.

Ingest endpoints are not guarded here: SDKs on the same host or network send to them,
and they only accept data. Reads expose traces, so they take a credential (the API
token, an admin, or an access key with a role: ``bot.keys.readers``), as an
``Authorization: Bearer`` header only; what the principal may then read or do is
``bot.policy``'s to say, and the handlers ask it: a token in the address (``?token=``) is written
to access logs, proxies and shell history, and only the pages take one, once, for a
person following a link (``bot.web.auth``). The pages match the header with
:func:`bearer` too, so both take what RFC 7235 allows (the scheme in any case).

A state-changing request (``POST``) must moreover be one a page on another site cannot
send: with the token off (``JOURNEYWATCH_REQUIRE_TOKEN=false``, the demo's setting) a
form or a ``no-cors`` fetch elsewhere could otherwise post changes and start
investigations from the browser of anyone on the network. Such a browser request comes
with another ``Origin`` (or ``Sec-Fetch-Site: cross-site``), and without a CORS preflight
(which we never answer) its body can only be a form, ``text/plain`` or undeclared; so a
request from another origin is refused, and so is a body not declared
``application/json``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse

from bot.keys.header import bearer
from bot.keys.readers import Readers
from bot.policy import Principal
from correlators.errors import NotPermitted, Unauthenticated

SEND = "send Authorization: Bearer <token>"
SEND_HEADER = f"missing or wrong token; {SEND}"
NOT_IN_ADDRESS = "the API takes its token as Authorization: Bearer <token>, never as ?token="
FOREIGN_ORIGIN = "refused: sent from another site's page ({origin}); call the API from a script"
NOT_JSON = "send the body as JSON, with Content-Type: application/json"
_SAFE_FETCH_SITES = ("same-origin", "none")


async def admitted(request: Request, readers: Readers) -> Principal | JSONResponse:
    """Who the request is from, or the 401 (no, a wrong, revoked or expired credential)
    or 403 (a key that only sends) to answer instead."""
    given = bearer(request.headers.get("authorization"))
    try:
        found = await readers.presenting(given)
    except Unauthenticated as exc:
        return _unauthenticated(f"{exc}; {SEND}")
    except NotPermitted as exc:
        return JSONResponse({"error": str(exc)}, status_code=403)
    if found is not None:
        return found
    in_address = "token" in request.query_params and not given
    return _unauthenticated(NOT_IN_ADDRESS if in_address else SEND_HEADER)


def not_found(what: str) -> JSONResponse:
    """A read out of the principal's scope answers as one of nothing (``bot.policy``)."""
    return JSONResponse({"error": f"{what} not found"}, status_code=404)


def forbidden(reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=403)


def _unauthenticated(reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def cross_site_refusal(request: Request, public_url: str, *, body: bool) -> JSONResponse | None:
    """A 403 for a state-changing request from another origin, a 415 for one with a body
    (``body``: the route reads one) or a declared content type that is not JSON."""
    origin = request.headers.get("origin")
    if origin is not None and not _own_origin(request, origin, public_url):
        return JSONResponse({"error": FOREIGN_ORIGIN.format(origin=origin[:200])}, status_code=403)
    fetch_site = request.headers.get("sec-fetch-site", "same-origin")
    if fetch_site not in _SAFE_FETCH_SITES:
        refused = FOREIGN_ORIGIN.format(origin=f"Sec-Fetch-Site: {fetch_site[:50]}")
        return JSONResponse({"error": refused}, status_code=403)
    declared = request.headers.get("content-type")
    if (body or declared is not None) and not _is_json(declared):
        return JSONResponse({"error": NOT_JSON}, status_code=415)
    return None


def _own_origin(request: Request, origin: str, public_url: str) -> bool:
    """The origin people reach us at, or the host the request was sent to (a proxy in
    front may speak https for us, so the host alone counts there)."""
    given = urlsplit(origin)
    ours = urlsplit(public_url)
    if (given.scheme, given.netloc) == (ours.scheme, ours.netloc):
        return True
    host = request.headers.get("host")
    return given.scheme in ("http", "https") and host is not None and given.netloc == host


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json"
