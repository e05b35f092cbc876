"""Tail sampling: decide per trace, once it has been quiet, what is worth keeping.

Kept, in this order (the reason is stored with the trace): every trace with an error;
every trace slower than its journey's latency objective; every trace with a span that
matches a priority rule (``payment.amount > 500``); and a per-journey fraction of the
rest, stored with weight 1/fraction so counts can be scaled back up.

The fraction is decided from the trace id's random low bits, as OpenTelemetry's
TraceIdRatioBased sampler does, so several collectors agree without talking and a test can
know the answer. Memory is bounded: past the span budget, in spans or in bytes (estimated
per span as it arrives, ``bot.collector.sizes``), the least recently seen traces are
decided early, which is counted, because an early decision may miss a late error.
So is time: a trace still receiving spans ``max_trace_wait_s`` after its first is decided
(counted as overdue), and its later spans follow the decision.

Arrivals carry an ``epoch``, a number that never decreases (the ingest spool's position of
the request they came in): the sampler reports the oldest epoch it still holds, which tells
the collector which spooled requests it is done with.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.collector.sizes import attributes_bytes, scope_bytes, span_bytes
from bot.config import AppConfig
from bot.settings import CollectorSettings
from bot.telemetry.assembly import TraceAssembly
from bot.telemetry.journeys import JourneyMatcher
from correlators.model import Span, Trace

log = logging.getLogger("journeywatch.collector")

_RANDOM_BITS = 56
_RANDOM_MASK = (1 << _RANDOM_BITS) - 1
EARLY_DECISION_FLOOR = 0.9
"""Over the span budget, traces are decided early until the buffer is down to this share."""
UNDECIDED = "undecided"
"""The reason a trace is kept with when deciding it failed."""


@dataclass(frozen=True, slots=True)
class Decision:
    trace: Trace
    keep: bool
    reason: str
    epoch: int = 0
    """The epoch of the trace's first span: its spans arrived in that epoch or later."""


@dataclass(slots=True)
class SamplerStats:
    kept: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    early_decisions: int = 0
    overdue_decisions: int = 0
    late_kept: int = 0
    late_dropped: int = 0


@dataclass(slots=True)
class _Pending:
    spans: list[Span]
    last_seen: float
    first_seen: float
    epoch: int
    size: int = 0
    """Estimated bytes of the spans (and resources counted with them)."""


@dataclass(slots=True)
class _Epoch:
    traces: int
    """Pending traces whose first span arrived in this epoch."""
    first_seen: float


def trace_randomness(trace_id: str) -> int:
    """The low 56 bits of the trace id: random by W3C trace-context level 2."""
    return int(trace_id[-14:], 16) & _RANDOM_MASK


def sampled(trace_id: str, fraction: float) -> bool:
    return trace_randomness(trace_id) < fraction * (1 << _RANDOM_BITS)


class TailSampler:
    def __init__(self, config: AppConfig, settings: CollectorSettings, matcher: JourneyMatcher) -> None:
        self.config = config
        self.settings = settings
        self.matcher = matcher
        self._assembly = TraceAssembly(matcher)
        self.rules = config.sampling.parsed_rules()
        self.stats = SamplerStats()
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._buffered_spans = 0
        self._buffered_bytes = 0
        self._decided: OrderedDict[str, str | None] = OrderedDict()
        """trace id -> journey of kept traces, or _DROPPED; bounded LRU."""
        self._epochs: OrderedDict[int, _Epoch] = OrderedDict()
        """Epochs that pending traces began in, oldest first (epochs never decrease)."""

    @property
    def buffered_spans(self) -> int:
        return self._buffered_spans

    @property
    def buffered_bytes(self) -> int:
        """Estimated bytes of the buffered spans."""
        return self._buffered_bytes

    def over_budget_now(self) -> bool:
        return (
            self._buffered_spans > self.settings.span_budget
            or self._buffered_bytes > self.settings.span_budget_bytes
        )

    @property
    def buffered_traces(self) -> int:
        return len(self._pending)

    @property
    def oldest_epoch(self) -> int | None:
        """The earliest epoch any buffered span arrived in; None when nothing is buffered."""
        return next(iter(self._epochs), None)

    def add(self, spans: Sequence[Span], now: float, epoch: int = 0) -> list[Trace]:
        """Buffer spans by trace. Spans of already-kept traces come back as late traces
        (to be stored with their journey); spans of dropped traces are dropped."""
        late: dict[str, list[Span]] = {}
        pending = self._pending
        decided = self._decided
        resource = None
        scope = None
        added = 0
        for span in spans:
            trace_id = span.trace_id
            entry = pending.get(trace_id)
            if entry is None:
                if trace_id in decided:
                    late.setdefault(trace_id, []).append(span)
                    continue
                entry = pending[trace_id] = _Pending([], now, now, epoch)
                self._count_epoch(epoch, now)
            size = span_bytes(span)
            if span.resource is not resource:  # one dict for the spans of a resource
                resource = span.resource
                size += attributes_bytes(resource)
            if span.scope is not scope:  # and one scope for the spans of a scope entry
                scope = span.scope
                size += scope_bytes(scope)
            entry.spans.append(span)
            entry.size += size
            added += size
            entry.last_seen = now
            pending.move_to_end(trace_id)
        self._buffered_spans += len(spans) - sum(len(v) for v in late.values())
        self._buffered_bytes += added
        return self._late_traces(late)

    def tick(self, now: float) -> list[Decision]:
        """Decide the traces quiet for the quiet period, then any overdue or over the span
        budget."""
        decisions = []
        horizon = now - self.settings.quiet_period_s
        while self._pending:
            trace_id, entry = next(iter(self._pending.items()))
            if entry.last_seen > horizon:
                break
            decisions.append(self._decide(trace_id))
        decisions.extend(self._overdue(now))
        decisions.extend(self.over_budget())
        return decisions

    def over_budget(self) -> list[Decision]:
        """Past the span budget, decide the least recently seen traces early, down to
        ``EARLY_DECISION_FLOOR`` of it, so that early decisions come in batches rather than
        one request's worth at a time. The collector calls this as spans arrive, not only
        on its tick, so the budget is a bound: at 45k spans/s, a quarter-second tick let
        the buffer overshoot it by 20k spans."""
        decisions: list[Decision] = []
        if not self.over_budget_now():
            return decisions
        floor = self.settings.span_budget * EARLY_DECISION_FLOOR
        floor_bytes = self.settings.span_budget_bytes * EARLY_DECISION_FLOOR
        while (self._buffered_spans > floor or self._buffered_bytes > floor_bytes) and self._pending:
            decisions.append(self._decide(next(iter(self._pending))))
            self.stats.early_decisions += 1
        return decisions

    def _overdue(self, now: float) -> list[Decision]:
        """Traces that began ``max_trace_wait_s`` ago, however busy. Found by a scan, but
        only when the oldest epoch says one exists, which a steady stream of short traces
        never makes true."""
        horizon = now - self.settings.max_trace_wait_s
        oldest = next(iter(self._epochs.values()), None)
        if oldest is None or oldest.first_seen > horizon:
            return []
        due = []
        earliest: dict[int, float] = {}
        for trace_id, entry in self._pending.items():
            if entry.first_seen <= horizon:
                due.append(trace_id)
            elif entry.first_seen < earliest.get(entry.epoch, now):
                earliest[entry.epoch] = entry.first_seen
        self.stats.overdue_decisions += len(due)
        decisions = [self._decide(trace_id) for trace_id in due]
        for epoch, counted in self._epochs.items():  # what is left began later: scan again then
            counted.first_seen = earliest.get(epoch, now)
        return decisions

    def flush_all(self, now: float) -> list[Decision]:
        del now
        return [self._decide(trace_id) for trace_id in list(self._pending)]

    # --- deciding ----------------------------------------------------------------------

    def _decide(self, trace_id: str) -> Decision:
        entry = self._pending.pop(trace_id)
        self._buffered_spans -= len(entry.spans)
        self._buffered_bytes -= entry.size
        self._uncount_epoch(entry.epoch)
        try:
            trace = self._build(trace_id, entry.spans)
            reason, weight = self._verdict(trace)
        except Exception:  # its spans have left the buffer: kept, never lost to a bug
            log.exception("sampling failed on trace %s; it is kept", trace_id)
            trace, reason, weight = Trace(trace_id, entry.spans), UNDECIDED, 1.0
        keep = reason is not None
        trace.sampling_reason = reason
        trace.sampling_weight = weight
        self._remember(trace_id, trace.journey if keep else _DROPPED)
        if keep:
            self.stats.kept[reason.split(":")[0]] += 1  # type: ignore[union-attr]
        else:
            self.stats.dropped += 1
        return Decision(trace, keep, reason or "not sampled", entry.epoch)

    def _count_epoch(self, epoch: int, now: float) -> None:
        counted = self._epochs.get(epoch)
        if counted is None:
            self._epochs[epoch] = _Epoch(1, now)
        else:
            counted.traces += 1

    def _uncount_epoch(self, epoch: int) -> None:
        counted = self._epochs[epoch]
        counted.traces -= 1
        if not counted.traces:
            del self._epochs[epoch]

    def _build(self, trace_id: str, spans: list[Span]) -> Trace:
        return self._assembly.trace(trace_id, spans)

    def _verdict(self, trace: Trace) -> tuple[str | None, float]:
        """(reason to keep or None, sampling weight)."""
        if trace.has_error:
            return "error", 1.0
        journey = self.config.journey(trace.journey) if trace.journey else None
        latency = journey.objectives.latency if journey else None
        if latency is not None and trace.duration_ns / 1e6 > latency.threshold_ms:
            return "slow", 1.0
        for rule in self.rules:
            if any(rule.matches(span) for span in trace.spans):
                return f"priority:{rule.source}", 1.0
        fraction = self._fraction(journey.keep_fraction if journey else None)
        if fraction > 0 and sampled(trace.trace_id, fraction):
            return "sampled", 1.0 / fraction
        return None, 0.0

    def _fraction(self, journey_fraction: float | None) -> float:
        if journey_fraction is not None:
            return journey_fraction
        return self.config.sampling.default_keep_fraction

    # --- late spans --------------------------------------------------------------------

    def _remember(self, trace_id: str, journey: str | None) -> None:
        self._decided[trace_id] = journey
        if len(self._decided) > self.settings.decision_cache_size:
            self._decided.popitem(last=False)

    def _late_traces(self, late: dict[str, list[Span]]) -> list[Trace]:
        traces = []
        for trace_id, spans in late.items():
            journey = self._decided[trace_id]
            if journey == _DROPPED:
                self.stats.late_dropped += len(spans)
                continue
            self.stats.late_kept += len(spans)
            traces.append(Trace(trace_id, spans, journey=journey, sampling_reason="late"))
        return traces


_DROPPED = "\x00dropped"
"""Marker in the decision cache; cannot collide with a journey name (see config)."""
