"""The critical path of a trace: the chain of work that set its end-to-end latency.

Computed as Jaeger does: from the root's end, walk back to the child that finished last,
into it, and on return to its parent continue from that child's start with the sibling
that finished before it; time not covered by such a child is the parent's own. Children
are clipped to their parent, so async work that outlives its parent adds nothing. The
segments tile the root's duration exactly.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from correlators.traces import AssembledTrace, SpanNode, children_by_end, last_child_before


@dataclass(frozen=True, slots=True)
class CriticalSegment:
    span_id: str
    service: str
    operation: str
    start_ns: int
    end_ns: int

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


def critical_path(tree: AssembledTrace) -> list[CriticalSegment]:
    """Segments in time order."""
    cache: dict[int, tuple[list[int], list[SpanNode]]] = {}

    def sorted_children(node: SpanNode) -> tuple[list[int], list[SpanNode]]:
        found = cache.get(id(node))
        if found is None:
            found = cache[id(node)] = children_by_end(node)
        return found

    segments: list[CriticalSegment] = []
    root = tree.root
    node = root
    returning: int | None = None
    while True:
        end = node.end_ns if returning is None else min(returning, node.end_ns)
        ends, children = sorted_children(node)
        child = last_child_before(ends, children, returning)
        if child is not None:
            _add(segments, node, min(child.end_ns, node.end_ns), end)
            node, returning = child, None
            continue
        _add(segments, node, node.start_ns, end)
        if node is root or node.parent is None:
            break
        node, returning = node.parent, node.start_ns
    segments.reverse()
    return segments


def time_by_operation(segments: list[CriticalSegment]) -> dict[tuple[str, str], int]:
    """(service, operation) -> ns on the critical path."""
    totals: defaultdict[tuple[str, str], int] = defaultdict(int)
    for segment in segments:
        totals[(segment.service, segment.operation)] += segment.duration_ns
    return dict(totals)


def _add(segments: list[CriticalSegment], node: SpanNode, start: int, end: int) -> None:
    if end > start:
        span = node.span
        segments.append(CriticalSegment(span.span_id, span.service, span.name, start, end))
