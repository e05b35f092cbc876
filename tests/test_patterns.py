"""Pattern detectors on small hand-built traces: each pattern, and the healthy look-alike
it must not be mistaken for."""

from __future__ import annotations

from correlators.fingerprint import route_fingerprint, statement_fingerprint
from correlators.model import Span, SpanKind, Trace
from correlators.patterns import Pattern, PatternKind, detect
from correlators.traces import assemble
from tests.spantree import MS, TraceBuilder

DB = {"db.system": "postgresql", "db.name": "shop"}


def found(*traces: Trace) -> list[Pattern]:
    return detect([assemble(t) for t in traces])


def kinds(*traces: Trace) -> list[PatternKind]:
    return sorted(p.kind for p in found(*traces))


def query(b: TraceBuilder, parent: Span, start: float, end: float, sql: str, *, error: bool = False) -> Span:
    attributes = {**DB, "db.statement": sql}
    name = sql.split()[0]
    kind = SpanKind.CLIENT
    return b.span(parent.service, name, start, end, parent=parent, kind=kind, error=error, **attributes)


def handler(b: TraceBuilder, end: float, service: str = "orders", name: str = "POST /checkout") -> Span:
    return b.span(service, name, 0, end, kind=SpanKind.SERVER)


# --- fingerprints ---------------------------------------------------------------------


def test_a_fingerprint_keeps_the_statement_and_drops_every_literal() -> None:
    one = statement_fingerprint("SELECT * FROM users WHERE email = 'ann@example.com' AND age > 41")
    other = statement_fingerprint("SELECT * FROM users WHERE email = 'bob@example.com' AND age > 7")
    assert one.text == other.text == "SELECT * FROM users WHERE email = ? AND age > ?"
    assert one.arguments != other.arguments
    assert "ann" not in one.text + one.arguments


def test_lists_of_any_length_are_one_statement_and_say_they_are_batched() -> None:
    short = statement_fingerprint("SELECT * FROM items WHERE id IN (1, 2)")
    long = statement_fingerprint("SELECT * FROM items WHERE id IN ($1, $2, $3, $4)")
    rows = statement_fingerprint("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')")
    assert short.text == long.text == "SELECT * FROM items WHERE id IN (?)"
    assert short.batched and long.batched and rows.batched
    assert rows.text == "INSERT INTO t (a, b) VALUES (?)"
    assert not statement_fingerprint("SELECT * FROM items WHERE id = ?").batched
    assert statement_fingerprint("SELECT * FROM items WHERE id = ?").arguments == ""


def test_a_route_fingerprint_takes_ids_and_the_query_out_of_the_path() -> None:
    shaped = route_fingerprint("GET", "https://catalog:8080/items/42/reviews?page=2")
    assert shaped.text == "GET /items/{id}/reviews"
    assert shaped.arguments and "42" not in shaped.text


# --- N+1 ------------------------------------------------------------------------------


ITEM = "SELECT * FROM items WHERE id = {i}"


def n_plus_one(n: int = 8, *, sql: str = ITEM, parallel: bool = False) -> Trace:
    b = TraceBuilder()
    root = handler(b, 10 + n * 10)
    for i in range(n):
        start = 5 if parallel else 5 + i * 10
        query(b, root, start, start + 10, sql.format(i=i))
    return b.trace()


def test_sequential_queries_of_one_statement_with_different_arguments_are_an_n_plus_one() -> None:
    [pattern] = found(n_plus_one(8))
    assert pattern.kind is PatternKind.N_PLUS_ONE
    assert (pattern.service, pattern.operation) == ("orders", "POST /checkout")
    assert (pattern.callee, pattern.target) == ("postgresql:shop", "SELECT * FROM items WHERE id = ?")
    assert pattern.count == 8 and len(pattern.span_ids) == 8
    assert pattern.path_ns == 80 * MS
    assert pattern.saved_ns == 70 * MS  # batched, they cost about one query


def test_parallel_queries_are_not_an_n_plus_one() -> None:
    assert found(n_plus_one(8, parallel=True)) == []


def test_a_long_loop_is_one_n_plus_one_and_not_a_chatty_hop_as_well() -> None:
    assert [p.kind for p in found(n_plus_one(25))] == [PatternKind.N_PLUS_ONE]
    assert found(n_plus_one(25, parallel=True)) == []


def test_four_queries_are_not_yet_an_n_plus_one() -> None:
    assert found(n_plus_one(4)) == []


def test_batched_queries_are_not_an_n_plus_one() -> None:
    assert found(n_plus_one(6, sql="SELECT * FROM items WHERE id IN ({i}, {i}1, {i}2)")) == []


def test_the_same_call_with_the_same_arguments_is_a_poll_not_an_n_plus_one() -> None:
    assert found(n_plus_one(8, sql="SELECT status FROM jobs WHERE id = 7")) == []


def test_polling_two_jobs_in_turn_is_not_a_loop_over_items_but_half_new_asks_are() -> None:
    b = TraceBuilder()
    root = handler(b, 100)
    for i in range(8):
        query(b, root, 5 + i * 10, 15 + i * 10, f"SELECT status FROM jobs WHERE id = {i % 2}")
    assert found(b.trace()) == []
    b = TraceBuilder()
    root = handler(b, 100)
    for i in range(8):
        query(b, root, 5 + i * 10, 15 + i * 10, f"SELECT status FROM jobs WHERE id = {i % 4}")
    assert [p.kind for p in found(b.trace())] == [PatternKind.N_PLUS_ONE]


def test_parameterized_statements_whose_arguments_are_not_visible_still_count() -> None:
    [pattern] = found(n_plus_one(6, sql="SELECT * FROM items WHERE id = ?"))
    assert pattern.kind is PatternKind.N_PLUS_ONE and pattern.count == 6


def test_http_calls_to_one_route_are_an_n_plus_one_too() -> None:
    b = TraceBuilder()
    root = handler(b, 100, "frontend", "GET /cart")
    for i in range(6):
        client = b.span("frontend", "GET", 5 + i * 15, 18 + i * 15, parent=root, kind=SpanKind.CLIENT,
                        **{"http.method": "GET", "url.full": f"http://catalog/items/{i + 100}"})  # fmt: skip
        b.span("catalog", "GET /items/{id}", 6 + i * 15, 17 + i * 15, parent=client, kind=SpanKind.SERVER)
    [pattern] = found(b.trace())
    assert pattern.kind is PatternKind.N_PLUS_ONE
    assert (pattern.callee, pattern.target) == ("catalog", "GET /items/{id}")


# --- consecutive independent calls ----------------------------------------------------


def consecutive(gap_ms: float, *, overlap: bool = False) -> Trace:
    b = TraceBuilder()
    root = handler(b, 100, "frontend", "GET /home")
    b.call(root, "profile", "GET /profile", 0, 40)
    start = 20 if overlap else 40 + gap_ms
    b.call(root, "recommend", "GET /recommend", start, start + 40)
    b.call(root, "ads", "GET /ads", start + 40 + gap_ms, start + 80 + gap_ms) if not overlap else None
    return b.trace()


def test_back_to_back_calls_to_different_services_could_run_together() -> None:
    [pattern] = found(consecutive(0))
    assert pattern.kind is PatternKind.CONSECUTIVE
    assert pattern.callee == "profile + recommend + ads" and pattern.count == 3
    assert pattern.saved_ns == 80 * MS  # 120 ms in a row, 40 ms together


def test_calls_with_the_callers_own_work_between_them_depend_on_each_other() -> None:
    assert found(consecutive(10)) == []


def test_calls_that_already_overlap_are_not_consecutive() -> None:
    assert found(consecutive(0, overlap=True)) == []


def test_a_pair_that_costs_a_sliver_of_the_request_is_not_worth_telling() -> None:
    b = TraceBuilder()
    root = handler(b, 1000, "frontend", "GET /home")
    b.call(root, "a", "GET /a", 0, 20)
    b.call(root, "b", "GET /b", 20, 40)
    b.span("frontend", "render", 40, 1000, parent=root)
    assert found(b.trace()) == []


# --- slow statement -------------------------------------------------------------------


def test_one_statement_that_is_most_of_the_request_is_slow() -> None:
    b = TraceBuilder()
    root = handler(b, 600)
    query(b, root, 0, 10, "SELECT * FROM carts WHERE id = 1")
    query(b, root, 10, 510, "SELECT * FROM orders WHERE email LIKE '%x%'")
    query(b, root, 510, 520, "UPDATE carts SET n = 2 WHERE id = 1")
    [pattern] = found(b.trace())
    assert pattern.kind is PatternKind.SLOW_STATEMENT
    assert pattern.target == "SELECT * FROM orders WHERE email LIKE ?"
    assert pattern.saved_ns == 490 * MS  # 500 ms against the others' 10 ms


def test_a_statement_that_is_most_of_a_fast_request_is_not_slow() -> None:
    b = TraceBuilder()
    root = handler(b, 12)
    query(b, root, 1, 10, "SELECT * FROM carts WHERE id = 1")
    assert found(b.trace()) == []


def test_a_slow_statement_off_the_critical_path_is_not_told() -> None:
    b = TraceBuilder()
    root = handler(b, 1000)
    query(b, root, 0, 300, "SELECT count(*) FROM audit")
    b.call(root, "payments", "POST /charge", 0, 1000)
    assert [p.kind for p in found(b.trace())] == []


# --- retry storm ----------------------------------------------------------------------


def test_a_call_made_again_after_each_failure_is_a_retry_storm() -> None:
    b = TraceBuilder()
    root = handler(b, 200)
    for i in range(4):  # failures of differing lengths: refused, not timed out
        b.call(root, "payments", "POST /charge", i * 40, i * 40 + 30 - 5 * i, error=i < 3)
    [pattern] = found(b.trace())
    assert (pattern.kind, pattern.callee, pattern.count) == (PatternKind.RETRY_STORM, "payments", 4)
    assert pattern.saved_ns == 120 * MS  # the three failures and the waits after them


def test_one_retry_after_one_failure_is_ordinary() -> None:
    b = TraceBuilder()
    root = handler(b, 100)
    b.call(root, "payments", "POST /charge", 0, 30, error=True)
    b.call(root, "payments", "POST /charge", 40, 70)
    assert found(b.trace()) == []


def test_retries_in_each_hop_multiply_the_calls_that_reach_the_bottom() -> None:
    b = TraceBuilder()
    root = handler(b, 1000, "frontend", "GET /checkout")
    for i in range(3):
        _, server = b.call(root, "orders", "POST /order", i * 300, i * 300 + 290 - 20 * i, error=True)
        for j in range(3):
            start = i * 300 + j * 90
            b.call(server, "payments", "POST /charge", start, start + 80 - 10 * j - 3 * i, error=True)
    storms = sorted(found(b.trace()), key=lambda p: p.reached)
    assert [p.kind for p in storms] == [PatternKind.RETRY_STORM] * 4
    outer = storms[-1]
    assert (outer.service, outer.callee, outer.count, outer.reached) == ("frontend", "orders", 3, 9)


# --- timeout caps ---------------------------------------------------------------------


def capped_call(trace_id: str, duration: float, *, error: bool) -> Trace:
    b = TraceBuilder(trace_id)
    root = handler(b, duration + 5)
    b.call(root, "inventory", "GET /stock", 0, duration, error=error)
    return b.trace()


def test_failed_calls_that_all_end_at_one_duration_hit_a_cap() -> None:
    traces = [capped_call(f"{i:032x}", 2000 + i * 0.5, error=True) for i in range(4)]
    traces += [capped_call(f"{i + 10:032x}", 40 + i * 10, error=False) for i in range(6)]
    capped = found(*traces)
    assert [p.kind for p in capped] == [PatternKind.TIMEOUT] * 4
    assert capped[0].verdict == "too_high"
    assert abs(capped[0].cap_ns - 2001 * MS) <= MS
    assert abs(capped[0].saved_ns - (capped[0].cap_ns - 90 * MS)) <= MS


def test_failures_of_many_durations_are_not_a_cap() -> None:
    assert found(*[capped_call(f"{i:032x}", 100 + i * 300, error=True) for i in range(5)]) == []


def test_three_of_forty_spread_failures_near_the_longest_are_not_a_cap() -> None:
    spread = [3 + i * 1.5 for i in range(37)] + [62.0, 62.2, 62.4]
    assert found(*[capped_call(f"{i + 1:032x}", ms, error=True) for i, ms in enumerate(spread)]) == []


def test_failures_the_callee_sent_back_are_not_a_cap_whatever_their_length() -> None:
    def refused(trace_id: str) -> Trace:
        b = TraceBuilder(trace_id)
        root = handler(b, 505)
        b.call(root, "inventory", "GET /stock", 0, 500, server_start_ms=1, server_end_ms=499, error=True)
        return b.trace()

    assert found(*[refused(f"{i + 1:032x}") for i in range(5)]) == []


def test_successful_calls_of_one_duration_are_not_a_cap() -> None:
    assert found(*[capped_call(f"{i:032x}", 500, error=False) for i in range(5)]) == []


def test_a_cap_that_good_answers_come_close_to_is_too_low() -> None:
    traces = [capped_call(f"{i:032x}", 1000, error=True) for i in range(3)]
    traces += [capped_call(f"{i + 10:032x}", 900 + i, error=False) for i in range(3)]
    assert {p.verdict for p in found(*traces)} == {"too_low"}
    assert {p.saved_ns for p in found(*traces)} == {0}


# --- chatty hop -----------------------------------------------------------------------


def test_many_calls_to_one_service_from_several_spans_are_a_chatty_hop() -> None:
    b = TraceBuilder()
    root = handler(b, 500, "frontend", "GET /page")
    routes = ["GET /price", "GET /stock", "GET /image"]
    for i in range(4):
        section = b.span("frontend", f"render section {i}", i * 120, i * 120 + 110, parent=root)
        for j, route in enumerate(routes):
            start = i * 120 + j * 35
            b.call(section, "catalog", route, start, start + 30)
    patterns = found(b.trace())
    chatty = [p for p in patterns if p.kind is PatternKind.CHATTY]
    assert len(chatty) == 1 and chatty[0].callee == "catalog" and chatty[0].count == 12
    assert chatty[0].saved_ns == 12 * 30 * MS - 30 * MS


def test_calls_to_many_services_once_each_are_fan_out_not_chattiness() -> None:
    b = TraceBuilder()
    root = handler(b, 100, "frontend", "GET /page")
    for i in range(12):
        b.call(root, f"widget{i}", "GET /w", 5, 90)
    assert found(b.trace()) == []


# --- cache miss -----------------------------------------------------------------------


def cached(lookup_ms: float, backend_ms: float, *, hit: bool | None = None) -> Trace:
    b = TraceBuilder()
    root = handler(b, 5 + lookup_ms + backend_ms, "catalog", "GET /item")
    extra = {} if hit is None else {"cache.hit": hit}
    b.span("catalog", "GET", 0, lookup_ms, parent=root, kind=SpanKind.CLIENT,
           **{"db.system": "redis", "db.statement": "GET item:42", **extra})  # fmt: skip
    if not hit:
        query(b, root, lookup_ms, lookup_ms + backend_ms, "SELECT * FROM items WHERE id = 42")
    return b.trace()


def test_a_cache_lookup_followed_by_a_slow_backend_call_is_a_miss() -> None:
    [pattern] = found(cached(1, 80))
    assert (pattern.kind, pattern.via, pattern.callee) == (PatternKind.CACHE_MISS, "redis", "postgresql:shop")
    assert pattern.saved_ns == 80 * MS


def test_a_hit_and_a_miss_in_front_of_a_fast_backend_are_fine() -> None:
    assert found(cached(1, 80, hit=True)) == []
    assert found(cached(1, 5)) == []
