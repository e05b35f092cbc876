"""The calls a trace made, what each asked for, and how much of them was on the critical
path: the ground every pattern detector (:mod:`correlators.patterns`) stands on.

A call is an outgoing span (client or producer, by the role :func:`traces.call_role` gives
it). Its callee is the service whose span answered it, else the dependency its attributes
name (:func:`topology.dependency_of`); what it asked for is the statement's fingerprint for
a database, the route's for HTTP, else the answering operation or the span's own name.

Time on the critical path is asked of a subtree and an interval: the critical path tiles
the root's duration, so the path time inside ``[a, b)`` that belongs to a node's subtree is
what fixing that node's work in that interval could win back. A path step belongs to a
subtree when walking up from it meets the subtree's node, so a question costs the steps
it crosses times the levels between; the path is worked out on a trace's first question.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from correlators.critical_path import Step, critical_steps
from correlators.fingerprint import (
    ARGUMENTS_DIGEST,
    BATCHED,
    QUERY_DIGEST,
    Fingerprint,
    route_fingerprint,
    statement_fingerprint,
)
from correlators.model import CALLEE_KINDS, CALLER_KINDS, Span
from correlators.topology import dependency_of
from correlators.traces import AssembledTrace, SpanNode

CACHE_SYSTEMS = frozenset({"redis", "memcached", "valkey", "hazelcast", "coherence", "geode", "ignite"})
"""``db.system`` values of key-value stores used as caches (OpenTelemetry's names)."""
_STATEMENT_KEYS = ("db.query.text", "db.statement")
_URL_KEYS = ("url.full", "http.url", "http.target", "url.path")
_METHOD_KEYS = ("http.request.method", "http.method")
_PARAMETER_PREFIX = "db.query.parameter."
_HIT_KEYS = ("cache.hit", "db.cache.hit")


@dataclass(slots=True)
class Call:
    node: SpanNode
    callee: str
    """The service that answered, else the dependency the span names, else its name."""
    what: str
    """The statement or route fingerprint, else the operation: never the arguments."""
    arguments: str
    """A digest of the call's visible arguments; empty when none were visible."""
    batched: bool
    database: bool
    cache: bool
    hit: bool | None
    """What the span said of a cache lookup, when it said anything."""
    failed: bool
    """The call or its answer failed."""
    unanswered: bool
    """No answer ended before the call did: the caller stopped waiting (or nobody sent
    spans), as at a timeout, rather than hearing back a failure."""

    @property
    def key(self) -> tuple[str, str]:
        return self.callee, self.what


class TraceCalls:
    """One trace's calls, grouped by the span that made them, and its path-time oracle."""

    def __init__(self, tree: AssembledTrace) -> None:
        self.tree = tree
        self.root_ns = tree.root.duration_ns
        self._steps: list[Step] | None = None
        self._ends: list[int] = []
        self.by_parent: dict[SpanNode, list[Call]] = {}
        for node in tree.by_id.values():
            if node.kind in CALLER_KINDS and node.parent is not None:
                self.by_parent.setdefault(node.parent, []).append(describe(node))
        for calls in self.by_parent.values():
            if len(calls) > 1:
                calls.sort(key=lambda c: (c.node.start_ns, c.node.span.span_id))

    def calls(self) -> Iterator[Call]:
        for calls in self.by_parent.values():
            yield from calls

    def path_ns(self, node: SpanNode, start_ns: int | None = None, end_ns: int | None = None) -> int:
        """Critical-path time of ``node``'s subtree within ``[start_ns, end_ns)`` (its own
        interval when not given)."""
        low = node.start_ns if start_ns is None else start_ns
        high = node.end_ns if end_ns is None else end_ns
        steps = self._path()
        total = 0
        index = bisect.bisect_right(self._ends, low)
        while index < len(steps) and high > low:
            on, start, end = steps[index]
            if start >= high:
                break
            if contains(node, on):
                total += min(end, high) - max(start, low)
            index += 1
        return total

    def _path(self) -> list[Step]:
        """The critical path, worked out on the trace's first question: most traces show
        no pattern and are never asked one."""
        if self._steps is None:
            self._steps = critical_steps(self.tree)
            self._ends = [end for _, _, end in self._steps]
        return self._steps


def contains(ancestor: SpanNode, node: SpanNode) -> bool:
    """``node`` is ``ancestor`` or under it: a walk up as many levels as they are apart."""
    depth = ancestor.depth
    while node.depth > depth and node.parent is not None:
        node = node.parent
    return node is ancestor


def describe(node: SpanNode) -> Call:
    """What one outgoing span called and asked for."""
    span = node.span
    answer = None
    for child in node.children:
        if child.kind in CALLEE_KINDS and child.span.service != span.service:
            answer = child
            break
    callee = answer.span.service if answer is not None else dependency_of(span) or span.name
    attributes = span.attributes
    system = attributes.get("db.system")
    database = isinstance(system, str) and bool(system)
    shape = _asked(span, answer)
    hit = None
    if "cache.hit" in attributes or "db.cache.hit" in attributes:
        hit = next((v for k in _HIT_KEYS if isinstance(v := attributes.get(k), bool)), None)
    cache = (database and str(system).lower() in CACHE_SYSTEMS) or hit is not None
    failed = span.is_error or (answer is not None and answer.span.is_error)
    unanswered = answer is None or answer.end_ns >= node.end_ns
    return Call(
        node, callee, shape.text, shape.arguments, shape.batched, database, cache, hit, failed, unanswered
    )


def _asked(span: Span, answer: SpanNode | None) -> Fingerprint:
    statement = _text(span, _STATEMENT_KEYS)
    if statement:
        return _stored(span, _statement(statement)) or _bound(span, _statement(statement))
    url = _text(span, _URL_KEYS)
    if url:
        shaped = _route(_text(span, _METHOD_KEYS), url)
        query = span.attributes.get(QUERY_DIGEST)
        if isinstance(query, str):  # stored with the query's names only: its values are here
            shaped = Fingerprint(shaped.text, f"{shaped.arguments}{query}")
        if answer is not None:  # the server's own name for the route beats our guess at it
            return Fingerprint(answer.span.name, shaped.arguments)
        return shaped
    return Fingerprint(answer.span.name if answer is not None else span.name, "")


@lru_cache(maxsize=2_048)
def _statement(statement: str) -> Fingerprint:
    """Parameterized statements repeat across a window's traces: each is shaped once.
    Keys are cut to the fingerprint's own limit, so the cache holds at most ~8 MB."""
    return statement_fingerprint(statement)


@lru_cache(maxsize=2_048)
def _route(method: str, url: str) -> Fingerprint:
    return route_fingerprint(method, url)


def _stored(span: Span, shaped: Fingerprint) -> Fingerprint | None:
    """A statement ingest stored as its fingerprint, with its literals' keyed digest and
    whether it was batched beside it; None for one as the service sent it."""
    digest = span.attributes.get(ARGUMENTS_DIGEST)
    batched = span.attributes.get(BATCHED) is True
    if not isinstance(digest, str) and not batched:
        return None
    arguments = digest if isinstance(digest, str) else shaped.arguments
    return Fingerprint(shaped.text, arguments, shaped.batched or batched)


def _bound(span: Span, shaped: Fingerprint) -> Fingerprint:
    """With the bound values some instrumentations record beside a parameterized
    statement in its digest."""
    parameters = tuple(sorted(str(v) for k, v in span.attributes.items() if k.startswith(_PARAMETER_PREFIX)))
    if not parameters:
        return shaped
    bound = statement_fingerprint("", parameters).arguments
    return Fingerprint(shaped.text, f"{shaped.arguments}{bound}", shaped.batched)


def _text(span: Span, keys: tuple[str, ...]) -> str:
    for key in keys:
        value = span.attributes.get(key)
        if isinstance(value, str) and value:
            return value[:4_096]
    return ""
