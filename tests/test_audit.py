"""The audit trail (``bot.audit``): each audited action through the real app's routes
writes exactly its row, on SQLite and PostgreSQL; the rows hold ids and hashes, never a
person's key; the store refuses to change a row; a trail that cannot write never fails
the read it records; the admin page opens only with the API token; `journeywatch
audit-log` prints what key commands recorded; retention drops rows by when they were
written. Slack's side is in tests/test_audit_slack.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from typer.testing import CliRunner

from bot.audit import AuditTrail
from bot.audit.trail import WITHHELD
from bot.cli import app as cli
from bot.incidents.lifecycle import Action, Firing
from bot.incidents.ondemand import OnDemandReports
from bot.keys import KeyRegistry
from bot.server import build_bot, create_app
from bot.settings import Settings
from bot.store import Store
from bot.store.dialect import make_engine
from bot.store.migrations import migrate
from bot.store.schema import metadata
from bot.web.auth import COOKIE
from bot.wiring import Bot
from correlators.model import SpanKind
from tests.asgi import AppClient
from tests.cli import cli_at
from tests.spantree import TraceBuilder
from tests.stored import shop_config, store_telemetry, stored_report

TOKEN = "audit-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
TRACE_ID = "0123456789abcdef0123456789abcdef"
PERSON = "alice@example.com"
HOUR = 3600.0

Row = tuple[str, str, str, str, str, dict[str, Any]]
SCOPE = {"kind": "localized", "level": "service", "subject": "cart", "confidence": 0.7, "reasons": []}
REPORT = stored_report({"scope": SCOPE})


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Hasher:
    def hash_value(self, value: str) -> str:
        return f"h:{len(value)}"


def rows(trail: AuditTrail, after: int = 0) -> list[Row]:
    """The entries with an id past ``after``, oldest first, without their times."""
    found = sorted(trail.since(0), key=lambda r: r.id)
    return [(r.actor, r.via, r.action, r.subject, r.subject_id, r.detail) for r in found if r.id > after]


def last_id(trail: AuditTrail) -> int:
    found = trail.since(0, limit=1)
    return found[0].id if found else 0


# --- the trail itself, on both databases ------------------------------------------------------


def test_ids_of_their_subjects_shape_are_kept_others_hashed_details_cut(any_store: Store) -> None:
    trail = AuditTrail(any_store.engine, retention_s=HOUR, hasher=Hasher(), clock=Clock(1000.0))
    assert trail.record("U0ALICE", "slack", "read", "trace", TRACE_ID, channel="C0X")
    assert trail.record("api-token", "api", "read", "session", PERSON, traces=2)
    assert trail.record("api-token", "api", "read", "trace", "not-a-trace-id")
    assert trail.record("cli", "cli", "revoke", "ingest_key", "3f9c2a1b7d4e", team="x" * 400)
    found = rows(trail)
    assert found[:3] == [
        ("U0ALICE", "slack", "read", "trace", TRACE_ID, {"channel": "C0X"}),
        ("api-token", "api", "read", "session", f"h:{len(PERSON)}", {"traces": 2}),
        ("api-token", "api", "read", "trace", "h:14", {}),
    ]
    assert found[3][4] == "3f9c2a1b7d4e" and len(found[3][5]["team"]) == 255
    without = AuditTrail(any_store.engine, retention_s=HOUR)  # the CLI's: no hasher at hand
    without.record("cli", "cli", "read", "session", PERSON)
    assert rows(without)[-1][4] == WITHHELD
    assert trail.stats.written == 4 and trail.stats.failed == 0


def test_the_database_refuses_to_change_an_audit_row(any_store: Store) -> None:
    trail = AuditTrail(any_store.engine, retention_s=HOUR)
    trail.record("U0MALLORY", "slack", "resolve", "incident", "7")
    with pytest.raises(SQLAlchemyError, match="append-only"), any_store.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET actor = 'U0ALICE'"))
    assert rows(trail) == [("U0MALLORY", "slack", "resolve", "incident", "7", {})]


def test_expiry_goes_by_when_rows_were_written(any_store: Store) -> None:
    clock = Clock(1_000_000.0)
    trail = AuditTrail(any_store.engine, retention_s=24 * HOUR, clock=clock)
    for hours in (0, 1, 23):
        clock.now = 1_000_000.0 + hours * HOUR
        trail.record("cli", "cli", "create", "ingest_key", f"{hours:012x}")
    clock.now = 1_000_000.0 + 25.5 * HOUR  # the rows of hours 0 and 1 are past 24 h
    assert trail.expire() == 2
    assert [r[4] for r in rows(trail)] == [f"{23:012x}"]
    clock.now = 1_000_000.0 + 47 * HOUR  # exactly 24 h after the last: kept until past it
    assert trail.expire() == 0
    clock.now += 1
    assert trail.expire() == 1 and rows(trail) == []


def test_a_trail_that_cannot_write_counts_the_failure_and_raises_nothing(any_store: Store) -> None:
    trail = AuditTrail(any_store.engine, retention_s=HOUR)
    with any_store.engine.begin() as connection:
        connection.execute(text("DROP TABLE audit_log"))
    assert trail.record("api-token", "api", "read", "trace", TRACE_ID) is False
    assert (trail.stats.written, trail.stats.failed) == (0, 1)


def test_a_schema_7_database_gains_the_append_only_trail(database_url: str) -> None:
    engine = make_engine(database_url)
    before = [t for name, t in metadata.tables.items() if name != "audit_log"]
    with engine.begin() as connection:
        metadata.create_all(connection, tables=before)
        connection.execute(text("INSERT INTO schema_meta (id, version) VALUES (1, 7)"))
    try:
        assert migrate(engine) == 7
        trail = AuditTrail(engine, retention_s=HOUR)
        assert trail.record("cli", "cli", "create", "ingest_key", "3f9c2a1b7d4e")
        with pytest.raises(SQLAlchemyError, match="append-only"), engine.begin() as connection:
            connection.execute(text("UPDATE audit_log SET actor = 'someone else'"))
    finally:
        engine.dispose()


# --- the routes, on both databases -----------------------------------------------------------


def built(url: str, token: SecretStr | None, audit_hours: float = 24 * 400) -> Bot:
    settings = Settings(database_url=url, public_url="https://jw.example", api_token=token)
    settings.retention.audit_hours = audit_hours
    settings.collector.writer_process = False
    settings.collector.spool.enabled = False
    return build_bot(settings, shop_config())


def close(bot: Bot) -> None:
    bot.watcher.close()
    bot.investigator.close()
    bot.store.close()


@pytest.fixture
def guarded_bot(database_url: str) -> Iterator[Bot]:
    bot = built(database_url, SecretStr(TOKEN))
    yield bot
    close(bot)


def with_a_trace_an_incident_and_an_investigation(bot: Bot) -> tuple[int, int]:
    builder = TraceBuilder(TRACE_ID)
    builder.span("frontend", "POST /checkout", 1_795_000_000_000, 1_795_000_000_050, kind=SpanKind.SERVER)
    trace = builder.trace()
    trace.journey, trace.session_id = "checkout", PERSON
    store_telemetry(bot.store, bot.config, [trace])
    firing = Firing("availability", "page-burst", 0, "page", 20.0, 0.9, 1_795_000_000.0)
    opened = bot.incidents.apply("checkout", Action.OPEN, firing, 1_795_000_060.0)
    assert opened is not None
    kept = OnDemandReports(bot.store.engine).add("checkout", "U0ALICE", 0.0, 60.0, REPORT)
    return opened.incident_id, kept


def test_each_read_and_action_through_the_api_writes_exactly_its_row(guarded_bot: Bot) -> None:
    bot = guarded_bot
    incident, _ = with_a_trace_an_incident_and_an_investigation(bot)
    key = KeyRegistry(bot.store.engine).create("platform", scopes=["changes"]).key
    client = AppClient(create_app(bot), headers=BEARER)
    change = {"service": "cart", "kind": "deploy", "version": "2.4.0"}
    expected: list[tuple[Callable[[], Any], int, list[Row]]] = [
        (
            lambda: client.get(f"/api/traces/{TRACE_ID}"),
            200,
            [("api-token", "api", "read", "trace", TRACE_ID, {})],
        ),
        (lambda: client.get("/api/traces/" + "f" * 32), 404, []),  # nothing was read
        (
            lambda: client.get("/api/traces", params={"journey": "checkout"}),
            200,
            [("api-token", "api", "search", "trace", "", {"results": 1})],
        ),
        (
            lambda: client.get(f"/api/sessions/{PERSON}"),
            200,
            [
                (
                    "api-token",
                    "api",
                    "read",
                    "session",
                    bot.collector.redactor.hash_value(PERSON),
                    {"traces": 1},
                )
            ],
        ),
        (
            lambda: client.get(f"/api/incidents/{incident}"),
            200,
            [("api-token", "api", "read", "incident", str(incident), {})],
        ),
        (lambda: client.get("/api/incidents"), 200, []),  # lists of incidents carry no telemetry
        (
            lambda: client.post(f"/api/incidents/{incident}/investigate"),
            202,
            [("api-token", "api", "reinvestigate", "incident", str(incident), {})],
        ),
        (
            lambda: client.post("/api/changes", json=change),
            201,
            [("api-token", "api", "create", "change", "1", {"service": "cart", "kind": "deploy"})],
        ),
        (
            lambda: client.post("/api/changes", json=change, headers={"Authorization": f"Bearer {key}"}),
            201,
            [
                (
                    f"key:{key.split('_')[1]}",
                    "api",
                    "create",
                    "change",
                    "2",
                    {"service": "cart", "kind": "deploy"},
                )
            ],
        ),
        (lambda: client.get(f"/api/traces/{TRACE_ID}", headers={"Authorization": "Bearer wrong"}), 401, []),
    ]
    for call, status, written in expected:
        before = last_id(bot.audit)
        assert call().status_code == status
        assert rows(bot.audit, before) == written
    dumped = json.dumps(rows(bot.audit))
    assert "alice" not in dumped and TOKEN not in dumped and key not in dumped


def test_each_page_that_shows_telemetry_writes_exactly_its_row(guarded_bot: Bot) -> None:
    bot = guarded_bot
    incident, investigation = with_a_trace_an_incident_and_an_investigation(bot)
    client = AppClient(create_app(bot), headers=BEARER)
    by_page = "api-token", "page", "read"
    expected: list[tuple[str, int, list[Row]]] = [
        (f"/traces/{TRACE_ID}", 200, [(*by_page, "trace", TRACE_ID, {})]),
        (f"/traces/{TRACE_ID}.png", 200, [(*by_page, "trace", TRACE_ID, {"picture": 1})]),
        (
            f"/sessions/{PERSON}",
            200,
            [(*by_page, "session", bot.collector.redactor.hash_value(PERSON), {"traces": 1})],
        ),
        (f"/incidents/{incident}", 200, [(*by_page, "incident", str(incident), {})]),
        (f"/investigations/{investigation}", 200, [(*by_page, "investigation", str(investigation), {})]),
        ("/quarantine", 200, [(*by_page, "quarantine", "", {"shown": 0})]),
        ("/incidents/999", 404, []),
        ("/journeys", 200, []),
    ]
    for path, status, written in expected:
        before = last_id(bot.audit)
        assert client.get(path).status_code == status, path
        assert rows(bot.audit, before) == written, path
    before = last_id(bot.audit)
    page = client.get("/audit")
    assert page.status_code == 200
    assert rows(bot.audit, before) == [(*by_page, "audit_log", "", {"shown": 6})]
    assert page.text.count('class="audit-row"') == 6 and TRACE_ID in page.text and "alice" not in page.text


def test_ingest_is_not_audited(tmp_path: Path) -> None:
    bot = built(f"sqlite:///{tmp_path}/jw.db", None)
    bot.settings.ingest_keys.required = False
    try:
        client = AppClient(create_app(bot))
        span = {
            "traceId": TRACE_ID,
            "spanId": "0123456789abcdef",
            "name": "GET /",
            "startTimeUnixNano": "1795000000000000000",
            "endTimeUnixNano": "1795000000050000000",
        }
        body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
        assert client.post("/v1/traces", json=body).status_code == 200
        assert rows(bot.audit) == []
    finally:
        close(bot)


def test_a_failing_trail_never_fails_the_read_and_healthz_counts_it(tmp_path: Path) -> None:
    bot = built(f"sqlite:///{tmp_path}/jw.db", SecretStr(TOKEN))
    try:
        with_a_trace_an_incident_and_an_investigation(bot)
        with bot.store.engine.begin() as connection:
            connection.execute(text("DROP TABLE audit_log"))
        client = AppClient(create_app(bot), headers=BEARER)
        assert client.get(f"/api/traces/{TRACE_ID}").json()["trace_id"] == TRACE_ID
        assert client.get(f"/traces/{TRACE_ID}").status_code == 200
        assert client.get("/healthz").json()["audit"] == {"written": 0, "failed": 2}
    finally:
        close(bot)


# --- the admin page's access ------------------------------------------------------------------


def test_the_audit_page_opens_only_with_the_api_token(tmp_path: Path) -> None:
    guarded = built(f"sqlite:///{tmp_path}/guarded.db", SecretStr(TOKEN))
    open_bot = built(f"sqlite:///{tmp_path}/open.db", None)
    try:
        client = AppClient(create_app(guarded))
        assert client.get("/audit").status_code == 401
        assert client.get("/audit", headers={"Authorization": "Bearer wrong"}).status_code == 401
        first = client.get("/audit", params={"token": TOKEN})  # a person's link: the cookie, then the page
        assert first.status_code == 303
        with_cookie = client.get("/audit", headers={"Cookie": f"{COOKIE}={first.cookies[COOKIE]}"})
        assert with_cookie.status_code == 200 and "Audit trail" in with_cookie.text
        assert client.get("/audit", headers=BEARER, params={"since": "nonsense"}).status_code == 200
        assert [r[2:4] for r in rows(guarded.audit)] == [("read", "audit_log")] * 2

        refused = AppClient(create_app(open_bot)).get("/audit")  # pages open to all: not this one
        assert refused.status_code == 403 and "journeywatch audit-log" in refused.text
        assert rows(open_bot.audit) == []
        assert AppClient(create_app(open_bot)).get(f"/api/traces/{TRACE_ID}").status_code == 404
    finally:
        close(guarded)
        close(open_bot)


def test_without_a_token_reads_are_by_anonymous(tmp_path: Path) -> None:
    bot = built(f"sqlite:///{tmp_path}/open.db", None)
    try:
        incident, _ = with_a_trace_an_incident_and_an_investigation(bot)
        client = AppClient(create_app(bot))
        assert client.get(f"/api/incidents/{incident}").status_code == 200
        assert client.get(f"/traces/{TRACE_ID}").status_code == 200
        assert rows(bot.audit) == [
            ("anonymous", "api", "read", "incident", str(incident), {}),
            ("anonymous", "page", "read", "trace", TRACE_ID, {}),
        ]
    finally:
        close(bot)


# --- the command line and retention -----------------------------------------------------------


def test_key_commands_are_audited_and_audit_log_prints_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/jw.db"
    run = cli_at(url)

    made = run("keys", "create", "--team", "payments", "--services", "payments,ledger", "--expires", "90d")
    key_id = made.split()[1]
    rotated = run("keys", "rotate", key_id, "--overlap", "1h")
    new_id = rotated.split()[1]
    run("keys", "revoke", new_id)

    listed = json.loads(run("audit-log", "--since", "7d", "--format", "json"))
    assert [(e["actor"], e["via"], e["action"], e["subject"], e["subject_id"]) for e in listed] == [
        ("cli", "cli", "create", "ingest_key", key_id),
        ("cli", "cli", "rotate", "ingest_key", key_id),
        ("cli", "cli", "revoke", "ingest_key", new_id),
    ]
    created, rotation, revoked = (e["detail"] for e in listed)
    assert created["team"] == "payments" and created["services"] == "ledger,payments"
    assert created["scopes"] == "ingest" and created["expires_at"] > 0
    assert rotation["new"] == new_id and revoked == {"team": "payments"}
    assert "jwk_" not in json.dumps(listed)  # the key itself is printed once, never kept

    lines = run("audit-log", "--since", "1h").splitlines()
    assert len(lines) == 4  # the three key commands, then the JSON read above
    assert lines[0].endswith(
        f"create         ingest_key {key_id}  team=payments services=ledger,payments "
        f"scopes=ingest expires_at={created['expires_at']}"
    )
    assert "read" in lines[3] and "audit_log" in lines[3] and "shown=3" in lines[3]

    bad = CliRunner().invoke(cli, ["audit-log", "--since", "yesterday-ish", "--database-url", url])
    assert bad.exit_code == 2 and "--since" in bad.output


def test_the_retention_job_purges_the_trail_by_its_own_period(tmp_path: Path) -> None:
    bot = built(f"sqlite:///{tmp_path}/jw.db", None, audit_hours=24)
    clock = bot.audit.clock = Clock(2_000_000_000.0)
    try:
        for hours, trace in ((0, "a"), (12, "b"), (23, "c")):
            clock.now = 2_000_000_000.0 + hours * HOUR
            bot.audit.record("api-token", "api", "read", "trace", trace * 32)
        clock.now = 2_000_000_000.0 + 36.5 * HOUR  # a and b are 36.5 and 24.5 hours old
        [retention] = [job for job in bot.scheduling.jobs if job.name == "retention"]
        retention.run()
        assert [r[4] for r in rows(bot.audit)] == ["c" * 32]
    finally:
        close(bot)


def test_the_audit_period_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JOURNEYWATCH_RETENTION__AUDIT_HOURS", "48")
    monkeypatch.setenv("JOURNEYWATCH_DATABASE_URL", f"sqlite:///{tmp_path}/jw.db")
    settings = Settings()
    assert settings.retention.audit_hours == 48
    settings.collector.writer_process = False
    settings.collector.spool.enabled = False
    bot = build_bot(settings, shop_config())
    try:
        assert bot.audit.retention_s == 48 * HOUR
    finally:
        close(bot)
