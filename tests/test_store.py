"""The store, on SQLite and on a real PostgreSQL server, through the same code."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.incidents.ondemand import OnDemandReports
from bot.store import Store, TraceQuery
from bot.store.expiry import Expiry
from bot.store.migrations import migrate
from bot.store.schema import SCHEMA_VERSION, metadata
from bot.telemetry.spanmetrics import LATENCY_BOUNDS_MS, SpanMetricRow
from correlators.errors import DataSourceError, SchemaVersionError
from correlators.model import (
    LogRecord,
    MetricDataPoint,
    Span,
    SpanEvent,
    SpanKind,
    SpanLink,
    StatusCode,
    Trace,
)
from tests.stored import stored_report

MS = 1_000_000
HOUR = 3600 * 1_000_000_000
DAY = 24 * HOUR
T0 = 1_700_000_000_000_000_000


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/store.db"
    else:
        url = request.getfixturevalue("postgres_url")
    store = Store(url)
    store.migrate()
    yield store
    store.close()


def span(
    trace: str,
    sid: str,
    parent: str | None = None,
    *,
    service: str = "cart",
    start: int = 0,
    dur: int = 10,
    error: bool = False,
    **attrs: object,
) -> Span:
    return Span(
        trace_id=trace,
        span_id=sid.rjust(16, "0"),
        parent_span_id=parent.rjust(16, "0") if parent else None,
        service=service,
        name=f"op {sid}",
        start_ns=T0 + start * MS,
        end_ns=T0 + (start + dur) * MS,
        kind=SpanKind.SERVER,
        status=StatusCode.ERROR if error else StatusCode.UNSET,
        attributes=dict(attrs),  # type: ignore[arg-type]
    )


def tid(n: int) -> str:
    return f"{n:032x}"


def test_a_trace_round_trips_with_every_field(store: Store) -> None:
    full = Span(
        trace_id=tid(1),
        span_id="a" * 16,
        parent_span_id="c" * 16,  # not stored: an orphan, as a read marks it
        service="frontend",
        name="POST /checkout",
        start_ns=T0,
        end_ns=T0 + 250 * MS,
        kind=SpanKind.SERVER,
        status=StatusCode.ERROR,
        status_message="payment declined",
        instance="fe-1",
        service_version="1.4.2",
        region="eu-west-1",
        zone="eu-west-1a",
        language="python",
        attributes={"s": "x", "i": 42, "f": 1.5, "b": True, "list": ["a", "b"], "none": None},
        resource={"service.name": "frontend", "host.name": "h1"},
        events=[SpanEvent("exception", T0 + MS, {"exception.type": "ValueError"})],
        links=[SpanLink(tid(9), "b" * 16, {"link.kind": "retry"})],
        orphan=True,
    )
    trace = Trace(
        tid(1),
        [full],
        journey="checkout",
        session_id="s1",
        user_id="h:u1",
        sampling_weight=5.0,
        sampling_reason="sampled",
    )
    store.write_traces([trace])
    back = store.get_trace(tid(1))
    assert back == trace
    assert store.get_trace(tid(2)) is None


def test_spans_read_together_share_equal_values_and_keep_their_own(store: Store) -> None:
    """An investigation reads tens of thousands of spans: equal resources and strings are
    one object per read (rows.Shared), while every value still reads back as written."""
    resource = {"service.name": "cart", "host.name": "h1", "tags": ["a", "b"]}
    plain = {"service.name": "cart", "host.name": "h1"}
    spans = [span(tid(n), "1", route="/cart", order=f"o-{n}") for n in range(1, 4)]
    for n, s in enumerate(spans):
        s.resource = plain if n else resource
    spans.append(span(tid(1), "2", "1", route="/cart", order="o-x"))
    spans[-1].resource = dict(plain)
    store.write_traces([Trace(tid(n), [s for s in spans if s.trace_id == tid(n)]) for n in range(1, 4)])

    read = {(s.trace_id, s.span_id): s for t in store.get_traces([tid(1), tid(2), tid(3)]) for s in t.spans}
    one, two, three, child = (read[(s.trace_id, s.span_id)] for s in spans)
    assert [s.attributes["order"] for s in (one, two, three, child)] == ["o-1", "o-2", "o-3", "o-x"]
    assert one.resource == resource and two.resource == three.resource == child.resource == plain
    assert two.resource is three.resource is child.resource  # one dict per distinct resource
    assert one.resource is not two.resource
    assert two.attributes["route"] is three.attributes["route"] is child.attributes["route"]
    assert one.trace_id is child.trace_id and one.service is two.service
    assert one.events == () and one.links == ()


def test_late_spans_merge_and_duplicates_are_ignored(store: Store) -> None:
    first = Trace(
        tid(3),
        [span(tid(3), "1", dur=100), span(tid(3), "2", "1", start=10)],
        journey="checkout",
        sampling_reason="sampled",
        sampling_weight=10,
    )
    store.write_traces([first])
    late = Trace(
        tid(3),
        [
            span(tid(3), "3", "1", start=90, dur=60, error=True),
            span(tid(3), "2", "1", start=10),
        ],  # a re-sent span
        sampling_reason="late",
    )
    store.write_traces([late])
    [summary] = store.find_traces(TraceQuery())
    assert summary.span_count == 3
    assert summary.duration_ns == 150 * MS
    assert summary.error is True
    assert summary.journey == "checkout"
    assert summary.sampling_weight == 10
    assert len(store.get_trace(tid(3)).spans) == 3  # type: ignore[union-attr]


def test_a_late_root_becomes_the_root_and_resent_orphans_count_once(store: Store) -> None:
    child = span(tid(4), "2", "1", service="payments", start=10, dur=20)
    child.orphan = True  # its parent had not arrived when the trace was decided
    store.write_traces([Trace(tid(4), [child])])
    [before] = store.find_traces(TraceQuery())
    assert (before.root_service, before.root_name, before.orphan_count) == ("payments", "op 2", 1)
    root = span(tid(4), "1", service="frontend", start=0, dur=40)
    store.write_traces([Trace(tid(4), [root, child])])  # the root, and the child re-sent
    [after] = store.find_traces(TraceQuery())
    assert (after.root_service, after.root_name) == ("frontend", "op 1")
    assert (after.span_count, after.orphan_count) == (2, 1)
    assert (after.start_ns, after.end_ns, after.duration_ns) == (T0, T0 + 40 * MS, 40 * MS)


def test_parts_of_one_trace_in_one_write_are_merged(store: Store) -> None:
    # what the writer does when it coalesces a trace's first and late submissions
    store.write_traces(
        [
            Trace(tid(5), [span(tid(5), "1", dur=30)], journey="checkout", session_id="s"),
            Trace(tid(5), [span(tid(5), "2", "1", start=25, dur=20, error=True)]),
            Trace(tid(5), [span(tid(5), "2", "1", start=25, dur=20, error=True)]),
        ]
    )
    [summary] = store.find_traces(TraceQuery())
    assert (summary.span_count, summary.duration_ns, summary.error) == (2, 45 * MS, True)
    assert (summary.journey, summary.session_id, summary.root_name) == ("checkout", "s", "op 1")


def test_find_traces_filters(store: Store) -> None:
    store.write_traces(
        [
            Trace(
                tid(10),
                [
                    span(tid(10), "1", service="frontend", start=0, dur=50),
                    span(tid(10), "2", "1", service="payments", start=5),
                ],
                journey="checkout",
            ),
            Trace(
                tid(11),
                [span(tid(11), "1", service="frontend", start=1000, dur=900, error=True)],
                journey="checkout",
            ),
            Trace(
                tid(12),
                [span(tid(12), "1", service="frontend", start=2000, dur=20)],
                journey="login",
            ),
        ]
    )

    def ids(**query: object) -> list[str]:
        return [s.trace_id for s in store.find_traces(TraceQuery(**query))]  # type: ignore[arg-type]

    assert ids() == [tid(12), tid(11), tid(10)]  # newest first
    assert ids(journey="checkout") == [tid(11), tid(10)]
    assert ids(service="payments") == [tid(10)]
    assert ids(error=True) == [tid(11)]
    assert ids(error=False) == [tid(12), tid(10)]
    assert ids(min_duration_ns=100 * MS) == [tid(11)]
    assert ids(start_ns=T0 + 500 * MS, end_ns=T0 + 1500 * MS) == [tid(11)]
    assert ids(limit=1) == [tid(12)]


def test_session_by_session_and_by_user_in_order(store: Store) -> None:
    store.write_traces(
        [
            Trace(
                tid(21),
                [span(tid(21), "1", start=300)],
                journey="checkout",
                session_id="s",
                user_id="u",
            ),
            Trace(
                tid(20),
                [span(tid(20), "1", start=100)],
                journey="login",
                session_id="s",
                user_id="u",
            ),
            Trace(
                tid(22),
                [span(tid(22), "1", start=200)],
                journey="search",
                session_id="other",
                user_id="u",
            ),
        ]
    )
    assert [s.journey for s in store.session("s")] == ["login", "checkout"]
    assert [s.trace_id for s in store.session("u")] == [tid(20), tid(22), tid(21)]
    assert store.session("nobody") == []


def test_logs_by_trace_and_by_service_window(store: Store) -> None:
    logs = [
        LogRecord(
            T0 + 2 * MS,
            "cart",
            "second",
            "INFO",
            9,
            tid(30),
            "1" * 16,
            "c-1",
            0,
            {"k": 1},
            {"r": "x"},
        ),
        LogRecord(T0 + 1 * MS, "cart", "first", "ERROR", 17, tid(30)),
        LogRecord(T0 + 3 * MS, "search", "unrelated"),
    ]
    store.write_logs(logs)
    assert [r.body for r in store.logs_for_trace(tid(30))] == ["first", "second"]
    assert store.logs_for_trace(tid(30))[1] == logs[0]
    window = store.logs(service="cart", start_ns=T0, end_ns=T0 + 10 * MS, limit=10)
    assert [r.body for r in window] == ["first", "second"]
    assert [r.body for r in store.logs(service=None, start_ns=T0 + 3 * MS, end_ns=T0 + 4 * MS, limit=10)] == [
        "unrelated"
    ]


def test_span_metric_rows_of_one_key_are_summed_on_read(store: Store) -> None:
    def row(requests: int, errors: int, bucket: int, exemplars: list[str]) -> SpanMetricRow:
        histogram = [0] * (len(LATENCY_BOUNDS_MS) + 1)
        histogram[2] = requests
        return SpanMetricRow(
            bucket,
            "checkout",
            "frontend",
            "POST /checkout",
            True,
            requests,
            errors,
            1,
            10.0 * requests,
            histogram,
            exemplars,
        )

    store.write_span_metrics([row(10, 1, 100, ["t1"]), row(5, 2, 110, ["t2"])])
    store.write_span_metrics([row(3, 0, 100, ["t1", "t3"])])  # a late row for bucket 100
    rows = sorted(
        store.span_metrics(journey="checkout", start_s=100, end_s=120),
        key=lambda r: r.bucket_start_s,
    )
    assert [(r.bucket_start_s, r.requests, r.errors, r.slow) for r in rows] == [
        (100, 13, 1, 2),
        (110, 5, 2, 1),
    ]
    assert rows[0].histogram[2] == 13
    assert rows[0].exemplars == ["t1", "t3"]
    assert rows[0].duration_sum_ms == 130.0
    assert store.span_metrics(journey="login", start_s=0, end_s=1000) == []
    assert len(store.span_metrics(journey=None, start_s=110, end_s=111)) == 1


def cutoffs(
    now: int, traces: int = 0, logs: int = 0, resources: int = 0, metrics_s: int = 0, points: int = 0
) -> Expiry:
    return Expiry(
        now_ns=now,
        traces_before_ns=traces,
        logs_before_ns=logs,
        resources_before_ns=resources,
        metrics_before_s=metrics_s,
        points_before_ns=points,
    )


def test_purge_by_arrival_per_table(store: Store) -> None:
    """Rows go by when the store took them: the first trace and log arrived at T0, the
    second ones ten seconds later, whatever their stamps say (the first are stamped later)."""
    store.clock = lambda: T0
    store.write_traces([Trace(tid(40), [span(tid(40), "1", start=10_000)])])
    store.write_logs([LogRecord(T0 + 10_000 * MS, "a", "first")])
    store.write_metric_points([MetricDataPoint("load", "a", {}, T0 + 10_000 * MS, value=1.0)])
    store.clock = lambda: T0 + 10_000 * MS
    store.write_traces([Trace(tid(41), [span(tid(41), "1", start=0)])])
    store.write_logs([LogRecord(T0, "a", "second")])
    store.write_metric_points([MetricDataPoint("load", "a", {}, T0, value=2.0)])
    store.write_span_metrics(
        [SpanMetricRow(100, "j", "s", "o", True), SpanMetricRow(200, "j", "s", "o", True)]
    )
    half = T0 + 5_000 * MS
    deleted = store.purge(cutoffs(T0 + 10_000 * MS, traces=half, logs=half, metrics_s=150, points=half))
    assert deleted == {
        "traces": 1,
        "spans": 1,
        "logs": 1,
        "span_metrics": 1,
        "metric_points": 1,
        "resources": 0,
        "quarantine": 0,
        "span_metrics_merged": 0,
    }
    assert [s.trace_id for s in store.find_traces(TraceQuery())] == [tid(41)]
    assert store.get_trace(tid(40)) is None
    assert [r.body for r in store.logs(service="a", start_ns=0, end_ns=2 * T0, limit=10)] == ["second"]
    assert [p.value for p in store.metric_points(service="a", start_ns=0, end_ns=2 * T0, limit=10)] == [2.0]


def test_a_resource_is_stored_once_and_goes_when_no_span_has_named_it_for_long(store: Store) -> None:
    """Fifty spans of two service instances in two writes: two resource rows. Retention
    keeps a resource while a span naming it may still be stored (the traces' retention
    plus the refresh interval and a day's margin) and deletes it after that."""
    cart = {"service.name": "cart", "service.instance.id": "cart-1"}
    cart_2 = {"service.name": "cart", "service.instance.id": "cart-2"}
    batches = []
    for batch in range(2):
        spans = [span(tid(60 + batch), str(n + 1)) for n in range(25)]
        for n, s in enumerate(spans):
            s.resource = dict(cart if n % 2 else cart_2)  # equal, not the same dict
        batches.append(Trace(tid(60 + batch), spans))
    for trace in batches:
        store.write_traces([trace])
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM resources")).scalar() == 2
    read = store.get_trace(tid(61))
    assert read is not None
    assert {s.resource["service.instance.id"] for s in read.spans} == {"cart-1", "cart-2"}

    now = time.time_ns()
    kept = store.purge(cutoffs(now, traces=now - HOUR, resources=now - HOUR))
    assert kept["resources"] == 0 and kept["traces"] == 0  # stamped 2023, arrived now
    expired = store.purge(cutoffs(now, traces=now + 2 * DAY, resources=now + 2 * DAY))
    assert expired["resources"] == 2


def test_a_resource_seen_again_is_refreshed_at_most_hourly(store: Store) -> None:
    def seen() -> int:
        with store.engine.connect() as connection:
            return int(connection.execute(text("SELECT seen_ns FROM resources")).scalar_one())

    def write(n: int) -> None:
        one = span(tid(70 + n), "1")
        one.resource = {"service.name": "cart"}
        store.write_traces([Trace(tid(70 + n), [one])])

    write(0)
    first = seen()
    write(1)
    assert seen() == first  # under an hour old: not rewritten
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE resources SET seen_ns = :old"), {"old": first - 2 * HOUR})
    write(2)
    assert seen() >= first


def test_spans_written_before_schema_3_keep_their_inline_resource(store: Store) -> None:
    """A schema-2 database (resource inline in each span's data) upgraded in place: the
    old rows read as they were written, and new writes name resource rows."""
    with store.engine.begin() as connection:
        connection.execute(text("DROP TABLE resources"))
        connection.execute(text("ALTER TABLE spans DROP COLUMN resource_id"))
        connection.execute(text("UPDATE schema_meta SET version = 2"))
        legacy = {
            "status_message": "declined",
            "service_version": "1.4.2",
            "region": "eu-west-1",
            "zone": "eu-west-1a",
            "language": "python",
            "attributes": {"order": "o-1"},
            "resource": {"service.name": "cart", "host.name": "h1"},
            "events": [],
            "links": [],
        }
        connection.execute(
            text(
                "INSERT INTO spans (trace_id, span_id, parent_span_id, service, instance, name, kind,"
                " start_ns, end_ns, status, orphan, data) VALUES (:t, :s, NULL, 'cart', 'h1', 'op',"
                " 'server', :start, :end, 'error', false, :data)"
            ),
            {"t": tid(80), "s": "1".rjust(16, "0"), "start": T0, "end": T0 + MS, "data": json.dumps(legacy)},
        )
    assert migrate(store.engine) == 2
    store.write_traces([Trace(tid(80), [span(tid(80), "2", "1", start=1)])])

    old, new = store.get_trace(tid(80)).spans  # type: ignore[union-attr]
    assert (old.status_message, old.service_version, old.region, old.zone, old.language) == (
        "declined",
        "1.4.2",
        "eu-west-1",
        "eu-west-1a",
        "python",
    )
    assert old.resource == {"service.name": "cart", "host.name": "h1"}
    assert old.attributes == {"order": "o-1"}
    assert new.resource == {} and new.parent_span_id == old.span_id


def test_migrate_is_idempotent_and_refuses_a_newer_schema(store: Store) -> None:
    store.migrate()  # already at the current version: nothing happens
    assert migrate(store.engine) == SCHEMA_VERSION
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE schema_meta SET version = 99"))
    with pytest.raises(SchemaVersionError, match="newer than this journeywatch knows"):
        store.migrate()


def test_an_older_schema_is_upgraded_step_by_step(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/old.db")
    assert migrate(engine, target=1) == 0
    applied: list[int] = []

    def step(connection: object) -> None:
        applied.append(1)
        connection.execute(text("ALTER TABLE traces ADD COLUMN note TEXT"))  # type: ignore[attr-defined]

    assert migrate(engine, target=2, steps={1: step}) == 1
    assert applied == [1]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version FROM schema_meta")).scalar() == 2
        connection.execute(text("SELECT note FROM traces"))
    with pytest.raises(SchemaVersionError, match="no migration from schema version 2"):
        migrate(engine, target=3, steps={})
    engine.dispose()


def test_a_version_1_database_gains_the_bot_state_tables(tmp_path: Path) -> None:
    """A database written before incidents existed: telemetry tables only, version 1."""
    engine = create_engine(f"sqlite:///{tmp_path}/v1.db")
    telemetry = [
        t
        for name, t in metadata.tables.items()
        if name in ("schema_meta", "traces", "spans", "logs", "span_metrics")
    ]
    with engine.begin() as connection:
        metadata.create_all(connection, tables=telemetry)
        connection.execute(text("INSERT INTO schema_meta (id, version) VALUES (1, 1)"))
    assert migrate(engine) == 1
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version FROM schema_meta")).scalar() == SCHEMA_VERSION
        assert connection.execute(text("SELECT count(*) FROM incidents")).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM leases")).scalar() == 0
    engine.dispose()


def test_sqlite_file_folder_is_created_and_runs_in_wal_mode(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/not/yet/there.db")
    store.migrate()
    assert (tmp_path / "not" / "yet" / "there.db").is_file()
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    store.close()


def test_a_database_failure_is_a_data_source_error_naming_the_query(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/empty.db")  # never migrated: no tables
    with pytest.raises(DataSourceError) as failed:
        store.find_traces(TraceQuery(journey="checkout"))
    assert failed.value.source == f"sqlite:///{tmp_path}/empty.db"
    assert failed.value.query.startswith("find_traces TraceQuery(journey='checkout'")
    assert "no such table: traces" in failed.value.reason
    store.close()


def test_a_version_3_database_gains_the_investigations_table(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/v3.db")
    assert migrate(engine, target=3) == 0
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE investigations"))  # as version 3 had it
    assert migrate(engine) == 3
    kept = OnDemandReports(engine)
    report = stored_report({"scope": {"kind": "localized", "level": "service", "confidence": 0.5}})
    found = kept.get(kept.add("checkout", "U0ONCALL", 10.0, 20.0, report))
    assert found is not None and (found.journey, found.report) == ("checkout", report)
    engine.dispose()
