"""The HTTP client the JSON-speaking backends share (Jaeger, Tempo): a base URL, JSON
accepted, an optional bearer token from the environment, headers of the backend's own
(Tempo's tenant), one timeout per request."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from pydantic import SecretStr


def json_client(
    url: str, token: SecretStr | None, timeout: float, extra_headers: Mapping[str, str] | None = None
) -> httpx.Client:
    headers = {"Accept": "application/json", **(extra_headers or {})}
    if token is not None:
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    return httpx.Client(base_url=url, headers=headers, timeout=timeout)
