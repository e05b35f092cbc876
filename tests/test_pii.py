"""PII closed: every secret an attacker planted is found nowhere after ingest, nor any
literal of a database statement (issue 18).

One row per case: how it is sent (OTLP protobuf, OTLP JSON, Zipkin, OTLP logs) and
where the secret sits. All rows go to one real `journeywatch serve` (shipped redaction
rules, info-level log); then the raw secret (and the other forms a reader could take it
back from: URL-encoded, hex, without separators) must appear in none of: the SQLite
database file and its WAL, the JSON API's answers, the trace pages and home page, and the
server's log output, nor in what the bot answers in Slack to `/journeywatch trace` (a
fake Slack). Each stored row is also checked to be there, with the text around
the secret kept, so an absence cannot come from the item being lost.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from bot.telemetry.scrub import luhn_valid
from tests.fixtures.bot_server import BotProcess
from tests.fixtures.fake_slack import FakeSlack
from tests.fixtures.slack_requests import slash_command
from tests.otlp_json import json_attributes, json_value

Value: TypeAlias = "str | int | bytes | dict[str, Value]"
NOW_NS = time.time_ns() // 1_000_000_000 * 1_000_000_000


def card(seed: int) -> str:
    """A 16-digit Visa-shaped number, distinct per seed, that passes the Luhn check."""
    body = f"4{seed:03d}57{seed:03d}123456"[:15]
    return next(body + str(d) for d in range(10) if luhn_valid(body + str(d)))


def email(seed: int) -> str:
    return f"leak{seed:02d}.jane@example.com"


def jwt(seed: int) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"sub": f"leak{seed}"}).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.c2lnbmF0dXJl{seed:02d}Zm9v"


def basic(seed: int) -> str:
    return base64.b64encode(f"user{seed}:pass{seed}word".encode()).decode()


@dataclass
class Case:
    name: str
    via: str
    """protobuf, json or zipkin (spans); logs-protobuf or logs-json (a log of a carrier span)."""
    secret: str
    resource: dict[str, Value] = field(default_factory=dict)
    span_name: str = "GET /checkout"
    attributes: dict[str, Value] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Value]]] = field(default_factory=list)
    log: dict[str, Any] = field(default_factory=dict)
    kept: str | None = None
    """Text around the secret that must still be stored (seen in the API's answer)."""
    extra: list[str] = field(default_factory=list)
    """Other forms of the secret that must not appear either."""
    malformed: bool = False
    """The item is invalid and refused; only the log and the ingest answer matter then."""
    trace_id: str = field(default_factory=lambda: os.urandom(16).hex())

    def needles(self) -> list[bytes]:
        forms = [self.secret, *self.extra]
        digits = "".join(c for c in self.secret if c.isdigit())
        if len(digits) >= 13 and luhn_valid(digits) and len(digits) <= 19:
            forms.append(digits)  # a card without its separators
        return [form.encode() for form in forms]


CASES = [
    Case("event name: e-mail", "protobuf", email(1), events=[("mailed " + email(1), {})], kept="mailed "),
    Case("event name: card", "protobuf", card(2), events=[("charged " + card(2), {})], kept="charged "),
    Case(
        "event name: bearer", "protobuf", "tok02abcdefghijkl", events=[("auth Bearer tok02abcdefghijkl", {})]
    ),
    Case(
        "event name: API key",
        "protobuf",
        "sk_live_03abcdefghijklmn",
        events=[("key sk_live_03abcdefghijklmn", {})],
    ),
    Case("annotation: e-mail", "zipkin", email(4), events=[("mail to " + email(4), {})], kept="mail to "),
    Case("annotation: card", "zipkin", card(5), events=[("card " + card(5), {})]),
    Case("annotation: bearer", "zipkin", "tok06abcdefghijkl", events=[("Bearer tok06abcdefghijkl", {})]),
    Case("annotation: API key", "zipkin", "AKIAIOSFODNN7LEAK007", events=[("aws AKIAIOSFODNN7LEAK007", {})]),
    Case("service.name: e-mail", "protobuf", email(8), resource={"service.name": email(8)}),
    Case(
        "service.version: card",
        "protobuf",
        card(9),
        resource={"service.version": "build " + card(9)},
        kept="build ",
    ),
    Case("host.name as instance: e-mail", "protobuf", email(10), resource={"host.name": email(10)}),
    Case("cloud.region: e-mail", "json", email(11), resource={"cloud.region": email(11)}),
    Case(
        "cloud.availability_zone: card", "protobuf", card(12), resource={"cloud.availability_zone": card(12)}
    ),
    Case("service.name: e-mail", "json", email(13), resource={"service.name": email(13)}),
    Case("serviceName: e-mail", "zipkin", email(14), resource={"service.name": email(14)}),
    Case("severity_text: e-mail", "logs-protobuf", email(15), log={"severity_text": email(15)}),
    Case(
        "severity_text: bearer",
        "logs-json",
        "tok16abcdefghijkl",
        log={"severity_text": "Bearer tok16abcdefghijkl"},
    ),
    Case("log service.name: e-mail", "logs-protobuf", email(17), resource={"service.name": email(17)}),
    Case("log host.name as instance: card", "logs-json", card(18), resource={"host.name": card(18)}),
    Case("card as an integer", "protobuf", card(19), attributes={"payment.number": int(card(19))}),
    Case("card as an integer", "json", card(20), attributes={"payment.number": int(card(20))}),
    Case(
        "URL-encoded e-mail",
        "protobuf",
        email(21),
        attributes={"url.full": "https://shop.example/reset?to=" + urllib.parse.quote(email(21))},
        extra=[urllib.parse.quote(email(21))],
        kept="https://shop.example/reset?to=",
    ),
    Case(
        "URL-encoded card",
        "json",
        card(22),
        span_name="GET /pay?n="
        + urllib.parse.quote(" ".join([card(22)[i : i + 4] for i in range(0, 16, 4)])),
        extra=[urllib.parse.quote(" ".join([card(22)[i : i + 4] for i in range(0, 16, 4)]))],
        kept="GET /pay?n=",
    ),
    Case(
        "password= in a URL",
        "zipkin",
        "hunter23Pw",
        attributes={"http.url": "https://shop.example/login?user=bob&password=hunter23Pw&next=/"},
        kept="https://shop.example/login?user=?&password=",
    ),
    Case(
        "password= in a stack trace",
        "protobuf",
        "hunter24Pw",
        events=[
            (
                "exception",
                {
                    "exception.stacktrace": "Traceback:\n  connect(dsn='db password=hunter24Pw host=db')\n"
                    "OperationalError"
                },
            )
        ],
        kept="OperationalError",
    ),
    Case(
        "pwd= in a log body",
        "logs-protobuf",
        "hunter25Pw",
        log={"body": "login failed pwd=hunter25Pw for bob"},
    ),
    Case(
        "nested kvlist key: password",
        "protobuf",
        "hunter26Pw",
        attributes={"request.params": {"user": "bob", "password": "hunter26Pw"}},
        kept="bob",
    ),
    Case(
        "nested kvlist key: Authorization Basic",
        "json",
        basic(27),
        attributes={"request.headers": {"Accept": "text/html", "Authorization": "Basic " + basic(27)}},
        kept="text/html",
    ),
    Case(
        "Authorization: Basic in text",
        "zipkin",
        basic(28),
        attributes={"http.request.dump": "GET / HTTP/1.1\r\nAuthorization: Basic " + basic(28) + "\r\n"},
    ),
    Case(
        "JWT without Bearer",
        "protobuf",
        jwt(29),
        attributes={"session.token": jwt(29)},
        extra=[jwt(29).split(".")[2]],
    ),
    Case(
        "JWT in a log body",
        "logs-json",
        jwt(30),
        log={"body": "token=" + jwt(30) + " expired"},
        kept="expired",
    ),
    Case(
        "card with dots",
        "zipkin",
        card(31),
        attributes={"payment.note": "paid with " + ".".join([card(31)[i : i + 4] for i in range(0, 16, 4)])},
        extra=[".".join([card(31)[i : i + 4] for i in range(0, 16, 4)])],
        kept="paid with ",
    ),
    Case(
        "bytes value: e-mail",
        "protobuf",
        email(32),
        attributes={"message.payload": ("to: " + email(32)).encode()},
        extra=[email(32).encode().hex()],
    ),
    Case(
        "bytes value: card",
        "json",
        card(33),
        attributes={"message.payload": ("card " + card(33)).encode()},
        extra=[card(33).encode().hex()],
    ),
    Case(
        "kvlist log body: password",
        "logs-protobuf",
        "hunter34Pw",
        log={"body": {"event": "login", "password": "hunter34Pw"}},
        kept="login",
    ),
    Case(
        "statement: e-mail literal",
        "protobuf",
        email(41),
        attributes={
            "db.system": "postgresql",
            "db.statement": f"SELECT * FROM users WHERE email = '{email(41)}'",
        },
        kept="SELECT * FROM users WHERE email = ?",
    ),
    Case(
        "statement: a name no pattern knows",
        "json",
        "Zorblatt Quenby",
        attributes={
            "db.system": "mysql",
            "db.query.text": "UPDATE users SET name = 'Zorblatt Quenby' WHERE id = 7",
        },
        kept="UPDATE users SET name = ? WHERE id = ?",
    ),
    Case(
        "statement: a bound parameter",
        "zipkin",
        "Quenby42x",
        attributes={
            "db.system": "postgresql",
            "db.statement": "SELECT * FROM users WHERE login = $1",
            "db.query.parameter.0": "Quenby42x",
        },
        kept="SELECT * FROM users WHERE login = ?",
    ),
    Case(
        "statement as the span's name",
        "protobuf",
        "Marzipan Holloway",
        span_name="SELECT id FROM users WHERE name = 'Marzipan Holloway'",
        attributes={
            "db.system": "sqlite",
            "db.statement": "SELECT id FROM users WHERE name = 'Marzipan Holloway'",
        },
        kept="SELECT id FROM users WHERE name = ?",
    ),
    Case(
        "URL query: a token no pattern knows",
        "protobuf",
        "Qx7Wombat19",
        attributes={"url.full": "https://shop.example/search?q=shoes&session=Qx7Wombat19#top"},
        kept="https://shop.example/search?q=?&session=?",
    ),
    Case(
        "URL query: a name in http.target",
        "zipkin",
        "Tremaine Oduya",
        attributes={"http.target": "/users?name=Tremaine Oduya"},
        kept="/users?name=?",
    ),
    Case(
        "URL query in a key-value list",
        "protobuf",
        "Pelican88Zed",
        attributes={"request": {"url.query": "ref=Pelican88Zed"}},
    ),
    Case("malformed: duration", "zipkin", email(35), malformed=True),
    Case("malformed: trace id", "json", email(36), malformed=True),
    Case("malformed: not JSON", "logs-json", email(37), malformed=True),
    Case("malformed: int value", "json", email(38), attributes={"n": 1}, malformed=True),
    Case("malformed: content type", "content-type", email(39), malformed=True),
    Case("malformed: content encoding", "content-encoding", email(40), malformed=True),
]


# --- encoders ----------------------------------------------------------------------------


def _pb_value(value: Value) -> AnyValue:
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    return AnyValue(kvlist_value=KeyValueList(values=_pb_attrs(value)))


def _pb_attrs(attributes: dict[str, Value]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_pb_value(v)) for k, v in attributes.items()]


def _resource(case: Case) -> dict[str, Value]:
    return {"service.name": "shop", **case.resource}


def protobuf_spans(case: Case) -> bytes:
    span = Span(
        trace_id=bytes.fromhex(case.trace_id),
        span_id=b"\x01" * 8,
        name=case.span_name,
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=NOW_NS,
        end_time_unix_nano=NOW_NS + 2_000_000,
        attributes=_pb_attrs(case.attributes),
        events=[
            Span.Event(name=name, time_unix_nano=NOW_NS + 1000, attributes=_pb_attrs(attrs))
            for name, attrs in case.events
        ],
    )
    resource = Resource(attributes=_pb_attrs(_resource(case)))
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=[span])])]
    )
    return request.SerializeToString()


def json_spans(case: Case) -> bytes:
    span = {
        "traceId": case.trace_id,
        "spanId": "0101010101010101",
        "name": case.span_name,
        "kind": 2,
        "startTimeUnixNano": str(NOW_NS),
        "endTimeUnixNano": str(NOW_NS + 2_000_000),
        "attributes": json_attributes(case.attributes),
        "events": [
            {"name": name, "timeUnixNano": str(NOW_NS + 1000), "attributes": json_attributes(attrs)}
            for name, attrs in case.events
        ],
    }
    resource = {"attributes": json_attributes(_resource(case))}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}).encode()


def zipkin_spans(case: Case) -> bytes:
    span: dict[str, Any] = {
        "traceId": case.trace_id,
        "id": "0101010101010101",
        "name": case.span_name,
        "kind": "SERVER",
        "timestamp": NOW_NS // 1000,
        "duration": case.secret if case.malformed else 2000,
        "localEndpoint": {"serviceName": _resource(case)["service.name"]},
        "tags": {k: str(v) for k, v in case.attributes.items()},
        "annotations": [{"timestamp": NOW_NS // 1000 + 1, "value": name} for name, _ in case.events],
    }
    return json.dumps([span]).encode()


def protobuf_logs(case: Case) -> bytes:
    record = LogRecord(
        time_unix_nano=NOW_NS,
        severity_text=case.log.get("severity_text", "ERROR"),
        severity_number=17,
        body=_pb_value(case.log.get("body", "payment failed")),
        trace_id=bytes.fromhex(case.trace_id),
        span_id=b"\x01" * 8,
    )
    resource = Resource(attributes=_pb_attrs(_resource(case)))
    request = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=resource, scope_logs=[ScopeLogs(log_records=[record])])]
    )
    return request.SerializeToString()


def json_logs(case: Case) -> bytes:
    record = {
        "timeUnixNano": str(NOW_NS),
        "severityText": case.log.get("severity_text", "ERROR"),
        "severityNumber": 17,
        "body": json_value(case.log.get("body", "payment failed")),
        "traceId": case.trace_id,
        "spanId": "0101010101010101",
    }
    resource = {"attributes": json_attributes(_resource(case))}
    return json.dumps(
        {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": [record]}]}]}
    ).encode()


PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def malformed(case: Case) -> tuple[str, dict[str, str], bytes]:
    """A request that carries the secret where a valid value belongs."""
    if case.via == "content-type":
        return "/v1/traces", {"content-type": case.secret}, protobuf_spans(case)
    if case.via == "content-encoding":
        return "/v1/traces", {"content-type": PROTOBUF, "content-encoding": case.secret}, protobuf_spans(case)
    path, content_type, body = _malformed_body(case)
    return path, {"content-type": content_type}, body


def _malformed_body(case: Case) -> tuple[str, str, bytes]:
    if case.via == "zipkin":
        return "/api/v2/spans", JSON, zipkin_spans(case)
    if case.via == "logs-json":
        return "/v1/logs", JSON, b'{"resourceLogs": [' + case.secret.encode() + b"]}"
    body = json_spans(case).replace(case.trace_id.encode(), case.secret.encode())
    if case.attributes:
        body = json_spans(case).replace(b'"intValue": "1"', b'"intValue": "' + case.secret.encode() + b'"')
    return "/v1/traces", JSON, body


def requests_for(case: Case) -> Iterator[tuple[str, dict[str, str], bytes]]:
    """(path, headers, body) of each request a case sends, in order."""
    if case.malformed:
        yield malformed(case)
    elif case.via == "protobuf":
        yield "/v1/traces", {"content-type": PROTOBUF}, protobuf_spans(case)
    elif case.via == "json":
        yield "/v1/traces", {"content-type": JSON}, json_spans(case)
    elif case.via == "zipkin":
        yield "/api/v2/spans", {"content-type": JSON}, zipkin_spans(case)
    else:  # a clean carrier span, so the log is shown with its trace
        carrier = Case("carrier", "protobuf", "", trace_id=case.trace_id)
        yield "/v1/traces", {"content-type": PROTOBUF}, protobuf_spans(carrier)
        if case.via == "logs-protobuf":
            yield "/v1/logs", {"content-type": PROTOBUF}, protobuf_logs(case)
        else:
            yield "/v1/logs", {"content-type": JSON}, json_logs(case)


# --- the test ----------------------------------------------------------------------------


def _wait_for(bot: BotProcess, case: Case, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = httpx.get(f"{bot.url}/api/traces/{case.trace_id}", timeout=5)
        if answer.status_code == 200:
            body: dict[str, Any] = answer.json()
            if body["spans"] and (not case.via.startswith("logs") or body["logs"]):
                return body
        time.sleep(0.2)
    raise AssertionError(f"{case.name} ({case.via}): trace {case.trace_id} not stored")


def _leaks(where: str, data: bytes) -> list[str]:
    found = []
    lowered = data.lower()
    for case in CASES:
        for needle in case.needles():
            if needle.lower() in lowered:
                found.append(f"{case.name} ({case.via}): {needle.decode()!r} in {where}")
    return found


SIGNING_SECRET = "pii-test-signing-secret"


@pytest.fixture
def pii_bot(start_bot, keep_all_config, fake_slack: FakeSlack) -> BotProcess:  # type: ignore[no-untyped-def]
    """The server at info level (so refusals are logged), with Slack at the fake."""
    return start_bot(  # type: ignore[no-any-return]
        keep_all_config,
        log_level="info",
        SLACK_BOT_TOKEN=fake_slack.expected_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        JOURNEYWATCH_SLACK_API_URL=fake_slack.api_url,
    )


def _slack_answers(bot: BotProcess, fake_slack: FakeSlack, cases: list[Case]) -> bytes:
    """What the bot posts to Slack for `/journeywatch trace <id>` of each case."""
    with httpx.Client(base_url=bot.url, timeout=10) as http:
        for case in cases:
            body, headers = slash_command(
                SIGNING_SECRET, response_url=fake_slack.response_url(), text=f"trace {case.trace_id}"
            )
            assert http.post("/slack/events", content=body, headers=headers).status_code == 200
    fake_slack.wait_for("respond", count=len(cases))
    answers = json.dumps(fake_slack.responses)
    for case in cases:
        assert case.trace_id[:8] in answers, f"{case.name}: no answer about its trace"
    return answers.encode()


def test_no_planted_secret_is_stored_shown_or_logged(pii_bot: BotProcess, fake_slack: FakeSlack) -> None:
    bot = pii_bot
    answers: dict[str, bytes] = {}
    with httpx.Client(base_url=bot.url, timeout=10) as http:
        for case in CASES:
            for path, headers, body in requests_for(case):
                response = http.post(path, content=body, headers=headers)
                assert response.status_code in ((200, 202, 400, 415) if case.malformed else (200, 202)), (
                    case.name,
                    case.via,
                    response.text,
                )

        stored = [case for case in CASES if not case.malformed]
        for case in stored:
            trace = _wait_for(bot, case)
            text = json.dumps(trace)
            answers[f"/api/traces/{case.trace_id}"] = text.encode()
            if case.kept:
                assert case.kept in text, f"{case.name} ({case.via}): {case.kept!r} lost: {text}"
        for path in ["/api/traces?limit=1000", "/", "/journeys", "/incidents"]:
            answers[path] = http.get(path).content
        for case in stored:
            page = http.get(f"/traces/{case.trace_id}")
            assert page.status_code == 200, case.name
            answers[f"/traces/{case.trace_id}"] = page.content
        for case in stored:
            service = http.get("/api/traces", params={"trace_id": case.trace_id})
            answers[f"/api/traces?trace_id={case.trace_id}"] = service.content

    answers["Slack responses"] = _slack_answers(bot, fake_slack, stored)
    leaks: list[str] = []
    for path, content in answers.items():
        leaks += _leaks(path, content)
    database = Path(bot.database)
    for file in (database, Path(f"{database}-wal")):
        if file.exists():
            leaks += _leaks(file.name, file.read_bytes())
    log = bot.stop()
    leaks += _leaks("server log", log.encode())
    leaks += _leaks(f"{database.name} after shutdown", database.read_bytes())
    assert not leaks, "\n".join(leaks)
