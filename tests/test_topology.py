"""The call graph seen in traces, with uninstrumented dependencies named."""

from __future__ import annotations

from correlators.model import Span, SpanKind, StatusCode, Trace
from correlators.topology import call_graph, dependency_of


def span(
    sid: str, parent: str | None, service: str, kind: SpanKind, error: bool = False, **attrs: object
) -> Span:
    return Span(
        "a" * 32,
        sid.rjust(16, "0"),
        parent.rjust(16, "0") if parent else None,
        service,
        "op",
        0,
        10,
        kind=kind,
        status=StatusCode.ERROR if error else StatusCode.UNSET,
        attributes=dict(attrs),  # type: ignore[arg-type]
    )


def checkout_trace() -> Trace:
    return Trace(
        "a" * 32,
        [
            span("1", None, "frontend", SpanKind.SERVER),
            span("2", "1", "frontend", SpanKind.CLIENT, **{"server.address": "cart"}),
            span("3", "2", "cart", SpanKind.SERVER),
            span(
                "4",
                "3",
                "cart",
                SpanKind.CLIENT,
                error=True,
                **{"db.system": "postgresql", "db.name": "shop"},
            ),
            span("5", "3", "cart", SpanKind.CLIENT, **{"peer.service": "stripe"}),
            span("6", "1", "frontend", SpanKind.CLIENT, **{"db.system": "redis"}),
        ],
    )


def test_edges_between_services_and_into_dependencies() -> None:
    graph = call_graph([checkout_trace(), checkout_trace()])
    assert graph.callees("frontend") == {"cart", "redis"}
    assert graph.callees("cart") == {"postgresql:shop", "stripe"}
    assert graph.dependencies == {"postgresql:shop", "stripe", "redis"}
    assert graph.edges[("cart", "postgresql:shop")].calls == 2
    assert graph.edges[("cart", "postgresql:shop")].errors == 2
    assert graph.edges[("frontend", "cart")].calls == 2
    # the frontend's client span to cart has a server child: not a dependency named "cart"
    assert "cart" not in graph.dependencies
    assert graph.downstream("frontend") == {"cart", "redis", "postgresql:shop", "stripe"}
    assert graph.callers("postgresql:shop") == {"cart"}


def test_dependency_names_prefer_peer_service() -> None:
    assert (
        dependency_of(span("1", None, "a", SpanKind.CLIENT, **{"peer.service": "x", "db.system": "y"})) == "x"
    )
    assert dependency_of(span("1", None, "a", SpanKind.CLIENT, **{"db.system": "redis"})) == "redis"
    assert (
        dependency_of(span("1", None, "a", SpanKind.CLIENT, **{"net.peer.name": "api.example.com"}))
        == "api.example.com"
    )
    assert dependency_of(span("1", None, "a", SpanKind.SERVER, **{"peer.service": "x"})) is None
    assert dependency_of(span("1", None, "a", SpanKind.CLIENT)) is None


def test_a_broker_is_a_node_between_producer_and_consumer_even_when_both_send_spans() -> None:
    publish = Span(
        "t" * 32,
        "1",
        None,
        "orders",
        "orders publish",
        0,
        5,
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "kafka"},
    )
    consume = Span("t" * 32, "2", "1", "billing", "orders process", 6, 8, kind=SpanKind.CONSUMER)
    graph = call_graph([Trace("t" * 32, [publish, consume])])
    assert set(graph.edges) == {("orders", "billing"), ("orders", "kafka")}
    assert graph.dependencies == {"kafka"}


def test_a_call_the_caller_gave_up_on_failed_though_the_callee_never_knew() -> None:
    """The client span timed out (error); the server span under it finished fine later."""
    client = Span(
        "t" * 32, "1", None, "checkout", "GET /cart", 0, 1000, kind=SpanKind.CLIENT, status=StatusCode.ERROR
    )
    server = Span("t" * 32, "2", "1", "cart", "GET /cart", 10, 1500, kind=SpanKind.SERVER)
    graph = call_graph([Trace("t" * 32, [client, server])])
    assert (graph.edges[("checkout", "cart")].calls, graph.edges[("checkout", "cart")].errors) == (1, 1)


def test_an_unanswered_call_goes_to_the_service_that_answers_its_name_elsewhere() -> None:
    """A gRPC call names the RPC service; when it failed before the callee saw it, only that
    name is left. Another trace shows which service answers the name: one edge, not a
    phantom dependency."""
    answered = Trace(
        "a" * 32,
        [
            span("1", None, "web", SpanKind.SERVER),
            span("2", "1", "web", SpanKind.CLIENT, **{"rpc.service": "shop.v1.Cart"}),
            span("3", "2", "cart", SpanKind.SERVER),
        ],
    )
    unanswered = Trace(
        "b" * 32,
        [
            span("1", None, "web", SpanKind.SERVER, error=True),
            span("2", "1", "web", SpanKind.CLIENT, error=True, **{"rpc.service": "shop.v1.Cart"}),
        ],
    )
    graph = call_graph([unanswered, answered])
    assert graph.resolve("shop.v1.Cart") == "cart"
    assert graph.nodes == {"web", "cart"} and not graph.dependencies
    assert (graph.edges[("web", "cart")].calls, graph.edges[("web", "cart")].errors) == (2, 1)
