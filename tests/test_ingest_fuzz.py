"""Fuzzing the ingest endpoints through the real ASGI app (issue 14): OTLP/JSON traces and
logs and Zipkin bodies shaped like the real thing, with any field of any JSON type, never
get a 500, and a good batch sent after each of them is still taken.

Derandomized, so CI runs the same examples every time; raise ``max_examples`` by hand to
search further.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import load_config
from bot.server import build_bot, create_app
from bot.settings import Settings
from tests.asgi import AppClient
from tests.fixtures.bot_server import REPO
from tests.test_ingest_http import NOW_NS, otlp_json

FUZZ = settings(
    max_examples=250,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JSON_HEADERS = {"content-type": "application/json"}
ANSWERS = {200, 202, 400, 413, 415}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def field(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes any JSON at all."""
    return st.one_of(good, good, anything)


hex_id = st.integers(min_value=0, max_value=2**128 - 1).map(lambda n: f"{n:032x}")
hex_span = st.integers(min_value=0, max_value=2**64 - 1).map(lambda n: f"{n:016x}")
nanos = st.one_of(
    st.integers(min_value=0, max_value=2**64 + 5).map(str), st.integers(min_value=-5, max_value=2**64 + 5)
)
any_value = st.recursive(
    st.one_of(
        st.fixed_dictionaries({"stringValue": field(st.text(max_size=30))}),
        st.fixed_dictionaries({"intValue": field(nanos)}),
        st.fixed_dictionaries({"doubleValue": field(st.floats(allow_nan=False))}),
        st.fixed_dictionaries({"boolValue": field(st.booleans())}),
        st.fixed_dictionaries({"bytesValue": field(st.text(max_size=8))}),
    ),
    lambda inner: st.one_of(
        st.fixed_dictionaries({"arrayValue": st.fixed_dictionaries({"values": st.lists(inner, max_size=3)})}),
        st.fixed_dictionaries(
            {
                "kvlistValue": st.fixed_dictionaries(
                    {
                        "values": st.lists(
                            st.fixed_dictionaries({"key": st.text(max_size=5), "value": inner}), max_size=3
                        )
                    }
                )
            }
        ),
    ),
    max_leaves=6,
)
attributes = st.lists(
    st.fixed_dictionaries({"key": field(st.text(max_size=20)), "value": field(any_value)}), max_size=4
)
span = st.fixed_dictionaries(
    {},
    optional={
        "traceId": field(hex_id),
        "spanId": field(hex_span),
        "parentSpanId": field(hex_span),
        "name": field(st.text(max_size=30)),
        "kind": field(st.integers(min_value=0, max_value=6) | st.sampled_from(["SPAN_KIND_SERVER", "X"])),
        "startTimeUnixNano": field(nanos),
        "endTimeUnixNano": field(nanos),
        "attributes": field(attributes),
        "events": field(
            st.lists(st.fixed_dictionaries({"name": field(st.text()), "timeUnixNano": field(nanos)}))
        ),
        "links": field(
            st.lists(st.fixed_dictionaries({"traceId": field(hex_id), "spanId": field(hex_span)}))
        ),
        "status": field(
            st.fixed_dictionaries(
                {}, optional={"code": field(st.integers(0, 3)), "message": field(st.text())}
            )
        ),
    },
)
log_record = st.fixed_dictionaries(
    {},
    optional={
        "timeUnixNano": field(nanos),
        "observedTimeUnixNano": field(nanos),
        "severityNumber": field(st.integers(min_value=-1, max_value=30)),
        "severityText": field(st.text(max_size=10)),
        "body": field(any_value),
        "attributes": field(attributes),
        "traceId": field(hex_id),
        "spanId": field(hex_span),
    },
)
resource = st.fixed_dictionaries({}, optional={"attributes": field(attributes)})


def export(kind: str, scope_key: str, item_key: str, item: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    scope = st.fixed_dictionaries({item_key: field(st.lists(item, min_size=1, max_size=4))})
    entry = st.fixed_dictionaries(
        {scope_key: field(st.lists(scope, min_size=1, max_size=2))}, optional={"resource": field(resource)}
    )
    return field(st.fixed_dictionaries({kind: field(st.lists(entry, min_size=1, max_size=2))}))


zipkin_span = st.fixed_dictionaries(
    {},
    optional={
        "traceId": field(hex_id),
        "id": field(hex_span),
        "parentId": field(hex_span),
        "name": field(st.text(max_size=20)),
        "kind": field(st.sampled_from(["CLIENT", "SERVER", "PRODUCER", "CONSUMER", "x"])),
        "timestamp": field(st.integers(min_value=-5, max_value=2**64) | st.floats(allow_nan=False)),
        "duration": field(st.integers(min_value=-5, max_value=2**64)),
        "localEndpoint": field(
            st.fixed_dictionaries(
                {},
                optional={
                    "serviceName": field(st.text()),
                    "ipv4": field(st.text()),
                    "port": field(st.integers()),
                },
            )
        ),
        "remoteEndpoint": field(
            st.fixed_dictionaries({}, optional={"serviceName": field(st.text()), "ipv6": field(st.text())})
        ),
        "tags": field(st.dictionaries(st.text(max_size=10), field(st.text(max_size=10)), max_size=3)),
        "annotations": field(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "timestamp": field(st.integers() | st.floats(allow_nan=False)),
                        "value": field(st.text()),
                    }
                ),
                max_size=2,
            )
        ),
    },
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """In-process (no lifespan, so no writer): what is judged is the answer and that the
    collector goes on taking good batches."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    settings_ = Settings(
        database_url=f"sqlite:///{folder}/db.sqlite", collector={"max_pending_writes": 10**9}
    )
    bot = build_bot(settings_, load_config(REPO / "config" / "journeys.yaml"))
    yield AppClient(create_app(bot)), bot
    bot.store.close()


def post(client: Any, path: str, body: Any) -> int:
    app, _ = client
    return int(app.post(path, content=json.dumps(body).encode(), headers=JSON_HEADERS).status_code)


def good_batch_still_taken(client: Any) -> None:
    app, bot = client
    before = bot.collector.stats.spans_received
    answer = app.post("/v1/traces", content=otlp_json(os.urandom(16).hex()), headers=JSON_HEADERS)
    assert answer.status_code == 200
    assert bot.collector.stats.spans_received == before + 1


@FUZZ
@given(body=export("resourceSpans", "scopeSpans", "spans", span))
def test_otlp_json_traces_never_get_a_500(client: Any, body: Any) -> None:
    assert post(client, "/v1/traces", body) in ANSWERS
    good_batch_still_taken(client)


@FUZZ
@given(body=export("resourceLogs", "scopeLogs", "logRecords", log_record))
def test_otlp_json_logs_never_get_a_500(client: Any, body: Any) -> None:
    assert post(client, "/v1/logs", body) in ANSWERS
    good_batch_still_taken(client)


@FUZZ
@given(body=field(st.lists(field(zipkin_span), min_size=1, max_size=4)))
def test_zipkin_never_gets_a_500(client: Any, body: Any) -> None:
    assert post(client, "/api/v2/spans", body) in ANSWERS
    good_batch_still_taken(client)


def test_a_good_zipkin_batch_is_a_reference_point(client: Any) -> None:
    trace_id = os.urandom(16).hex()
    body = [{"traceId": trace_id, "id": "00000000000000aa", "name": "x", "timestamp": NOW_NS // 1000}]
    assert post(client, "/api/v2/spans", body) == 202
