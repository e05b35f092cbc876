"""Trace assembly: the span tree, with broken propagation repaired where it is safe and
clock skew between hosts taken out, plus the tree's self times and error origin.

Nothing here recurses: a 10,000-span-deep chain (a retry loop, a recursive call) must not
hit Python's recursion limit, so every walk keeps its own stack.

Orphans (spans whose parent never arrived) are attached only where it is safe: to the one
client span of another service whose interval contains them and that has no server child
yet. Ambiguous cases stay top-level and flagged, because a wrong parent is worse than none.

Clock skew follows Jaeger's adjuster: a server span that does not fit inside the client
span that called it (different host, different clock) is shifted, with its subtree, so the
network time is split evenly on both sides. The input spans are never changed; adjusted
times live on the nodes.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from correlators.model import CALLEE_KINDS, CALLER_KINDS, Span, SpanKind, Trace

_UNKNOWN = (SpanKind.UNSPECIFIED, SpanKind.INTERNAL)
ATTACH_TOLERANCE_NS = 1_000_000
"""How far (1 ms) an orphan may stick out of a candidate client span and still fit."""


@dataclass(eq=False, slots=True)
class SpanNode:
    span: Span
    start_ns: int
    end_ns: int
    parent: SpanNode | None = None
    children: list[SpanNode] = field(default_factory=list)
    depth: int = 0
    attached: bool = False
    """An orphan or extra root given a parent by :func:`assemble`."""
    skew_ns: int = 0
    """Shift applied to this span (and its subtree) to correct clock skew."""
    kind: SpanKind = SpanKind.INTERNAL
    """The span's kind, or the role its links show when the SDK sent none (see
    :func:`call_role`)."""

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)


@dataclass(slots=True)
class AssembledTrace:
    trace: Trace
    root: SpanNode
    roots: list[SpanNode]
    """Top-level nodes, the root first; the others are unattached orphans or extra roots."""
    orphans: list[Span]
    """Spans whose parent never arrived, before any reattachment."""
    reattached: list[Span]
    by_id: dict[str, SpanNode]
    steps: list[tuple[SpanNode, int, int]] | None = field(default=None, repr=False, compare=False)
    """The critical path, once walked (:func:`correlators.critical_path.critical_steps`):
    the bottlenecks and the pattern detectors both read it, and the tree never changes
    after :func:`assemble`."""


def assemble(trace: Trace) -> AssembledTrace:
    if not trace.spans:
        raise ValueError(f"trace {trace.trace_id} has no spans")
    by_id = {s.span_id: SpanNode(s, s.start_ns, max(s.end_ns, s.start_ns)) for s in trace.spans}
    top: list[SpanNode] = []
    orphans: list[Span] = []
    for node in by_id.values():
        parent_id = node.span.parent_span_id
        parent = by_id.get(parent_id) if parent_id else None
        if parent is None:
            top.append(node)
            if parent_id:
                orphans.append(node.span)
        else:
            _link(parent, node)
    for node in by_id.values():
        node.kind = call_role(node)
    true_roots = [n for n in top if n.span.parent_span_id is None]
    root = min(true_roots or top, key=lambda n: (n.start_ns, n.span.span_id))
    reattached = _reattach([n for n in top if n is not root], by_id)
    roots = [root, *sorted((n for n in top if n.parent is None and n is not root), key=_start)]
    for node in roots:
        _set_depths(node)
        _adjust_skew(node)
    for node in by_id.values():
        if len(node.children) > 1:  # nine nodes in ten have none or one: nothing to sort
            node.children.sort(key=_start)
    return AssembledTrace(trace, root, roots, orphans, reattached, by_id)


TreeOf = Callable[[Trace], AssembledTrace]
"""How a step gets a trace's tree: :func:`assemble`, or :meth:`Trees.of` to share them."""


class Trees:
    """Each trace's tree, assembled once per analysis: the bottlenecks, the paths, the
    error origins and the budget walk the same trees, and assembling is the costly part."""

    def __init__(self) -> None:
        self._by_trace: dict[str, AssembledTrace] = {}

    def of(self, trace: Trace) -> AssembledTrace:
        found = self._by_trace.get(trace.trace_id)
        if found is None:
            found = self._by_trace[trace.trace_id] = assemble(trace)
        return found


def call_role(node: SpanNode) -> SpanKind:
    """The kind a span's links show when its SDK sent none (or only "internal").

    Telemetry without span kinds is normal (older SDKs, Zipkin converters, exports from
    other tracers). A parent/child link across two services is a call whatever the spans
    say: the parent made it (client), the child served it (server). A span that calls out
    directly is taken as the client, since the time it spends around its remote child is
    what the call costs.
    """
    kind = node.span.kind
    if kind not in _UNKNOWN:
        return kind
    service = node.span.service
    if any(child.span.service != service for child in node.children):
        return SpanKind.CLIENT
    if node.parent is not None and node.parent.span.service != service:
        return SpanKind.SERVER
    return kind


def _start(node: SpanNode) -> tuple[int, str]:
    return node.start_ns, node.span.span_id


def _link(parent: SpanNode, child: SpanNode) -> None:
    child.parent = parent
    parent.children.append(child)


def _reattach(loose: list[SpanNode], by_id: dict[str, SpanNode]) -> list[Span]:
    """Give loose top-level spans the one safe parent, if there is exactly one."""
    if not loose:  # the usual trace: no need to list its callers
        return []
    callers = [
        n
        for n in by_id.values()
        if n.kind in CALLER_KINDS and not any(c.kind in CALLEE_KINDS for c in n.children)
    ]
    attached: list[Span] = []
    taken: set[int] = set()
    for node in sorted(loose, key=_start):
        fits = [
            c
            for c in callers
            if id(c) not in taken
            and c.span.service != node.span.service
            and c.start_ns - ATTACH_TOLERANCE_NS <= node.start_ns
            and node.end_ns <= c.end_ns + ATTACH_TOLERANCE_NS
            and not _is_descendant(c, node)
        ]
        fits.sort(key=lambda c: c.duration_ns)
        if not fits or (len(fits) > 1 and fits[0].duration_ns == fits[1].duration_ns):
            continue
        _link(fits[0], node)
        node.kind = call_role(node)
        node.attached = True
        taken.add(id(fits[0]))
        attached.append(node.span)
    return attached


def _is_descendant(candidate: SpanNode, ancestor: SpanNode) -> bool:
    node: SpanNode | None = candidate
    while node is not None:
        if node is ancestor:
            return True
        node = node.parent
    return False


def _set_depths(top: SpanNode) -> None:
    queue = deque([top])
    while queue:
        node = queue.popleft()
        for child in node.children:
            child.depth = node.depth + 1
            queue.append(child)


def _adjust_skew(top: SpanNode) -> None:
    """Shift subtrees so that no child starts before its parent, and a server span sits
    centred in the client span that called it when it does not fit there."""
    stack: list[tuple[SpanNode, int]] = [(top, 0)]
    while stack:
        node, inherited = stack.pop()
        if inherited:  # zero for nearly every span, as is its own shift: no writes then
            _shift(node, inherited)
        shift = _skew(node)
        if shift:
            _shift(node, shift)
        node.skew_ns = inherited + shift
        if node.children:
            stack.extend([(child, node.skew_ns) for child in node.children])


def _shift(node: SpanNode, by: int) -> None:
    node.start_ns += by
    node.end_ns += by


def _skew(node: SpanNode) -> int:
    parent = node.parent
    if parent is None:
        return 0
    fits = parent.start_ns <= node.start_ns and node.end_ns <= parent.end_ns
    remote = parent.kind in CALLER_KINDS and node.kind in CALLEE_KINDS
    if remote and not fits:
        if node.duration_ns > parent.duration_ns:
            return parent.start_ns - node.start_ns
        latency = parent.duration_ns - node.duration_ns
        return parent.start_ns + latency // 2 - node.start_ns
    if node.start_ns < parent.start_ns:
        return parent.start_ns - node.start_ns
    return 0


# --- what the tree says --------------------------------------------------------------


def self_times(tree: AssembledTrace) -> dict[str, int]:
    """Span id -> ns of its own duration not covered by any child (children clipped)."""
    return {span_id: self_time(node) for span_id, node in tree.by_id.items()}


def self_time(node: SpanNode) -> int:
    """Ns of the node's own duration not covered by any child (children clipped)."""
    covered = 0
    cursor = node.start_ns
    for child in node.children:  # sorted by start
        start = max(child.start_ns, cursor)
        end = min(child.end_ns, node.end_ns)
        if end > start:
            covered += end - start
            cursor = end
    return node.duration_ns - covered


def error_origin(tree: AssembledTrace) -> Span | None:
    """The deepest error span whose error reached the root through error ancestors.

    When the root did not fail (the error was handled), the deepest span of the longest
    chain of errors anywhere in the trace, since that is still where things went wrong.
    """
    starts = (
        [tree.root]
        if tree.root.span.is_error
        else [
            n
            for n in tree.by_id.values()
            if n.span.is_error and (n.parent is None or not n.parent.span.is_error)
        ]
    )
    best: SpanNode | None = None
    for start in starts:
        stack = [start]
        while stack:
            node = stack.pop()
            if best is None or (node.depth, node.end_ns) > (best.depth, best.end_ns):
                best = node
            stack.extend(c for c in node.children if c.span.is_error)
    return best.span if best else None


def render_tree(tree: AssembledTrace) -> str:
    """The tree as indented text, so a test reads like the trace (after sentry-python)."""
    lines: list[str] = []
    for top in tree.roots:
        stack = [top]
        while stack:
            node = stack.pop()
            marks = "".join(
                mark
                for flag, mark in (
                    (node.span.is_error, " !"),
                    (node.attached, " (reattached)"),
                    (node.parent is None and node is not tree.root, " (orphan)"),
                )
                if flag
            )
            label = f"{node.span.service}: {node.span.name} [{node.duration_ns / 1e6:g} ms]"
            lines.append(f"{'  ' * node.depth}{label}{marks}")
            stack.extend(reversed(node.children))
    return "\n".join(lines)


def children_by_end(node: SpanNode) -> tuple[list[int], list[SpanNode]]:
    """Children clipped to the parent, sorted by end: (ends, children). A child of no
    length holds no time, and walking back into one (its start is its end) would choose it
    again for ever: it is left out."""
    if len(node.children) == 1:  # mostly a call and the one span that served it
        only = node.children[0]
        kept = only.start_ns < node.end_ns and only.start_ns < only.end_ns
        return ([min(only.end_ns, node.end_ns)], [only]) if kept else ([], [])
    inside = [c for c in node.children if c.start_ns < node.end_ns and c.start_ns < c.end_ns]
    inside.sort(key=lambda c: (min(c.end_ns, node.end_ns), c.start_ns))
    return [min(c.end_ns, node.end_ns) for c in inside], inside


def last_child_before(ends: list[int], children: list[SpanNode], limit: int | None) -> SpanNode | None:
    if not children:
        return None
    if limit is None:
        return children[-1]
    # a sibling that ended exactly when the returning one started is on the path too
    # (Jaeger compares with <; back-to-back calls with no gap would be lost)
    index = bisect.bisect_right(ends, limit) - 1
    return children[index] if index >= 0 else None
