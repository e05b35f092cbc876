"""The service call graph as the traces show it: who calls whom, and which dependencies
(databases, caches, third-party APIs) sit behind client spans nobody instrumented.

A client span with no server span under it is a call into something we have no traces
from. Naming that something (``peer.service``, else the database system and name, else the
server address) turns it into a node, so "the shared PostgreSQL is slow" can be said even
though PostgreSQL sends no spans.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from correlators.model import Span, SpanKind, Trace

_CALLS = (SpanKind.CLIENT, SpanKind.PRODUCER)


def dependency_of(span: Span) -> str | None:
    """The name of what an outgoing span calls, from the semantic-convention attributes."""
    if span.kind not in _CALLS:
        return None
    for key in ("peer.service", "rpc.service"):
        value = span.attributes.get(key)
        if isinstance(value, str) and value:
            return value
    system = span.attributes.get("db.system") or span.attributes.get("messaging.system")
    if isinstance(system, str) and system:
        name = span.attributes.get("db.name") or span.attributes.get("db.namespace")
        return f"{system}:{name}" if isinstance(name, str) and name else system
    for key in ("server.address", "net.peer.name", "http.host"):
        value = span.attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def broker_of(span: Span) -> str | None:
    """The messaging system a producer span publishes to: a node of its own, between the
    producer and whoever consumes, instrumented or not."""
    if span.kind is not SpanKind.PRODUCER or not span.attributes.get("messaging.system"):
        return None
    return dependency_of(span)


@dataclass(slots=True)
class Edge:
    calls: int = 0
    errors: int = 0


@dataclass(slots=True)
class CallGraph:
    """Services and uninstrumented dependencies as nodes; calls counted on the edges."""

    edges: dict[tuple[str, str], Edge] = field(default_factory=dict)
    dependencies: set[str] = field(default_factory=set)
    """Nodes seen only as the target of client spans (no spans of their own)."""

    def callees(self, node: str) -> set[str]:
        return {callee for caller, callee in self.edges if caller == node}

    def callers(self, node: str) -> set[str]:
        return {caller for caller, callee in self.edges if callee == node}

    @property
    def nodes(self) -> set[str]:
        return {node for edge in self.edges for node in edge}

    def downstream(self, node: str) -> set[str]:
        """Every node reachable from ``node`` (its callees, their callees, …)."""
        seen: set[str] = set()
        stack = [node]
        while stack:
            for callee in self.callees(stack.pop()):
                if callee not in seen:
                    seen.add(callee)
                    stack.append(callee)
        seen.discard(node)
        return seen


def call_graph(traces: Iterable[Trace]) -> CallGraph:
    """The graph of every trace given; edges between spans of different services."""
    graph = CallGraph()
    services: set[str] = set()
    for trace in traces:
        services.update(span.service for span in trace.spans)
        by_id = {span.span_id: span for span in trace.spans}
        has_server_child: set[str] = set()
        for span in trace.spans:
            parent = by_id.get(span.parent_span_id) if span.parent_span_id else None
            if parent is None:
                continue
            if span.kind in (SpanKind.SERVER, SpanKind.CONSUMER):
                has_server_child.add(parent.span_id)
            if parent.service != span.service:
                # a call failed when either side says so: a caller that timed out waiting
                # marks its client span, and the callee's span may never know
                failed = span.is_error or (parent.kind is SpanKind.CLIENT and parent.is_error)
                _add(graph, parent.service, span.service, failed)
        for span in trace.spans:
            if span.kind not in _CALLS:
                continue  # only outgoing calls name a dependency; most spans are not one
            answered = span.span_id in has_server_child
            target = broker_of(span) if answered else dependency_of(span)
            if target and target != span.service:
                graph.dependencies.add(target)
                _add(graph, span.service, target, span.is_error)
    graph.dependencies -= services
    return graph


def _add(graph: CallGraph, caller: str, callee: str, error: bool) -> None:
    edge = graph.edges.setdefault((caller, callee), Edge())
    edge.calls += 1
    edge.errors += int(error)
