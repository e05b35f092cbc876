"""The Elasticsearch log source, through the official client, against a faithful fake.

Elasticsearch cannot run here: no package registry we can reach ships it. So these tests
run the real ``elasticsearch`` client and transport against ``ElasticsearchFake``
(tests/fixtures/fake_backends.py), a local HTTP server on a free loopback port that
answers search and multi-search bodies in Elasticsearch's documented format, sends the
``X-Elastic-Product`` header the client insists on, and refuses compatible-with media
types the way an 8.x or 9.x server does. Each test asserts both what we made of the
answer and the query we sent.
"""

from __future__ import annotations

import socket
import time
from itertools import pairwise
from typing import Any

import pytest
from elasticsearch import BadRequestError, Elasticsearch
from pydantic import SecretStr

from bot.config import AppConfig
from bot.settings import Settings, SourceCredentials
from bot.sources.build import build_sources
from bot.sources.config import ElasticsearchConfig
from bot.sources.elasticsearch import (
    SAMPLE_SLICES,
    ElasticsearchLogSource,
    lookup,
    parse_time_ns,
    severity_number,
    time_slices,
)
from bot.sources.search_wire import Flavor
from bot.store import Store
from correlators.errors import ConfigError, DataSourceError
from tests.fixtures.fake_backends import (
    ElasticsearchFake,
    FakeServer,
    OpenSearchFake,
    Reply,
    Request,
    es_error,
    es_hits,
    es_msearch,
)

MS = 1_000_000
START_MS = 1_714_564_800_000  # 2024-05-01T12:00:00Z
START = START_MS * MS
END = START + 20 * 60 * 1000 * MS
TRACE_A = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_B = "00f067aa0ba902b700f067aa0ba902b7"
COMPAT_8 = "application/vnd.elasticsearch+json; compatible-with=8"
SEARCH = r"/logs-\*/_search"


def source(fake: FakeServer, timeout: float = 5.0, **config: Any) -> ElasticsearchLogSource:
    credentials = config.pop("credentials", None)
    flavor = config.pop("flavor", "elasticsearch")
    return ElasticsearchLogSource(
        ElasticsearchConfig(url=fake.url, **config), credentials, timeout=timeout, flavor=flavor
    )


# --- logs of traces ------------------------------------------------------------------------


def test_logs_for_traces_sends_a_terms_filter_and_a_range_and_reads_ecs_documents(
    es_fake: ElasticsearchFake,
) -> None:
    documents: list[dict[str, Any]] = [
        {  # nested ECS, as Elastic's loggers write it, to the nanosecond
            "@timestamp": "2024-05-01T12:00:01.123456789Z",
            "trace": {"id": TRACE_A},
            "span": {"id": "00f067aa0ba902b7"},
            "service": {"name": "checkout", "node": {"name": "checkout-7d9f"}},
            "log": {"level": "ERROR"},
            "message": "payment declined",
        },
        {  # flat dotted keys, epoch milliseconds, instance only as host.name
            "@timestamp": START_MS + 2500,
            "trace.id": TRACE_B.upper(),
            "service.name": "payments",
            "host.name": "ip-10-0-3-7",
            "log.level": "warn",
            "message": "retrying",
        },
        {  # an offset, and a level name beyond OTel's six
            "@timestamp": "2024-05-01T14:00:03.5+02:00",
            "trace.id": TRACE_A,
            "service.name": "checkout",
            "log.level": "Notice",
            "message": {"structured": True},
        },
    ]
    es_fake.route("POST", SEARCH, Reply(200, es_hits(documents)))

    logs = source(es_fake).logs_for_traces([TRACE_A, TRACE_B.upper(), TRACE_A], START, END, 50)

    assert [(log.time_ns, log.service, log.severity_text, log.severity_number, log.body) for log in logs] == [
        (START + 1_123_456_789, "checkout", "ERROR", 17, "payment declined"),
        (START + 2_500 * MS, "payments", "warn", 13, "retrying"),
        (START + 3_500 * MS, "checkout", "Notice", 10, '{"structured":true}'),
    ]
    assert [(log.trace_id, log.span_id, log.instance) for log in logs] == [
        (TRACE_A, "00f067aa0ba902b7", "checkout-7d9f"),
        (TRACE_B, None, "ip-10-0-3-7"),
        (TRACE_A, None, None),
    ]

    (sent,) = es_fake.requests
    assert (sent.method, sent.path) == ("POST", "/logs-*/_search")
    assert sent.headers["accept"] == COMPAT_8
    assert sent.headers["content-type"] == COMPAT_8
    body = sent.json()
    assert body["query"] == {
        "bool": {
            "filter": [
                {"terms": {"trace.id": [TRACE_B, TRACE_A]}},
                {
                    "range": {
                        "@timestamp": {"gte": START_MS, "lt": START_MS + 1_200_000, "format": "epoch_millis"}
                    }
                },
            ]
        }
    }
    assert body["sort"] == [{"@timestamp": {"order": "asc", "unmapped_type": "date"}}]
    assert body["size"] == 50
    assert "trace.id" in body["_source"] and "host.name" in body["_source"]


def test_the_otel_mapping_reads_what_the_collectors_exporter_writes_in_its_default_mode(
    es_fake: ElasticsearchFake,
) -> None:
    """Documents shaped as the Collector's elasticsearch exporter writes them with
    ``mapping.mode: otel`` (its default): attribute keys with dots inside
    ``resource.attributes``, the body under ``body.text`` or ``body.structured``, ids as
    ``trace_id``/``span_id``; ECS names exist only as aliases, outside ``_source``."""
    documents: list[dict[str, Any]] = [
        {
            "@timestamp": "2024-05-01T12:00:01.123456789Z",
            "observed_timestamp": "2024-05-01T12:00:01.2Z",
            "trace_id": TRACE_A,
            "span_id": "00f067aa0ba902b7",
            "severity_text": "ERROR",
            "severity_number": 17,
            "body": {"text": "payment declined"},
            "attributes": {"http.route": "/pay"},
            "resource": {
                "attributes": {"service.name": "checkout", "service.instance.id": "checkout-7d9f"},
                "dropped_attributes_count": 0,
            },
            "scope": {"name": "checkout.logger"},
            "data_stream": {"type": "logs", "dataset": "generic.otel", "namespace": "default"},
        },
        {
            "@timestamp": START_MS + 2500,
            "trace_id": TRACE_B,
            "severity_text": "WARN",
            "body": {"structured": {"retry": 2}},
            "resource": {"attributes": {"service.name": "payments", "host.name": "ip-10-0-3-7"}},
        },
    ]
    es_fake.route("POST", SEARCH, Reply(200, es_hits(documents)))

    logs = source(es_fake, mapping="otel").logs_for_traces([TRACE_A, TRACE_B], START, END, 50)

    assert [
        (log.service, log.instance, log.severity_number, log.body, log.trace_id, log.span_id) for log in logs
    ] == [
        ("checkout", "checkout-7d9f", 17, "payment declined", TRACE_A, "00f067aa0ba902b7"),
        ("payments", "ip-10-0-3-7", 13, '{"retry":2}', TRACE_B, None),
    ]
    body = es_fake.requests[0].json()
    assert body["query"]["bool"]["filter"][0] == {"terms": {"trace_id": [TRACE_B, TRACE_A]}}
    assert set(body["_source"]) == {
        "@timestamp",
        "trace_id",
        "span_id",
        "severity_text",
        "body.text",
        "body.structured",
        "resource.attributes.service.name",
        "resource.attributes.service.instance.id",
        "resource.attributes.host.name",
    }


def test_ecs_names_find_nothing_in_an_otel_document() -> None:
    """The reason for the map: read by ECS names, an otel document has no service, body
    or trace id."""
    doc = {"trace_id": TRACE_A, "body": {"text": "x"}, "resource": {"attributes": {"service.name": "a"}}}
    assert lookup(doc, "trace.id") is None and lookup(doc, "message") is None
    assert lookup(doc, "resource.attributes.service.name") == "a" and lookup(doc, "body.text") == "x"


def test_the_size_is_capped_and_the_window_is_cut_to_the_nanosecond(es_fake: ElasticsearchFake) -> None:
    start = START + 400_000  # 0.4 ms into a millisecond: the range sent is widened to whole ms
    documents: list[dict[str, Any]] = [
        {"@timestamp": "2024-05-01T12:00:00.000300Z", "trace.id": TRACE_A, "message": "before the window"},
        {"@timestamp": "2024-05-01T12:00:00.000500Z", "trace.id": TRACE_A, "message": "inside"},
        {"trace.id": TRACE_A, "message": "no timestamp: skipped"},
    ]
    es_fake.route("POST", SEARCH, Reply(200, es_hits(documents)))

    logs = source(es_fake, max_logs=30).logs_for_traces([TRACE_A], start, END, 1000)

    assert [log.body for log in logs] == ["inside"]
    assert logs[0].service == "unknown_service"
    body = es_fake.requests[0].json()
    assert body["size"] == 30
    assert body["query"]["bool"]["filter"][1]["range"]["@timestamp"]["gte"] == START_MS


def test_no_trace_ids_send_nothing(es_fake: ElasticsearchFake) -> None:
    assert source(es_fake).logs_for_traces([], START, END, 10) == []
    assert es_fake.requests == []


# --- logs of services ----------------------------------------------------------------------


def test_logs_for_services_within_the_cap_is_one_search(es_fake: ElasticsearchFake) -> None:
    documents: list[dict[str, Any]] = [
        {"@timestamp": START_MS + i, "service.name": "cart", "log.level": "info", "message": f"line {i}"}
        for i in range(3)
    ]
    es_fake.route("POST", SEARCH, Reply(200, es_hits(documents, total=3)))

    logs = source(es_fake).logs_for_services(["cart", "checkout", "cart"], START, END, 100)

    assert [log.body for log in logs] == ["line 0", "line 1", "line 2"]
    assert [log.severity_number for log in logs] == [9, 9, 9]
    (sent,) = es_fake.requests
    body = sent.json()
    assert body["query"]["bool"]["filter"][0] == {"terms": {"service.name": ["cart", "checkout"]}}
    assert body["track_total_hits"] == 100
    assert body["size"] == 100


@pytest.mark.parametrize(
    ("flavor", "ndjson_type"),
    [
        ("elasticsearch", "application/vnd.elasticsearch+x-ndjson; compatible-with=8"),
        ("opensearch", "application/x-ndjson"),
    ],
)
def test_logs_for_services_past_the_cap_are_an_even_sample_across_the_window(
    start_fake: Any, flavor: Flavor, ndjson_type: str
) -> None:
    """The first answer says there are more than the cap (relation "gte"); then one
    multi-search takes cap/slices lines from each of the slices, which tile the window."""
    first_lines = [
        {"@timestamp": START_MS + i, "service.name": "cart", "message": "burst"} for i in range(100)
    ]
    es_fake = start_fake(OpenSearchFake() if flavor == "opensearch" else ElasticsearchFake())
    es_fake.route("POST", SEARCH, Reply(200, es_hits(first_lines, total=100, relation="gte")))
    es_fake.route("POST", r"/logs-\*/_msearch", _answer_each_slice)

    logs = source(es_fake, flavor=flavor).logs_for_services(["cart"], START, END, 100)

    _search, msearch = es_fake.requests
    assert msearch.path == "/logs-*/_msearch"
    assert msearch.headers["content-type"] == ndjson_type
    lines = msearch.ndjson()
    headers, bodies = lines[0::2], lines[1::2]
    assert headers == [{}] * SAMPLE_SLICES
    ranges = [b["query"]["bool"]["filter"][1]["range"]["@timestamp"] for b in bodies]
    assert ranges[0]["gte"] == START_MS and ranges[-1]["lt"] == END // MS
    assert all(a["lt"] == b["gte"] for a, b in pairwise(ranges))
    assert {b["size"] for b in bodies} == {100 // SAMPLE_SLICES}
    assert all(b["query"]["bool"]["filter"][0] == {"terms": {"service.name": ["cart"]}} for b in bodies)

    assert len(logs) == 100
    assert [log.time_ns for log in logs] == sorted(log.time_ns for log in logs)
    minutes = {(log.time_ns - START) // (60_000 * MS) for log in logs}
    assert minutes == set(range(20)), "every minute of the 20-minute window is in the sample"


def _answer_each_slice(request: Request) -> Reply:
    """Each slice holds many lines; the answer is its first ``size`` lines, oldest first."""
    bodies = request.ndjson()[1::2]
    responses = []
    for body in bodies:
        window = body["query"]["bool"]["filter"][1]["range"]["@timestamp"]
        docs = [
            {"@timestamp": window["gte"] + k, "service.name": "cart", "message": f"at {window['gte'] + k}"}
            for k in range(body["size"])
        ]
        responses.append(es_hits(docs, total=10_000, relation="gte"))
    return Reply(200, es_msearch(responses))


def test_a_failed_search_inside_the_multi_search_is_an_error(es_fake: ElasticsearchFake) -> None:
    es_fake.route("POST", SEARCH, Reply(200, es_hits([], total=5000, relation="gte")))
    failed = es_error(429, "es_rejected_execution_exception", "rejected execution of search").body
    es_fake.route("POST", r"/logs-\*/_msearch", Reply(200, es_msearch([es_hits([]), failed])))

    with pytest.raises(DataSourceError) as caught:
        source(es_fake).logs_for_services(["cart"], START, END, 100)

    assert "es_rejected_execution_exception" in caught.value.reason
    assert "sampled" in caught.value.query


def test_time_slices_tile_the_window_exactly() -> None:
    slices = time_slices(0, 1001, 4)
    assert slices == [(0, 250), (250, 500), (500, 750), (750, 1001)]
    assert time_slices(0, 3, 20) == [(0, 1), (1, 2), (2, 3)]


# --- configuration -------------------------------------------------------------------------


def test_a_field_map_and_an_index_pattern_change_the_query_and_the_reading(
    es_fake: ElasticsearchFake,
) -> None:
    """The OpenTelemetry Collector's Elasticsearch exporter in its ``otel`` mode writes
    other names; the field map follows them."""
    fields = {
        "time_ns": "timestamp",
        "trace_id": "trace_id",
        "span_id": "span_id",
        "service": "resource.attributes.service.name",
        "severity_text": "severity_text",
        "body": "body.text",
        "instance": "resource.attributes.k8s.pod.name",
    }
    document = {
        "timestamp": "2024-05-01T12:00:00.5Z",
        "trace_id": TRACE_A,
        "span_id": "00f067aa0ba902b7",
        "resource": {"attributes": {"service.name": "cart", "k8s.pod.name": "cart-5c4d"}},
        "severity_text": "Warning",
        "body": {"text": "slow downstream"},
        "host.name": "not-the-instance",
    }
    es_fake.route("POST", r"/otel-logs-\*,app/_search", Reply(200, es_hits([document])))

    (log,) = source(es_fake, index="otel-logs-*,app", fields=fields).logs_for_traces(
        [TRACE_A], START, END, 10
    )

    assert (log.service, log.body, log.severity_number, log.instance) == (
        "cart",
        "slow downstream",
        13,
        "cart-5c4d",
    )
    body = es_fake.requests[0].json()
    assert body["query"]["bool"]["filter"][0] == {"terms": {"trace_id": [TRACE_A]}}
    assert "timestamp" in body["query"]["bool"]["filter"][1]["range"]
    assert body["sort"][0] == {"timestamp": {"order": "asc", "unmapped_type": "date"}}
    assert "host.name" not in body["_source"]


def test_an_unknown_model_field_in_the_field_map_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown model field.*traceid"):
        ElasticsearchLogSource(ElasticsearchConfig(fields={"traceid": "trace.id"}))


def test_severity_numbers_follow_opentelemetry() -> None:
    names = ["TRACE", "debug", "Info", "warn", "WARNING", "error", "fatal", "critical", "verbose"]
    assert [severity_number(n) for n in names] == [1, 5, 9, 13, 13, 17, 21, 21, 0]


def test_dates_as_elasticsearch_writes_them() -> None:
    second = 1_714_564_800 * 1_000_000_000
    assert parse_time_ns("2024-05-01T12:00:00Z") == second
    assert parse_time_ns("2024-05-01T12:00:00.000000001Z") == second + 1
    assert parse_time_ns("2024-05-01T13:30:00,25+01:30") == second + 250_000_000
    assert parse_time_ns("2024-05-01T12:00:00") == second  # no zone: UTC, as Elasticsearch reads it
    assert parse_time_ns("2024-05-01") == second - 12 * 3600 * 1_000_000_000
    assert parse_time_ns(1_714_564_800_000) == second
    assert parse_time_ns("1714564800000.5") == second + 500_000
    assert parse_time_ns(1_714_564_800_000.25) == second + 250_000
    assert parse_time_ns("yesterday") is None
    assert parse_time_ns(None) is None


# --- the wire: versions, product check, auth -----------------------------------------------


@pytest.mark.parametrize("major", [8, 9])
def test_one_source_reaches_elasticsearch_8_and_9(start_fake: Any, major: int) -> None:
    fake = start_fake(ElasticsearchFake(major=major))
    fake.route("POST", SEARCH, Reply(200, es_hits([{"@timestamp": START_MS, "message": "hello"}])))

    (log,) = source(fake).logs_for_traces([TRACE_A], START, END, 10)

    assert log.body == "hello"


def test_the_fake_refuses_what_an_8x_server_refuses(start_fake: Any) -> None:
    """Why the source pins compatible-with=8: the 9.x client's own default is refused."""
    fake = start_fake(ElasticsearchFake(major=8))
    client = Elasticsearch(fake.url, max_retries=0)
    with pytest.raises(BadRequestError) as caught:
        client.info()
    assert caught.value.body["error"]["caused_by"]["reason"].startswith(
        "Accept version must be either version 8 or 7, but found 9"
    )
    client.close()


def test_a_server_without_the_product_header_is_refused_with_a_reason(start_fake: Any) -> None:
    fake = start_fake(ElasticsearchFake(product_header=False))  # as OpenSearch answers
    fake.route("POST", SEARCH, Reply(200, es_hits([])))

    with pytest.raises(DataSourceError) as caught:
        source(fake).logs_for_traces([TRACE_A], START, END, 10)

    assert "X-Elastic-Product" in caught.value.reason
    assert "OpenSearch" in caught.value.reason


def test_an_api_key_is_sent_as_elasticsearch_expects(start_fake: Any) -> None:
    fake = start_fake(
        ElasticsearchFake(api_key="VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==")
    )
    fake.route("POST", SEARCH, Reply(200, es_hits([])))
    credentials = SourceCredentials(
        elasticsearch_api_key=SecretStr("VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==")
    )

    assert source(fake, credentials=credentials).logs_for_traces([TRACE_A], START, END, 10) == []
    assert fake.requests[0].headers["authorization"].startswith("ApiKey VnVh")


def test_basic_auth_and_a_refusal_without_it(start_fake: Any) -> None:
    fake = start_fake(ElasticsearchFake(basic_auth=("journeywatch", "s3cret")))
    fake.route("POST", SEARCH, Reply(200, es_hits([])))
    credentials = SourceCredentials(
        elasticsearch_username="journeywatch", elasticsearch_password=SecretStr("s3cret")
    )

    assert source(fake, credentials=credentials).logs_for_traces([TRACE_A], START, END, 10) == []
    with pytest.raises(DataSourceError) as caught:
        source(fake).logs_for_traces([TRACE_A], START, END, 10)
    assert caught.value.reason.startswith("HTTP 401 security_exception")


# --- failures ------------------------------------------------------------------------------


def test_a_server_error_names_the_source_the_query_and_the_index(es_fake: ElasticsearchFake) -> None:
    es_fake.route("POST", SEARCH, es_error(400, "search_phase_execution_exception", "all shards failed"))

    with pytest.raises(DataSourceError) as caught:
        source(es_fake).logs_for_traces([TRACE_A], START, END, 10)

    error = caught.value
    assert error.source == f"elasticsearch {es_fake.url}"
    assert error.query.startswith("logs_for_traces (1 trace ids)")
    assert error.query.endswith("in logs-*")
    assert error.reason == "HTTP 400 search_phase_execution_exception: all shards failed"


def test_a_hanging_server_fails_within_the_timeout(es_fake: ElasticsearchFake) -> None:
    es_fake.hang("POST", SEARCH)

    began = time.monotonic()
    with pytest.raises(DataSourceError, match=r"no answer within 0\.3s"):
        source(es_fake, timeout=0.3).logs_for_services(["cart"], START, END, 10)
    assert time.monotonic() - began < 2


def test_nobody_listening_is_a_data_source_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = ElasticsearchConfig(url=f"http://127.0.0.1:{port}")

    with pytest.raises(DataSourceError, match="ConnectionError"):
        ElasticsearchLogSource(config, timeout=1).logs_for_traces([TRACE_A], START, END, 10)


# --- OpenSearch ----------------------------------------------------------------------------


def opensearch(fake: FakeServer, **kwargs: Any) -> ElasticsearchLogSource:
    return source(fake, flavor="opensearch", **kwargs)


def test_opensearch_is_read_through_its_own_client_with_plain_json(opensearch_fake: OpenSearchFake) -> None:
    """The same query and documents as Elasticsearch; only the wire differs."""
    document = {"@timestamp": START_MS + 5, "trace.id": TRACE_A, "service.name": "cart", "message": "hello"}
    opensearch_fake.route("POST", SEARCH, Reply(200, es_hits([document])))

    (log,) = opensearch(opensearch_fake).logs_for_traces([TRACE_A], START, END, 10)

    assert (log.body, log.trace_id, log.service) == ("hello", TRACE_A, "cart")
    (sent,) = opensearch_fake.requests
    assert (sent.headers["accept"], sent.headers["content-type"]) == ("application/json", "application/json")
    assert sent.json()["query"]["bool"]["filter"][0] == {"terms": {"trace.id": [TRACE_A]}}


def test_the_fake_opensearch_refuses_what_opensearch_refuses(opensearch_fake: OpenSearchFake) -> None:
    """Why OpenSearch gets its own wire: Elasticsearch's client sends versioned media
    types (406 here) and then refuses the answer anyway, for want of X-Elastic-Product."""
    opensearch_fake.route("POST", SEARCH, Reply(200, es_hits([])))

    with pytest.raises(DataSourceError) as caught:
        source(opensearch_fake).logs_for_traces([TRACE_A], START, END, 10)

    assert caught.value.reason == (f"HTTP 406: Content-Type header [{COMPAT_8}] is not supported")


def test_opensearch_errors_carry_the_servers_reason(opensearch_fake: OpenSearchFake) -> None:
    opensearch_fake.route(
        "POST", SEARCH, es_error(400, "search_phase_execution_exception", "No mapping found for [@timestamp]")
    )

    with pytest.raises(DataSourceError) as caught:
        opensearch(opensearch_fake).logs_for_traces([TRACE_A], START, END, 10)

    assert caught.value.source == f"opensearch {opensearch_fake.url}"
    assert (
        caught.value.reason == "HTTP 400 search_phase_execution_exception: No mapping found for [@timestamp]"
    )


def test_opensearch_takes_basic_auth_and_refuses_an_api_key(start_fake: Any) -> None:
    fake = start_fake(OpenSearchFake(basic_auth=("reader", "s3cret")))
    fake.route("POST", SEARCH, Reply(200, es_hits([])))
    basic = SourceCredentials(elasticsearch_username="reader", elasticsearch_password=SecretStr("s3cret"))

    assert opensearch(fake, credentials=basic).logs_for_traces([TRACE_A], START, END, 10) == []
    assert fake.requests[0].headers["authorization"].startswith("Basic ")

    with pytest.raises(ConfigError, match="basic auth"):
        opensearch(fake, credentials=SourceCredentials(elasticsearch_api_key=SecretStr("key")))


def test_sources_logs_opensearch_builds_the_opensearch_source(
    opensearch_fake: OpenSearchFake, tmp_path: Any
) -> None:
    opensearch_fake.route(
        "POST", r"/app-\*/_search", Reply(200, es_hits([{"@timestamp": START_MS, "message": "hi"}]))
    )
    config = AppConfig.model_validate(
        {"sources": {"logs": "opensearch", "opensearch": {"url": opensearch_fake.url, "index": "app-*"}}}
    )
    store = Store(f"sqlite:///{tmp_path}/s.db")
    sources = build_sources(config, Settings(), store)
    try:
        assert sources.logs.name == "opensearch"
        assert [log.body for log in sources.logs.logs_for_traces([TRACE_A], START, END, 10)] == ["hi"]
    finally:
        sources.close()
        store.close()
