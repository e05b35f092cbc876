"""Retention in tiers and by arrival (issue 16), with a fake clock, on SQLite and PostgreSQL.

Before: rows went by their own stamps, so right after a restart the first run deleted
data just received that was stamped 1970 or 73 h ago, a trace ending in 2262 never went,
incidents, their timelines, Slack messages and changes were never deleted, and an incident
kept raw log templates and trace ids long after their telemetry had gone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import get_args

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.changes import ChangeLog
from bot.incidents.expiry import QUOTING, IncidentExpiry
from bot.incidents.lifecycle import Action, Firing
from bot.incidents.repository import IncidentRepository
from bot.incidents.stored import read_report
from bot.retention import Retention
from bot.settings import RetentionSettings
from bot.slo.state import JourneyStates
from bot.store import Store
from bot.store.migrations import migrate
from bot.store.schema import SCHEMA_VERSION
from bot.store.state import IncidentEventRow, SlackMessageRow, VerdictRow
from bot.telemetry.spanmetrics import SpanMetricRow
from correlators.changes import Change
from correlators.findings import Figures
from correlators.model import LogRecord, Span, SpanKind, Trace, log_to_dict
from tests.stored import stored_report

S = 1_000_000_000
HOUR = 3600
DAY = 24 * HOUR
ARRIVAL = 1_800_000_000.0
"""When the store takes the rows of each test (2027), whatever they are stamped."""
FAR_FUTURE_NS = 9_200_000_000 * S
"""2261-07: nanoseconds since the epoch still fit a signed 64-bit integer."""


@dataclass
class Clock:
    now: float = ARRIVAL

    def s(self) -> float:
        return self.now

    def ns(self) -> int:
        return int(self.now * S)


@dataclass
class World:
    clock: Clock
    store: Store
    incidents: IncidentRepository
    changes: ChangeLog
    retention: Retention

    def run_at(self, now_s: float) -> dict[str, int]:
        self.clock.now = now_s
        run = self.retention.run()
        assert run.failed == []
        return run.deleted

    def trace_ids(self) -> set[str]:
        with self.store.engine.connect() as connection:
            return {r[0] for r in connection.execute(text("SELECT trace_id FROM traces"))}

    def log_bodies(self) -> set[str]:
        with self.store.engine.connect() as connection:
            return {r[0] for r in connection.execute(text("SELECT body FROM logs"))}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    url = (
        f"sqlite:///{tmp_path}/r.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )
    clock = Clock()
    store = Store(url, clock=clock.ns)
    store.migrate()
    changes = ChangeLog(store.engine, clock=clock.s)
    expiry = IncidentExpiry(store.engine)
    retention = Retention(
        RetentionSettings(), store, expiry, changes, JourneyStates(store.engine), clock=clock.s
    )
    yield World(clock, store, IncidentRepository(store.engine), changes, retention)
    store.close()


def tid(name: str) -> str:
    return name.encode().hex().ljust(32, "0")[:32]


def trace(name: str, start_ns: int, end_ns: int | None = None) -> Trace:
    trace_id = tid(name)
    span = Span(
        trace_id, "1".rjust(16, "0"), None, "shop", "GET /", start_ns, end_ns or start_ns + S, SpanKind.SERVER
    )
    return Trace(trace_id, [span], journey="checkout")


STAMPS = {
    "1970": 1 * S,
    "73h-ago": int((ARRIVAL - 73 * HOUR) * S),
    "now": int(ARRIVAL * S),
}


def test_rows_age_from_arrival_whatever_they_are_stamped(world: World) -> None:
    """Taken at ARRIVAL: stamped 1970, 73 h before, now, and a trace ending in 2262. The
    first run (right after a restart) deletes none of them; one just inside the 72 h of
    the traces' and logs' tiers neither; one just past, every one, 2262's too."""
    world.store.write_traces([trace(name, at) for name, at in STAMPS.items()])
    world.store.write_traces([trace("2262", int(ARRIVAL * S), FAR_FUTURE_NS)])
    world.store.write_logs([LogRecord(at, "shop", f"log {name}") for name, at in STAMPS.items()])
    world.store.write_logs([LogRecord(FAR_FUTURE_NS, "shop", "log 2262")])
    everything = {tid(name) for name in [*STAMPS, "2262"]}

    first = world.run_at(ARRIVAL)
    assert (first["traces"], first["spans"], first["logs"]) == (0, 0, 0)
    world.run_at(ARRIVAL + 72 * HOUR - 1)
    assert world.trace_ids() == everything
    assert len(world.log_bodies()) == 4

    gone = world.run_at(ARRIVAL + 72 * HOUR + 1)
    assert (gone["traces"], gone["spans"], gone["logs"]) == (4, 4, 4)
    assert world.trace_ids() == set() and world.log_bodies() == set()


def test_a_trace_still_taking_late_spans_is_aged_from_its_last_arrival(world: World) -> None:
    world.store.write_traces([trace("late", int(ARRIVAL * S))])
    world.clock.now = ARRIVAL + 10 * HOUR
    late = trace("late", int(ARRIVAL * S))
    late.spans[0].span_id = "2".rjust(16, "0")
    world.store.write_traces([late])
    world.run_at(ARRIVAL + 72 * HOUR + 1)
    assert world.trace_ids() == {tid("late")}
    world.run_at(ARRIVAL + 82 * HOUR + 1)
    assert world.trace_ids() == set()


TEMPLATE = "payment declined for card <*>"
SAMPLE = "payment declined for card 4111-1111"


def open_incident(world: World, journey: str, cited: list[str], at_s: float) -> int:
    """An incident whose report cites ``cited[0]`` as a worst trace and shows the logs of
    ``cited[1]``, mined into a template, with its Slack parent and a waterfall kept."""
    applied = world.incidents.apply(
        journey, Action.OPEN, Firing("availability", "fast", 0, "page", 20.0, 0.5, at_s), at_s
    )
    assert applied is not None
    log = LogRecord(int(at_s * S), "payments", SAMPLE, "ERROR", 17, cited[1])
    report = stored_report(
        {
            "journey": journey,
            "scope": {"kind": "localized", "level": "service", "subject": "payments", "confidence": 0.8},
            "worst_traces": [cited[0]],
            "exemplar_logs": {cited[1]: [log_to_dict(log)]},
            "log_changes": [
                {
                    "service": "payments",
                    "template": TEMPLATE,
                    "kind": "new",
                    "baseline_count": 0,
                    "incident_count": 9,
                    "rate_ratio": None,
                    "max_severity": 17,
                    "sample": SAMPLE,
                    "trace_ids": cited,
                }
            ],
            "candidates": [
                {
                    "service": "payments",
                    "score": 0.9,
                    "evidence": [
                        {
                            "kind": "log_template",
                            "summary": f"payments logs a new error (9 lines): {SAMPLE}",
                            "weight": 0.5,
                            "subject": "payments",
                        },
                        {
                            "kind": "log_template",
                            "summary": "",
                            "weight": 0.4,
                            "subject": "payments",
                            "figures": {
                                "finding": "error_lines",
                                "kind": "surging",
                                "lines": 12,
                                "rate_ratio": 6.0,
                                "sample": f"again: {SAMPLE}",
                            },
                        },
                    ],
                }
            ],
            "gaps": [
                {
                    "kind": "missing_exemplars",
                    "service": None,
                    "count": 1,
                    "detail": f"1 exemplar traces were not kept (e.g. {tid('gone')})",
                },
                {"kind": "missing_exemplars", "service": None, "count": 2, "example": tid("gone-too")},
            ],
        }
    )
    world.incidents.store_report(applied.incident_id, report, at_s, 1.0)
    world.incidents.record_verdict(applied.incident_id, "U1", "right", at_s)
    with Session(world.store.engine) as session, session.begin():
        for kind, key, payload, content in (
            ("parent", "parent", {"text": f"{TEMPLATE} in {cited[0]}"}, None),
            ("file", f"picture:{cited[0]}", {"title": "waterfall"}, b"\x89PNG waterfall"),
        ):
            session.add(
                SlackMessageRow(
                    key=f"incident:{applied.incident_id}:{key}",
                    incident_id=applied.incident_id,
                    kind=kind,
                    channel="#checkout",
                    payload=json.dumps(payload),
                    content=content,
                    status="local",
                    created_at=at_s,
                    updated_at=at_s,
                )
            )
    return applied.incident_id


def stored_text(world: World, incident_id: int) -> str:
    """Everything kept of an incident, as one text to search."""
    row = world.incidents.row(incident_id)
    assert row is not None
    with Session(world.store.engine) as session:
        messages = session.scalars(
            select(SlackMessageRow).where(SlackMessageRow.incident_id == incident_id)
        ).all()
        events = session.scalars(
            select(IncidentEventRow).where(IncidentEventRow.incident_id == incident_id)
        ).all()
        return " ".join(
            [row.report or "", row.previous_report or ""]
            + [m.key + m.payload + (m.content or b"").decode(errors="replace") for m in messages]
            + [e.detail for e in events]
        )


def test_the_traces_an_incident_cites_outlive_their_tier_then_it_keeps_summaries(world: World) -> None:
    """Checkout's incident, resolved after a day, keeps the traces it cites (and their
    logs) 30 days past its investigation, then only summaries; login's, still open, keeps
    its traces and reports whole."""
    cited = [tid("worst"), tid("exemplar")]
    still_cited = [tid("open-worst"), tid("open-exemplar")]
    world.store.write_traces(
        [trace(name, STAMPS["now"]) for name in ("worst", "exemplar", "plain", "open-worst", "open-exemplar")]
    )
    world.store.write_logs(
        [
            LogRecord(STAMPS["now"], "payments", SAMPLE, trace_id=cited[1]),
            LogRecord(STAMPS["now"], "cart", "plain", trace_id=tid("plain")),
        ]
    )
    incident = open_incident(world, "checkout", cited, ARRIVAL)
    world.incidents.apply("checkout", Action.RESOLVE, None, ARRIVAL + DAY)
    still_open = open_incident(world, "login", still_cited, ARRIVAL)

    world.run_at(ARRIVAL + 73 * HOUR)
    assert world.trace_ids() == {*cited, *still_cited}, "the ordinary trace went with its tier"
    assert world.log_bodies() == {SAMPLE}, "the cited trace's log stayed with it"
    assert world.retention.last is not None and world.retention.last.sizes["traces_cited"] == 4

    world.run_at(ARRIVAL + 30 * DAY - HOUR)
    assert world.trace_ids() == {*cited, *still_cited}
    assert TEMPLATE in stored_text(world, incident)

    done = world.run_at(ARRIVAL + 30 * DAY + HOUR)
    assert world.trace_ids() == set(still_cited) and world.log_bodies() == set()
    assert TEMPLATE in stored_text(world, still_open) and still_cited[0] in stored_text(world, still_open)
    assert done["incidents_reduced"] == 1 and done["slack_messages_reduced"] == 2
    kept = stored_text(world, incident)
    for raw in (*cited, tid("gone"), tid("gone-too"), TEMPLATE, SAMPLE, "4111", "PNG"):
        assert raw not in kept
    assert "payments logs a new error (9 lines): [expired]" in kept
    row = world.incidents.row(incident)
    assert row is not None and row.reduced_at == ARRIVAL + 30 * DAY + HOUR
    summary = read_report(row.report, owner="test")
    assert summary is not None
    assert [c.service for c in summary.candidates] == ["payments"]
    assert summary.log_changes[0].incident_count == 9 and summary.log_changes[0].kind == "new"
    assert summary.worst_traces == [] and summary.exemplar_logs == {}
    assert world.retention.last is not None and world.retention.last.sizes["incidents_summarized"] == 1


def test_incidents_go_with_their_timeline_and_messages_after_their_period_open_ones_stay(
    world: World,
) -> None:
    resolved = open_incident(world, "checkout", [tid("a"), tid("b")], ARRIVAL)
    world.incidents.apply("checkout", Action.RESOLVE, None, ARRIVAL + DAY)
    still_open = open_incident(world, "login", [tid("c"), tid("d")], ARRIVAL)

    world.run_at(ARRIVAL + DAY + 396 * DAY - HOUR)
    assert world.incidents.row(resolved) is not None

    deleted = world.run_at(ARRIVAL + DAY + 396 * DAY + HOUR)
    assert deleted["incidents"] == 1 and deleted["slack_messages"] == 2 and deleted["verdicts"] == 1
    assert deleted["incident_events"] >= 3  # opened, investigated, verdict, resolved
    assert world.incidents.row(resolved) is None
    assert world.incidents.row(still_open) is not None
    with Session(world.store.engine) as session:
        for table in (IncidentEventRow, SlackMessageRow, VerdictRow):
            owners = set(session.scalars(select(table.incident_id)))
            assert owners == {still_open}, table.__tablename__


def test_changes_age_from_when_they_were_recorded(world: World) -> None:
    world.changes.add(Change("shop", "deploy", FAR_FUTURE_NS, "9.9"))
    world.changes.add(Change("shop", "deploy", 1 * S, "0.1"))
    assert world.run_at(ARRIVAL)["changes"] == 0
    assert world.run_at(ARRIVAL + 396 * DAY - HOUR)["changes"] == 0
    assert world.run_at(ARRIVAL + 396 * DAY + HOUR)["changes"] == 2
    assert world.changes.count() == 0


def test_span_metrics_are_merged_to_five_minutes_then_hours_then_dropped(world: World) -> None:
    """An hour of 10 s buckets of checkout's entry requests, one error in ten: merged into
    twelve 5-minute buckets once 72 h old, into one hour past 35 days, gone past 13
    months; the counts an SLO reads over the hour never change."""
    start = int(ARRIVAL) // HOUR * HOUR
    rows = []
    for i in range(360):
        row = SpanMetricRow(
            start + 10 * i, "checkout", "shop", "GET /", True, requests=2, errors=int(i % 10 == 0)
        )
        row.duration_sum_ms, row.exemplars = 10.0, [tid(f"x{i}")]
        row.histogram[3] = 2
        rows.append(row)
    world.store.write_span_metrics(rows)

    def counts() -> tuple[int, int, int]:
        return world.store.journey_window_counts("checkout", start + HOUR, [HOUR])[HOUR]

    assert counts() == (720, 36, 0)
    world.run_at(start + 72 * HOUR + 299)  # no 5-minute bucket is wholly 72 h old yet
    assert len(world.store.span_metrics(journey="checkout", start_s=start, end_s=start + HOUR)) == 360

    merged = world.run_at(start + HOUR + 72 * HOUR + 1)
    assert merged["span_metrics_merged"] == 360 - 12
    five = world.store.span_metrics(journey="checkout", start_s=start, end_s=start + HOUR)
    assert [r.bucket_start_s - start for r in five] == [300 * i for i in range(12)]
    assert {(r.requests, r.errors, r.histogram[3], r.duration_sum_ms) for r in five} == {(60, 3, 60, 300.0)}
    assert all(r.exemplars == [] for r in five)
    assert counts() == (720, 36, 0)
    assert world.retention.last is not None and world.retention.last.sizes["span_metrics_300s"] == 12

    world.run_at(start + HOUR + 35 * DAY + 1)
    hour = world.store.span_metrics(journey="checkout", start_s=start, end_s=start + HOUR)
    assert [(r.bucket_start_s, r.requests, r.errors) for r in hour] == [(start, 720, 36)]
    assert counts() == (720, 36, 0)

    world.run_at(start + 396 * DAY)  # a bucket goes by its start
    assert counts() == (720, 36, 0)
    world.run_at(start + 396 * DAY + 1)
    assert counts() == (0, 0, 0)


NEW_IN_8 = (
    ("traces", "arrived_ns"),
    ("traces", "kept_until_ns"),
    ("logs", "arrived_ns"),
    ("changes", "arrived_at"),
    ("span_metrics", "resolution_s"),
    ("incidents", "reduced_at"),
    ("investigations", "reduced_at"),
)


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_schema_7_store_is_dated_by_its_stamps_but_never_later_than_now(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Rows stored before arrival was kept get their stamp as arrival (what retention went
    by until then), so nothing is kept longer than it was; a stamp in 2262 gets now."""
    url = f"sqlite:///{tmp_path}/v7.db" if dialect == "sqlite" else request.getfixturevalue("postgres_url")
    store = Store(url)
    migrate(store.engine, target=7)
    with store.engine.begin() as connection:
        for index in ("ix_traces_arrived", "ix_logs_arrived", "ix_changes_arrived_at"):
            connection.exec_driver_sql(f"DROP INDEX {index}")
        for table, column in NEW_IN_8:
            connection.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        for name, end in (("old", S), ("ahead", FAR_FUTURE_NS)):
            connection.execute(
                text(
                    "INSERT INTO traces (trace_id, start_ns, end_ns, duration_ns, span_count, error, "
                    "sampling_weight, orphan_count) VALUES (:id, 0, :end, :end, 1, false, 1.0, 0)"
                ),
                {"id": tid(name), "end": end},
            )
            connection.execute(
                text(
                    "INSERT INTO logs (time_ns, service, severity_number, severity_text, body, data) "
                    "VALUES (:at, 'shop', 0, '', :body, '{}')"
                ),
                {"at": end, "body": name},
            )
            connection.execute(
                text("INSERT INTO changes (service, kind, at, source) VALUES ('shop', 'deploy', :at, :name)"),
                {"at": end / S, "name": name},
            )
    before = time.time_ns()
    store.migrate()
    after = time.time_ns()
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT version FROM schema_meta")).scalar() == SCHEMA_VERSION
        traces = dict(connection.execute(text("SELECT trace_id, arrived_ns FROM traces")).all())
        logs = dict(connection.execute(text("SELECT body, arrived_ns FROM logs")).all())
        changes = dict(connection.execute(text("SELECT source, arrived_at FROM changes")).all())
    assert traces[tid("old")] == logs["old"] == S and changes["old"] == 1.0
    assert before <= traces[tid("ahead")] <= after and before <= logs["ahead"] <= after
    assert before / S - 1 <= changes["ahead"] <= after / S + 1
    store.close()


def test_every_finding_that_quotes_a_log_line_is_cut_when_an_incident_is_summarized() -> None:
    quoting = {
        kind for kind in get_args(get_args(Figures)[0]) if any("sample" in f.name for f in fields(kind))
    }
    assert quoting == set(QUOTING)
