"""Traces and logs read from a team's own backends pass the collector's redaction before
an investigation, a page or Slack sees them (bot/sources/redacted.py).

Jaeger and Loki cannot run here (no registry we reach ships them): the sources read from
the faithful fakes of tests/fixtures/fake_backends.py, local HTTP servers on loopback that
answer in each backend's documented format; what they answer holds the secrets."""

from __future__ import annotations

from pathlib import Path

from bot.config import AppConfig, RedactionRules
from bot.settings import Settings
from bot.sources.build import build_sources
from bot.store import Store
from bot.telemetry.redact import Redactor
from correlators.fingerprint import ARGUMENTS_DIGEST, QUERY_DIGEST
from tests.fixtures.fake_backends import JaegerFake, LokiFake, jaeger_span, jaeger_trace

START_US = 1_714_564_800_000_000
START = START_US * 1_000
END = START + 600 * 1_000_000_000
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
KEY = b"the collector's key"


def test_what_jaeger_and_loki_hold_is_redacted_as_the_collector_would_store_it(
    jaeger_fake: JaegerFake, loki_fake: LokiFake, tmp_path: Path
) -> None:
    root = jaeger_span(
        TRACE,
        "00000000000000a1",
        "GET /orders",
        START_US,
        90_000,
        tags={
            "span.kind": "server",
            "enduser.id": "user-17",
            "url.full": "https://shop.example/orders?session=Qx7Wombat19",
        },
    )
    query = jaeger_span(
        TRACE,
        "00000000000000a2",
        "SELECT",
        START_US + 1_000,
        30_000,
        parent="00000000000000a1",
        tags={"span.kind": "client", "db.statement": "SELECT * FROM users WHERE email = 'jo@x.io'"},
    )
    jaeger_fake.add_trace(jaeger_trace([root, query], {"p1": ("orders", {})}))
    loki_fake.add({"service_name": "orders"}, START + 5, "mailed jane.doe@example.com", trace_id=TRACE)
    config = AppConfig.model_validate(
        {
            "sources": {
                "traces": "jaeger",
                "jaeger": {"url": jaeger_fake.url},
                "logs": "loki",
                "loki": {"url": loki_fake.url},
            }
        }
    )
    redactor = Redactor(RedactionRules(), KEY)
    store = Store(f"sqlite:///{tmp_path}/s.db")
    sources = build_sources(config, Settings(), store, redactor)
    try:
        [trace] = sources.traces.get_traces([TRACE])
        spans = {s.name: s for s in trace.spans}
        assert spans["SELECT"].attributes["db.statement"] == "SELECT * FROM users WHERE email = ?"
        assert ARGUMENTS_DIGEST in spans["SELECT"].attributes
        assert spans["GET /orders"].attributes["url.full"] == "https://shop.example/orders?session=?"
        assert QUERY_DIGEST in spans["GET /orders"].attributes
        assert spans["GET /orders"].attributes["enduser.id"] == redactor.hash_value("user-17")
        assert trace.user_id == redactor.hash_value("user-17")  # what the built-in store would hold
        assert "jo@x.io" not in repr(trace) and "Qx7Wombat19" not in repr(trace)
        [line] = sources.logs.logs_for_traces([TRACE], START, END, 10)
        assert "jane.doe@example.com" not in line.body and line.body.startswith("mailed ")
    finally:
        sources.close()
        store.close()


def test_without_a_redactor_the_sources_are_the_backends_own(jaeger_fake: JaegerFake, tmp_path: Path) -> None:
    """The built-in store was redacted at ingest and is never wrapped; files read by
    `analyze` are the caller's own and pass no redactor."""
    config = AppConfig.model_validate({"sources": {"traces": "jaeger", "jaeger": {"url": jaeger_fake.url}}})
    store = Store(f"sqlite:///{tmp_path}/s.db")
    plain = build_sources(config, Settings(), store)
    builtin = build_sources(AppConfig(), Settings(), store, Redactor(RedactionRules(), KEY))
    try:
        assert type(plain.traces).__name__ == "JaegerTraceSource"
        assert type(builtin.traces).__name__ == "BuiltinTraceSource"
    finally:
        plain.close()
        builtin.close()
        store.close()
