"""uvicorn's configuration for the bot's app, with the limits of the HTTP edge."""

from __future__ import annotations

import uvicorn
from starlette.types import ASGIApp

from bot.edge.connections import ConnectionLimits, effective_connection_limit, guarded_protocol
from bot.settings import HttpSettings


def server_config(app: ASGIApp, http: HttpSettings, log_level: str) -> uvicorn.Config:
    """uvicorn's configuration for the bot's app, with every limit of ``http``."""
    limits = ConnectionLimits(
        header_timeout_s=http.header_timeout_s,
        body_timeout_s=http.body_timeout_s,
        max_header_bytes=http.max_header_bytes,
        max_connections=effective_connection_limit(http.max_connections),
    )
    return uvicorn.Config(
        app,
        http=guarded_protocol(limits),
        timeout_keep_alive=http.keep_alive_timeout_s,
        log_level=log_level.lower(),
        access_log=False,
    )
