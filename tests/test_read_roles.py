"""Access to reads (``bot.policy``, ``bot.keys.readers``): access keys with a role and a
scope, the API token as admin, through the real ASGI app's API and pages on SQLite and
PostgreSQL. A viewer of checkout reads checkout's incident, trace and session traces,
gets 404 for login's and for a trace of no journey (as for an id that does not exist),
cannot re-investigate (403) or open /audit; a responder acts in scope; an admin key and
the old API token read and do everything; expired, revoked and ingest-only keys are
refused. The decisions themselves are tested pure first. Slack's side is in
tests/test_slack_roles.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from typer.testing import CliRunner

from bot.audit import AuditTrail
from bot.cli import app as cli
from bot.config import AppConfig
from bot.incidents.lifecycle import Action, Firing
from bot.incidents.ondemand import OnDemandReports
from bot.keys import KeyRegistry
from bot.keys.registry import EVERY_JOURNEY
from bot.policy import Principal, Role, may_act, may_administer, may_post_changes, may_read, scope_of
from bot.server import build_bot, create_app
from bot.settings import Settings
from bot.store.dialect import make_engine
from bot.store.migrations import migrate
from bot.store.schema import metadata
from bot.web.auth import COOKIE
from correlators.errors import IngestKeyError
from correlators.model import SpanKind, Trace
from tests.asgi import AppClient
from tests.cli import cli_at
from tests.spantree import TraceBuilder
from tests.stored import shop_config, store_telemetry, stored_report

TOKEN = "the-old-api-token"
PERSON = "alice@example.com"
CHECKOUT_TRACE = "c" * 32
LOGIN_TRACE = "1" * 32
NO_JOURNEY_TRACE = "0" * 32
SCOPE = {"kind": "localized", "level": "service", "subject": "cart", "confidence": 0.7, "reasons": []}
OWNERS = {"checkout": "payments", "login": "identity", "search": None}


# --- the decisions, pure -----------------------------------------------------------------------


def test_scope_is_the_teams_journeys_and_those_named() -> None:
    assert scope_of(OWNERS, ["payments"], []) == {"checkout"}
    assert scope_of(OWNERS, ["payments"], ["search"]) == {"checkout", "search"}
    assert scope_of(OWNERS, ["nobody"], []) == frozenset()
    assert scope_of(OWNERS, [], ["not-yet-configured"]) == {"not-yet-configured"}


def test_each_role_holds_the_one_below_within_its_scope() -> None:
    viewer = Principal("key:v", Role.VIEWER, frozenset({"checkout"}))
    responder = Principal("key:r", Role.RESPONDER, frozenset({"checkout"}))
    everywhere = Principal("U0SRE", Role.RESPONDER)
    admin = Principal("api-token", Role.ADMIN)
    assert may_read(viewer, "checkout") and not may_read(viewer, "login")
    assert not may_read(viewer, None)  # a trace of no journey is nobody's in particular
    assert may_read(everywhere, None) and may_read(admin, None)
    assert not may_act(viewer, "checkout")
    assert may_act(responder, "checkout") and not may_act(responder, "login")
    assert may_act(everywhere, "login")
    assert [may_administer(p) for p in (viewer, responder, everywhere, admin)] == [False, False, False, True]
    assert not may_administer(Principal("key:x", Role.ADMIN, frozenset({"checkout"})))
    assert [may_post_changes(p) for p in (viewer, responder, everywhere, admin)] == [False, False, True, True]


# --- access keys in the registry -----------------------------------------------------------------


def test_access_keys_keep_their_role_and_journeys_through_rotation(any_store: Any) -> None:
    registry = KeyRegistry(any_store.engine)
    viewer = registry.create("payments", role="viewer", journeys=["search"]).info
    assert (viewer.role, viewer.journeys, viewer.scopes) == (Role.VIEWER, {"search"}, frozenset())
    everywhere = registry.create("sre", role="responder", journeys=[EVERY_JOURNEY]).info
    assert everywhere.journeys is None
    assert registry.create("sre", role="admin").info.journeys is None
    plain = registry.create("shop").info
    assert (plain.role, plain.scopes) == (None, {"ingest"})
    old, new = registry.rotate(viewer.id, overlap_s=60)
    assert (new.info.role, new.info.journeys, new.info.team) == (Role.VIEWER, {"search"}, "payments")
    assert registry.lookup(new.info.id) is not None and old.replaced_by == new.info.id


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"role": "boss"}, "roles are viewer, responder, admin"),
        ({"role": "admin", "journeys": ["checkout"]}, "an admin reads every journey"),
        ({"journeys": ["checkout"]}, "give a --role too"),
        ({"role": "viewer", "journeys": [" "]}, "names no journey"),
        ({"role": "viewer", "journeys": ["x" * 65]}, "at most 64"),
        ({"scopes": []}, "scopes are"),
    ],
)
def test_the_registry_refuses_access_keys_it_cannot_mean(
    any_store: Any, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(IngestKeyError, match=message):
        KeyRegistry(any_store.engine).create("payments", **arguments)


def test_a_schema_9_database_gains_roles_and_its_keys_read_nothing(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        metadata.create_all(connection)
        connection.execute(text("ALTER TABLE ingest_keys DROP COLUMN journeys"))
        connection.execute(text("ALTER TABLE ingest_keys DROP COLUMN role"))
        connection.execute(
            text(
                "INSERT INTO ingest_keys (id, secret_sha256, team, scopes, created_at) "
                "VALUES ('0123456789ab', 'x', 'shop', 'ingest', 0)"
            )
        )
        connection.execute(text("INSERT INTO schema_meta (id, version) VALUES (1, 9)"))
    try:
        assert migrate(engine) == 9
        found = KeyRegistry(engine).lookup("0123456789ab")
        assert found is not None and found[0].role is None and found[0].scopes == {"ingest"}
        assert KeyRegistry(engine).create("payments", role="viewer").info.role is Role.VIEWER
    finally:
        engine.dispose()


# --- the API and the pages, on both databases --------------------------------------------------


def owned_config() -> AppConfig:
    config = shop_config()
    journeys = [j.model_copy(update={"owner": OWNERS[j.name]}) for j in config.journeys]
    return config.model_copy(update={"journeys": journeys})


def trace_of(trace_id: str, journey: str | None) -> Trace:
    builder = TraceBuilder(trace_id)
    builder.span("frontend", "POST /x", 1_795_000_000_000, 1_795_000_000_050, kind=SpanKind.SERVER)
    trace = builder.trace()
    trace.journey, trace.session_id = journey, PERSON
    return trace


class World:
    """A bot with a trace of checkout, one of login, one of no journey (one person's
    session holds all three), an incident of each journey and an investigation of login."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        settings = Settings(
            database_url=database_url, public_url="https://jw.example", api_token=SecretStr(TOKEN)
        )
        settings.collector.writer_process = False
        settings.collector.spool.enabled = False
        settings.ingest_keys.cache_ttl_s = 0.05  # a revocation reaches the server at once
        self.bot = build_bot(settings, owned_config())
        traces = [
            trace_of(CHECKOUT_TRACE, "checkout"),
            trace_of(LOGIN_TRACE, "login"),
            trace_of(NO_JOURNEY_TRACE, None),
        ]
        store_telemetry(self.bot.store, self.bot.config, traces)
        self.incident = {name: self._open(name) for name in ("checkout", "login")}
        report = stored_report({"scope": SCOPE})
        self.investigation = OnDemandReports(self.bot.store.engine).add("login", "U0X", 0.0, 60.0, report)
        self.registry = KeyRegistry(self.bot.store.engine)
        self.app = create_app(self.bot)

    def _open(self, journey: str) -> int:
        firing = Firing("availability", "page-burst", 0, "page", 20.0, 0.9, 1_795_000_000.0)
        opened = self.bot.incidents.apply(journey, Action.OPEN, firing, 1_795_000_060.0)
        assert opened is not None
        return opened.incident_id

    def key(self, team: str, role: str, journeys: list[str] | None = None) -> tuple[str, AppClient]:
        new = self.registry.create(team, role=role, journeys=journeys)
        return new.info.id, self.client(new.key)

    def client(self, credential: str | None = None) -> AppClient:
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        return AppClient(self.app, headers=headers)

    def close(self) -> None:
        self.bot.watcher.close()
        self.bot.investigator.close()
        self.bot.store.close()


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    built = World(database_url, tmp_path)
    yield built
    built.close()


def audit_rows(trail: AuditTrail, actor: str) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    found = sorted((r for r in trail.since(0) if r.actor == actor), key=lambda r: r.id)
    return [(r.via, r.action, r.subject, r.subject_id, r.detail) for r in found]


def test_a_viewer_of_checkout_reads_checkout_and_nothing_else(world: World) -> None:
    key_id, viewer = world.key("payments", "viewer")  # payments owns checkout
    checkout, login = world.incident["checkout"], world.incident["login"]

    assert viewer.get(f"/api/incidents/{checkout}").json()["journey"] == "checkout"
    hidden = viewer.get(f"/api/incidents/{login}")
    absent = viewer.get("/api/incidents/999999")
    assert (hidden.status_code, absent.status_code) == (404, 404)
    assert hidden.json() == {"error": f"incident {login} not found"}  # as for an id that does not exist
    assert [i["journey"] for i in viewer.get("/api/incidents").json()["incidents"]] == ["checkout"]
    assert viewer.get("/api/incidents", params={"journey": "login"}).json()["incidents"] == []

    assert viewer.get(f"/api/traces/{CHECKOUT_TRACE}").json()["trace_id"] == CHECKOUT_TRACE
    for trace_id in (LOGIN_TRACE, NO_JOURNEY_TRACE):
        refused = viewer.get(f"/api/traces/{trace_id}")
        assert refused.status_code == 404 and refused.json() == {"error": f"trace {trace_id} not found"}
    assert [t["trace_id"] for t in viewer.get("/api/traces").json()["traces"]] == [CHECKOUT_TRACE]
    assert viewer.get("/api/traces", params={"journey": "login"}).json()["traces"] == []
    session = viewer.get(f"/api/sessions/{PERSON}").json()
    assert [t["trace_id"] for t in session["traces"]] == [CHECKOUT_TRACE]

    assert [j["name"] for j in viewer.get("/api/journeys").json()["journeys"]] == ["checkout"]
    assert viewer.get("/api/journeys/login").status_code == 404

    assert viewer.post(f"/api/incidents/{checkout}/investigate").status_code == 403  # may read, not act
    assert viewer.post(f"/api/incidents/{login}/investigate").status_code == 404
    change = {"service": "cart", "kind": "deploy", "version": "2.4.0"}
    assert viewer.post("/api/changes", json=change).status_code == 403

    role = {"role": "viewer"}
    assert audit_rows(world.bot.audit, f"key:{key_id}") == [
        ("api", "read", "incident", str(checkout), role),
        ("api", "read", "trace", CHECKOUT_TRACE, role),
        ("api", "search", "trace", "", {"results": 1, **role}),
        ("api", "search", "trace", "", {"results": 0, **role}),
        ("api", "read", "session", world.bot.collector.redactor.hash_value(PERSON), {"traces": 1, **role}),
    ]


def test_a_viewer_sees_the_same_on_the_pages(world: World) -> None:
    _, viewer = world.key("web", "viewer", ["checkout"])  # by name: team web owns nothing
    checkout, login = world.incident["checkout"], world.incident["login"]
    shown = {
        f"/incidents/{checkout}": 200,
        f"/incidents/{login}": 404,
        f"/traces/{CHECKOUT_TRACE}": 200,
        f"/traces/{CHECKOUT_TRACE}.png": 200,
        f"/traces/{LOGIN_TRACE}": 404,
        f"/traces/{LOGIN_TRACE}.png": 404,
        f"/traces/{NO_JOURNEY_TRACE}": 404,
        f"/investigations/{world.investigation}": 404,
        "/journeys/login": 404,
        "/journeys/checkout": 200,
        "/quarantine": 404,
        "/audit": 403,
    }
    assert {path: viewer.get(path).status_code for path in shown} == shown
    listed = viewer.get("/incidents").text
    assert f"/incidents/{checkout}" in listed and f"/incidents/{login}" not in listed
    journeys = viewer.get("/journeys").text
    assert "/journeys/checkout" in journeys and "/journeys/login" not in journeys
    session = viewer.get(f"/sessions/{PERSON}").text
    assert CHECKOUT_TRACE in session and LOGIN_TRACE not in session and NO_JOURNEY_TRACE not in session


def test_a_responder_acts_in_scope_only(world: World) -> None:
    key_id, responder = world.key("payments", "responder")
    checkout, login = world.incident["checkout"], world.incident["login"]
    assert responder.post(f"/api/incidents/{checkout}/investigate").status_code == 202
    assert responder.post(f"/api/incidents/{login}/investigate").status_code == 404
    assert responder.get("/audit").status_code == 403
    assert audit_rows(world.bot.audit, f"key:{key_id}") == [
        ("api", "reinvestigate", "incident", str(checkout), {"role": "responder"})
    ]


def test_an_admin_key_and_the_old_api_token_read_and_do_everything(world: World) -> None:
    key_id, admin = world.key("sre", "admin")
    for client, actor, detail in (
        (admin, f"key:{key_id}", {"role": "admin"}),
        (world.client(TOKEN), "api-token", {}),
    ):
        for trace_id in (CHECKOUT_TRACE, LOGIN_TRACE, NO_JOURNEY_TRACE):
            assert client.get(f"/api/traces/{trace_id}").status_code == 200
            assert client.get(f"/traces/{trace_id}").status_code == 200
        assert len(client.get("/api/incidents").json()["incidents"]) == 2
        assert len(client.get("/api/traces").json()["traces"]) == 3
        assert client.get(f"/investigations/{world.investigation}").status_code == 200
        assert client.get("/quarantine").status_code == 200
        assert client.get("/audit").status_code == 200
        assert client.post(f"/api/incidents/{world.incident['login']}/investigate").status_code == 202
        assert ("api", "reinvestigate", "incident", str(world.incident["login"]), detail) in audit_rows(
            world.bot.audit, actor
        )


def test_expired_revoked_wrong_and_ingest_only_keys_are_refused(world: World) -> None:
    past = KeyRegistry(world.bot.store.engine, clock=lambda: time.time() - 3600)
    expired = past.create("payments", role="admin", expires_in_s=60)
    revoked = world.registry.create("payments", role="admin")
    world.registry.revoke(revoked.info.id)
    ingest_only = world.registry.create("payments")
    wrong = revoked.key[:-4] + "AAAA"
    for credential, status, said in (
        (expired.key, 401, "is expired"),
        (revoked.key, 401, "is revoked"),
        (wrong, 401, "unknown or wrong access key"),
        ("not-the-token", 401, "wrong token"),
        (ingest_only.key, 403, "reads nothing"),
    ):
        client = world.client(credential)
        answer = client.get(f"/api/traces/{CHECKOUT_TRACE}")
        assert (answer.status_code, said in answer.json()["error"]) == (status, True), credential
        assert client.get(f"/incidents/{world.incident['checkout']}").status_code == status
    assert "sends telemetry and reads nothing" in world.client(ingest_only.key).get("/journeys").text
    assert "expired or been revoked" in world.client(expired.key).get("/journeys").text
    assert world.client().get("/api/incidents").status_code == 401  # no credential at all


def test_a_key_followed_from_a_link_opens_its_pages_until_revoked(world: World) -> None:
    key_id, _ = world.key("payments", "viewer")
    new = world.registry.create("payments", role="viewer")
    browser = world.client()
    first = browser.get(f"/incidents/{world.incident['checkout']}", params={"token": new.key})
    assert first.status_code == 303 and new.key not in first.headers["location"]
    cookie = first.cookies[COOKIE]
    assert new.key.split("_")[2] not in cookie  # an HMAC of the id, never the secret
    jar = {"Cookie": f"{COOKIE}={cookie}"}
    assert browser.get(f"/incidents/{world.incident['checkout']}", headers=jar).status_code == 200
    assert browser.get(f"/incidents/{world.incident['login']}", headers=jar).status_code == 404
    assert browser.get("/api/incidents", headers=jar).status_code == 401  # the cookie is no API token
    forged = {"Cookie": f"{COOKIE}={key_id}.{cookie.split('.')[1]}"}  # another key's id, this MAC
    assert browser.get("/journeys", headers=forged).status_code == 401
    world.registry.revoke(new.info.id)
    time.sleep(0.1)  # past the keyring's TTL
    assert browser.get(f"/incidents/{world.incident['checkout']}", headers=jar).status_code == 401


def test_open_pages_and_api_stay_open_and_a_key_still_narrows_them(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/open.db", api_token=None)
    settings.collector.writer_process = False
    settings.collector.spool.enabled = False
    bot = build_bot(settings, owned_config())
    try:
        store_telemetry(bot.store, bot.config, [trace_of(LOGIN_TRACE, "login")])
        app = create_app(bot)
        anyone = AppClient(app, headers={"Authorization": "Bearer something-a-proxy-adds"})
        assert anyone.get(f"/api/traces/{LOGIN_TRACE}").status_code == 200
        assert anyone.post("/api/changes", json={"service": "cart", "kind": "deploy"}).status_code == 201
        assert anyone.get("/audit").status_code == 403  # anonymous is no admin
        viewer = KeyRegistry(bot.store.engine).create("payments", role="viewer").key
        narrowed = AppClient(app, headers={"Authorization": f"Bearer {viewer}"})
        assert narrowed.get(f"/api/traces/{LOGIN_TRACE}").status_code == 404
        assert narrowed.get(f"/traces/{LOGIN_TRACE}").status_code == 404
    finally:
        bot.watcher.close()
        bot.investigator.close()
        bot.store.close()


# --- the command line -------------------------------------------------------------------------------


def test_keys_create_makes_an_access_key_that_list_shows_and_the_trail_records(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jw.db"
    run = cli_at(url)

    made = run("keys", "create", "--team", "payments", "--role", "viewer", "--journeys", "checkout,login")
    key_id = made.split()[1]
    [listed] = json.loads(run("keys", "list", "--format", "json"))
    assert (listed["role"], listed["journeys"], listed["scopes"]) == ("viewer", ["checkout", "login"], [])
    assert "role viewer of payments's journeys and checkout,login" in run("keys", "list")
    [created] = json.loads(run("audit-log", "--format", "json"))
    assert created["subject_id"] == key_id
    assert (created["detail"]["role"], created["detail"]["journeys"]) == ("viewer", "checkout,login")
    refused = CliRunner().invoke(
        cli, ["keys", "create", "--team", "x", "--role", "root", "--database-url", url]
    )
    assert refused.exit_code != 0 and "roles are viewer, responder, admin" in refused.output
