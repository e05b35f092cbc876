"""Ranking: evidence combined per service, and blame that moves to the deepest callee."""

from __future__ import annotations

from bot.render.report import evidence_words
from correlators.attributes import AttributeFinding
from correlators.bottleneck import Bottleneck
from correlators.findings import ErrorLines, LineStopped, NamedBehind, PathEnds
from correlators.logs import TemplateChange
from correlators.metrics import MetricAnomaly
from correlators.model import SpanKind, Trace
from correlators.paths import PathChange
from correlators.rank import Candidate, error_origin_rates, rank_candidates
from correlators.silenced import SilencedLine
from correlators.topology import CallGraph, Edge, call_graph
from tests.spantree import TraceBuilder


def graph(*edges: tuple[str, str]) -> CallGraph:
    return CallGraph(edges={edge: Edge(calls=10) for edge in edges})


def test_a_caller_that_only_waited_ranks_below_its_callee() -> None:
    # checkout's own critical-path time grew a little less than inventory's: both look
    # slow, but checkout calls inventory, so inventory is the cause
    found = rank_candidates(
        bad=[],
        bottlenecks=[
            Bottleneck("checkout", "POST /checkout", 50, 450, 400, 0.45),
            Bottleneck("inventory", "POST /reserve", 10, 500, 490, 0.55),
        ],
        log_changes=[],
        anomalies=[],
        graph=graph(("frontend", "checkout"), ("checkout", "inventory")),
    )
    assert [c.service for c in found] == ["inventory", "checkout"]
    assert found[1].score == round(0.35 * 0.45 * 0.5, 4)  # halved for only waiting


def test_error_logs_add_to_the_service_that_wrote_them() -> None:
    found = rank_candidates(
        bad=[],
        bottlenecks=[Bottleneck("cart", "GET /cart", 10, 20, 10, 1.0)],
        log_changes=[TemplateChange("pricing", "NullPointerException in <*>", "new", 0, 40, None, 17, "NPE")],
        anomalies=[],
        graph=graph(),
    )
    assert [(c.service, c.parts) for c in found] == [
        ("cart", {"latency": 1.0}),
        ("pricing", {"logs": 1.0}),
    ]
    assert found[1].evidence[0].kind == "log_template"


def test_an_instance_counts_only_against_traces_that_reach_its_service() -> None:
    """Bad traces are the kind of request that passes through search; search's only
    instance is in all of them and in few healthy traces, which says nothing about it."""

    bad = [web_request(i, "search-1") for i in range(10)]
    healthy = [web_request(100 + i, "search-1" if i < 10 else None) for i in range(40)]
    finding = AttributeFinding("service.instance", "search-1", "search", 1.0, 0.1, 10, 2)
    assert rank_by_instance(bad, healthy, finding) == []


def test_an_instance_serving_the_bad_traces_of_its_service_points_at_it() -> None:
    bad = [web_request(i, "search-2") for i in range(10)]
    healthy = [web_request(100 + i, f"search-{i % 3}") for i in range(30)]
    finding = AttributeFinding("service.instance", "search-2", "search", 1.0, 0.33, 10, 10)
    top = rank_by_instance(bad, healthy, finding)[0]
    assert (top.service, top.instance) == ("search", "search-2")


def web_request(n: int, search_instance: str | None) -> Trace:
    """web answering GET /, through the given search instance, or not through search."""
    b = TraceBuilder(f"{n:032x}")
    root = b.span("web", "GET /", 0, 10, kind=SpanKind.SERVER)
    if search_instance is not None:
        _, server = b.call(root, "search", "Query", 1, 9)
        server.instance = search_instance
    return b.trace()


def rank_by_instance(bad: list[Trace], healthy: list[Trace], finding: AttributeFinding) -> list[Candidate]:
    return rank_candidates(
        bad=bad,
        bottlenecks=[],
        log_changes=[],
        anomalies=[],
        graph=call_graph(bad),
        findings=[finding],
        healthy=healthy,
    )


def test_a_path_change_points_at_the_service_that_decided_it() -> None:
    from_catalog = PathChange(("web", "GET /product"), "catalog", "catalog Get", 0.0, 0.7, 300)
    noise = PathChange(("seat", "Query"), "orders", "orders List", 0.1, 0.35, 40)
    ranked = rank_candidates(
        bad=[],
        bottlenecks=[],
        log_changes=[],
        anomalies=[],
        graph=CallGraph(),
        path_changes=[from_catalog, noise],
    )
    assert [c.service for c in ranked] == ["catalog", "orders"]
    evidence = ranked[0].evidence[0]
    assert (evidence.kind, evidence.subject) == ("path", "catalog")
    assert evidence.figures == PathEnds("web", "GET /product", "catalog Get", 0.7, 0.0)
    assert (
        evidence_words(evidence)
        == "70% of web GET /product spans end right after calling catalog Get (usually 0%)"
    )


def test_three_bad_traces_through_a_service_say_nothing_about_its_instances() -> None:
    bad = [web_request(i, "search-2") for i in range(3)]
    healthy = [web_request(100 + i, f"search-{i % 3}") for i in range(30)]
    finding = AttributeFinding("service.instance", "search-2", "search", 1.0, 0.33, 3, 10)
    assert rank_by_instance(bad, healthy, finding) == []


def test_a_caller_logging_its_dependencys_failure_only_relays_it() -> None:
    """payments logs every failed charge at ERROR, but the error originated in its call to
    the provider, which sends no telemetry: the provider is the answer."""

    def charge(n: int) -> Trace:
        b = TraceBuilder(f"{n:032x}")
        root = b.span("payments", "POST /pay", 0, 10, kind=SpanKind.SERVER, error=True)
        b.unanswered(root, "provider", 1, 9)
        return b.trace()

    bad = [charge(i) for i in range(20)]
    relayed = TemplateChange(
        "payments",
        "charge failed: <*>",
        "new",
        0,
        20,
        None,
        17,
        "charge failed: 503",
        [t.trace_id for t in bad[:5]],
    )
    found = rank_candidates(
        bad=bad,
        bottlenecks=[],
        log_changes=[relayed],
        anomalies=[],
        graph=call_graph(bad),
        failure_now=error_origin_rates(bad),
    )
    assert [c.service for c in found] == ["provider"]  # payments' own lines weigh nothing


def anomaly(service: str, score: float, name: str = "pod.latency.p99", peak: float = 1.5) -> MetricAnomaly:
    return MetricAnomaly(name, service, {}, score, "up", 1.0, 9.0, None, peak)


def test_metrics_of_a_service_no_request_reached_say_nothing() -> None:
    """An idle admin service's latency gauge jumping from nothing to something is not the
    journey's fault; the service on the path whose own time grew is."""
    found = rank_candidates(
        bad=[],
        bottlenecks=[Bottleneck("orders", "POST /orders", 10, 30, 20, 1.0)],
        log_changes=[],
        anomalies=[anomaly("admin-reports", 1000.0), anomaly("orders", 5.0)],
        graph=graph(("web", "orders")),
    )
    assert [c.service for c in found] == ["orders"]


def test_only_a_direct_callee_that_scores_as_high_demotes_a_caller() -> None:
    """web -> orders -> audit: audit's loud metrics do not make orders' own slowness a
    wait; orders does not call anything that looks as bad as it."""
    found = rank_candidates(
        bad=[],
        bottlenecks=[
            Bottleneck("web", "GET /", 10, 12, 2, 0.05),
            Bottleneck("orders", "POST /orders", 10, 22, 12, 0.4),
        ],
        log_changes=[],
        anomalies=[anomaly("audit", 1000.0)],
        graph=graph(("web", "orders"), ("orders", "stock"), ("stock", "audit")),
    )
    orders = next(c for c in found if c.service == "orders")
    # audit (0.15 x 1000/1010) scores above 0.8 x orders' 0.14, but orders never calls it
    assert orders.score == round(0.35 * 0.4, 4)


def test_an_error_line_naming_a_callee_relays_it_though_no_trace_was_kept() -> None:
    """A head sampler kept none of the requests the lines were written in, so the traces
    cannot say where those failed; the line says it: "Request to provider failed"."""
    relayed = TemplateChange(
        "payments",
        "Request to provider failed <*>",
        "new",
        0,
        40,
        None,
        17,
        "Request to provider failed (502 Bad Gateway)",
        ["f" * 32],
    )
    own = TemplateChange(
        "payments",
        "NullPointerException at <*>",
        "new",
        0,
        40,
        None,
        17,
        "NullPointerException at Charge.java:12 (provider-client 3.1)",
        ["e" * 32],
    )
    edges = CallGraph(edges={("web", "payments"): Edge(40, 40), ("payments", "provider"): Edge(40, 40)})
    assert rank_candidates(bad=[], bottlenecks=[], log_changes=[relayed], anomalies=[], graph=edges) == []
    both = rank_candidates(bad=[], bottlenecks=[], log_changes=[relayed, own], anomalies=[], graph=edges)
    assert [c.service for c in both] == ["payments"]  # "provider-client" is not "provider"
    relaying = [e for e in both[0].evidence if isinstance(e.figures, ErrorLines) and e.figures.relays]
    assert [(e.subject, e.weight, e.figures) for e in relaying] == [
        (
            "payments",
            0.0,
            ErrorLines("new", 40, None, "Request to provider failed (502 Bad Gateway)", "provider"),
        )
    ]
    assert evidence_words(relaying[0]) == (
        "payments logs a new error (40 lines) (relaying the errors of provider): "
        "Request to provider failed (502 Bad Gateway)"
    )


def test_an_error_line_naming_a_callee_whose_calls_did_not_fail_is_the_callers_own() -> None:
    """ "No instances available for seats": the caller's discovery broke, seats answered
    every call it got."""
    own = TemplateChange(
        "travel",
        "No instances available for <*>",
        "new",
        0,
        9,
        None,
        17,
        "IllegalStateException: No instances available for seats",
        ["e" * 32],
    )
    edges = CallGraph(edges={("travel", "seats"): Edge(40, 0)})
    found = rank_candidates(bad=[], bottlenecks=[], log_changes=[own], anomalies=[], graph=edges)
    assert [c.service for c in found] == ["travel"]


def provider_call(n: int, instance: str, call_ms: float) -> Trace:
    """payments (on ``instance``) calls a provider that sends no spans."""
    b = TraceBuilder(f"{n:032x}")
    root = b.span("payments", "POST /pay", 0, call_ms + 10, kind=SpanKind.SERVER)
    call = b.span("payments", "POST", 5, 5 + call_ms, parent=root, kind=SpanKind.CLIENT)
    call.attributes["peer.service"] = "provider"
    for span in b.spans:
        object.__setattr__(span, "instance", instance)
    return b.trace()


def rank_provider(calls: dict[str, float], bad_from: str) -> list[str]:
    """Baseline calls take 10 ms; during the incident each instance's calls take
    ``calls[instance]``; the bad traces are those of ``bad_from`` (the others went fine)."""
    instances = ("payments-1", "payments-2")
    healthy = [provider_call(i, instances[i % 2], 10) for i in range(40)]
    during = [provider_call(100 + i, instances[i % 2], calls[instances[i % 2]]) for i in range(40)]
    bad = [t for t in during if t.spans[0].instance == bad_from]
    found = rank_candidates(
        bad=bad,
        bottlenecks=[Bottleneck("provider", "POST", 10, 300, 290, 1.0)],
        log_changes=[],
        anomalies=[],
        graph=call_graph(during),
        healthy=healthy,
        during=during,
    )
    return [c.service for c in found]


def test_a_provider_slow_only_from_one_caller_instance_is_that_instance() -> None:
    assert rank_provider({"payments-1": 300, "payments-2": 10}, bad_from="payments-1")[0] == "payments"


def test_a_provider_slow_from_every_caller_is_the_provider_though_a_sampler_kept_one_callers_traces() -> None:
    """Both instances' calls took 300 ms; the sampler kept only payments-1's as bad."""
    assert rank_provider({"payments-1": 300, "payments-2": 300}, bad_from="payments-1")[0] == "provider"


def new_error(service: str, line: str, count: int) -> TemplateChange:
    """A new ERROR template whose every line reads ``line``."""
    return TemplateChange(service, line, "new", 0, count, None, 17, line)


def test_a_relayed_error_naming_the_callees_own_failed_call_points_past_it() -> None:
    """web's line relays cart's failure and says what cart's was: "connect to redis
    failed". cart's own failure (its spans end in errors, its redis call untraced) then
    only waited on redis, which ranks first."""
    relayed = new_error("web", "Request to cart failed (ECONNREFUSED: connect to redis failed)", 40)
    edges = CallGraph(edges={("web", "cart"): Edge(40, 40), ("cart", "redis"): Edge(40, 20)})
    found = rank_candidates(
        bad=[],
        bottlenecks=[],
        log_changes=[relayed],
        anomalies=[anomaly("cart", 5.0)],
        graph=edges,
    )
    assert [c.service for c in found] == ["redis", "cart"]
    named = found[0].evidence[0]
    assert named.figures == NamedBehind("web", 40, "redis", "cart", relayed.sample)
    assert evidence_words(named) == f"web's new error (40 lines) names redis behind cart: {relayed.sample}"


def test_a_named_callee_whose_failures_started_further_down_passes_the_name_on() -> None:
    """web's line names cart behind api; the traces saw cart's failures start in its calls
    to the payment provider, which has no logs: the provider is named."""

    def failing(n: int) -> Trace:
        b = TraceBuilder(f"{n:032x}")
        web = b.span("web", "GET /", 0, 50, kind=SpanKind.SERVER, error=True)
        api = b.span("api", "GET /api", 5, 45, parent=web, kind=SpanKind.SERVER, error=True)
        cart = b.span("cart", "GET /cart", 10, 40, parent=api, kind=SpanKind.SERVER, error=True)
        b.unanswered(cart, "provider", 15, 35)
        return b.trace()

    bad = [failing(i) for i in range(10)]
    relayed = new_error("web", "call to api failed: cart failed: read timeout", 30)
    found = rank_candidates(
        bad=bad, bottlenecks=[], log_changes=[relayed], anomalies=[], graph=call_graph(bad)
    )
    assert found[0].service == "provider"
    named = [e for e in found[0].evidence if isinstance(e.figures, NamedBehind)]
    assert [(e.subject, e.figures) for e in named] == [
        ("provider", NamedBehind("web", 30, "cart", "api", relayed.sample))
    ]
    assert evidence_words(named[0]).startswith(
        "web's new error (30 lines) names cart behind api, whose failures started in provider: "
    )


def test_a_relayed_line_is_followed_down_as_far_as_it_names_failed_callees() -> None:
    line = new_error("web", "call to api failed: cart failed: connect to redis failed", 20)
    edges = CallGraph(
        edges={("web", "api"): Edge(20, 20), ("api", "cart"): Edge(20, 20), ("cart", "redis"): Edge(20, 20)}
    )
    found = rank_candidates(bad=[], bottlenecks=[], log_changes=[line], anomalies=[], graph=edges)
    assert [c.service for c in found] == ["redis"]
    assert found[0].evidence[0].figures == NamedBehind("web", 20, "redis", "api", line.sample)
    assert evidence_words(found[0].evidence[0]).startswith(
        "web's new error (20 lines) names redis behind api"
    )


def test_a_callee_the_traces_saw_fail_once_does_not_take_the_name() -> None:
    """One of ten failed traces started in cart's call to the provider; the other nine in
    web itself. The line naming cart behind api stays cart's."""

    def failing(n: int, in_provider: bool) -> Trace:
        b = TraceBuilder(f"{n:032x}")
        web = b.span("web", "GET /", 0, 50, kind=SpanKind.SERVER, error=True)
        api = b.span("api", "GET /api", 5, 45, parent=web, kind=SpanKind.SERVER, error=in_provider)
        cart = b.span("cart", "GET /cart", 10, 40, parent=api, kind=SpanKind.SERVER, error=in_provider)
        if in_provider:
            b.unanswered(cart, "provider", 15, 35)
        return b.trace()

    bad = [failing(i, in_provider=i == 0) for i in range(10)]
    relayed = new_error("web", "call to api failed: cart failed: read timeout", 30)
    found = rank_candidates(
        bad=bad, bottlenecks=[], log_changes=[relayed], anomalies=[], graph=call_graph(bad)
    )
    cart = next(c for c in found if c.service == "cart")
    assert cart.parts["logs"] == 1.0
    assert "provider" not in {c.service for c in found if c.parts.get("logs")}


def test_evidence_under_a_name_some_service_answers_is_that_services() -> None:
    """Unanswered gRPC calls named shop.v1.Cart took the added time; cart answers that name
    in other traces, so cart is the candidate, once."""
    graph = CallGraph(
        edges={("web", "cart"): Edge(40, 10)},
        aliases={"shop.v1.Cart": "cart"},
    )
    found = rank_candidates(
        bad=[],
        bottlenecks=[Bottleneck("shop.v1.Cart", "Get", 10, 60, 50, 0.8)],
        log_changes=[],
        anomalies=[anomaly("cart", 5.0)],
        graph=graph,
    )
    assert [c.service for c in found] == ["cart"]
    assert found[0].parts["latency"] == 0.8 and found[0].operation == "Get"


def rank_cpu_against_latency(cart_load_growth: float) -> list[str]:
    """Two services behind one entry: web's latency gauges went far up, cart's CPU from a
    peak of 2 to 9 (a lesser robust score, 40)."""
    return [
        c.service
        for c in rank_candidates(
            bad=[],
            bottlenecks=[],
            log_changes=[],
            anomalies=[anomaly("web", 1000.0), anomaly("cart", 40.0, name="container.cpu.usage", peak=2.0)],
            graph=graph(("lb", "web"), ("lb", "cart")),
            load_growth={"cart": cart_load_growth},
        )
    ]


def test_a_saturated_resource_outranks_louder_latency_gauges() -> None:
    """A slow callee makes its callers' latency gauges jump, not their CPU: a process
    pushed past twice the most CPU it ever used is a cause where it stands."""
    assert rank_cpu_against_latency(1.0)[0] == "cart"


def test_cpu_that_grew_with_the_services_requests_is_load_not_saturation() -> None:
    """Five times the requests explain 4.5 times the CPU peak: cart's CPU is one more
    gauge, and the louder one wins."""
    assert rank_cpu_against_latency(5.0)[0] == "web"


def test_an_operation_that_went_silent_outranks_callers_that_only_got_slower() -> None:
    """routes stopped writing the line it wrote on 35 of 36 calls: its own code took
    another path. web, which calls it, only got a little slower."""
    found = rank_silenced_against_a_slower_caller(
        SilencedLine("routes", "GET /routes", "queried <*> routes", "queried 3 routes", 36, 35, 30)
    )
    assert [c.service for c in found][:2] == ["routes", "web"]
    assert found[0].operation == "GET /routes"
    assert found[0].parts == {"paths": round(35 / 36, 4)}


def test_lines_out_of_step_from_one_caller_name_both_lines_and_the_caller() -> None:
    found = rank_silenced_against_a_slower_caller(
        SilencedLine(
            "routes",
            "quote",
            "seat <*> has tickets left",
            "seat 3 has tickets left",
            22,
            22,
            11,
            "in step",
            "priced seat <*> at its distance",
            "priced seat 3 at its distance",
            "POST /batch",
        )
    )
    assert found[0].service == "routes"
    assert found[0].parts == {"paths": 1.0}
    figures = found[0].evidence[0].figures
    assert isinstance(figures, LineStopped) and (figures.broke, figures.caller) == ("in step", "POST /batch")
    assert evidence_words(found[0].evidence[0]) == (
        "routes quote (called from POST /batch) wrote two lines as often as each other on 22 of "
        "its 22 calls and on none of its 11 calls since: "
        "seat 3 has tickets left / priced seat 3 at its distance"
    )


def rank_silenced_against_a_slower_caller(line: SilencedLine) -> list[Candidate]:
    """web, which calls routes, only got a little slower."""
    return rank_candidates(
        bad=[],
        bottlenecks=[Bottleneck("web", "GET /trip", 10, 14, 4, 1.0)],
        log_changes=[],
        anomalies=[],
        graph=graph(("web", "routes")),
        silenced=[line],
    )


def test_calls_that_stopped_logging_altogether_say_so_with_one_of_their_lines() -> None:
    found = rank_silenced_against_a_slower_caller(
        SilencedLine("routes", "quote", "query price of <*>", "query price of [3, 4]", 36, 35, 23, "any line")
    )
    assert evidence_words(found[0].evidence[0]) == (
        "routes quote logged on 35 of its 36 calls and on none of its 23 calls since, "
        "such as: query price of [3, 4]"
    )
