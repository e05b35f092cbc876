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

from correlators.model import CALLEE_KINDS, CALLER_KINDS, Span, SpanKind, Trace


def dependency_of(span: Span) -> str | None:
    """The name of what an outgoing span calls, from the semantic-convention attributes."""
    if span.kind not in CALLER_KINDS:
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
    aliases: dict[str, str] = field(default_factory=dict)
    """What an outgoing span names (an ``rpc.service``, a host) -> the service that answered
    such a call somewhere."""

    def resolve(self, named: str) -> str:
        """The node a call that names ``named`` goes to."""
        return self.aliases.get(named, named)

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
    """The graph of every trace given; edges between spans of different services.

    A call nobody answered is named by its span's attributes (``rpc.service``, a host …);
    when the same name was answered elsewhere by a service, the edge goes to that service,
    so that a failed and a successful call to one service are one edge."""
    graph = CallGraph()
    services: set[str] = set()
    unanswered: list[tuple[str, str, bool]] = []
    answered: list[tuple[Span, str]] = []
    to_resolve: set[str] = set()
    for trace in traces:
        services.update(span.service for span in trace.spans)
        by_id = {span.span_id: span for span in trace.spans}
        answered_by: dict[str, str] = {}
        for span in trace.spans:
            parent = by_id.get(span.parent_span_id) if span.parent_span_id else None
            if parent is None:
                continue
            if span.kind in CALLEE_KINDS:
                answered_by[parent.span_id] = span.service
            if parent.service != span.service:
                # a call failed when either side says so: a caller that timed out waiting
                # marks its client span, and the callee's span may never know
                failed = span.is_error or (parent.kind is SpanKind.CLIENT and parent.is_error)
                _add(graph, parent.service, span.service, failed)
        for span in trace.spans:
            if span.kind not in CALLER_KINDS:
                continue  # only outgoing calls name a dependency; most spans are not one
            answer = answered_by.get(span.span_id)
            if answer is None:
                named = dependency_of(span)
                if named and named != span.service:
                    unanswered.append((span.service, named, span.is_error))
                    if not _stores(span):
                        to_resolve.add(named)
                continue
            answered.append((span, answer))
            broker = broker_of(span)
            if broker and broker != span.service:
                graph.dependencies.add(broker)
                _add(graph, span.service, broker, span.is_error)
    graph.aliases = _aliases(to_resolve - services, answered)
    for caller, named, failed in unanswered:
        callee = graph.resolve(named)
        graph.dependencies.add(callee)
        _add(graph, caller, callee, failed)
    graph.dependencies -= services
    return graph


def _stores(span: Span) -> bool:
    """A call into a database or a broker: named by its system, never answered by a
    service's span (a consumer answers the broker, not the producer)."""
    return bool(span.attributes.get("db.system") or span.attributes.get("messaging.system"))


def _aliases(names: set[str], answered: list[tuple[Span, str]]) -> dict[str, str]:
    """Which service answered calls that name each of ``names``, looked up only for the
    names some unanswered call used (most analyses have none)."""
    found: dict[str, str] = {}
    for span, answer in answered:
        if len(found) == len(names):
            break
        named = dependency_of(span)
        if named in names and named != answer:
            found[named] = answer
    return found


def _add(graph: CallGraph, caller: str, callee: str, error: bool) -> None:
    edge = graph.edges.setdefault((caller, callee), Edge())
    edge.calls += 1
    edge.errors += int(error)


def first_named(text: str, nodes: Iterable[str]) -> str | None:
    """The first of ``nodes`` (in name order) that ``text`` names as a whole word: how a
    log line says which call failed."""
    lowered = text.lower()
    for node in sorted(nodes):
        if any(_mentions(lowered, name) for name in _names_of(node)):
            return node
    return None


def _names_of(node: str) -> tuple[str, ...]:
    """A dependency named ``system:name`` is written either way in a log line."""
    system, _, name = node.lower().partition(":")
    return (node.lower(), name) if name else (system,)


def _mentions(text: str, name: str) -> bool:
    """``name`` in ``text`` with no letter, digit, dash or underscore glued to either side."""
    start = text.find(name)
    while start >= 0:
        end = start + len(name)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not _word_char(before) and not _word_char(after):
            return True
        start = text.find(name, start + 1)
    return False


def _word_char(char: str) -> bool:
    return char.isalnum() or char in "-_"
