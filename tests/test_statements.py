"""Statements at ingest: stored as fingerprints, their arguments only as a keyed digest,
and the N+1 detector still telling a loop over items from a poll on what was stored."""

from __future__ import annotations

from pathlib import Path

from bot.config import RedactionRules
from bot.store import Store
from bot.telemetry.lite import PairCache
from bot.telemetry.otlp import decode_traces
from bot.telemetry.redact import Redactor
from correlators.fingerprint import ARGUMENTS_DIGEST, BATCHED, QUERY_DIGEST, query_shape
from correlators.model import LogRecord, Span, SpanKind, Trace
from correlators.patterns import PatternKind, detect
from correlators.traces import assemble
from tests.otlp_json import write_traces
from tests.spantree import TraceBuilder

RULES = RedactionRules()
EMAIL = "SELECT * FROM users WHERE email = 'a@b.c'"


def db_span(
    statement: str, *, key: str = "db.statement", name: str = "SELECT shop.users", **more: object
) -> Span:
    attributes = {"db.system": "postgresql", key: statement, **more}
    return Span(
        "1" * 32, "2" * 16, None, "shop", name, 0, 1, attributes=attributes, resource={"service.name": "shop"}
    )  # type: ignore[arg-type]


def redacted(span: Span, key: bytes = b"k1") -> Span:
    Redactor(RULES, key).redact_span(span)
    return span


def test_a_statement_is_stored_as_its_fingerprint_with_a_digest_of_its_literals() -> None:
    span = redacted(db_span(EMAIL))
    assert span.attributes["db.statement"] == "SELECT * FROM users WHERE email = ?"
    digest = span.attributes[ARGUMENTS_DIGEST]
    assert isinstance(digest, str) and len(digest) == 32
    assert "a@b.c" not in str(span.attributes) and BATCHED not in span.attributes


def test_literals_no_pattern_knows_are_taken_out_too() -> None:
    span = redacted(
        db_span("UPDATE users SET name = 'Zorblatt Quenby', age = 41 WHERE id = 7", key="db.query.text")
    )
    assert span.attributes["db.query.text"] == "UPDATE users SET name = ?, age = ? WHERE id = ?"


def test_equal_arguments_digest_alike_under_one_key_across_redactors_and_apart_under_another() -> None:
    first = redacted(db_span(EMAIL), b"k1").attributes[ARGUMENTS_DIGEST]
    again = redacted(db_span(EMAIL), b"k1").attributes[ARGUMENTS_DIGEST]
    other_key = redacted(db_span(EMAIL), b"k2").attributes[ARGUMENTS_DIGEST]
    other_value = redacted(db_span(EMAIL.replace("a@b.c", "d@e.f")), b"k1").attributes[ARGUMENTS_DIGEST]
    assert first == again
    assert other_key != first and other_value != first
    # and not the digest hash_keys gives the same text under the same key
    assert Redactor(RULES, b"k1").hash_value(EMAIL).removeprefix("h:") != first


def test_bound_parameters_join_the_digest_and_are_not_stored() -> None:
    sql = "SELECT * FROM users WHERE email = $1"
    one = redacted(db_span(sql, **{"db.query.parameter.0": "a@b.c"})).attributes
    other = redacted(db_span(sql, **{"db.query.parameter.0": "d@e.f"})).attributes
    assert not any(key.startswith("db.query.parameter.") for key in one)
    assert one["db.statement"] == "SELECT * FROM users WHERE email = ?"
    assert one[ARGUMENTS_DIGEST] != other[ARGUMENTS_DIGEST]
    assert ARGUMENTS_DIGEST not in redacted(db_span(sql)).attributes  # nothing was visible


def test_a_batched_statement_says_so_beside_its_fingerprint() -> None:
    attributes = redacted(db_span("SELECT * FROM items WHERE id IN ($1, $2, $3)")).attributes
    assert attributes["db.statement"] == "SELECT * FROM items WHERE id IN (?)"
    assert attributes[BATCHED] is True


def test_a_span_named_by_its_statement_is_named_by_the_fingerprint() -> None:
    span = redacted(db_span(EMAIL, name=EMAIL))
    assert span.name == "SELECT * FROM users WHERE email = ?"


def test_shaping_again_keeps_the_digest() -> None:
    span = redacted(db_span(EMAIL))
    before = dict(span.attributes)
    Redactor(RULES, b"k1").redact_span(span)
    assert span.attributes == before


def test_the_patterns_still_run_over_the_fingerprint() -> None:
    span = redacted(db_span("SELECT * FROM t /* for jane@example.com */ WHERE id = 1"))
    assert span.attributes["db.statement"] == "SELECT * FROM t /* for [email] */ WHERE id = ?"


def test_a_drop_rule_for_statements_wins_and_redaction_off_keeps_them() -> None:
    dropping = Redactor(RedactionRules(drop_keys=["db.statement"]), b"k1")
    span = db_span(EMAIL)
    dropping.redact_span(span)
    assert "db.statement" not in span.attributes and ARGUMENTS_DIGEST not in span.attributes
    off = db_span(EMAIL)
    Redactor(RedactionRules(enabled=False), b"k1").redact_span(off)
    assert off.attributes["db.statement"] == EMAIL


def test_statements_in_logs_and_events_are_shaped_too() -> None:
    record = LogRecord(0, "shop", "query failed", attributes={"db.statement": EMAIL})
    Redactor(RULES, b"k1").redact_log(record)
    assert record.attributes["db.statement"] == "SELECT * FROM users WHERE email = ?"


def test_the_decoders_pair_cache_path_shapes_statements_as_the_whole_span_path_does(tmp_path: Path) -> None:
    """OTLP attributes are redacted pair by pair while decoding; the statement is shaped
    after, with the span's other attributes, and gets the same digest."""
    trace = TraceBuilder()
    root = trace.span("orders", "POST /checkout", 0, 10, kind=SpanKind.SERVER)
    trace.span(
        "orders",
        "SELECT",
        1,
        2,
        parent=root,
        kind=SpanKind.CLIENT,
        **{"db.system": "sqlite", "db.statement": EMAIL},
    )
    path = tmp_path / "t.json"
    write_traces(path, [trace.trace()])
    cut = Redactor(RULES, b"k1")
    decoded = decode_traces(path.read_bytes().strip(), "json", PairCache(cut.redact_pair)).items
    for span in decoded:
        cut.redact_span(span, attributes=False)
    [query] = [s for s in decoded if "db.statement" in s.attributes]
    assert query.attributes["db.statement"] == "SELECT * FROM users WHERE email = ?"
    assert query.attributes[ARGUMENTS_DIGEST] == redacted(db_span(EMAIL)).attributes[ARGUMENTS_DIGEST]


# --- the N+1 detector on stored spans -------------------------------------------------


def loop(trace_id: str, statement_of: list[str]) -> Trace:
    b = TraceBuilder(trace_id)
    root = b.span("orders", "POST /checkout", 0, 10 + 10 * len(statement_of), kind=SpanKind.SERVER)
    for i, sql in enumerate(statement_of):
        start = 5 + i * 10
        b.span(
            "orders",
            "SELECT shop.items",
            start,
            start + 10,
            parent=root,
            kind=SpanKind.CLIENT,
            **{"db.system": "sqlite", "db.name": "shop", "db.statement": sql},
        )
    return b.trace()


def stored(store: Store, trace: Trace, key: bytes) -> Trace:
    cut = Redactor(RULES, key)
    for span in trace.spans:
        cut.redact_span(span)
    store.write_traces([trace])
    found = store.get_trace(trace.trace_id)
    assert found is not None
    return found


def test_on_stored_spans_new_arguments_are_an_n_plus_one_and_the_same_ones_a_poll(
    sqlite_store: Store,
) -> None:
    items = loop("a" * 32, [f"SELECT * FROM items WHERE sku = 'sku-{i}'" for i in range(8)])
    poll = loop("b" * 32, ["SELECT * FROM items WHERE sku = 'sku-1'"] * 8)
    one_key = [stored(sqlite_store, items, b"k1"), stored(sqlite_store, poll, b"k1")]
    for trace in one_key:
        assert all("sku-" not in str(s.attributes) for s in trace.spans)
    [pattern] = detect([assemble(t) for t in one_key])
    assert (pattern.kind, pattern.trace_id, pattern.count) == (PatternKind.N_PLUS_ONE, "a" * 32, 8)
    assert pattern.target == "SELECT * FROM items WHERE sku = ?"


def url_span(**attributes: object) -> Span:
    return Span(
        "1" * 32,
        "3" * 16,
        None,
        "shop",
        "GET",
        0,
        1,
        attributes=attributes,
        resource={"service.name": "shop"},
    )  # type: ignore[arg-type]


def test_a_urls_query_keeps_its_names_and_its_values_only_as_a_keyed_digest() -> None:
    span = redacted(url_span(**{"url.full": "https://x.io/search?q=red+shoes&page=2&debug#top"}))
    assert span.attributes["url.full"] == "https://x.io/search?q=?&page=?&?"
    digest = span.attributes[QUERY_DIGEST]
    assert isinstance(digest, str) and len(digest) == 32
    again = redacted(url_span(**{"url.full": "https://x.io/search?q=red+shoes&page=2&debug#top"}))
    other = redacted(url_span(**{"url.full": "https://x.io/search?q=red+shoes&page=3&debug#top"}))
    assert again.attributes[QUERY_DIGEST] == digest != other.attributes[QUERY_DIGEST]
    target = redacted(url_span(**{"http.target": "/items?id=7", "url.query": "id=7"}))
    assert (target.attributes["http.target"], target.attributes["url.query"]) == ("/items?id=?", "id=?")
    plain = redacted(url_span(**{"url.full": "https://x.io/items/7"}))
    assert plain.attributes["url.full"] == "https://x.io/items/7" and QUERY_DIGEST not in plain.attributes


def test_query_shapes_of_each_form() -> None:
    assert query_shape("/a?x=1&flag#top") == ("/a?x=?&?", "x=1&flag#top")
    assert query_shape("/a#token=abc") == ("/a", "#token=abc")
    assert query_shape("/a?") == ("/a?", "")
    assert query_shape("x=1&y=", whole=True) == ("x=?&y=?", "x=1&y=")
    assert query_shape("https://h/p") == ("https://h/p", "")


def test_a_url_nested_in_a_key_value_list_is_shaped_and_a_statement_too() -> None:
    span = url_span(
        request=[["url.query", "ref=Pelican88"], ["db.statement", "SELECT 1 FROM t WHERE n = 'Q'"]]
    )
    redacted(span)
    assert span.attributes["request"] == [
        ["url.query", "ref=?"],
        ["db.statement", "SELECT ? FROM t WHERE n = ?"],
    ]


def test_on_stored_spans_an_n_plus_one_over_query_ids_is_told_from_a_poll_of_one_url(
    sqlite_store: Store,
) -> None:
    def calls(trace_id: str, queries: list[str]) -> Trace:
        b = TraceBuilder(trace_id)
        root = b.span("orders", "POST /checkout", 0, 10 + 10 * len(queries), kind=SpanKind.SERVER)
        for i, query in enumerate(queries):
            b.span(
                "orders",
                "GET",
                5 + i * 10,
                15 + i * 10,
                parent=root,
                kind=SpanKind.CLIENT,
                **{"http.request.method": "GET", "url.full": f"http://items:8080/items?{query}"},
            )
        return b.trace()

    items = stored(sqlite_store, calls("c" * 32, [f"sku=sku-{i}" for i in range(8)]), b"k1")
    poll = stored(sqlite_store, calls("d" * 32, ["sku=sku-1"] * 8), b"k1")
    assert all("sku-" not in str(s.attributes) for t in (items, poll) for s in t.spans)
    [pattern] = detect([assemble(items), assemble(poll)])
    assert (pattern.kind, pattern.trace_id, pattern.count) == (PatternKind.N_PLUS_ONE, "c" * 32, 8)
