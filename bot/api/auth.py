"""Bearer-token guard for the read API and pages.

Ingest endpoints are not guarded here: SDKs on the same host or network send to them,
and they only accept data. Reads expose traces, so they are.
"""

from __future__ import annotations

import hmac

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse


def refusal(request: Request, token: SecretStr | None) -> JSONResponse | None:
    """A 401 response when the request lacks the configured token, else None."""
    if token is None:
        return None
    expected = token.get_secret_value().encode()
    header = request.headers.get("authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    given = given or request.query_params.get("token", "")
    if given and hmac.compare_digest(given.encode(), expected):
        return None
    return JSONResponse(
        {"error": "missing or wrong token; send Authorization: Bearer <token>"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )
