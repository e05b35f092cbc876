"""Did a release make a service worse? One service's spans on its new version against
its spans on the version before, operation by operation, for the operations that set a
journey's latency.

The traces given hold both sides: before and after the release, or both versions at
once during a canary; a trace's side is the version its spans of the service ran. The
rules, each a principle with a unit test in ``tests/test_regression.py``:

- **Which operations**: the service's operations on the critical path of at least
  :data:`ON_PATH_SHARE` of a journey's traces that reach them, on either side (an
  operation that got slow enough to join the path counts). Time off the path is time no
  request waited for.
- **Enough traffic**: an operation is compared once each side has :data:`MIN_SAMPLES`
  spans of it, enough for its p95 to rest on ten values above it; until the new version
  has that much of any operation, the verdict is :attr:`Outcome.TOO_EARLY`.
- **Slower**: the rank test says the new side's durations are larger, and its p50 or p95
  grew by at least :data:`MIN_SHIFT` of the old one and :data:`MIN_SHIFT_NS`: a shift
  too small to act on is not called however many requests make it certain.
- **Fails more**: Fisher's exact test on failed spans, the new rate at least
  :data:`MIN_RATE_RATIO` times the old and :data:`MIN_RATE_GAP` above it (one request in
  a thousand: a 99.9 % objective's whole budget).
- **New or grown pattern**: a pattern (:mod:`correlators.patterns`) in the service's own
  calls, found in a share of the new side's traces that Fisher's test says is higher,
  twice the old share or more and at least :data:`MIN_PATTERN_SHARE` of them.
- **The family**: every test run for the release is one family, Holm-adjusted and held
  to :data:`ALPHA`, so comparing twenty operations does not buy twenty chances of a
  false alarm.

A change that is no version (a flag flip, a config rollout) is compared the same way,
its sides taken by time instead (:class:`ChangeComparison`).

The size is told with an interval: the percentile's shift relative to the old one,
bounded by the distribution-free intervals of both percentiles (each at
:data:`INTERVAL_EACH`, so both hold together at 95 % or more).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from correlators.call_sites import TraceCalls
from correlators.critical_path import critical_steps
from correlators.patterns import Pattern, PatternKind, detect_in
from correlators.significance import fails_more, holm, quantile, quantile_interval, slower
from correlators.traces import AssembledTrace

ALPHA = 0.01
"""The family-wise chance of calling a release that changed nothing, per look."""
MIN_SAMPLES = 200
"""Spans of an operation per side before it is compared: a p95 on ten values above it."""
MIN_SHIFT = 0.1
"""A tenth of the old percentile: below it, a shift is not worth a team's attention."""
MIN_SHIFT_NS = 1_000_000
"""A millisecond, the floor :mod:`correlators.bottleneck` holds growth to as well."""
MIN_RATE_RATIO = 2.0
MIN_RATE_GAP = 0.001
MIN_PATTERN_SHARE = 0.1
"""A pattern in fewer than one request in ten of the new version is not its shape."""
ON_PATH_SHARE = 0.1
INTERVAL_EACH = math.sqrt(0.95)
EVIDENCE = 3
"""Trace ids kept per finding: the ones that show it most."""
BEFORE, AFTER = "before", "after"
"""The sides of a change's verdict (:class:`ChangeComparison`)."""


class Outcome(StrEnum):
    REGRESSED = "regressed"
    FINE = "fine"
    TOO_EARLY = "not_enough_traffic"


@dataclass(frozen=True, slots=True)
class Shift:
    """One percentile on each side, and the new one's change relative to the old one
    with its interval (``+0.31`` is 31 % slower)."""

    quantile: float
    old_ns: int
    new_ns: int
    change: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class OperationComparison:
    operation: str
    journeys: tuple[str, ...]
    """The journeys on whose critical path it lies."""
    old_count: int
    new_count: int
    p50: Shift | None = None
    p95: Shift | None = None
    latency_p: float = 1.0
    """Holm-adjusted p-value of the rank test; 1.0 when not compared."""
    old_errors: int = 0
    new_errors: int = 0
    errors_p: float = 1.0
    slower: bool = False
    fails_more: bool = False
    evidence: tuple[str, ...] = ()
    """Trace ids of the new side: the failed ones when it fails more, else the slowest."""

    @property
    def compared(self) -> bool:
        return min(self.old_count, self.new_count) >= MIN_SAMPLES

    @property
    def regressed(self) -> bool:
        return self.slower or self.fails_more

    @property
    def size(self) -> Shift | None:
        """The larger of the two shifts: what a person reads first."""
        shifts = [s for s in (self.p50, self.p95) if s is not None]
        return max(shifts, key=lambda s: s.change) if shifts else None

    @property
    def old_rate(self) -> float:
        return self.old_errors / self.old_count if self.old_count else 0.0

    @property
    def new_rate(self) -> float:
        return self.new_errors / self.new_count if self.new_count else 0.0


@dataclass(frozen=True, slots=True)
class PatternGrowth:
    kind: PatternKind
    operation: str
    callee: str
    target: str
    old_share: float
    new_share: float
    saved_ns: int
    """Mean time fixing it would win back per new-version trace that shows it."""
    p_value: float
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReleaseVerdict:
    service: str
    old_version: str
    new_version: str
    outcome: Outcome
    old_traces: int
    new_traces: int
    operations: tuple[OperationComparison, ...] = ()
    patterns: tuple[PatternGrowth, ...] = ()

    @property
    def regressions(self) -> list[OperationComparison]:
        return [o for o in self.operations if o.regressed]

    @property
    def journeys(self) -> list[str]:
        """The journeys whose critical path a regression lies on."""
        grown = {p.operation for p in self.patterns}
        return sorted({j for o in self.operations if o.regressed or o.operation in grown for j in o.journeys})


@dataclass(slots=True)
class _Side:
    traces: int = 0
    durations: defaultdict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    errors: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    patterns: dict[tuple[str, ...], tuple[Pattern, dict[str, int]]] = field(default_factory=dict)
    """Pattern place -> its first pattern, and per trace showing it the time fixing it wins."""


class ReleaseComparison:
    """The comparison fed trace by trace: each trace is read once (its side, its spans of
    the service, its critical path, its patterns), and :meth:`verdict` runs the tests on
    what was read, so a verdict looked at every minute of a release costs each trace once.
    The timeout-cap pattern, a shape across many calls, is left to the latency and error
    tests."""

    def __init__(self, service: str, old_version: str, new_version: str) -> None:
        self.service = service
        self.old_version = old_version
        self.new_version = new_version
        self._old = _Side()
        self._new = _Side()
        self._reach: defaultdict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        """(journey, operation) -> [traces reaching it, traces with it on the path]."""

    def add(self, tree: AssembledTrace) -> None:
        """Read one trace; one whose spans of the service ran neither version is ignored."""
        side = self._side_of(tree)
        if side is None:
            return
        side.traces += 1
        trace_id = tree.trace.trace_id
        mine = [s for s in tree.trace.spans if s.service == self.service]
        mine_set = {id(s) for s in mine}
        for span in mine:
            side.durations[span.name].append((span.duration_ns, trace_id))
            if span.is_error:
                side.errors[span.name].append(trace_id)
        journey = tree.trace.journey
        if journey is not None:
            path = {node.span.name for node, _, _ in critical_steps(tree) if id(node.span) in mine_set}
            for name in {s.name for s in mine}:
                counts = self._reach[(journey, name)]
                counts[0] += 1
                counts[1] += name in path
        for pattern in detect_in(TraceCalls(tree)):
            if pattern.service == self.service:
                saved = side.patterns.setdefault(pattern.key, (pattern, {}))[1]
                saved[trace_id] = saved.get(trace_id, 0) + pattern.saved_ns

    def _side_of(self, tree: AssembledTrace) -> _Side | None:
        for span in tree.trace.spans:
            if span.service == self.service:
                if span.service_version == self.new_version:
                    return self._new
                if span.service_version == self.old_version:
                    return self._old
        return None

    def verdict(self) -> ReleaseVerdict:
        old, new = self._old, self._new
        on_path: defaultdict[str, set[str]] = defaultdict(set)
        for (journey, operation), (reached, on) in self._reach.items():
            if on >= ON_PATH_SHARE * reached:
                on_path[operation].add(journey)
        operations = sorted(on_path)
        verdict = ReleaseVerdict(
            self.service, self.old_version, self.new_version, Outcome.TOO_EARLY, old.traces, new.traces
        )
        if not any(min(len(old.durations[o]), len(new.durations[o])) >= MIN_SAMPLES for o in operations):
            return verdict
        compared = [_compare(o, tuple(sorted(on_path[o])), old, new) for o in operations]
        judged, grown = _judge(compared, _pattern_candidates(old, new))
        regressed = any(o.regressed for o in judged) or grown
        return replace(
            verdict,
            outcome=Outcome.REGRESSED if regressed else Outcome.FINE,
            operations=tuple(judged),
            patterns=tuple(grown),
        )


class ChangeComparison(ReleaseComparison):
    """A change that is no version (a flag flip, a config rollout, a node change): the
    service's traces that began before it against those that began after, by the same
    rules. A change takes effect over a rollout, so traces of its first minutes dilute the
    after side: a regression shows later, never earlier. The verdict names the sides
    ``before`` and ``after``."""

    def __init__(self, service: str, at_ns: int) -> None:
        super().__init__(service, BEFORE, AFTER)
        self.at_ns = at_ns

    def _side_of(self, tree: AssembledTrace) -> _Side | None:
        if not any(span.service == self.service for span in tree.trace.spans):
            return None
        return self._new if tree.root.start_ns >= self.at_ns else self._old


def compare_versions(
    trees: Iterable[AssembledTrace], service: str, old_version: str, new_version: str
) -> ReleaseVerdict:
    """``service`` on ``new_version`` against ``old_version`` in ``trees`` at once."""
    comparison = ReleaseComparison(service, old_version, new_version)
    for tree in trees:
        comparison.add(tree)
    return comparison.verdict()


def _compare(operation: str, journeys: tuple[str, ...], old: _Side, new: _Side) -> OperationComparison:
    old_values = sorted(d for d, _ in old.durations[operation])
    new_pairs = new.durations[operation]
    new_values = sorted(d for d, _ in new_pairs)
    base = OperationComparison(
        operation,
        journeys,
        len(old_values),
        len(new_values),
        old_errors=len(old.errors[operation]),
        new_errors=len(new.errors[operation]),
    )
    if not base.compared:
        return base
    return OperationComparison(
        operation,
        journeys,
        base.old_count,
        base.new_count,
        p50=_shift(old_values, new_values, 0.5),
        p95=_shift(old_values, new_values, 0.95),
        latency_p=slower(old_values, new_values),
        old_errors=base.old_errors,
        new_errors=base.new_errors,
        errors_p=fails_more(base.old_errors, base.old_count, base.new_errors, base.new_count),
        evidence=_evidence(new_pairs, new.errors[operation]),
    )


def _shift(old: Sequence[int], new: Sequence[int], q: float) -> Shift:
    old_q, new_q = quantile(old, q), quantile(new, q)
    old_low, old_high = quantile_interval(old, q, INTERVAL_EACH)
    new_low, new_high = quantile_interval(new, q, INTERVAL_EACH)
    return Shift(
        q,
        int(old_q),
        int(new_q),
        _relative(new_q, old_q),
        _relative(new_low, old_high),
        _relative(new_high, old_low),
    )


def _relative(new: float, old: float) -> float:
    if old <= 0:
        return math.inf if new > 0 else 0.0
    return new / old - 1


def _evidence(durations: list[tuple[int, str]], failed: list[str]) -> tuple[str, ...]:
    slowest = [t for _, t in sorted(durations, key=lambda p: (-p[0], p[1]))]
    return tuple(dict.fromkeys([*failed[:EVIDENCE], *slowest]))[: EVIDENCE * 2]


def _judge(
    compared: list[OperationComparison], patterns: list[_Candidate]
) -> tuple[list[OperationComparison], list[PatternGrowth]]:
    """Holm over every test run for the release, then the effect-size rules."""
    tested = [o for o in compared if o.compared]
    raw = [o.latency_p for o in tested] + [o.errors_p for o in tested] + [c.p_value for c in patterns]
    adjusted = holm(raw)
    n = len(tested)
    by_name = {}
    for i, o in enumerate(tested):
        latency_p, errors_p = adjusted[i], adjusted[n + i]
        by_name[o.operation] = OperationComparison(
            o.operation,
            o.journeys,
            o.old_count,
            o.new_count,
            o.p50,
            o.p95,
            latency_p,
            o.old_errors,
            o.new_errors,
            errors_p,
            slower=latency_p < ALPHA and _big_shift(o),
            fails_more=errors_p < ALPHA and _big_rate_rise(o),
            evidence=o.evidence,
        )
    judged = [by_name.get(o.operation, o) for o in compared]
    grown = [
        c.growth(adjusted[2 * n + i])
        for i, c in enumerate(patterns)
        if adjusted[2 * n + i] < ALPHA and _big_pattern(c)
    ]
    return judged, grown


def _big_shift(o: OperationComparison) -> bool:
    return any(
        s.change >= MIN_SHIFT and s.new_ns - s.old_ns >= MIN_SHIFT_NS for s in (o.p50, o.p95) if s is not None
    )


def _big_rate_rise(o: OperationComparison) -> bool:
    return o.new_rate >= MIN_RATE_RATIO * o.old_rate and o.new_rate - o.old_rate >= MIN_RATE_GAP


@dataclass(slots=True)
class _Candidate:
    """A pattern place seen on the new side, with its traces on each side."""

    first: Pattern
    new: dict[str, int]
    """Trace id -> the time it would win back there."""
    old_share: float
    new_share: float
    p_value: float

    def growth(self, adjusted: float) -> PatternGrowth:
        worst = sorted(self.new, key=lambda t: (-self.new[t], t))[:EVIDENCE]
        return PatternGrowth(
            self.first.kind,
            self.first.operation,
            self.first.callee,
            self.first.target,
            self.old_share,
            self.new_share,
            sum(self.new.values()) // max(1, len(self.new)),
            adjusted,
            tuple(worst),
        )


def _pattern_candidates(old: _Side, new: _Side) -> list[_Candidate]:
    """Pattern places of the new side common enough to have grown; the test runs only
    for them (a rarer one could not pass the share rule anyway)."""
    if min(old.traces, new.traces) < MIN_SAMPLES:
        return []
    found = []
    for key, (first, saved) in sorted(new.patterns.items()):
        if len(saved) < MIN_PATTERN_SHARE * new.traces:
            continue
        before = len(old.patterns[key][1]) if key in old.patterns else 0
        found.append(
            _Candidate(
                first,
                saved,
                before / old.traces,
                len(saved) / new.traces,
                fails_more(before, old.traces, len(saved), new.traces),
            )
        )
    return found


def _big_pattern(c: _Candidate) -> bool:
    return c.new_share >= MIN_PATTERN_SHARE and c.new_share >= MIN_RATE_RATIO * c.old_share
