"""The collector's pipeline: redact, count, sample, hand to the store.

Order matters and is the point of this module:

1. redaction runs first, so nothing downstream (metrics, sampler, store) ever holds PII
   (OTLP span attributes are redacted as they are decoded, once per distinct pair);
2. span metrics count every decided trace, kept or not, so sampling never biases an SLI;
3. the tail sampler decides a trace once it has been quiet, and only kept traces are
   written, with their sampling weight.

The request path does steps 1 and the buffering of 3; :meth:`Collector.tick`, called
every quarter second, does the deciding, counting and handing over, except past the span
budget: the request that crosses it decides the oldest traces there and then. Both run
on the server's event loop, so the sampler needs no lock; the store writer is its own
thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bot.collector.decoding import ItemLimits
from bot.collector.journeys import JourneyMatcher
from bot.collector.lite import PairCache
from bot.collector.otlp import Decoded, Encoding, decode_traces
from bot.collector.redact import Redactor
from bot.collector.sampling import Decision, TailSampler
from bot.collector.spanmetrics import SpanMetrics
from bot.config import AppConfig
from bot.settings import CollectorSettings
from bot.store import BatchWriter
from correlators.errors import Saturated
from correlators.model import LogRecord, Span, Trace

T = TypeVar("T")

log = logging.getLogger("journeywatch.collector")


@dataclass(slots=True)
class CollectorStats:
    spans_received: int = 0
    logs_received: int = 0
    rejected: int = 0
    trimmed: int = 0
    """Attributes, events and links dropped from kept items past the item limits."""
    refused_saturated: int = 0
    spans_lost: int = 0
    """Spans of kept traces the writer failed on for a reason other than back-pressure."""


class Collector:
    """Takes decoded telemetry, keeps what matters and hands it to the store writer."""

    def __init__(
        self,
        config: AppConfig,
        settings: CollectorSettings,
        writer: BatchWriter,
        redactor: Redactor,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        max_age_s: float = 72 * 3600.0,
    ) -> None:
        """``max_age_s``: spans and logs older than this (the store's retention) are
        refused at the door, as retention would delete them at once."""
        self.config = config
        self.settings = settings
        self.writer = writer
        self.redactor = redactor
        self.limits = ItemLimits(
            attributes=settings.max_attributes,
            events=settings.max_events,
            links=settings.max_links,
            value_items=settings.max_value_items,
        )
        """What one item may carry; the decoders drop the excess and count it."""
        self._pairs = PairCache(redactor.redact_pair, value_items=settings.max_value_items)
        self.matcher = JourneyMatcher(config)
        self.sampler = TailSampler(config, settings, self.matcher)
        self.metrics = SpanMetrics(settings.metrics_bucket_s, settings.exemplars_per_bucket)
        self.stats = CollectorStats()
        self._monotonic = monotonic
        self._wall = wall
        self._bucket_grace_s = settings.quiet_period_s + settings.metrics_bucket_s
        """A bucket is flushed once traces that started in it have most likely been decided."""
        self._max_age_s = max_age_s
        self._held: list[Trace] = []
        """Kept traces the writer refused while saturated; retried on the next tick."""

    def cache_bytes(self) -> dict[str, int]:
        """Bytes held by the caches on the ingest path, by cache (for /healthz)."""
        return {"attribute_pairs": self._pairs.cached_bytes, **self.redactor.cache_bytes}

    # --- request path ------------------------------------------------------------------

    def check_capacity(self) -> None:
        """Refuse new telemetry early (before decoding it) while the store is behind."""
        if self.writer.pending >= self.settings.max_pending_writes or self._held:
            self.stats.refused_saturated += 1
            raise Saturated("the store is behind; retry later", retry_after=2)

    def ingest_otlp_traces(self, body: bytes, encoding: Encoding) -> Decoded[Span]:
        """Decode an OTLP request and take its spans. Their attributes are redacted while
        decoding, once per distinct pair (:class:`~bot.collector.lite.PairCache`); the rest
        of each span as in :meth:`ingest_spans`."""
        decoded = self.admit(decode_traces(body, encoding, self._pairs, self.limits), lambda s: s.start_ns)
        self._take(decoded.items, redact_attributes=False)
        return decoded

    def admit(self, decoded: Decoded[T], time_of: Callable[[T], int]) -> Decoded[T]:
        """``decoded`` less the items stamped outside the times this server keeps (older
        than retention, or ahead of its clock by more than ``max_future_s``), each
        refused with the reason."""
        now = self._wall()
        oldest = int((now - self._max_age_s) * 1e9)
        latest = int((now + self.settings.max_future_s) * 1e9)
        kept = []
        for item in decoded.items:
            at = time_of(item)
            if at < oldest:
                decoded.reject("item older than the store keeps data (retention)")
            elif at > latest:
                decoded.reject(
                    f"item stamped more than {self.settings.max_future_s:.0f} s ahead of the server's clock"
                )
            else:
                kept.append(item)
        decoded.items = kept
        return decoded

    def ingest_spans(self, spans: Sequence[Span]) -> None:
        """Take spans decoded elsewhere (Zipkin, files): redacted here, whole."""
        self._take(spans, redact_attributes=True)

    def _take(self, spans: Sequence[Span], *, redact_attributes: bool) -> None:
        redact = self.redactor.redact_span
        for span in spans:
            redact(span, attributes=redact_attributes)
        self.stats.spans_received += len(spans)
        late = self.sampler.add(spans, self._monotonic())
        if late:
            self._submit(late)
        if self.sampler.buffered_spans > self.settings.span_budget:
            self._handle(self.sampler.over_budget())

    def ingest_logs(self, logs: Sequence[LogRecord]) -> None:
        redact = self.redactor.redact_log
        for record in logs:
            redact(record)
        self.writer.submit_logs(list(logs))
        self.stats.logs_received += len(logs)

    # --- periodic ----------------------------------------------------------------------

    def tick(self) -> None:
        """Decide quiet traces, count them, store the kept ones, flush closed metric buckets."""
        self._handle(self.sampler.tick(self._monotonic()))
        self._flush_metrics(final=False)

    def close(self) -> None:
        """Decide everything still buffered and flush all metrics (shutdown)."""
        self._handle(self.sampler.flush_all(self._monotonic()))
        self._flush_metrics(final=True)

    def _handle(self, decisions: Sequence[Decision]) -> None:
        kept: list[Trace] = []
        for decision in decisions:
            self.metrics.count(decision.trace, self._latency_threshold_ms(decision.trace.journey))
            if decision.keep:
                self.metrics.add_exemplar(decision.trace, slow=decision.reason == "slow")
                kept.append(decision.trace)
        if kept or self._held:
            self._submit(kept)

    def _submit(self, traces: list[Trace]) -> None:
        batch = self._held + traces
        try:
            self.writer.submit_traces(batch)
            self._held = []
        except Saturated:
            self._held = batch
            log.warning("store writer saturated; holding %d kept traces", len(batch))
        except Exception:
            # Held, a batch the writer fails on would be retried at every tick and keep all
            # ingest refused (check_capacity) for ever: drop it, loudly.
            self._held = []
            self.stats.spans_lost += sum(len(t.spans) for t in batch)
            log.exception("store writer failed on %d kept traces; they are lost", len(batch))

    def _flush_metrics(self, *, final: bool) -> None:
        horizon = None if final else self._wall() - self._bucket_grace_s
        rows = self.metrics.drain(horizon)
        if rows:
            self.writer.submit_span_metrics(rows)

    def _latency_threshold_ms(self, journey: str | None) -> float | None:
        found = self.config.journey(journey) if journey else None
        latency = found.objectives.latency if found else None
        return latency.threshold_ms if latency else None
