"""A row the database refuses costs nobody else's (issue 14, item 3), on SQLite and on the
real PostgreSQL server the suite starts.

Values a column cannot hold as sent (a NUL character, a service name or session id past
255 characters, a severity text past 32) are made to fit by the row builder, marked when
cut, so the database never refuses them. What the database still refuses is found by
splitting the batch: every good row is written, the refused ones go to the quarantine
table with the database's reason, shown on /healthz and on a page behind the token.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLogRecord
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.config import load_config
from bot.server import Bot, build_bot, create_app
from bot.settings import Settings
from bot.store import BatchWriter, Store, TraceQuery
from bot.store import rows as row_builder
from bot.store.rows import TRUNCATED
from bot.store.schema import logs as logs_table
from bot.store.schema import spans as spans_table
from correlators.model import LogRecord, Span, Trace
from tests.asgi import AppClient
from tests.fixtures.bot_server import REPO
from tests.test_ingest_http import NOW_NS, PROTOBUF, otlp_logs, otlp_request

TOKEN = "quarantine-test-token"
GOOD_TRACES = 50
SPANS_PER_TRACE = 4


@pytest.fixture
def bot(database_url: str) -> Iterator[Bot]:
    """In process, a writer thread, no quiet period, a token on the pages."""
    settings = Settings(
        ingest_keys={"required": False},  # these tests send without a key
        database_url=database_url,
        api_token=SecretStr(TOKEN),
        collector={"quiet_period_s": 0, "writer_process": False, "spool": {"enabled": False}},
    )
    bot = build_bot(settings, load_config(REPO / "config" / "journeys.yaml"))
    bot.writer.start()
    yield bot
    bot.writer.stop()
    bot.writer.store.close()
    bot.store.close()


def post_good_traces(client: AppClient) -> list[str]:
    """200 spans in 50 error traces (errors are always kept)."""
    ids = []
    for _ in range(GOOD_TRACES):
        trace_id = os.urandom(16).hex()
        request = otlp_request(trace_id, spans=SPANS_PER_TRACE, error=True)
        assert (
            client.post("/v1/traces", content=request.SerializeToString(), headers=PROTOBUF).status_code
            == 200
        )
        ids.append(trace_id)
    return ids


def stored_spans(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(spans_table)).scalar_one())


def test_values_no_column_holds_as_sent_are_made_to_fit(bot: Bot) -> None:
    """Through the real app: a NUL in a span name and a log body, a 300-character
    service.name and session.id, a 33-character severity text, among 200 good spans."""
    client = AppClient(create_app(bot))
    good = post_good_traces(client)
    poison_id = os.urandom(16).hex()
    request = otlp_request(poison_id, spans=2, error=True)
    resource_spans = request.resource_spans[0]
    resource_spans.resource.attributes[0].value.string_value = "s" * 300
    first, second = resource_spans.scope_spans[0].spans
    first.name = "GET /nul\x00here"
    second.attributes.append(KeyValue(key="session.id", value=AnyValue(string_value="x" * 300)))
    assert client.post("/v1/traces", content=request.SerializeToString(), headers=PROTOBUF).status_code == 200
    record = PbLogRecord(
        time_unix_nano=NOW_NS,
        severity_text="W" * 33,
        body=AnyValue(string_value="a NUL \x00 in a log"),
    )
    answer = client.post("/v1/logs", content=otlp_logs(record).SerializeToString(), headers=PROTOBUF)
    assert answer.status_code == 200
    bot.collector.tick()
    bot.writer.flush()

    assert stored_spans(bot.store) == GOOD_TRACES * SPANS_PER_TRACE + 2
    assert all(bot.store.get_trace(trace_id) is not None for trace_id in good)
    stored = bot.store.get_trace(poison_id)
    assert stored is not None
    assert {s.name for s in stored.spans} == {"GET /nulhere", "step 1"}
    service = stored.spans[0].service
    assert len(service) == 255 and service.endswith(TRUNCATED)
    summary = bot.store.session(stored.session_id or "")[0]
    assert summary.trace_id == poison_id and len(summary.session_id or "") == 255
    with bot.store.engine.connect() as connection:
        severity, body = connection.execute(select(logs_table.c.severity_text, logs_table.c.body)).one()
    assert (len(severity), severity.endswith(TRUNCATED), body) == (32, True, "a NUL  in a log")
    assert bot.writer.stats.quarantine_entries == 0
    assert bot.writer.stats.items_lost == 0


def no_fitting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The row builder's fitting off, to reach the writer's net with what it would fix."""
    monkeypatch.setattr(row_builder, "fit", lambda text, limit=None: text)
    monkeypatch.setattr(row_builder, "fit_int32", lambda value: value)


def good_traces() -> list[Trace]:
    traces = []
    for n in range(GOOD_TRACES):
        trace_id = f"{n + 1:032x}"
        spans = [
            Span(
                trace_id,
                f"{i + 1:016x}",
                None if i == 0 else f"{1:016x}",
                "shop",
                f"op {i}",
                NOW_NS,
                NOW_NS + 10,
            )
            for i in range(SPANS_PER_TRACE)
        ]
        traces.append(Trace(trace_id, spans))
    return traces


def poison_span(trace_id: str, span_id: str = "00000000000000aa", **fields: Any) -> Span:
    values: dict[str, Any] = {"service": "shop", "name": "poison", "start_ns": NOW_NS, "end_ns": NOW_NS + 10}
    values.update(fields)
    return Span(
        trace_id, span_id, None, values["service"], values["name"], values["start_ns"], values["end_ns"]
    )


def poison_items(dialect: str) -> tuple[list[Trace], list[LogRecord], list[str]]:
    """One of each thing the database refuses, with the words its reason must hold."""
    out_of_range = 2**63  # one past BIGINT on both
    traces = [Trace("f" * 32, [poison_span("f" * 32, start_ns=out_of_range, end_ns=out_of_range)])]
    logs = [LogRecord(NOW_NS, "shop", "poison log", severity_number=2**63)]
    words = ["int"]
    if dialect == "postgresql":
        traces += [
            Trace("e" * 32, [poison_span("e" * 32, name="nul \x00 name")]),
            Trace("d" * 32, [poison_span("d" * 32, service="s" * 300)]),
            Trace("c" * 32, [poison_span("c" * 32)], session_id="x" * 300),
        ]
        logs += [LogRecord(NOW_NS, "shop", "long severity", severity_text="W" * 33)]
        words += ["NUL", "too long"]
    return traces, logs, words


def test_what_the_database_refuses_is_quarantined_and_every_good_row_written(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_fitting(monkeypatch)
    dialect = bot.store.engine.dialect.name
    poison_traces, poison_logs, words = poison_items(dialect)
    # the poison in the middle of one submission, so that one transaction holds all
    good = good_traces()
    bot.writer.submit_traces(good[:25] + poison_traces + good[25:])
    bot.writer.submit_logs([LogRecord(NOW_NS, "shop", "good log"), *poison_logs])
    bot.writer.flush(timeout=60)

    assert stored_spans(bot.store) == GOOD_TRACES * SPANS_PER_TRACE
    assert len(bot.store.find_traces(TraceQuery(limit=1000))) == GOOD_TRACES
    assert [r.body for r in bot.store.logs(service="shop", start_ns=0, end_ns=2**62, limit=10)] == [
        "good log"
    ]
    stats = bot.writer.stats
    refused = len(poison_traces) + len(poison_logs)
    assert (stats.items_quarantined, stats.quarantine_entries, stats.items_lost) == (refused, refused, 0)
    assert stats.rows_written == GOOD_TRACES * SPANS_PER_TRACE + 1
    total, entries = bot.store.quarantined()
    assert total == refused
    assert sorted(e["kind"] for e in entries) == sorted(
        ["trace"] * len(poison_traces) + ["log"] * len(poison_logs)
    )
    reasons = " ".join(e["reason"] for e in entries)
    for word in words:
        assert word in reasons, (word, reasons)
    assert "[parameters" not in reasons  # the database's message, not the statement's values
    assert all(len(e["data"]) <= 8 * 1024 + len(TRUNCATED) for e in entries)
    assert any("f" * 32 in e["what"] for e in entries)


def test_one_refused_span_of_a_trace_costs_only_itself(any_store: Store) -> None:
    """A trace whose own row the database takes is split span by span. The poison is a
    name neither database can encode (a lone surrogate, which no decoder lets in)."""
    writer = BatchWriter(any_store, max_pending=10_000, process=False)
    writer.start()
    try:
        trace_id = "a" * 32
        spans = [poison_span(trace_id, f"{i + 1:016x}") for i in range(7)]
        for child in spans[1:]:
            child.parent_span_id = spans[0].span_id
        spans[3].name = "bad \ud800 name"
        writer.submit_traces([Trace(trace_id, spans)])
        writer.flush(timeout=60)
    finally:
        writer.stop()
    stored = any_store.get_trace(trace_id)
    assert stored is not None and len(stored.spans) == 6
    total, entries = any_store.quarantined()
    assert (total, entries[0]["kind"], entries[0]["items"]) == (1, "span", 1)
    assert writer.stats.items_quarantined == 1


def test_healthz_and_the_page_show_the_quarantine_behind_the_token(bot: Bot) -> None:
    client = AppClient(create_app(bot))
    bot.writer.submit_traces([*good_traces()[:3], Trace("f" * 32, [poison_span("f" * 32, start_ns=2**63)])])
    bot.writer.flush(timeout=60)
    writer = client.get("/healthz").json()["writer"]
    assert writer["items_quarantined"] == 1 and writer["quarantine_entries"] == 1
    assert len(writer["quarantine_reasons"]) == 1 and "int" in writer["quarantine_reasons"][0]

    refused = client.get("/quarantine")
    assert refused.status_code == 401
    assert "f" * 32 not in refused.text
    page = client.get("/quarantine", headers={"authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200
    assert "f" * 32 in page.text
    assert writer["quarantine_reasons"][0].split(":")[0] in page.text
