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


Step = tuple[SpanNode, int, int]
"""One piece of the critical path: the node whose own time it is, its start and end."""


def critical_path(tree: AssembledTrace) -> list[CriticalSegment]:
    """Segments in time order."""
    return [
        CriticalSegment(node.span.span_id, node.span.service, node.span.name, start, end)
        for node, start, end in critical_steps(tree)
    ]


def critical_steps(tree: AssembledTrace) -> list[Step]:
    """The critical path as (node, start, end) pieces in time order.

    The analysis walks every trace of a case (some 100,000 pieces for 60,000 spans), so a
    piece is a tuple, not a segment object, a leaf (a third of the nodes) is never sorted,
    and each node's children are sorted by end once per walk, on its first visit. The
    walk is kept on the tree: the bottlenecks and the pattern detectors both ask."""
    if tree.steps is not None:
        return tree.steps
    by_end: dict[SpanNode, tuple[list[int], list[SpanNode]]] = {}
    steps: list[Step] = []
    root = tree.root
    node = root
    returning: int | None = None
    while True:
        end = node.end_ns if returning is None else min(returning, node.end_ns)
        child = None
        if node.children:
            ends_children = by_end.get(node)
            if ends_children is None:
                ends_children = by_end[node] = children_by_end(node)
            child = last_child_before(*ends_children, returning)
        if child is not None:
            start = min(child.end_ns, node.end_ns)
            if end > start:
                steps.append((node, start, end))
            node, returning = child, None
            continue
        if end > node.start_ns:
            steps.append((node, node.start_ns, end))
        if node is root or node.parent is None:
            break
        node, returning = node.parent, node.start_ns
    steps.reverse()
    tree.steps = steps
    return steps


def time_by_operation(segments: list[CriticalSegment]) -> dict[tuple[str, str], int]:
    """(service, operation) -> ns on the critical path."""
    totals: defaultdict[tuple[str, str], int] = defaultdict(int)
    for segment in segments:
        totals[(segment.service, segment.operation)] += segment.duration_ns
    return dict(totals)
