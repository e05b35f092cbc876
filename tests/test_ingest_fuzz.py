"""Fuzzing the ingest endpoints through the real ASGI app (issue 14): OTLP/JSON traces and
logs and Zipkin bodies shaped like the real thing, with any field of any JSON type, never
get a 500, and a good batch sent after each of them is still taken. OTLP protobuf bodies
too: real ExportTraceServiceRequest and ExportLogsServiceRequest messages with edge values
in every field, and valid bodies with their bytes flipped, cut, repeated or inserted; there
the good batch after each is followed into the store.

Derandomized, so CI runs the same examples every time; raise ``max_examples`` by hand to
search further.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from bot.config import load_config
from bot.server import build_bot, create_app
from bot.settings import Settings
from tests.asgi import AppClient
from tests.fixtures.bot_server import REPO
from tests.test_ingest_http import NOW_NS, PROTOBUF, otlp_json, otlp_logs, otlp_request

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
        ingest_keys={"required": False},  # these tests send without a key
        database_url=f"sqlite:///{folder}/db.sqlite",
        collector={"max_pending_writes": 10**9},
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


# --- OTLP protobuf -------------------------------------------------------------------------

PB_FUZZ = settings(FUZZ, max_examples=120)
PROTOBUF_ANSWERS = {200, 400, 413, 415}

pb_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=24)
"""Any text protobuf can carry (valid UTF-8), NUL and control characters included."""
recent = st.integers(min_value=NOW_NS - 10**11, max_value=NOW_NS + 10**11)
pb_nanos = st.one_of(
    recent,
    recent,
    st.sampled_from([0, 1, NOW_NS, 2**63 - 1, 2**63, 2**64 - 1]),
    st.integers(min_value=0, max_value=2**64 - 1),
)
int32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)


def pb_id(size: int) -> st.SearchStrategy[bytes]:
    """Mostly an id of the right length, sometimes empty, zero or of any length."""
    right = st.integers(min_value=1, max_value=2 ** (8 * size) - 1).map(lambda n: n.to_bytes(size, "big"))
    return st.one_of(right, right, right, right, st.just(bytes(size)), st.binary(max_size=size * 2 + 1))


pb_any = st.recursive(
    st.one_of(
        st.just(AnyValue()),
        pb_text.map(lambda v: AnyValue(string_value=v)),
        st.integers(min_value=-(2**63), max_value=2**63 - 1).map(lambda v: AnyValue(int_value=v)),
        st.floats().map(lambda v: AnyValue(double_value=v)),  # NaN and infinities too
        st.booleans().map(lambda v: AnyValue(bool_value=v)),
        st.binary(max_size=16).map(lambda v: AnyValue(bytes_value=v)),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs))),
        st.lists(st.tuples(pb_text, inner), max_size=3).map(
            lambda kvs: AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in kvs]))
        ),
    ),
    max_leaves=6,
)
pb_attributes = st.lists(st.builds(KeyValue, key=pb_text, value=pb_any), max_size=4)


def kwargs_of(
    message_type: Callable[..., Any],
    /,
    required: dict[str, st.SearchStrategy[Any]] | None = None,
    **fields: st.SearchStrategy[Any],
) -> st.SearchStrategy[Any]:
    """A ``message_type`` with its ``required`` fields and any subset of ``fields`` set:
    unset is an edge value too, while what makes an item at all is usually there."""
    return st.fixed_dictionaries(required or {}, optional=fields).map(lambda kw: message_type(**kw))


pb_span = kwargs_of(
    Span,
    {"trace_id": pb_id(16), "span_id": pb_id(8), "start_time_unix_nano": pb_nanos},
    parent_span_id=pb_id(8),
    trace_state=pb_text,
    flags=st.integers(min_value=0, max_value=2**32 - 1),
    name=pb_text,
    kind=int32,
    end_time_unix_nano=pb_nanos,
    attributes=pb_attributes,
    dropped_attributes_count=st.integers(min_value=0, max_value=2**32 - 1),
    events=st.lists(
        kwargs_of(Span.Event, name=pb_text, time_unix_nano=pb_nanos, attributes=pb_attributes), max_size=3
    ),
    links=st.lists(
        kwargs_of(
            Span.Link, trace_id=pb_id(16), span_id=pb_id(8), trace_state=pb_text, attributes=pb_attributes
        ),
        max_size=3,
    ),
    status=kwargs_of(Status, code=int32, message=pb_text),
)
pb_resource = st.one_of(
    kwargs_of(Resource, attributes=pb_attributes),
    st.builds(lambda v: Resource(attributes=[KeyValue(key="service.name", value=v)]), pb_any),
)
pb_scope = kwargs_of(InstrumentationScope, name=pb_text, version=pb_text, attributes=pb_attributes)
pb_traces = st.lists(
    kwargs_of(
        ResourceSpans,
        {
            "scope_spans": st.lists(
                kwargs_of(ScopeSpans, {"spans": st.lists(pb_span, min_size=1, max_size=4)}, scope=pb_scope),
                min_size=1,
                max_size=2,
            )
        },
        resource=pb_resource,
        schema_url=pb_text,
    ),
    min_size=1,
    max_size=2,
).map(lambda entries: ExportTraceServiceRequest(resource_spans=entries))
pb_log = kwargs_of(
    LogRecord,
    {"time_unix_nano": pb_nanos},
    observed_time_unix_nano=pb_nanos,
    severity_number=int32,
    severity_text=pb_text,
    body=pb_any,
    attributes=pb_attributes,
    flags=st.integers(min_value=0, max_value=2**32 - 1),
    trace_id=pb_id(16),
    span_id=pb_id(8),
)
pb_logs = st.lists(
    kwargs_of(
        ResourceLogs,
        {
            "scope_logs": st.lists(
                kwargs_of(
                    ScopeLogs, {"log_records": st.lists(pb_log, min_size=1, max_size=4)}, scope=pb_scope
                ),
                min_size=1,
                max_size=2,
            )
        },
        resource=pb_resource,
    ),
    min_size=1,
    max_size=2,
).map(lambda entries: ExportLogsServiceRequest(resource_logs=entries))


@st.composite
def mutated(draw: st.DrawFn, messages: st.SearchStrategy[Any]) -> bytes:
    """A valid body with a few of its bytes flipped, cut, repeated or inserted."""
    body = bytearray(draw(messages).SerializeToString())
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(body)))
        edit = draw(st.sampled_from(["flip", "cut", "repeat", "insert"]))
        if edit == "flip" and at < len(body):
            body[at] = draw(st.integers(min_value=0, max_value=255))
        elif edit == "cut":
            del body[at : at + draw(st.integers(min_value=1, max_value=8))]
        elif edit == "repeat":
            body[at:at] = body[at : at + draw(st.integers(min_value=1, max_value=32))]
        else:
            body[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(body)


def maybe_gzipped(bodies: st.SearchStrategy[bytes]) -> st.SearchStrategy[tuple[bytes, dict[str, str]]]:
    plain = bodies.map(lambda b: (b, PROTOBUF))
    zipped = bodies.map(lambda b: (gzip.compress(b), {**PROTOBUF, "content-encoding": "gzip"}))
    return st.one_of(plain, plain, plain, zipped)


@pytest.fixture(scope="module")
def stored_client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """In-process with a writer thread and no quiet period: a good batch posted after each
    fuzzed body is decided at the next tick and followed into the store."""
    folder: Path = tmp_path_factory.mktemp("fuzz-pb")
    settings_ = Settings(
        ingest_keys={"required": False},  # these tests send without a key
        database_url=f"sqlite:///{folder}/db.sqlite",
        collector={"max_pending_writes": 10**9, "quiet_period_s": 0, "writer_process": False},
    )
    bot = build_bot(settings_, load_config(REPO / "config" / "journeys.yaml"))
    bot.writer.start()
    yield AppClient(create_app(bot)), bot
    bot.writer.stop()
    bot.writer.store.close()
    bot.store.close()


def post_protobuf(client: Any, path: str, body: bytes, headers: dict[str, str]) -> int:
    app, _ = client
    return int(app.post(path, content=body, headers=headers).status_code)


def good_batch_stored(client: Any) -> None:
    """A good trace (an error: always kept) and a log of it, then the collector's tick:
    both are in the store, whatever the fuzzed body before them did."""
    app, bot = client
    trace_id = os.urandom(16).hex()
    request = otlp_request(trace_id, error=True)
    assert app.post("/v1/traces", content=request.SerializeToString(), headers=PROTOBUF).status_code == 200
    good_log = LogRecord(
        time_unix_nano=NOW_NS, trace_id=bytes.fromhex(trace_id), body=AnyValue(string_value="good")
    )
    log_line = otlp_logs(good_log)
    assert app.post("/v1/logs", content=log_line.SerializeToString(), headers=PROTOBUF).status_code == 200
    bot.collector.tick()
    bot.writer.flush()
    stored = bot.store.get_trace(trace_id)
    assert stored is not None and len(stored.spans) == 3
    assert [r.body for r in bot.store.logs_for_trace(trace_id)] == ["good"]


@PB_FUZZ
@given(sent=maybe_gzipped(pb_traces.map(lambda m: m.SerializeToString())))
def test_otlp_protobuf_traces_never_get_a_500(stored_client: Any, sent: tuple[bytes, dict[str, str]]) -> None:
    assert post_protobuf(stored_client, "/v1/traces", *sent) in PROTOBUF_ANSWERS
    good_batch_stored(stored_client)


@PB_FUZZ
@given(sent=maybe_gzipped(pb_logs.map(lambda m: m.SerializeToString())))
def test_otlp_protobuf_logs_never_get_a_500(stored_client: Any, sent: tuple[bytes, dict[str, str]]) -> None:
    assert post_protobuf(stored_client, "/v1/logs", *sent) in PROTOBUF_ANSWERS
    good_batch_stored(stored_client)


@PB_FUZZ
@given(path=st.sampled_from(["/v1/traces", "/v1/logs"]), body=st.data())
def test_mutated_protobuf_bodies_never_get_a_500(stored_client: Any, path: str, body: st.DataObject) -> None:
    messages = pb_traces if path == "/v1/traces" else pb_logs
    sent = body.draw(maybe_gzipped(mutated(messages)))
    assert post_protobuf(stored_client, path, *sent) in PROTOBUF_ANSWERS
    good_batch_stored(stored_client)
