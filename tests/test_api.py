"""The read API: query parameters, clear 400s for bad ones, and the token guard."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from bot.config import load_config
from bot.server import build_bot, create_app
from bot.settings import Settings
from correlators.model import Span, SpanKind, Trace
from tests.fixtures.bot_server import REPO

S = 1_000_000_000
T0 = 1_700_000_000 * S


def get(app: object, path: str, token: str | None = None) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            return await client.get(path, headers=headers)

    return asyncio.run(call())


@pytest.fixture
def app(tmp_path: Path) -> object:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/api.db", api_token="s3cret")
    bot = build_bot(settings, load_config(REPO / "config" / "journeys.yaml"))
    traces = []
    for n, (journey, start_s, dur_ms) in enumerate(
        [("checkout", 0, 120), ("checkout", 60, 900), ("login", 120, 40)]
    ):
        trace_id = f"{n + 1:032x}"
        root = Span(
            trace_id,
            "1" * 16,
            None,
            "frontend",
            f"op {n}",
            T0 + start_s * S,
            T0 + start_s * S + dur_ms * 1_000_000,
            kind=SpanKind.SERVER,
        )
        traces.append(Trace(trace_id, [root], journey=journey))
    bot.store.write_traces(traces)
    return create_app(bot)


def test_a_token_is_required_when_configured(app: object) -> None:
    assert get(app, "/api/traces").status_code == 401
    assert get(app, "/api/traces", token="wrong").status_code == 401
    assert get(app, "/api/traces", token="s3cret").status_code == 200
    in_address = get(app, f"/api/traces/{1:032x}?token=s3cret")  # only the pages take ?token=
    assert in_address.status_code == 401 and "never as ?token=" in in_address.json()["error"]


def test_queries(app: object) -> None:
    def ids(query: str) -> list[str]:
        response = get(app, f"/api/traces?{query}", token="s3cret")
        assert response.status_code == 200, response.text
        return [t["trace_id"][-1] for t in response.json()["traces"]]

    assert ids("") == ["3", "2", "1"]
    assert ids("journey=checkout") == ["2", "1"]
    assert ids("min_duration_ms=500") == ["2"]
    assert ids(f"start={T0 // S + 30}&end=2023-11-14T22:15:00Z") == ["2"]
    assert ids("service=frontend&limit=1") == ["3"]
    assert ids("error=false") == ["3", "2", "1"]


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("limit=0", "limit must be a whole number from 1 to 1000"),
        ("start=yesterday", "start: 'yesterday' is not a time"),
        ("error=maybe", "error must be true or false"),
        ("min_duration_ms=-1", "from 0 to 9e12"),
        ("min_duration_ms=nan", "from 0 to 9e12"),
        ("min_duration_ms=inf", "from 0 to 9e12"),
        ("min_duration_ms=1e300", "from 0 to 9e12"),
        ("start=inf", "between 1970 and 2262"),
        ("end=1e300", "between 1970 and 2262"),
        ("jurney=checkout", "unknown parameter(s) jurney"),
    ],
)
def test_bad_parameters_get_a_clear_400(app: object, query: str, complaint: str) -> None:
    response = get(app, f"/api/traces?{query}", token="s3cret")
    assert response.status_code == 400
    assert complaint in response.json()["error"]


def test_unknown_and_malformed_trace_ids(app: object) -> None:
    assert get(app, f"/api/traces/{'f' * 32}", token="s3cret").status_code == 404
    bad = get(app, "/api/traces/xyz", token="s3cret")
    assert bad.status_code == 400 and "32 hex" in bad.json()["error"]


def test_serve_makes_up_a_token_when_none_is_set(start_bot, keep_all_config) -> None:  # type: ignore[no-untyped-def]
    """Traces are never open to the network by default: `serve` without a token prints
    one it made up, and the API refuses requests without it (ingest stays open)."""
    import re
    import time

    bot = start_bot(keep_all_config, JOURNEYWATCH_REQUIRE_TOKEN="true")
    deadline = time.monotonic() + 10
    while "this run's is" not in bot.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    token = re.search(r"this run's is (\S+)", bot.log_path.read_text())
    assert token is not None
    assert httpx.get(f"{bot.url}/api/traces", timeout=5).status_code == 401
    answer = httpx.get(
        f"{bot.url}/api/traces", headers={"authorization": f"Bearer {token.group(1)}"}, timeout=5
    )
    assert answer.status_code == 200
    assert (
        httpx.post(
            f"{bot.url}/v1/traces", content=b"", headers={"content-type": "application/json"}, timeout=5
        ).status_code
        != 401
    )
