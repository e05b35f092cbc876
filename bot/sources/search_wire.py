"""The wire under the log source: Elasticsearch's own client, or OpenSearch's.

Queries (bool filters, ranges, sorts, ``_msearch``) and documents are the same on both
servers; the clients are not interchangeable. Elasticsearch's 8/9 clients refuse any
server that does not answer ``X-Elastic-Product: Elasticsearch``, which OpenSearch never
sends; and OpenSearch does not know Elasticsearch's versioned media types
(``compatible-with=8``), so it is reached through opensearch-py with plain JSON.

Every request asks Elasticsearch for ``compatible-with=8`` explicitly. The 9.x client
would otherwise send ``compatible-with=9``, which every 8.x server refuses with a 400
``media_type_header_exception``; a 9.x server accepts 8 as well (REST API compatibility
covers one major back), so one setting reaches both.

A wire's failure is a :class:`WireError` with a reason a person can act on; the source
turns it into a :class:`~correlators.errors.DataSourceError` naming its query. Each wire
imports its client when it is used: a team runs one of the two, and each is tens of MB.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol

import orjson

from bot.settings import SourceCredentials
from correlators.errors import ConfigError

Flavor = Literal["elasticsearch", "opensearch"]

COMPATIBLE_WITH = 8
_ES_JSON = f"application/vnd.elasticsearch+json; compatible-with={COMPATIBLE_WITH}"
_ES_NDJSON = f"application/vnd.elasticsearch+x-ndjson; compatible-with={COMPATIBLE_WITH}"


class WireError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Wire(Protocol):
    def post(self, path: str, body: Any, *, ndjson: bool, timeout: float) -> Any:
        """POST ``body`` (a JSON object, or for ``ndjson`` a list of them) to ``path``
        and return the decoded answer; raises :class:`WireError`."""
        ...

    def close(self) -> None: ...


def open_wire(flavor: Flavor, url: str, credentials: SourceCredentials, timeout: float) -> Wire:
    if flavor == "opensearch":
        return OpenSearchWire(url, credentials, timeout)
    return ElasticsearchWire(url, credentials, timeout)


class ElasticsearchWire:
    def __init__(self, url: str, credentials: SourceCredentials, timeout: float) -> None:
        from elasticsearch import Elasticsearch

        self._timeout = timeout
        self._client = Elasticsearch(
            url, request_timeout=timeout, max_retries=0, retry_on_timeout=False, **_es_auth(credentials)
        )

    def post(self, path: str, body: Any, *, ndjson: bool, timeout: float) -> Any:
        from elasticsearch import ApiError, TransportError

        headers = {"accept": _ES_JSON, "content-type": _ES_NDJSON if ndjson else _ES_JSON}
        try:
            response = self._client.options(request_timeout=timeout).perform_request(
                "POST", path, headers=headers, body=body
            )
        except (ApiError, TransportError) as exc:
            raise WireError(self._reason(exc)) from exc
        return response.body

    def close(self) -> None:
        self._client.close()

    def _reason(self, exc: Exception) -> str:
        from elasticsearch import ApiError, ConnectionTimeout, UnsupportedProductError

        if isinstance(exc, UnsupportedProductError):
            return (
                "the server did not answer X-Elastic-Product: Elasticsearch, so the client refused it "
                "(for OpenSearch, set sources.logs: opensearch)"
            )
        if isinstance(exc, ConnectionTimeout):
            return f"no answer within {self._timeout:g}s"
        if isinstance(exc, ApiError):
            body = exc.body if isinstance(exc.body, dict) else {}
            return error_text(exc.status_code, body.get("error", exc.message))
        return f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"


class OpenSearchWire:
    def __init__(self, url: str, credentials: SourceCredentials, timeout: float) -> None:
        from opensearchpy import OpenSearch

        if credentials.elasticsearch_api_key is not None:
            raise ConfigError(
                "OpenSearch takes basic auth (JOURNEYWATCH_SOURCES__ELASTICSEARCH_USERNAME and "
                "..._PASSWORD), not an Elasticsearch API key"
            )
        basic = _basic_auth(credentials)
        auth: dict[str, Any] = {"http_auth": basic} if basic else {}
        self._timeout = timeout
        self._client = OpenSearch(hosts=[url], timeout=timeout, max_retries=0, retry_on_timeout=False, **auth)

    def post(self, path: str, body: Any, *, ndjson: bool, timeout: float) -> Any:
        from opensearchpy import TransportError

        if ndjson:
            body = b"".join(orjson.dumps(line) + b"\n" for line in body)
        headers = {
            "accept": "application/json",
            "content-type": "application/x-ndjson" if ndjson else "application/json",
        }
        try:
            return self._client.transport.perform_request(
                "POST", path, body=body, timeout=timeout, headers=headers
            )
        except TransportError as exc:
            raise WireError(self._reason(exc)) from exc

    def close(self) -> None:
        self._client.close()

    def _reason(self, exc: Any) -> str:
        from opensearchpy import ConnectionTimeout

        if isinstance(exc, ConnectionTimeout):
            return f"no answer within {self._timeout:g}s"
        if isinstance(exc.status_code, int):
            info = exc.info if isinstance(exc.info, Mapping) else {}
            return error_text(exc.status_code, info.get("error", exc.error))
        return f"{type(exc).__name__}: {exc.error}"


def error_text(status: object, error: Any) -> str:
    """``HTTP 400 search_phase_execution_exception: reason``, from an error object (both
    servers write the same shape)."""
    if isinstance(error, Mapping):
        causes = error.get("root_cause") or []
        first = causes[0] if causes and isinstance(causes[0], Mapping) else error
        kind = first.get("type") or error.get("type") or "error"
        reason = first.get("reason") or error.get("reason") or ""
        caused_by = error.get("caused_by")
        if isinstance(caused_by, Mapping) and caused_by.get("reason"):
            reason = f"{reason} ({caused_by['reason']})" if reason else str(caused_by["reason"])
        return f"HTTP {status} {kind}: {reason}".rstrip(": ")
    return f"HTTP {status}: {error}"


def _es_auth(credentials: SourceCredentials) -> dict[str, Any]:
    """An API key wins over basic auth when both are set (the client refuses both)."""
    if credentials.elasticsearch_api_key is not None:
        return {"api_key": credentials.elasticsearch_api_key.get_secret_value()}
    basic = _basic_auth(credentials)
    return {"basic_auth": basic} if basic else {}


def _basic_auth(credentials: SourceCredentials) -> tuple[str, str] | None:
    """User and password for either server (the same environment variables)."""
    if not credentials.elasticsearch_username:
        return None
    password = credentials.elasticsearch_password
    return credentials.elasticsearch_username, password.get_secret_value() if password else ""
