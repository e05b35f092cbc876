"""Redaction: what never reaches storage, and what must survive it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.config import CustomPattern, RedactionRules
from bot.telemetry.lite import PairCache
from bot.telemetry.otlp import decode_traces
from bot.telemetry.redact import MAX_CHARS, MAX_DEPTH, TOO_DEEP, TRUNCATED, Redactor
from bot.telemetry.scrub import luhn_valid
from correlators.model import InstrumentationScope, LogRecord, Span, SpanEvent, Trace
from tests.otlp_json import write_traces

RULES = RedactionRules()


def redactor(rules: RedactionRules = RULES, key: bytes = b"k1") -> Redactor:
    return Redactor(rules, key)


def span(
    attributes: dict[str, object], resource: dict[str, object] | None = None, name: str = "GET /"
) -> Span:
    return Span(
        "1" * 32,
        "2" * 16,
        None,
        "shop",
        name,
        0,
        1,
        attributes=attributes,
        resource=resource or {"service.name": "shop"},
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111 ok", "card [card] ok"),
        ("card 4111-1111-1111-1111", "card [card]"),
        ("4111111111111111", "[card]"),
        ("order 4111111111111112", "order 4111111111111112"),  # fails Luhn: an order number
        ("mail jane.doe+x@example.co.uk now", "mail [email] now"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "Authorization: Bearer [token]"),
        ("key sk_live_4eC39HqLyjWDarjtT1zdp7dc", "key [api_key]"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws [api_key]"),
        ("slack xoxb-123456789012-abcdefghij", "slack [api_key]"),
        ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "gh [api_key]"),
        ("url /v1?api_key=abcd1234efgh5678", "url /v1?[api_key]"),
        ("x-api-key: 0123456789abcdef", "[api_key]"),
        ("GET /items/42 took 12ms", "GET /items/42 took 12ms"),
        ("two 4111111111111111 5555555555554444.", "two [card] [card]."),
        ("card 4111 1111 1111 1111 2024", "card [card] 2024"),  # a year after the card
        ("id ord-4111111111111111", "id ord-4111111111111111"),  # part of an identifier
        ("é4111111111111111é", "é[card]é"),  # the search runs on bytes; text around survives
        ("paid 4111.1111.1111.1111.", "paid [card]."),  # dotted groups
        ("amex 3782.822463.10005", "amex [card]"),
        ("pi 3.14159265358979 and 4111111111.111111", "pi 3.14159265358979 and 4111111111.111111"),
        ("/reset?to=jane%40example.com&x=1", "/reset?to=[email]&x=1"),  # decoded to match only
        ("n=4111%201111%201111%201111", "n=[card]"),
        ("q=hello%20jane%40example.com%20bye", "q=hello%20[email]%20bye"),
        ("100%25 done, a%2Fb", "100%25 done, a%2Fb"),  # escapes without a secret stay as sent
        ("/login?user=bob&password=hunter2&next=/", "/login?user=bob&password=[password]&next=/"),
        ("connect(dsn='db passwd=s3cret host=db')", "connect(dsn='db passwd=[password] host=db')"),
        ('{"pwd": "s3cret", "user": "bob"}', '{"pwd": "[password]", "user": "bob"}'),
        ("passwordless login enabled", "passwordless login enabled"),
        ("Authorization: Basic dXNlcjpwYXNz\r\n", "Authorization: Basic [token]\r\n"),
        ("basic auth failed", "basic auth failed"),
        ("t=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln end", "t=[jwt] end"),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", "[jwt]"),  # unsigned
        ("Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "Bearer [token]"),
    ],
)
def test_patterns_scrub_values(text: str, expected: str) -> None:
    assert redactor().redact_text(text) == expected


def test_card_numbers_sent_as_integers() -> None:
    """13-19 digits that begin as card numbers do and pass Luhn; timestamps (they begin
    with 1 until 2033) and short counters stay numbers."""
    out = redactor().redact_attributes(
        {"pan": 4111111111111111, "amex": 378282246310005, "neg": -5555555555554444, "ms": 1733370000000}
        | {"ns": 1733370000000000000, "count": 42, "flag": True, "bad_luhn": 4111111111111112}
    )
    assert out == {
        "pan": "[card]",
        "amex": "[card]",
        "neg": "[card]",
        "ms": 1733370000000,
        "ns": 1733370000000000000,
        "count": 42,
        "flag": True,
        "bad_luhn": 4111111111111112,
    }


def test_nested_maps_are_judged_by_their_keys() -> None:
    r = redactor()
    out = r.redact_attributes(
        {
            "request": {
                "user": "bob",
                "password": "hunter2",
                "Authorization": "Basic dXNlcjpwYXNz",
                "enduser.id": "u-1",
                "inner": {"db_secret": "x", "mail": "a@b.io"},
                "cards": [{"number": "4111 1111 1111 1111", "api_secret": "s=1"}, "a@b.io"],
            },
            "tags": ["password", "a@b.io"],  # a plain array of text: its items are values
        }
    )
    assert out["request"] == {
        "user": "bob",
        "enduser.id": r.hash_value("u-1"),
        "inner": {"mail": "[email]"},
        "cards": [{"number": "[card]"}, "[email]"],
    }
    assert out["tags"] == ["password", "[email]"]


def test_pairs_as_written_before_maps_are_still_judged_by_their_keys() -> None:
    """Until model schema 2 a key-value list was a list of [key, value] pairs."""
    r = redactor()
    out = r.redact_attributes({"request": [["user", "bob"], ["password", "hunter2"], ["to", "a@b.io"]]})
    assert out["request"] == [["user", "bob"], ["to", "[email]"]]


def test_a_value_nested_past_the_depth_bound_is_replaced_not_kept() -> None:
    deep: dict[str, object] = {"mail": "a@b.io"}
    for _ in range(MAX_DEPTH + 5):
        deep = {"next": deep}
    out = redactor().redact_attributes({"deep": deep, "shallow": {"next": {"mail": "a@b.io"}}})
    assert out["shallow"] == {"next": {"mail": "[email]"}}
    level = out["deep"]
    for _ in range(MAX_DEPTH):
        assert isinstance(level, dict)
        level = level["next"]
    assert level == TOO_DEEP
    assert "a@b.io" not in json.dumps(out)


def test_scope_and_event_name_are_redacted() -> None:
    scope = InstrumentationScope("lib a@b.io", "1", {"owner": "ops@example.com", "password": "x"})
    s = span({}, {})
    s.scope = scope
    r = redactor()
    r.redact_span(s)
    assert s.scope == InstrumentationScope("lib [email]", "1", {"owner": "[email]"})
    assert scope.attributes["password"] == "x"  # shared by the entry's spans: replaced, not changed
    record = LogRecord(1, "pay", "x", scope=scope, event_name="signup a@b.io")
    r.redact_log(record)
    assert (record.scope, record.event_name) == (s.scope, "signup [email]")


def test_bytes_values_are_scrubbed_as_the_text_they_hold() -> None:
    """Decoders show bytes as hex: hex of UTF-8 text is scrubbed as that text."""
    sent = {
        "payload": b"to: jane@example.com".hex(),
        "binary": bytes(range(200, 232)).hex(),
        "clean": b"hello, world!".hex(),
    }
    out = redactor().redact_attributes(sent)
    assert bytes.fromhex(str(out["payload"])).decode() == "to: [email]"
    assert out["binary"] == sent["binary"]
    assert out["clean"] == sent["clean"]


def test_columns_taken_from_the_resource_and_severity_text() -> None:
    s = span({}, {"service.name": "ops@example.com", "host.name": "4111111111111111"})
    s.service, s.instance, s.service_version = "ops@example.com", "4111111111111111", "v1 a@b.io"
    s.region, s.zone, s.language = "r a@b.io", "z a@b.io", "python"
    redactor().redact_span(s)
    assert (s.service, s.instance, s.service_version) == ("[email]", "[card]", "v1 [email]")
    assert (s.region, s.zone, s.language) == ("r [email]", "z [email]", "python")
    record = LogRecord(1, "ops@example.com", "x", severity_text="Bearer abcdef", instance="a@b.io")
    redactor().redact_log(record)
    assert (record.service, record.instance, record.severity_text) == ("[email]", "[email]", "Bearer [token]")


def test_a_structured_log_body_is_redacted_by_its_keys() -> None:
    record = LogRecord(1, "pay", '{"event":"login","password":"hunter2","to":{"mail":"a@b.io"}}')
    redactor().redact_log(record)
    assert record.body == '{"event":"login","to":{"mail":"[email]"}}'
    stored_before = LogRecord(1, "pay", '[["event","login"],["password","hunter2"],["to","a@b.io"]]')
    redactor().redact_log(stored_before)
    assert stored_before.body == '[["event","login"],["to","[email]"]]'
    text = LogRecord(1, "pay", "[INFO] user a@b.io logged in")
    redactor().redact_log(text)
    assert text.body == "[INFO] user [email] logged in"


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112")


def test_span_attributes_names_events_and_lists() -> None:
    s = span(
        {
            "user.contact": ["a@b.io", "plain"],
            "http.request.header.authorization": "Bearer x",
            "db.password": "hunter2",
            "enduser.id": "user-42",
            "count": 3,
        },
        name="lookup jane@corp.com",
    )
    s.events = [SpanEvent("exception", 1, {"exception.message": "card 4111111111111111 declined"})]
    r = redactor()
    r.redact_span(s)
    assert s.name == "lookup [email]"
    assert s.attributes["user.contact"] == ["[email]", "plain"]
    assert "http.request.header.authorization" not in s.attributes
    assert "db.password" not in s.attributes
    assert s.attributes["enduser.id"] == r.hash_value("user-42")
    assert str(s.attributes["enduser.id"]).startswith("h:")
    assert s.attributes["count"] == 3
    assert s.events[0].attributes["exception.message"] == "card [card] declined"


def test_hashes_correlate_per_key_and_differ_across_keys() -> None:
    one, same, other = redactor(key=b"a"), redactor(key=b"a"), redactor(key=b"b")
    assert one.hash_value("user-1") == same.hash_value("user-1")
    assert one.hash_value("user-1") != one.hash_value("user-2")
    assert one.hash_value("user-1") != other.hash_value("user-1")


def test_key_globs_are_case_insensitive() -> None:
    rules = RedactionRules(drop_keys=["http.request.header.*"], hash_keys=["User.*"])
    s = span({"HTTP.Request.Header.Cookie": "a=b", "user.Email": "x@y.z", "http.route": "/"})
    redactor(rules).redact_span(s)
    assert list(s.attributes) == ["user.Email", "http.route"]
    assert str(s.attributes["user.Email"]).startswith("h:")


def test_a_shared_resource_is_redacted_once_and_not_mutated() -> None:
    resource = {"service.name": "shop", "host.owner": "ops@example.com"}
    spans = [span({}, resource) for _ in range(3)]
    r = redactor()
    for s in spans:
        r.redact_span(s)
    assert resource["host.owner"] == "ops@example.com"  # the decoder's dict is untouched
    assert spans[0].resource == {"service.name": "shop", "host.owner": "[email]"}
    assert spans[0].resource is spans[1].resource is spans[2].resource


def test_logs_body_attributes_and_resource() -> None:
    record = LogRecord(
        1,
        "pay",
        "charging 4111 1111 1111 1111 for a@b.com",
        attributes={"card.pan": "5555555555554444"},
        resource={"owner": "x@y.io"},
    )
    redactor().redact_log(record)
    assert record.body == "charging [card] for [email]"
    assert record.attributes == {"card.pan": "[card]"}
    assert record.resource == {"owner": "[email]"}


def test_custom_patterns_and_disabled_rules() -> None:
    rules = RedactionRules(custom_patterns=[CustomPattern(name="ssn", regex=r"\b\d{3}-\d{2}-\d{4}\b")])
    assert redactor(rules).redact_text("ssn 123-45-6789") == "ssn [ssn]"
    off = span({"password": "x", "mail": "a@b.io"})
    redactor(RedactionRules(enabled=False)).redact_span(off)
    assert off.attributes == {"password": "x", "mail": "a@b.io"}


def test_attributes_redacted_while_decoding_equal_the_whole_span_path(tmp_path: Path) -> None:
    """The collector's OTLP path redacts attributes once per distinct pair as it decodes
    (PairCache with redact_pair); it must keep and drop exactly what redact_span does."""
    attributes = {
        "user.contact": "mail a@b.io",
        "http.request.header.authorization": "Bearer x",
        "db.password": "hunter2",
        "enduser.id": "user-42",
        "note": "card 4111 1111 1111 1111",
        "count": 3,
    }
    trace_id = "1" * 32
    spans = [
        Span(trace_id, f"{n + 1:016x}", None, "shop", "GET /", 1, 2, attributes=dict(attributes))  # type: ignore[arg-type]
        for n in range(3)
    ]
    write_traces(tmp_path / "t.jsonl", [Trace(trace_id, spans)])
    body = (tmp_path / "t.jsonl").read_bytes().splitlines()[0]
    r = redactor()

    whole = decode_traces(body, "json").items
    for decoded in whole:
        r.redact_span(decoded)
    cache = PairCache(r.redact_pair)
    while_decoding = decode_traces(body, "json", cache).items
    for decoded in while_decoding:
        r.redact_span(decoded, attributes=False)

    expected = {
        "user.contact": "mail [email]",
        "enduser.id": r.hash_value("user-42"),
        "note": "card [card]",
        "count": 3,
    }
    assert [d.attributes for d in while_decoding] == [expected] * 3
    assert [d.attributes for d in whole] == [expected] * 3
    assert "hunter2" not in repr(while_decoding) and "user-42" not in repr(while_decoding)


M = 1 << 20
ADVERSARIAL = {
    "letters with no @": "a" * M,
    "e-mail local part": "a.b_" * (M // 4),
    "digits": "1" * M,
    "single digits apart": "1 " * (M // 2),
    "card-like groups": "4111 " * (M // 5),
    "at signs": "a@" * (M // 2),
    "bearer words": "bearer " * (M // 7),
    "key prefixes": "api_key=" * (M // 8),
    "percent escapes": "a%40" * (M // 4),
    "encoded e-mails": "a%40b.io%20" * (M // 11),
    "dotted digit groups": "4111." * (M // 5),
    "JWT-like parts": "eyJa." * (M // 5),
    "password keys": "password=" * (M // 9),
    "basic credentials": "authorization: basic " * (M // 21),
    "hex": "ab" * (M // 2),
}


@pytest.mark.parametrize("shape", ADVERSARIAL)
def test_a_1_mib_value_of_any_shape_is_redacted_in_milliseconds(shape: str) -> None:
    """Before: Python's backtracking e-mail pattern took 9 s on 64 KiB of letters and held
    the server at 100 % CPU on 1 MiB. Values are cut at the limit, then scanned by RE2."""
    value = ADVERSARIAL[shape]
    began = time.perf_counter()
    out = redactor().redact_pair("note", value)
    took = time.perf_counter() - began
    assert took < 0.25, f"{shape}: {took:.3f} s"
    assert out and isinstance(out[1], str) and out[1].endswith(TRUNCATED)
    assert len(out[1]) < 2 * MAX_CHARS  # cut, then masked (a mask may be longer than its match)


def test_patterns_are_linear_in_the_text_past_the_limit_too() -> None:
    """With no limit at all, the once-quadratic e-mail shape still takes milliseconds."""
    unlimited = Redactor(RULES, b"k1", max_chars=4 * M)
    began = time.perf_counter()
    assert unlimited.redact_text("a" * M + " bob@example.com") == "a" * M + " [email]"
    assert time.perf_counter() - began < 0.25


@pytest.mark.parametrize("text", ["a%40" * (M // 4), "%41" * (M // 3), "a%2" * (M // 3)])
def test_decoding_url_escapes_is_linear_past_the_limit_too(text: str) -> None:
    """One run of 1 MiB of escapes, decoded, scrubbed and encoded again, in milliseconds."""
    unlimited = Redactor(RULES, b"k1", max_chars=4 * M)
    began = time.perf_counter()
    unlimited.redact_text(text)
    assert time.perf_counter() - began < 0.5


def test_a_custom_pattern_that_needs_backtracking_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="bad regular expression"):
        CustomPattern(name="ticket", regex=r"(?<=TICKET-)\d+")


def test_distinct_large_values_do_not_pile_up_in_the_caches() -> None:
    """Issue 14: 420 distinct 1 MiB attribute values kept 1.4 GB resident, because the
    caches counted entries, not bytes. Long values are now redacted uncached."""
    import tracemalloc

    cut = Redactor(RULES, b"k1")
    pairs = PairCache(cut.redact_pair)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(300):
            value = f"{n:08d}" + "x" * 30_000
            cut.redact_text(value)
            pairs.converted([("note", value)])
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 1_000_000, f"{kept:,} bytes kept after 300 distinct 30 KB values"
