"""A journey's advice over a window of its kept traces: what the journey page shows (and
keeps for a while) and what the weekly digest posts.

The traces are a bounded sample: the window is cut into even slices and the newest
traces of each slice are read, so a busy last hour does not stand for the whole day or
week. They are the traces the store kept, which a tail sampler chose (errors and slow
requests more often than the rest), so the percentiles are of the kept requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.config import Journey
from bot.sources.base import TraceSource
from correlators.advice import JourneyAdvice, journey_advice
from correlators.model import Trace
from correlators.traces import assemble

SLICES = 12
"""Slices of the window each sample is spread over (two hours of a day, fourteen of a week)."""
KEPT = 10
"""Pieces of advice kept per journey: the page lists them, the digest its first few."""


@dataclass(frozen=True, slots=True)
class Ranked:
    """A journey's advice over ``[start_ns, end_ns)``, worked out at ``at`` (the cache's
    clock, monotonic)."""

    advice: JourneyAdvice
    start_ns: int
    end_ns: int
    at: float


def sampled(source: TraceSource, journey: Journey, start_ns: int, end_ns: int, limit: int) -> list[Trace]:
    """At most ``limit`` kept traces of ``journey`` starting in the window: the newest of
    each of :data:`SLICES` even slices, oldest slice first, each taking an even share of
    what is left, so the share of a quiet slice passes to the later ones."""
    step = max(1, -(-(end_ns - start_ns) // SLICES))
    lows = list(range(start_ns, end_ns, step))
    found: dict[str, Trace] = {}
    for index, low in enumerate(lows):
        share = (limit - len(found)) // (len(lows) - index)
        if share <= 0:
            continue
        for trace in source.find_traces(
            journey=journey.name,
            service=journey.match.root_service,
            start_ns=low,
            end_ns=min(end_ns, low + step),
            limit=share,
        ):
            if trace.journey in (journey.name, None):
                found.setdefault(trace.trace_id, trace)
    return list(found.values())


def rank(source: TraceSource, journey: Journey, start_ns: int, end_ns: int, limit: int) -> JourneyAdvice:
    """The journey's advice over the sample, its first :data:`KEPT` pieces."""
    trees = [assemble(t) for t in sampled(source, journey, start_ns, end_ns, limit) if t.spans]
    ranked = journey_advice(journey.name, trees)
    return replace(ranked, advice=ranked.advice[:KEPT])


class AdviceCache:
    """Each journey's ranking, worked out at most once per ``refresh_s`` (a page view does
    not analyse a thousand traces each time) and by one thread at a time: a second view
    while it is worked out waits for it rather than doing it again. It holds one ranking
    of :data:`KEPT` pieces per configured journey, so its memory is bounded by the config."""

    def __init__(
        self,
        source: TraceSource,
        *,
        window_s: float,
        limit: int,
        refresh_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.window_ns = int(window_s * 1e9)
        self.limit = limit
        self.refresh_s = refresh_s
        self.clock = clock
        self.worked_out = 0
        """How many rankings were worked out (not served from the cache)."""
        self._ranked: dict[str, Ranked] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def of(self, journey: Journey, end_s: float) -> Ranked:
        """The ranking of the window ending at ``end_s``; blocking, so call it from a
        worker thread. A fresh one is reused whatever its end: the window moves on at
        the next refresh."""
        with self._guard:
            lock = self._locks.setdefault(journey.name, threading.Lock())
        with lock:
            kept = self._ranked.get(journey.name)
            if kept is not None and self.clock() - kept.at < self.refresh_s:
                return kept
            end_ns = int(end_s * 1e9)
            advice = rank(self.source, journey, end_ns - self.window_ns, end_ns, self.limit)
            self.worked_out += 1
            ranked = self._ranked[journey.name] = Ranked(
                advice, end_ns - self.window_ns, end_ns, self.clock()
            )
            return ranked
