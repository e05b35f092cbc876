"""Performance anti-patterns in traces, each with its evidence and what fixing it would
win back on the critical path.

Each detector states its rule as a principle, never a figure fitted to a case:

- **N+1**: at least :data:`MIN_REPEATS` calls of one span to one callee with one
  fingerprint, one after another (none starts before the previous one ended), not already
  batched (an IN- or VALUES-list of several items), and, where the arguments are visible,
  asking something new at least every other call (a poll asks the same thing again; an
  N+1 asks for the next item). Batching them costs about one call: the saving is their stretch on the path
  less their median call.
- **consecutive independent calls**: calls of one span to different targets (each asked
  once by that span), back to back: the span did no work of its own between them longer
  than a tenth of the shorter call, which is where it would read one answer to build the
  next question. Running them together costs the longest: the saving is their stretch on
  the path less it, told only when it is at least a tenth of the request.
- **slow statement**: one database statement that is at least half of the request's
  critical path and at least :data:`NOTICEABLE_NS` long (a person notices 100 ms). The
  saving is its path time above the trace's other statements' median duration: an index
  makes it an ordinary statement, not a free one.
- **retry storm**: the same call (one callee, fingerprint and, when visible, arguments)
  made again right after it failed, :data:`MIN_ATTEMPTS` times or more (one retry is
  ordinary resilience). Retry chains nested in another's attempts amplify: the outer
  finding counts the calls that reached the innermost callee. The saving is the path time
  from the first attempt to the last one's start (from the first failure to the last when
  none succeeded): what a retry budget with backoff gives back.
- **timeout-shaped durations** (across the traces given, since a cap is a shape of many
  calls): failed calls whose callee did not answer before they ended (the caller stopped
  waiting; a failure the callee sent back arrives inside the call), at least
  :data:`MIN_ATTEMPTS` of one caller to one target and a quarter of such failures or
  more, ending within 1 % of one duration that no call of that target outlasts (forty
  failures spread over 3-60 ms put three within 1 % of the longest by chance; a pile-up
  at a cap holds a share of them). Against the successful calls' slowest (p99): a cap
  that good answers come within a fifth of is too low (it cuts answers that were
  coming); one far above them is too high, and each capped call could have failed sooner
  by the difference.
- **chatty hop / fan-out**: one service asking one callee :data:`MANY_CALLS` different
  things or more in one request (an order of magnitude above the one call a request
  needs), counting a span's repeats of one ask once: those are one call once batched, and
  an N+1, concurrent or not, is told as such. The saving is the calls' path time less the
  longest one's: what one coarser call would cost.
- **cache miss in front of a slow backend**: a cache lookup that was not a hit, followed
  right away by a call to another callee at least ten times as long (what a cache is for
  is an order of magnitude). A hit would have skipped the backend call: its path time is
  the saving.

Findings carry fingerprints and callees, never a statement's arguments.
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from correlators.call_sites import Call, TraceCalls, contains
from correlators.model import CALLEE_KINDS
from correlators.traces import AssembledTrace, SpanNode

MIN_REPEATS = 5
"""Calls in a row with one fingerprint before it is an N+1 (Sentry's rule too)."""
MIN_ATTEMPTS = 3
"""A call, a retry, and another retry: past ordinary resilience."""
MANY_CALLS = 10
NOTICEABLE_NS = 100_000_000
DOMINANT_SHARE = 0.5
WORTH_SHARE = 0.1
"""The share of a request a back-to-back pair must cost before it is worth telling."""
CAP_TOLERANCE = 0.01
CAP_SHARE = 0.25
"""A cap holds a quarter of the failures or more: a pile-up, not the top of a spread."""
TOO_LOW_SHARE = 0.8
CACHE_FACTOR = 10
EVIDENCE_LIMIT = 20
"""Span ids kept per finding; ``count`` says how many there were."""


@dataclass(frozen=True, slots=True)
class Sizes:
    """The least size at which each pattern is told: :data:`TOLD` holds the rules above.
    :data:`ANY` finds every instance however small, to measure what a place usually
    costs: a baseline whose loop made four calls, or whose back-to-back pair was just
    under a tenth of its request, still cost that time, and comparing against the told
    patterns alone would call the incident's five calls new. What makes a pattern that
    pattern (calls in a row, one after a failure, no work between) stays."""

    repeats: int = MIN_REPEATS
    attempts: int = MIN_ATTEMPTS
    asks: int = MANY_CALLS
    statement_ns: int = NOTICEABLE_NS
    statement_share: float = DOMINANT_SHARE
    worth_share: float = WORTH_SHARE
    cache_factor: float = CACHE_FACTOR


TOLD = Sizes()
ANY = Sizes(
    repeats=2, attempts=2, asks=2, statement_ns=0, statement_share=0.0, worth_share=0.0, cache_factor=1
)


class PatternKind(StrEnum):
    N_PLUS_ONE = "n_plus_one"
    CONSECUTIVE = "consecutive_calls"
    SLOW_STATEMENT = "slow_statement"
    RETRY_STORM = "retry_storm"
    TIMEOUT = "timeout_cap"
    CHATTY = "chatty_hop"
    CACHE_MISS = "cache_miss"


@dataclass(frozen=True, slots=True)
class Pattern:
    kind: PatternKind
    trace_id: str
    service: str
    """The service whose code makes the calls: where the fix goes."""
    operation: str
    callee: str
    target: str
    """The statement or route fingerprint, or the operation called."""
    count: int
    path_ns: int
    """The calls' time on the critical path."""
    saved_ns: int
    span_ids: tuple[str, ...]
    cap_ns: int = 0
    verdict: str = ""
    """A timeout cap: ``too_high``, ``too_low`` or ``unknown`` (no call succeeded)."""
    via: str = ""
    """The cache that missed, for a cache miss."""
    reached: int = 0
    """For a retry storm: calls that reached the innermost retried callee."""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return self.kind.value, self.service, self.operation, self.callee, self.target

    @property
    def place(self) -> tuple[str, str, str, str, str]:
        return place_of(self.kind, self.service, self.operation, self.callee, self.target)


def place_of(
    kind: PatternKind, service: str, operation: str, callee: str, target: str
) -> tuple[str, str, str, str, str]:
    """Where a pattern is, for advice across requests: back-to-back calls are one place per
    span whichever calls they are (a request whose call to cart failed runs the rest one
    after another still; one fix makes them all concurrent)."""
    if kind is PatternKind.CONSECUTIVE:
        return kind.value, service, operation, "", ""
    return kind.value, service, operation, callee, target


def detect(trees: Sequence[AssembledTrace], sizes: Sizes = TOLD) -> list[Pattern]:
    """Every pattern in every trace; timeout caps are judged across all of them."""
    views = [TraceCalls(tree) for tree in trees]
    found: list[Pattern] = []
    for view in views:
        found.extend(detect_in(view, sizes))
    found.extend(timeout_caps(views))
    return found


def detect_in(view: TraceCalls, sizes: Sizes = TOLD) -> list[Pattern]:
    """The patterns one trace shows on its own."""
    found: list[Pattern] = []
    retries: list[Pattern] = []
    calls_made = 0
    for parent, calls in view.by_parent.items():
        calls_made += len(calls)
        if len(calls) < 2:
            continue  # most spans make one call or none: no pair, run or miss to find
        for run in _sequential_runs(calls):
            chains, rest = _retry_chains(run, sizes.attempts)
            retries.extend(_retry(view, parent, chain) for chain in chains)
            found.extend(_n_plus_one(view, parent, loop) for loop in _loops(rest, sizes.repeats))
        found.extend(_consecutive(view, parent, calls, sizes.worth_share))
        found.extend(_cache_misses(view, parent, calls, sizes.cache_factor))
    found.extend(_amplified(view, retries))
    found.extend(_slow_statements(view, sizes))
    if calls_made >= sizes.asks:
        found.extend(_chatty(view, sizes.asks))
    return found


# --- N+1 and retries ------------------------------------------------------------------


def _sequential_runs(calls: list[Call]) -> Iterable[list[Call]]:
    """Calls of one key, split where one starts before the previous one ended."""
    by_key: defaultdict[tuple[str, str], list[Call]] = defaultdict(list)
    for call in calls:
        by_key[call.key].append(call)
    for same in by_key.values():
        if len(same) < 2:
            continue
        run = [same[0]]
        for call in same[1:]:
            if call.node.start_ns < run[-1].node.end_ns:
                yield run
                run = []
            run.append(call)
        yield run


def _retry_chains(run: list[Call], attempts: int) -> tuple[list[list[Call]], list[Call]]:
    """Chains of a failed call and the same call made again; the calls left over."""
    chains: list[list[Call]] = []
    rest: list[Call] = []
    chain: list[Call] = []
    for call in run:
        if chain and chain[-1].failed and call.arguments == chain[-1].arguments:
            chain.append(call)
            continue
        _close(chain, chains, rest, attempts)
        chain = [call]
    _close(chain, chains, rest, attempts)
    return chains, rest


def _close(chain: list[Call], chains: list[list[Call]], rest: list[Call], attempts: int) -> None:
    if len(chain) >= attempts:
        chains.append(chain)
    elif len(chain) == 2 and chain[0].failed:
        pass  # one retry: ordinary resilience, and not a loop over items either
    else:
        rest.extend(chain)


def _loops(calls: list[Call], repeats: int) -> Iterable[list[Call]]:
    """Stretches of at least ``repeats`` calls that are one loop over different items."""
    if len(calls) < repeats or any(c.batched for c in calls):
        return
    visible = [c.arguments for c in calls if c.arguments]
    if visible and len(set(visible)) * 2 < len(visible):
        return  # mostly the same asks again: a poll, not a loop over items
    yield calls


def _n_plus_one(view: TraceCalls, parent: SpanNode, loop: list[Call]) -> Pattern:
    path = sum(view.path_ns(c.node) for c in loop)  # the calls', not the work between them
    one = int(statistics.median(c.node.duration_ns for c in loop))
    return _pattern(PatternKind.N_PLUS_ONE, view, parent, loop, path, max(0, path - one))


def _retry(view: TraceCalls, parent: SpanNode, chain: list[Call]) -> Pattern:
    first, last = chain[0].node, chain[-1].node
    if chain[-1].failed:
        path = view.path_ns(parent, first.end_ns, last.end_ns)
    else:
        path = view.path_ns(parent, first.start_ns, last.start_ns)
    whole = view.path_ns(parent, first.start_ns, last.end_ns)
    return _pattern(PatternKind.RETRY_STORM, view, parent, chain, whole, path, reached=len(chain))


def _amplified(view: TraceCalls, retries: list[Pattern]) -> list[Pattern]:
    """Each retry chain with the calls that reached the innermost retried callee below it."""
    nodes = {p.span_ids[0]: view.tree.by_id[p.span_ids[0]] for p in retries}
    out = []
    for outer in retries:
        attempts = [view.tree.by_id[s] for s in outer.span_ids]
        inner = [
            p for p in retries if p is not outer and any(contains(a, nodes[p.span_ids[0]]) for a in attempts)
        ]
        deepest = max((nodes[p.span_ids[0]].depth for p in inner), default=None)
        reached = (
            sum(p.count for p in inner if nodes[p.span_ids[0]].depth == deepest) if inner else outer.count
        )
        out.append(replace(outer, reached=reached))
    return out


# --- consecutive calls and cache misses -----------------------------------------------


def _consecutive(view: TraceCalls, parent: SpanNode, calls: list[Call], worth: float) -> Iterable[Pattern]:
    counts: defaultdict[tuple[str, str], int] = defaultdict(int)
    for call in calls:
        counts[call.key] += 1
    starts = [child.start_ns for child in parent.children]  # sorted by assemble
    chain: list[Call] = []
    for call in calls:
        alone = counts[call.key] == 1 and not call.failed and not call.cache
        if alone and chain and _follows(starts, chain[-1], call):
            chain.append(call)
            continue
        yield from _independent(view, parent, chain, worth)
        chain = [call] if alone else []
    yield from _independent(view, parent, chain, worth)


def _follows(starts: list[int], previous: Call, call: Call) -> bool:
    """Right after the previous call, with no work of the parent's between them: no gap
    longer than a tenth of the shorter call, no other child starting in it."""
    before, after = previous.node, call.node
    if after.start_ns - before.end_ns > min(before.duration_ns, after.duration_ns) * WORTH_SHARE:
        return False
    return _right_after(starts, before, after)


def _independent(view: TraceCalls, parent: SpanNode, chain: list[Call], worth: float) -> Iterable[Pattern]:
    if len(chain) < 2:
        return
    path = view.path_ns(parent, chain[0].node.start_ns, chain[-1].node.end_ns)
    saved = max(0, path - max(c.node.duration_ns for c in chain))
    if saved >= view.root_ns * worth and saved > 0:
        yield _pattern(PatternKind.CONSECUTIVE, view, parent, chain, path, saved)


def _cache_misses(view: TraceCalls, parent: SpanNode, calls: list[Call], factor: float) -> Iterable[Pattern]:
    starts = [child.start_ns for child in parent.children]
    for index, lookup in enumerate(calls):
        if not lookup.cache or lookup.hit is True or index + 1 == len(calls):
            continue
        backend, before = calls[index + 1], lookup.node
        if backend.cache or backend.callee == lookup.callee or not _right_after(starts, before, backend.node):
            continue
        if backend.node.duration_ns < factor * max(1, before.duration_ns):
            continue
        path = view.path_ns(backend.node)
        yield _pattern(PatternKind.CACHE_MISS, view, parent, [lookup, backend], path, path, via=lookup.callee)


def _right_after(starts: list[int], before: SpanNode, after: SpanNode) -> bool:
    """``after`` starts once ``before`` ended, with no other child of their parent
    starting between them and a gap no longer than ``before`` itself took."""
    gap = after.start_ns - before.end_ns
    if gap < 0 or gap > before.duration_ns:
        return False
    return bisect.bisect_left(starts, after.start_ns) == bisect.bisect_left(starts, before.end_ns)


# --- one statement, one callee --------------------------------------------------------


def _slow_statements(view: TraceCalls, sizes: Sizes) -> Iterable[Pattern]:
    if view.root_ns < sizes.statement_ns:
        return
    statements = [c for c in view.calls() if c.database and not c.cache]
    for call in statements:
        if call.node.duration_ns < sizes.statement_ns:
            continue
        path = view.path_ns(call.node)
        if path < view.root_ns * sizes.statement_share:
            continue
        others = [c.node.duration_ns for c in statements if c.what != call.what]
        usual = int(statistics.median(others)) if others else 0
        parent = call.node.parent
        assert parent is not None  # calls are collected from their parents
        yield _pattern(PatternKind.SLOW_STATEMENT, view, parent, [call], path, max(0, path - usual))


def _chatty(view: TraceCalls, asks_at_least: int) -> Iterable[Pattern]:
    by_pair: defaultdict[tuple[str, str], list[Call]] = defaultdict(list)
    for call in view.calls():
        by_pair[(call.node.span.service, call.callee)].append(call)
    for calls in by_pair.values():
        asks = {(c.node.parent, c.what) for c in calls}
        if len(asks) < asks_at_least:
            continue  # a span's repeats of one ask are one call once batched: an N+1's
        paths = [view.path_ns(c.node) for c in calls]
        saved = max(0, sum(paths) - max(paths))
        yield _pattern(PatternKind.CHATTY, view, _entry(calls), calls, sum(paths), saved, target="*")


def _entry(calls: list[Call]) -> SpanNode:
    """The span where the caller's service took the request that made the calls (the
    shallowest caller's nearest server span): where a coarser call would go."""
    parents = [c.node.parent for c in calls if c.node.parent is not None]
    node = min(parents, key=lambda n: (n.depth, n.start_ns))
    while node.parent is not None and node.kind not in CALLEE_KINDS:
        node = node.parent
    return node


# --- timeout caps, across traces ------------------------------------------------------


def timeout_caps(views: Sequence[TraceCalls]) -> list[Pattern]:
    by_target: defaultdict[tuple[str, str, str], list[tuple[TraceCalls, Call]]] = defaultdict(list)
    for view in views:
        for call in view.calls():
            by_target[(call.node.span.service, *call.key)].append((view, call))
    found: list[Pattern] = []
    for calls in by_target.values():
        found.extend(_capped(calls))
    return found


def _capped(calls: list[tuple[TraceCalls, Call]]) -> Iterable[Pattern]:
    failed = sorted((c.node.duration_ns, i) for i, (_, c) in enumerate(calls) if c.failed and c.unanswered)
    if len(failed) < MIN_ATTEMPTS:
        return
    cluster = _densest(failed)
    longest = max(c.node.duration_ns for _, c in calls)
    if len(cluster) < max(MIN_ATTEMPTS, len(failed) * CAP_SHARE):
        return  # failures of many lengths put a few near any one length by chance
    if longest > cluster[-1][0] * (1 + CAP_TOLERANCE):
        return
    cap = int(statistics.median(d for d, _ in cluster))
    good = sorted(c.node.duration_ns for _, c in calls if not c.failed)
    slowest = good[min(len(good) - 1, int(len(good) * 0.99))] if good else 0
    verdict = "unknown" if not good else "too_low" if slowest >= cap * TOO_LOW_SHARE else "too_high"
    for _, index in cluster:
        view, call = calls[index]
        parent = call.node.parent
        assert parent is not None
        path = view.path_ns(call.node)
        saved = min(path, cap - slowest) if verdict == "too_high" else 0
        yield _pattern(PatternKind.TIMEOUT, view, parent, [call], path, saved, cap=cap, verdict=verdict)


def _densest(durations: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The most failed calls whose durations lie within CAP_TOLERANCE of one another."""
    best: tuple[int, int] = (0, 0)
    low = 0
    for high, (duration, _) in enumerate(durations):
        while durations[low][0] * (1 + CAP_TOLERANCE) < duration:
            low += 1
        if high - low + 1 > best[1] - best[0]:
            best = (low, high + 1)
    return durations[best[0] : best[1]]


def _pattern(
    kind: PatternKind,
    view: TraceCalls,
    parent: SpanNode,
    calls: Sequence[Call],
    path: int,
    saved: int,
    *,
    target: str | None = None,
    cap: int = 0,
    verdict: str = "",
    via: str = "",
    reached: int = 0,
) -> Pattern:
    acted = calls[-1] if kind is PatternKind.CACHE_MISS else calls[0]
    callees = (
        list(dict.fromkeys(c.callee for c in calls)) if kind is PatternKind.CONSECUTIVE else [acted.callee]
    )
    whats = list(dict.fromkeys(c.what for c in calls)) if kind is PatternKind.CONSECUTIVE else [acted.what]
    return Pattern(
        kind=kind,
        trace_id=view.tree.trace.trace_id,
        service=parent.span.service,
        operation=parent.span.name,
        callee=" + ".join(callees),
        target=target if target is not None else " + ".join(whats),
        count=len(calls),
        path_ns=path,
        saved_ns=saved,
        span_ids=tuple(c.node.span.span_id for c in calls[:EVIDENCE_LIMIT]),
        cap_ns=cap,
        verdict=verdict,
        via=via,
        reached=reached,
    )
