"""The Prometheus HTTP API as the Prometheus source needs it: instant, range, exemplars.

Instant and range queries go through prometheus-api-client; exemplars through httpx,
because the library has no ``/api/v1/query_exemplars``. Whatever goes wrong on the way
(refused connection, timeout, HTTP error, a PromQL error) leaves as one
:class:`~correlators.errors.DataSourceError` naming ``prometheus <url>`` and the PromQL.
Answers come back as plain data (labels, floats, nanoseconds), never library objects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from pydantic import SecretStr
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.retry import Retry

from correlators.errors import DataSourceError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class RangeSeries:
    labels: dict[str, str]
    points: list[tuple[int, float]]
    """(time in ns, value), as Prometheus returned them (NaN included)."""


@dataclass(frozen=True, slots=True)
class SeriesExemplar:
    series: dict[str, str]
    labels: dict[str, str]
    value: float
    time_ns: int


class PrometheusClient:
    """The three calls the sources need, each with its own timeout in seconds."""

    def __init__(self, url: str, token: SecretStr | None = None, *, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.source = f"prometheus {self.url}"
        self.timeout_s = timeout_s
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
        session = requests.Session()
        session.hooks["response"].append(_raise_for_status)
        # No retries: a retry with back-off would outlast the caller's timeout, and the
        # watcher asks again at its next evaluation anyway. read=False lets a read timeout
        # surface as a timeout, not as urllib3's "max retries exceeded".
        self._connect = PrometheusConnect(
            url=self.url, headers=headers, session=session, retry=Retry(total=0, read=False)
        )
        self._http = httpx.Client(base_url=self.url, headers=headers)

    def close(self) -> None:
        self._connect.close()
        self._http.close()

    def instant(self, query: str, at_s: float, timeout_s: float | None = None) -> list[Sample]:
        """An instant query evaluated at ``at_s``; a scalar answer is one unlabelled sample."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        params = {"time": f"{at_s:.3f}", "timeout": f"{timeout:g}"}

        def run() -> list[Sample]:
            result = self._connect.custom_query(query, params, timeout)
            if result and not isinstance(result[0], dict):  # a scalar: [time, "value"]
                return [Sample({}, float(result[1]))]
            return [Sample(dict(r["metric"]), float(r["value"][1])) for r in result or ()]

        return self._call(query, timeout, run)

    def range(
        self, query: str, start_s: float, end_s: float, step_s: int, timeout_s: float | None = None
    ) -> list[RangeSeries]:
        timeout = self.timeout_s if timeout_s is None else timeout_s
        start, end = datetime.fromtimestamp(start_s, UTC), datetime.fromtimestamp(end_s, UTC)
        params = {"timeout": f"{timeout:g}"}

        def run() -> list[RangeSeries]:
            result = self._connect.custom_query_range(query, start, end, f"{step_s}s", params, timeout)
            return [
                RangeSeries(dict(r["metric"]), [(_ns(t), float(v)) for t, v in r["values"]])
                for r in result or ()
            ]

        return self._call(query, timeout, run)

    def exemplars(
        self, query: str, start_s: float, end_s: float, timeout_s: float | None = None
    ) -> list[SeriesExemplar]:
        timeout = self.timeout_s if timeout_s is None else timeout_s
        params = {"query": query, "start": f"{start_s:.3f}", "end": f"{end_s:.3f}"}

        def run() -> list[SeriesExemplar]:
            response = self._http.get("/api/v1/query_exemplars", params=params, timeout=timeout)
            if response.status_code != 200:
                raise _ApiError(response.status_code, response.text)
            return [
                SeriesExemplar(
                    dict(s["seriesLabels"]), dict(e["labels"]), float(e["value"]), _ns(e["timestamp"])
                )
                for s in response.json()["data"] or ()
                for e in s.get("exemplars") or ()
            ]

        return self._call(query, timeout, run)

    def _call(self, query: str, timeout: float, call: Callable[[], T]) -> T:
        try:
            return call()
        except (requests.Timeout, httpx.TimeoutException):
            reason = f"no answer within {timeout:g} s"
        except (requests.ConnectionError, httpx.TransportError, Urllib3Error) as exc:
            reason = f"cannot connect ({_errno_text(str(exc))})"
        except _ApiError as exc:
            reason = exc.reason
        except PrometheusApiClientException as exc:  # our hook answers first; kept as a net
            reason = str(exc)[:200]
        except (requests.RequestException, ValueError, KeyError, TypeError, IndexError) as exc:
            reason = f"not a Prometheus API answer ({type(exc).__name__})"
        raise DataSourceError(self.source, query, reason)


def _ns(timestamp: float | str) -> int:
    """Prometheus timestamps are seconds with millisecond precision."""
    return round(float(timestamp) * 1000) * 1_000_000


def _errno_text(text: str) -> str:
    found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    return found.group(1).strip() if found else text[:120]


class _ApiError(Exception):
    """A non-200 answer, with Prometheus's own error text when it sent one."""

    def __init__(self, status: int, body: str) -> None:
        try:
            message = json.loads(body).get("error")
        except (ValueError, AttributeError):
            message = None
        self.reason = f"HTTP {status}: {message or body.strip()[:200] or 'no body'}"
        super().__init__(self.reason)


def _raise_for_status(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A requests hook: the library would only keep the body's repr in its exception."""
    if response.status_code != 200:
        raise _ApiError(response.status_code, response.text)
