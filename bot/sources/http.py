"""The HTTP client the JSON-speaking backends share (Jaeger, Tempo, Loki): a base URL,
JSON accepted, an optional bearer token or basic auth from the environment, headers of
the backend's own (a tenant), one timeout per request."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from pydantic import SecretStr


def json_client(
    url: str,
    token: SecretStr | None,
    timeout: float,
    extra_headers: Mapping[str, str] | None = None,
    basic: tuple[str, str] | None = None,
) -> httpx.Client:
    """A bearer ``token`` wins over ``basic`` (user, password) when both are given."""
    headers = {"Accept": "application/json", **(extra_headers or {})}
    if token is not None:
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    auth = httpx.BasicAuth(*basic) if basic is not None and token is None else None
    return httpx.Client(base_url=url, headers=headers, timeout=timeout, auth=auth)
