"""GET /api/incidents, /api/incidents/{id}, /api/journeys and POST /api/changes, on the
app the server builds (in-process, SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.server import build_bot, create_app
from bot.settings import Settings
from bot.wiring import Bot
from tests.asgi import AppClient
from tests.scenarios import generate
from tests.stored import S, shop_config, store_telemetry


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/jw.db", api_token=SecretStr("s3cret"))
    settings.collector.writer_process = False
    bot = build_bot(settings, shop_config())
    yield bot
    bot.watcher.close()
    bot.investigator.close()
    bot.store.close()


@pytest.fixture
def client(bot: Bot) -> AppClient:
    return AppClient(create_app(bot), headers={"Authorization": "Bearer s3cret"})


def test_incidents_and_journeys_read_back_after_a_burn(bot: Bot, client: AppClient) -> None:
    scenario = generate("deploy_exception", 3)
    store_telemetry(bot.store, bot.config, scenario.traces, scenario.logs)
    opened = bot.watcher.evaluate_all(scenario.incident[1] / S)
    for future in bot.watcher.pending:
        future.result(timeout=60)
    incident_id = opened[0].incident_id

    listed = client.get("/api/incidents", params={"status": "open"}).json()["incidents"]
    assert [(i["id"], i["journey"], i["severity"]) for i in listed] == [(incident_id, "checkout", "page")]
    assert "timeline" not in listed[0] and listed[0]["summary"].startswith("Localized fault")

    one = client.get(f"/api/incidents/{incident_id}").json()
    assert one["report"]["schema_version"] == 1
    assert one["report"]["candidates"][0]["service"] == "cart"
    assert [e["kind"] for e in one["timeline"]] == ["opened", "investigated", "hypothesis"]

    journey = client.get("/api/journeys/checkout").json()
    assert journey["open_incident"]["id"] == incident_id
    burst = next(
        t for t in journey["tiers"] if t["objective"] == "availability" and t["tier"] == "page-burst"
    )
    assert burst["firing"] and burst["long_burn"] > 14.4
    names = [j["name"] for j in client.get("/api/journeys").json()["journeys"]]
    assert names == ["checkout", "login", "search"]


def test_bad_requests_get_a_reason(client: AppClient) -> None:
    assert client.get("/api/incidents", params={"status": "burning"}).status_code == 400
    assert client.get("/api/incidents/abc").status_code == 400
    assert client.get("/api/incidents/99").status_code == 404
    assert client.get("/api/incidents/" + "9" * 40).status_code == 400  # no 64-bit id, no 500
    assert client.get("/api/journeys/nope").status_code == 404
    refused = AppClient(client.app).get("/api/incidents")
    assert refused.status_code == 401


def test_a_posted_change_is_stored_and_bad_ones_are_refused(bot: Bot, client: AppClient) -> None:
    posted = client.post(
        "/api/changes",
        json={
            "service": "cart",
            "kind": "deploy",
            "version": "2.4.0",
            "time": "2026-11-24T09:48:00Z",
            "link": "https://ci.example/builds/812",
        },
    )
    assert posted.status_code == 201
    stored = bot.changes.between(0, 2e9)
    assert [(c.service, c.version, c.time_ns) for c in stored] == [("cart", "2.4.0", 1_795_513_680 * S)]
    wrong_kind = client.post("/api/changes", json={"service": "cart", "kind": "reboot"})
    assert wrong_kind.status_code == 400 and "kind" in wrong_kind.json()["error"]
    json_type = {"Content-Type": "application/json"}
    assert client.post("/api/changes", content=b"{not json", headers=json_type).status_code == 400
