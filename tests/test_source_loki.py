"""The Loki log source, through httpx, against a faithful fake.

Loki cannot run here: no package registry we can reach ships it. So these tests run the
source against ``LokiFake`` (tests/fixtures/fake_backends.py), a local HTTP server on a
free loopback port that answers ``/loki/api/v1/query_range`` in Loki's documented format
(``streams``, each entry ``[<ns as a string>, <line>]``, with ``{"structuredMetadata":
...}`` as a third element when ``categorize-labels`` is asked of a Loki 3, folded into the
stream labels by a Loki 2), refuses what Loki refuses (a selector that matches the empty
string, a limit past 5,000, a missing tenant), and evaluates the LogQL it is sent, so each
test asserts both the query we sent and the lines that query selects.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from bot.config import AppConfig
from bot.settings import Settings, SourceCredentials
from bot.sources import logql
from bot.sources.build import build_sources
from bot.sources.config import LokiConfig
from bot.sources.elasticsearch import SAMPLE_SLICES
from bot.sources.loki import IDS_PER_QUERY, LokiLogSource
from bot.store import Store
from correlators.errors import DataSourceError
from tests.fixtures.fake_backends import FakeServer, LokiFake, Reply

S = 1_000_000_000
START = 1_714_564_800 * S  # 2024-05-01T12:00:00Z
END = START + 20 * 60 * S
TRACE_A = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_B = "00f067aa0ba902b700f067aa0ba902b7"
TRACE_C = "0af7651916cd43dd8448eb211c80319c"
QUERY_RANGE = r"/loki/api/v1/query_range"
CART = {"service_name": "cart", "service_instance_id": "cart-1", "service_namespace": "shop"}
PAYMENTS = {"service_name": "payments", "service_instance_id": "payments-2"}


def source(fake: FakeServer, timeout: float = 5.0, **config: Any) -> LokiLogSource:
    credentials = config.pop("credentials", None)
    return LokiLogSource(LokiConfig(url=fake.url, **config), credentials, timeout=timeout)


def shop(fake: LokiFake) -> None:
    """Lines as Loki's OTLP ingest stores them: resource attributes as stream labels,
    trace and span ids and the severity as structured metadata."""
    fake.add(
        CART, START + 3, "cart loaded", trace_id=TRACE_A, span_id="00F067AA0BA902B7", severity_text="INFO"
    )
    fake.add(
        PAYMENTS,
        START + 2,
        "card declined",
        trace_id=TRACE_A,
        span_id="b7ad6b7169203331",
        severity_text="ERROR",
    )
    fake.add(CART, START + 1, "another request", trace_id=TRACE_B, severity_text="INFO")
    fake.add(CART, START + 4, "no trace here", severity_text="WARN")


# --- by trace id -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", [3, 2])
def test_logs_for_traces_filter_on_structured_metadata(start_fake: Any, version: int) -> None:
    """Loki 3 answers metadata apart (categorize-labels), Loki 2 folds it into the stream's
    labels; both read the same, oldest first across streams, other traces left out."""
    fake = start_fake(LokiFake(version=version))
    shop(fake)

    logs = source(fake).logs_for_traces([TRACE_A.upper()], START, END, 10)

    assert [(log.service, log.body) for log in logs] == [
        ("payments", "card declined"),
        ("cart", "cart loaded"),
    ]
    declined, loaded = logs
    assert (declined.trace_id, declined.span_id, declined.severity_text, declined.severity_number) == (
        TRACE_A,
        "b7ad6b7169203331",
        "ERROR",
        17,
    )
    assert (loaded.instance, loaded.span_id, loaded.time_ns) == ("cart-1", "00f067aa0ba902b7", START + 3)
    assert loaded.resource == {"service.name": "cart", "service.instance.id": "cart-1"}
    (sent,) = fake.requests
    assert sent.param("query") == f'{{service_name=~".+"}} | trace_id=~"(?i){TRACE_A}"'
    assert (sent.param("start"), sent.param("end")) == (str(START), str(END))
    assert (sent.param("limit"), sent.param("direction")) == ("10", "forward")
    assert sent.headers["x-loki-response-encoding-flags"] == "categorize-labels"


def test_the_line_filter_finds_ids_written_only_in_the_text(loki_fake: LokiFake) -> None:
    """No line carries the id as metadata: the second query searches the text, and each
    line found gets the id it holds, lower-case."""
    loki_fake.add(CART, START + 1, f"checkout failed trace={TRACE_A.upper()}")
    loki_fake.add(CART, START + 2, f"retrying {TRACE_B}")
    loki_fake.add(CART, START + 3, f"unrelated {TRACE_C}")

    logs = source(loki_fake).logs_for_traces([TRACE_A, TRACE_B], START, END, 10)

    assert [(log.trace_id, log.body) for log in logs] == [
        (TRACE_A, f"checkout failed trace={TRACE_A.upper()}"),
        (TRACE_B, f"retrying {TRACE_B}"),
    ]
    assert loki_fake.queries() == [
        f'{{service_name=~".+"}} | trace_id=~"(?i){TRACE_B}|{TRACE_A}"',
        f'{{service_name=~".+"}} |~ "(?i){TRACE_B}|{TRACE_A}"',
    ]


def test_no_fallback_when_metadata_found_lines_or_it_is_off(loki_fake: LokiFake) -> None:
    shop(loki_fake)
    assert source(loki_fake).logs_for_traces([TRACE_B], START, END, 10)[0].body == "another request"
    assert source(loki_fake, line_filter_fallback=False).logs_for_traces([TRACE_C], START, END, 10) == []
    assert len(loki_fake.queries()) == 2


def test_a_label_and_a_selector_of_the_teams_own(loki_fake: LokiFake) -> None:
    """Promtail streams labelled ``app`` with the id extracted as the label ``traceID``."""
    loki_fake.add({"app": "cart", "namespace": "shop", "traceID": TRACE_A, "level": "error"}, START, "boom")
    loki_fake.add({"app": "cart", "namespace": "other", "traceID": TRACE_A}, START, "not ours")
    config = {"service_label": "app", "trace_id_label": "traceID", "trace_selector": '{namespace="shop"}'}

    (log,) = source(loki_fake, **config).logs_for_traces([TRACE_A], START, END, 10)

    assert (log.service, log.trace_id, log.severity_text, log.severity_number) == (
        "cart",
        TRACE_A,
        "error",
        17,
    )
    assert loki_fake.queries() == [f'{{namespace="shop"}} | traceID=~"(?i){TRACE_A}"']


def test_many_ids_are_asked_in_batches(loki_fake: LokiFake) -> None:
    ids = [f"{i:032x}" for i in range(IDS_PER_QUERY + 50)]
    loki_fake.add(CART, START, "first", trace_id=ids[0])
    loki_fake.add(CART, START + 1, "last", trace_id=ids[-1])

    logs = source(loki_fake).logs_for_traces(ids, START, END, 10)

    assert [log.body for log in logs] == ["first", "last"]
    assert [q.count("|") for q in loki_fake.queries()] == [IDS_PER_QUERY, 50]


def test_the_cap_and_the_window_to_the_nanosecond(loki_fake: LokiFake) -> None:
    """``limit`` is capped by ``max_logs``; lines are taken in ``[start, end)``."""
    for offset in (-1, 0, 1, 2, 3):
        loki_fake.add(CART, START + offset, f"line {offset}", trace_id=TRACE_A)

    logs = source(loki_fake, max_logs=2).logs_for_traces([TRACE_A], START, START + 3, 100)

    assert [log.body for log in logs] == ["line 0", "line 1"]
    assert loki_fake.requests[0].param("limit") == "2"


def test_nothing_to_ask_sends_nothing(loki_fake: LokiFake) -> None:
    assert source(loki_fake).logs_for_traces([], START, END, 10) == []
    assert source(loki_fake).logs_for_services(["cart"], END, START, 10) == []
    assert source(loki_fake).logs_for_traces([TRACE_A], START, END, 0) == []
    assert loki_fake.requests == []


# --- by service ---------------------------------------------------------------------------------


def test_logs_for_services_within_the_cap_is_one_query(loki_fake: LokiFake) -> None:
    shop(loki_fake)
    loki_fake.add({"service_name": "search"}, START, "not asked for")

    logs = source(loki_fake).logs_for_services(["payments", "cart"], START, END, 10)

    assert [log.body for log in logs] == ["another request", "card declined", "cart loaded", "no trace here"]
    assert loki_fake.queries() == ['{service_name=~"cart|payments"}']
    source(loki_fake).logs_for_services(["cart"], START, END, 10)
    assert loki_fake.queries()[-1] == '{service_name="cart"}'


def test_past_the_cap_the_window_is_sampled_evenly(loki_fake: LokiFake) -> None:
    """A burst in the first minute and a quiet rest: the sample still reaches the end."""
    for i in range(500):
        loki_fake.add(CART, START + i * 100_000_000, f"burst {i}")  # 50 s, ten a second
    for minute in range(2, 20):
        loki_fake.add(CART, START + minute * 60 * S, f"quiet {minute}")

    logs = source(loki_fake).logs_for_services(["cart"], START, END, 100)

    assert len(loki_fake.requests) == 1 + SAMPLE_SLICES
    assert [r.param("limit") for r in loki_fake.requests[1:]] == [str(100 // SAMPLE_SLICES)] * SAMPLE_SLICES
    bodies = [log.body for log in logs]
    assert bodies[:5] == [f"burst {i}" for i in range(5)]  # the burst fills its own slice only
    assert bodies[5:] == [f"quiet {minute}" for minute in range(2, 20)]
    assert [log.time_ns for log in logs] == sorted(log.time_ns for log in logs)


# --- tenants, credentials, failures ---------------------------------------------------------


def test_a_multi_tenant_loki_wants_the_tenant(start_fake: Any) -> None:
    fake = start_fake(LokiFake(tenant="shop"))
    shop(fake)

    with pytest.raises(DataSourceError) as caught:
        source(fake).logs_for_services(["cart"], START, END, 10)
    assert caught.value.reason == "HTTP 401: no org id"

    logs = source(fake, tenant="shop").logs_for_services(["cart"], START, END, 10)
    assert len(logs) == 3
    assert fake.requests[-1].headers["x-scope-orgid"] == "shop"


def test_a_bearer_token_from_the_environment(start_fake: Any) -> None:
    fake = start_fake(LokiFake(token="s3cret"))
    credentials = SourceCredentials(loki_token=SecretStr("s3cret"))

    assert source(fake, credentials=credentials).logs_for_services(["cart"], START, END, 10) == []
    with pytest.raises(DataSourceError, match="HTTP 401: Unauthorized"):
        source(fake).logs_for_services(["cart"], START, END, 10)


def test_basic_auth_as_grafana_cloud_takes_it(start_fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = start_fake(LokiFake(basic_auth=("123456", "glc_token")))
    monkeypatch.setenv("JOURNEYWATCH_SOURCES__LOKI_USERNAME", "123456")
    monkeypatch.setenv("JOURNEYWATCH_SOURCES__LOKI_PASSWORD", "glc_token")

    assert source(fake, credentials=Settings().sources).logs_for_services(["cart"], START, END, 10) == []
    assert fake.requests[0].headers["authorization"].startswith("Basic ")


def test_a_logql_error_names_the_source_and_the_query(loki_fake: LokiFake) -> None:
    """A selector that matches the empty string is what Loki refuses with a 400."""
    with pytest.raises(DataSourceError) as caught:
        source(loki_fake, trace_selector='{service_name=~".*"}').logs_for_traces([TRACE_A], START, END, 10)

    error = caught.value
    assert error.source == f"loki {loki_fake.url}"
    assert error.query == f'{{service_name=~".*"}} | trace_id=~"(?i){TRACE_A}"'
    assert error.reason.startswith("HTTP 400: parse error : queries require at least one regexp")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(200, "<html>gateway</html>"), "the answer is not JSON"),
        (Reply(200, [1, 2]), "the answer is not a JSON object"),
        (Reply(200, {"status": "error"}), "not a query answer: status 'error'"),
        (
            Reply(200, {"status": "success", "data": {"resultType": "matrix", "result": []}}),
            "answered 'matrix'",
        ),
        (Reply(502, ""), "HTTP 502: Bad Gateway"),
    ],
)
def test_answers_that_are_not_streams_are_errors(loki_fake: LokiFake, reply: Reply, reason: str) -> None:
    loki_fake.route("GET", QUERY_RANGE, reply)
    with pytest.raises(DataSourceError) as caught:
        source(loki_fake).logs_for_services(["cart"], START, END, 10)
    assert caught.value.reason.startswith(reason)
    assert caught.value.query == '{service_name="cart"}'


def test_broken_entries_are_skipped_and_good_ones_kept(loki_fake: LokiFake) -> None:
    values = [
        ["not a time", "x"],
        [str(START), 7],
        [str(START + 1)],
        "junk",
        [str(START + 2), "kept", {"x": 1}],
    ]
    result = [
        {"stream": {"service_name": "cart"}, "values": values},
        "junk",
        {"stream": 5, "values": [[str(START), "no labels"]]},
    ]
    loki_fake.route(
        "GET",
        QUERY_RANGE,
        Reply(200, {"status": "success", "data": {"resultType": "streams", "result": result}}),
    )

    logs = source(loki_fake).logs_for_services(["cart"], START, END, 10)

    assert [(log.service, log.body) for log in logs] == [("unknown_service", "no labels"), ("cart", "kept")]


def test_an_answer_past_the_size_cap_is_given_up(loki_fake: LokiFake) -> None:
    for i in range(200):
        loki_fake.add(CART, START + i, "x" * 1000, trace_id=TRACE_A)

    with pytest.raises(
        DataSourceError, match=r"the answer passed 65536 bytes \(sources.loki.max_response_bytes\)"
    ):
        source(loki_fake, max_response_bytes=65536).logs_for_traces([TRACE_A], START, END, 1000)


def test_a_hanging_loki_fails_within_the_timeout(loki_fake: LokiFake) -> None:
    loki_fake.hang("GET", QUERY_RANGE)

    began = time.monotonic()
    with pytest.raises(DataSourceError, match=r"no answer within 0\.3s"):
        source(loki_fake, timeout=0.3).logs_for_services(["cart"], START, END, 10)
    assert time.monotonic() - began < 2


def test_nobody_listening_is_a_data_source_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(DataSourceError, match="ConnectError"):
        LokiLogSource(LokiConfig(url=f"http://127.0.0.1:{port}"), timeout=1).logs_for_traces(
            [TRACE_A], START, END, 10
        )


def test_settings_are_checked_when_journeys_yaml_is_read() -> None:
    with pytest.raises(ValidationError, match="service_label"):
        LokiConfig(service_label="service.name")
    with pytest.raises(ValidationError, match="max_logs"):
        LokiConfig(max_logs=10_000)
    with pytest.raises(ValidationError, match="trace_selector"):
        LokiConfig(trace_selector='service_name=~".+"')


def test_logql_strings_and_regexes_are_escaped() -> None:
    assert logql.services_selector("app", ['we"ird\\name']) == '{app="we\\"ird\\\\name"}'
    assert logql.services_selector("app", ["a.b", "c"]) == '{app=~"a\\\\.b|c"}'


def test_sources_logs_loki_builds_the_loki_source(loki_fake: LokiFake, tmp_path: Any) -> None:
    shop(loki_fake)
    config = AppConfig.model_validate({"sources": {"logs": "loki", "loki": {"url": loki_fake.url}}})
    store = Store(f"sqlite:///{tmp_path}/s.db")
    sources = build_sources(config, Settings(), store)
    try:
        assert sources.logs.name == "loki"
        assert [log.body for log in sources.logs.logs_for_traces([TRACE_B], START, END, 10)] == [
            "another request"
        ]
    finally:
        sources.close()
        store.close()
