"""Like with like: comparing two windows whose mix of requests differs.

One journey often carries many kinds of request: a gateway that names every request
``/*`` forwards some to search, some to payment. When the incident minute has twice the
share of the slow kind, a plain mean per trace grows for every service on that kind's
path, and a service that got three times slower on a rare kind drowns in it. So each
kind of request is compared with the same kind, and the per-kind differences are weighed
by the incident's mix (direct standardisation): what the baseline would have looked like
had it served the incident's requests.

A request's kind is where its entry service sent it first: the entry's own operation and
the first operation it called in another service. Kinds the baseline never served cannot
be compared and are left out; when no kind matches at all, the windows are compared
whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TypeVar

from correlators.model import Trace

Kind = tuple[str, str, str, str]
"""(entry service, entry operation, first service called, its operation)."""
K = TypeVar("K", bound=Hashable)
Means = Callable[[Sequence[Trace]], Mapping[K, float]]
Pairs = Sequence[tuple[Sequence[Trace], Sequence[Trace]]]
"""(incident traces, baseline traces) of one kind of request each."""


def request_kind(trace: Trace) -> Kind | None:
    root = trace.root
    if root is None:
        return None
    by_id = {span.span_id: span for span in trace.spans}
    first = None
    for span in trace.spans:
        parent = by_id.get(span.parent_span_id or "")
        if span.service == root.service or parent is None or parent.service != root.service:
            continue
        if first is None or (span.start_ns, span.span_id) < (first.start_ns, first.span_id):
            first = span
    if first is None:
        return root.service, root.name, "", ""
    return root.service, root.name, first.service, first.name


def matched_kinds(
    incident: Sequence[Trace], baseline: Sequence[Trace]
) -> list[tuple[list[Trace], list[Trace]]]:
    """(incident traces, baseline traces) per kind both windows served; the windows whole
    when they share no kind."""
    during = _by_kind(incident)
    before = _by_kind(baseline)
    pairs = [(traces, before[kind]) for kind, traces in during.items() if kind in before]
    return pairs or [(list(incident), list(baseline))]


def standardized(pairs: Pairs, means: Means[K]) -> tuple[dict[K, float], dict[K, float]]:
    """(incident, baseline) means, each kind weighed by its share of the incident's
    compared traces."""
    return weighed([(len(now), means(now), means(usual)) for now, usual in pairs])


KindMeans = tuple[int, Mapping[K, float], Mapping[K, float]]
"""One kind's number of incident traces, and its (incident, baseline) means."""


def weighed(kinds: Sequence[KindMeans[K]]) -> tuple[dict[K, float], dict[K, float]]:
    """:func:`standardized` from means a caller already has (the bottlenecks compute each
    kind's means once, to tell which kinds got slower, then weigh them)."""
    total = sum(count for count, _, _ in kinds)
    during: defaultdict[K, float] = defaultdict(float)
    before: defaultdict[K, float] = defaultdict(float)
    for count, now, usual in kinds:
        weight = count / total if total else 0.0
        for key, value in now.items():
            during[key] += weight * value
        for key, value in usual.items():
            before[key] += weight * value
    return dict(during), dict(before)


def _by_kind(traces: Sequence[Trace]) -> dict[Kind | None, list[Trace]]:
    found: defaultdict[Kind | None, list[Trace]] = defaultdict(list)
    for trace in traces:
        found[request_kind(trace)].append(trace)
    return dict(found)
