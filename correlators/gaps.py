"""Telemetry gaps as findings: where the traces themselves are broken.

A root cause hidden behind broken propagation is invisible to every other correlator, so
the report lists the gaps first-class, with the service to fix (in figures; the edges
word them):

- ``broken_propagation``: a service calls an instrumented service but the callee's spans
  start new traces (the caller did not send W3C traceparent);
- ``orphans``: spans whose parent never arrived (the parent's service did not export, or
  its spans were dropped);
- ``missing_service_name``: spans from an SDK with no ``service.name`` configured;
- ``missing_exemplars``: exemplar trace ids whose traces are not in the store (sampled
  away, or expired), so the evidence an alert pointed to cannot be opened.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from correlators.model import CALLEE_KINDS, Trace
from correlators.topology import dependency_of

UNKNOWN_SERVICE_PREFIX = "unknown_service"


@dataclass(frozen=True, slots=True)
class Gap:
    kind: str
    service: str | None
    """The service to fix; None when it cannot be known (exemplars)."""
    count: int
    callee: str | None = None
    """For broken propagation: the service whose spans start new traces."""
    example: str | None = None
    """For missing exemplars: one of the trace ids not kept."""
    detail: str = ""
    """The gap in words, only as a report stored before ``callee`` and ``example`` existed
    has it: empty from the analysis, filled in by the edge that writes the JSON."""


def telemetry_gaps(traces: Sequence[Trace], exemplar_ids: Iterable[str] = ()) -> list[Gap]:
    """Every gap found, the largest first within each kind."""
    return [
        *_broken_propagation(traces),
        *_orphans(traces),
        *_missing_service_names(traces),
        *_missing_exemplars(traces, exemplar_ids),
    ]


def _broken_propagation(traces: Sequence[Trace]) -> list[Gap]:
    """Client spans into a service that has spans, with no server span under them, while
    that service shows up as the root of traces of its own."""
    instrumented = {span.service for trace in traces for span in trace.spans}
    rooted_services: Counter[str] = Counter()
    for trace in traces:
        root = trace.root
        if root is not None and root.kind in CALLEE_KINDS:
            rooted_services[root.service] += 1
    broken: Counter[tuple[str, str]] = Counter()
    for trace in traces:
        parents = {span.parent_span_id for span in trace.spans if span.parent_span_id}
        for span in trace.spans:
            if span.span_id in parents:
                continue  # a call answered with spans; naming its target is the costly part
            callee = dependency_of(span)
            if callee in instrumented and callee != span.service and rooted_services[callee]:
                broken[(span.service, callee)] += 1
    return [
        Gap("broken_propagation", caller, n, callee=callee) for (caller, callee), n in broken.most_common()
    ]


def _orphans(traces: Sequence[Trace]) -> list[Gap]:
    counts: Counter[str] = Counter()
    for trace in traces:
        ids = {span.span_id for span in trace.spans}
        for span in trace.spans:
            if span.orphan or (span.parent_span_id and span.parent_span_id not in ids):
                counts[span.service] += 1
    return [Gap("orphans", service, n) for service, n in counts.most_common()]


def _missing_service_names(traces: Sequence[Trace]) -> list[Gap]:
    n = sum(
        1
        for trace in traces
        for span in trace.spans
        if not span.service or span.service.startswith(UNKNOWN_SERVICE_PREFIX)
    )
    if not n:
        return []
    return [Gap("missing_service_name", None, n)]


def _missing_exemplars(traces: Sequence[Trace], exemplar_ids: Iterable[str]) -> list[Gap]:
    have = {trace.trace_id for trace in traces}
    missing = sorted(set(exemplar_ids) - have)
    if not missing:
        return []
    return [Gap("missing_exemplars", None, len(missing), example=missing[0])]
