"""Who may call the API and the pages, on the app the server builds (in-process):
the token only as a bearer header on the API, ``?token=`` only for a page's first load,
the Bearer scheme matched alike (in any case) by both, and no state-changing request
a page on another site could send, even with the token off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.server import build_bot, create_app
from bot.settings import Settings
from bot.web.auth import COOKIE
from bot.wiring import Bot
from tests.asgi import AppClient
from tests.stored import shop_config

TOKEN = "s3cret-token"
CHANGE = {"service": "cart", "kind": "deploy", "version": "2.4.0"}


def running(tmp_path: Path, api_token: SecretStr | None) -> Iterator[Bot]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/jw.db", public_url="https://jw.example", api_token=api_token
    )
    settings.collector.writer_process = False
    settings.collector.spool.enabled = False
    bot = build_bot(settings, shop_config())
    try:
        yield bot
    finally:
        bot.watcher.close()
        bot.investigator.close()
        bot.store.close()


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[AppClient]:
    for bot in running(tmp_path, SecretStr(TOKEN)):
        yield AppClient(create_app(bot))


@pytest.fixture
def open_bot(tmp_path: Path) -> Iterator[Bot]:
    """The demo's setting, JOURNEYWATCH_REQUIRE_TOKEN=false: no token at all."""
    yield from running(tmp_path, None)


def stored_changes(bot: Bot) -> list[str]:
    return [c.service for c in bot.changes.between(0, 4e9)]


def test_the_api_takes_the_token_only_as_a_bearer_header(guarded: AppClient) -> None:
    for path in ("/api/incidents", "/api/journeys", "/api/traces"):
        in_address = guarded.get(path, params={"token": TOKEN})
        assert in_address.status_code == 401, path
        assert "never as ?token=" in in_address.json()["error"]
    posted = guarded.post("/api/changes", params={"token": TOKEN}, json=CHANGE)
    assert posted.status_code == 401


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_api_and_the_pages_match_the_scheme_in_any_case(guarded: AppClient, scheme: str) -> None:
    headers = {"Authorization": f"{scheme}  {TOKEN}"}  # RFC 7235: the scheme in any case
    assert guarded.get("/api/incidents", headers=headers).status_code == 200
    assert guarded.get("/journeys", headers=headers).status_code == 200


@pytest.mark.parametrize("header", [f"Basic {TOKEN}", TOKEN, f"Bearer{TOKEN}", "Bearer wrong", "Bearer "])
def test_the_api_and_the_pages_refuse_the_same_headers(guarded: AppClient, header: str) -> None:
    assert guarded.get("/api/incidents", headers={"Authorization": header}).status_code == 401
    assert guarded.get("/journeys", headers={"Authorization": header}).status_code == 401


def test_a_page_takes_the_token_once_and_the_cookie_opens_no_api(guarded: AppClient) -> None:
    first = guarded.get("/incidents", params={"status": "open", "token": TOKEN})
    assert first.status_code == 303 and first.headers["location"] == "/incidents?status=open"
    header = {"Cookie": f"{COOKIE}={first.cookies[COOKIE]}"}
    assert guarded.get("/incidents", headers=header).status_code == 200
    assert guarded.get("/api/incidents", headers=header).status_code == 401
    assert guarded.post("/journeys", params={"token": TOKEN}).status_code == 405  # pages are GETs


def test_with_the_token_off_another_sites_page_cannot_post(open_bot: Bot) -> None:
    """What a form or a no-cors fetch on another site can send is refused, and nothing is
    stored."""
    bot = open_bot
    client = AppClient(create_app(bot))
    body = httpx.Request("POST", "http://x", json=CHANGE).content
    sent_by_browsers = [
        ({"Content-Type": "text/plain", "Origin": "https://evil.example"}, 403),
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({"Content-Type": "multipart/form-data; boundary=x"}, 415),
        ({}, 415),  # a Blob body declares no type
        ({"Content-Type": "application/json", "Origin": "null"}, 403),
        ({"Content-Type": "application/json", "Origin": "https://evil.example"}, 403),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, 403),
    ]
    for headers, status in sent_by_browsers:
        answer = client.post("/api/changes", content=body, headers=headers)
        assert answer.status_code == status, headers
        assert answer.json()["error"]
    assert stored_changes(bot) == []
    pressed = client.post("/api/incidents/1/investigate", headers={"Origin": "https://evil.example"})
    assert pressed.status_code == 403
    as_form = client.post("/api/incidents/1/investigate", headers={"Content-Type": "text/plain"})
    assert as_form.status_code == 415

    scripts_and_our_pages = [
        {"Content-Type": "application/json"},
        {"Content-Type": "Application/JSON; charset=utf-8"},
        {"Content-Type": "application/json", "Origin": "https://jw.example"},  # the public URL
        {"Content-Type": "application/json", "Origin": "http://bot", "Sec-Fetch-Site": "same-origin"},
    ]
    for headers in scripts_and_our_pages:
        assert client.post("/api/changes", content=body, headers=headers).status_code == 201, headers
    assert stored_changes(bot) == ["cart"] * 4
    assert client.post("/api/incidents/1/investigate").status_code == 404  # past the guard: no incident
