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

Durability: with a :class:`~bot.collector.spool.Spool`, each request's body is appended to
it before its items are taken, and the request is answered once :meth:`Collector.durable`
says the spool has it. Each tick works out the oldest spooled request whose items the
collector still holds (buffered for a decision, held back from a saturated writer, not yet
replayed) and lets the spool delete what lies below it once the writer has acknowledged
everything handed to it by then (:class:`~bot.collector.spool.Releases`). After a crash,
:meth:`Collector.replay` puts what the spool holds through the same path again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from bot.collector.sampling import Decision, TailSampler
from bot.collector.spool import Kind, Record, Releases, Spool, bind, unbind
from bot.config import AppConfig
from bot.settings import CollectorSettings
from bot.store import BatchWriter
from bot.telemetry.decoding import ItemLimits
from bot.telemetry.journeys import JourneyMatcher
from bot.telemetry.lite import PairCache
from bot.telemetry.otlp import Decoded, Encoding, decode_logs, decode_traces
from bot.telemetry.otlp_metrics import decode_metrics
from bot.telemetry.redact import Redactor
from bot.telemetry.spanmetrics import SpanMetrics
from bot.telemetry.zipkin import decode_zipkin
from correlators.errors import IngestError, Saturated
from correlators.model import LogRecord, MetricDataPoint, Span, Trace

T = TypeVar("T")
Item = TypeVar("Item", Span, LogRecord, MetricDataPoint)

log = logging.getLogger("journeywatch.collector")

_TRACE_KINDS: dict[Encoding, Kind] = {"protobuf": Kind.OTLP_TRACES_PROTOBUF, "json": Kind.OTLP_TRACES_JSON}
_LOG_KINDS: dict[Encoding, Kind] = {"protobuf": Kind.OTLP_LOGS_PROTOBUF, "json": Kind.OTLP_LOGS_JSON}
_METRIC_KINDS: dict[Encoding, Kind] = {"protobuf": Kind.OTLP_METRICS_PROTOBUF, "json": Kind.OTLP_METRICS_JSON}
REPLAY_PAUSE_S = 0.05
"""How long replay waits for the writer when it is saturated."""


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
    uncounted: int = 0
    """Decided traces span metrics failed on (kept ones are stored all the same)."""
    refused_service: int = 0
    """Spans, logs and metric points refused because their sender's key may not send
    their service."""
    points_received: int = 0
    """OTLP metric data points taken (``/v1/metrics``, gRPC)."""


class Collector:
    """Takes decoded telemetry, keeps what matters and hands it to the store writer."""

    def __init__(
        self,
        config: AppConfig,
        settings: CollectorSettings,
        writer: BatchWriter,
        redactor: Redactor,
        *,
        spool: Spool | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        max_age_s: float = 72 * 3600.0,
    ) -> None:
        """``max_age_s``: spans and logs older than this (the store's retention) are
        refused at the door, as retention would delete them at once. ``spool``: where
        accepted requests are kept until stored; None keeps them in memory only."""
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
        self.spool = spool
        self._releases = Releases(spool) if spool is not None else None
        self._epoch = 0
        """The spool LSN of the request being taken (a count of requests without a spool)."""
        self._held_epoch: int | None = None
        """The oldest epoch of the held traces."""
        self._replaying: int | None = None
        """LSN of the spooled request being replayed; None when serving."""

    def cache_bytes(self) -> dict[str, int]:
        """Bytes held by the caches on the ingest path, by cache (for /healthz)."""
        return {"attribute_pairs": self._pairs.cached_bytes, **self.redactor.cache_bytes}

    # --- request path ------------------------------------------------------------------

    def check_capacity(self) -> None:
        """Refuse new telemetry early (before decoding it) while the store is behind."""
        if self._saturated():
            self.stats.refused_saturated += 1
            raise Saturated("the store is behind; retry later", retry_after=2)
        if self.spool is not None and self.spool.full():
            self.stats.refused_saturated += 1
            raise Saturated("the ingest spool is full; retry later", retry_after=2)

    def ingest_otlp_traces(
        self, body: bytes, encoding: Encoding, services: frozenset[str] | None = None
    ) -> Decoded[Span]:
        """Decode an OTLP request and take its spans. Their attributes are redacted while
        decoding, once per distinct pair (:class:`~bot.telemetry.lite.PairCache`); the rest
        of each span as in :meth:`ingest_spans`. ``services``: the only ``service.name``
        values the sender's key may send (None: any); other spans are refused, each."""
        decoded = decode_traces(body, encoding, self._pairs, self.limits)
        take = partial(self._take, redact_attributes=False)
        return self._accept(decoded, _TRACE_KINDS[encoding], body, services, _span_start, take)

    def ingest_otlp_logs(
        self, body: bytes, encoding: Encoding, services: frozenset[str] | None = None
    ) -> Decoded[LogRecord]:
        decoded = decode_logs(body, encoding, self.limits)
        return self._accept(decoded, _LOG_KINDS[encoding], body, services, _time, self.ingest_logs)

    def ingest_otlp_metrics(
        self, body: bytes, encoding: Encoding, services: frozenset[str] | None = None
    ) -> Decoded[MetricDataPoint]:
        """Decode an OTLP metrics request and hand its points to the writer, redacted, as
        logs are: nothing samples or buffers them, so the writer's budgets bound them."""
        decoded = decode_metrics(body, encoding, self.limits)
        return self._accept(decoded, _METRIC_KINDS[encoding], body, services, _time, self.ingest_points)

    def ingest_zipkin(self, body: bytes, services: frozenset[str] | None = None) -> Decoded[Span]:
        decoded = decode_zipkin(body, self.limits)
        return self._accept(decoded, Kind.ZIPKIN_JSON, body, services, _span_start, self.ingest_spans)

    def _accept(
        self,
        decoded: Decoded[Item],
        kind: Kind,
        body: bytes,
        services: frozenset[str] | None,
        time_of: Callable[[Item], int],
        take: Callable[[Sequence[Item]], None],
    ) -> Decoded[Item]:
        """What every request does with its decoded items: refuse those its key may not
        send and those stamped outside the times kept, spool the request, take the rest."""
        decoded = self.admit(self._bound(decoded, services), time_of)
        if decoded.items:
            self._enter(kind, body, services)
            take(decoded.items)
        return decoded

    def _bound(self, decoded: Decoded[Item], services: frozenset[str] | None) -> Decoded[Item]:
        """``decoded`` less the items of services a bound key may not send, each refused
        with the reason (a span or log names its service as ``service``)."""
        if services is None:
            return decoded
        kept = [item for item in decoded.items if item.service in services]
        if len(kept) < len(decoded.items):
            allowed = ", ".join(sorted(services))[:200]
            for item in decoded.items:
                if item.service not in services:
                    decoded.reject(f"service {item.service[:100]!r} is not one this key may send ({allowed})")
            self.stats.refused_service += len(decoded.items) - len(kept)
            decoded.items = kept
        return decoded

    async def durable(self) -> None:
        """Return once what was taken so far is in the spool as its fsync policy has it;
        :class:`Saturated` when the disk failed it. Awaited before answering 200/202."""
        if self.spool is not None:
            await self.spool.durable()

    def _enter(self, kind: Kind, body: bytes, services: frozenset[str] | None) -> None:
        """Spool a request whose items are about to be taken (Saturated when the spool
        cannot keep it: nothing is taken then) and make it the current epoch. A request
        sent with a key bound to services is spooled with them (:func:`spool.bind`)."""
        if self._replaying is not None:
            self._epoch = self._replaying
        elif self.spool is not None and services is not None:
            self._epoch = self.spool.append(Kind.BOUND, bind(kind, services, body))
        elif self.spool is not None:
            self._epoch = self.spool.append(kind, body)
        else:
            self._epoch += 1

    def admit(self, decoded: Decoded[T], time_of: Callable[[T], int]) -> Decoded[T]:
        """``decoded`` less the items stamped outside the times this server keeps (older
        than retention, or ahead of its clock by more than ``max_future_s``), each
        refused with the reason. A span that starts in time but ends past that is cut
        there: the store's windows are of event time and no stamp may sit in 2262. A
        request replayed from the spool was taken when it came and is not refused for its
        age now (the store ages it from its arrival)."""
        now = self._wall()
        oldest = int((now - self._max_age_s) * 1e9) if self._replaying is None else None
        latest = int((now + self.settings.max_future_s) * 1e9)
        kept = []
        for item in decoded.items:
            at = time_of(item)
            if oldest is not None and at < oldest:
                decoded.reject("item older than the store keeps data (retention)")
            elif at > latest:
                decoded.reject(
                    f"item stamped more than {self.settings.max_future_s:.0f} s ahead of the server's clock"
                )
            else:
                if isinstance(item, Span) and item.end_ns > latest:
                    item.end_ns = latest
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
        late = self.sampler.add(spans, self._monotonic(), self._epoch)
        if late:
            self._submit(late, self._epoch)
        if self.sampler.over_budget_now():
            self._handle(self.sampler.over_budget())

    def ingest_logs(self, logs: Sequence[LogRecord]) -> None:
        redact = self.redactor.redact_log
        for record in logs:
            redact(record)
        self.writer.submit_logs(list(logs))
        self.stats.logs_received += len(logs)

    def ingest_points(self, points: Sequence[MetricDataPoint]) -> None:
        redact = self.redactor.redact_point
        for point in points:
            redact(point)
        self.writer.submit_metric_points(list(points))
        self.stats.points_received += len(points)

    # --- periodic ----------------------------------------------------------------------

    def tick(self) -> None:
        """Decide quiet traces, count them, store the kept ones, flush closed metric buckets,
        let the spool forget what is stored."""
        self._handle(self.sampler.tick(self._monotonic()))
        self._flush_metrics(final=False)
        self._release()

    def close(self) -> None:
        """Decide everything still buffered and flush all metrics (shutdown)."""
        self._handle(self.sampler.flush_all(self._monotonic()))
        self._flush_metrics(final=True)

    def close_spool(self) -> None:
        """After the writer has stopped: forget what it stored, close the spool. What it
        did not store stays, for the next start to replay."""
        if self.spool is not None:
            self._release()
            self.spool.close()

    async def replay(self) -> int:
        """Put every request the spool held at startup through ingest again, as it was
        first taken (then the spool deletes them once stored, as any other). Waits while
        the writer is saturated; the ticker must be running. Returns the records replayed."""
        if self.spool is None:
            return 0
        replayed = 0
        for record in self.spool.replay():
            self._replaying = record.lsn
            while self._saturated() or not self._replay_one(record):
                await asyncio.sleep(REPLAY_PAUSE_S)
            replayed += 1
            await asyncio.sleep(0)  # let the ticker decide and hand over meanwhile
        self._replaying = None
        return replayed

    def _saturated(self) -> bool:
        return self.writer.full() or bool(self._held)

    def _replay_one(self, record: Record) -> bool:
        """False when the writer refused it for now (its logs): to be tried again."""
        kind, services, payload = record.kind, None, record.payload
        if kind == Kind.BOUND:
            kind, services, payload = unbind(payload)
        protobuf = kind in (Kind.OTLP_TRACES_PROTOBUF, Kind.OTLP_LOGS_PROTOBUF, Kind.OTLP_METRICS_PROTOBUF)
        encoding: Encoding = "protobuf" if protobuf else "json"
        try:
            if kind in (Kind.OTLP_TRACES_PROTOBUF, Kind.OTLP_TRACES_JSON):
                self.ingest_otlp_traces(payload, encoding, services)
            elif kind in (Kind.OTLP_LOGS_PROTOBUF, Kind.OTLP_LOGS_JSON):
                self.ingest_otlp_logs(payload, encoding, services)
            elif kind in (Kind.OTLP_METRICS_PROTOBUF, Kind.OTLP_METRICS_JSON):
                self.ingest_otlp_metrics(payload, encoding, services)
            else:
                self.ingest_zipkin(payload, services)
        except Saturated:
            return False
        except IngestError as exc:  # it decoded when it was taken: a bug, or a new rule
            log.warning("spooled request at %d not replayed: %s", record.lsn, exc)
        return True

    def degraded(self) -> list[str]:
        """Why ingest is refusing data it would otherwise take (for /healthz)."""
        reasons = []
        if self._saturated():
            reasons.append(
                f"the store is behind: {self.writer.pending} spans, logs and metric points "
                f"({self.writer.pending_bytes} bytes) wait to be written"
            )
        if self.spool is not None and self.spool.refusing:
            reasons.append(self.spool.refusing)
        elif self.spool is not None and self.spool.full():
            reasons.append(f"the ingest spool holds {self.spool.bytes_held} bytes, its limit")
        return reasons

    def _handle(self, decisions: Sequence[Decision]) -> None:
        """Count every decided trace and hand the kept ones to the writer. The sampler has
        let go of them, so a failure here must lose nothing else: counting is isolated per
        trace (a trace it fails on is still stored), and handing over holds what the writer
        refuses for now (see :meth:`_submit`)."""
        kept: list[Trace] = []
        epoch: int | None = None
        for decision in decisions:
            self._count(decision)
            if decision.keep:
                kept.append(decision.trace)
                epoch = decision.epoch if epoch is None else min(epoch, decision.epoch)
        if kept or self._held:
            self._submit(kept, epoch)

    def _count(self, decision: Decision) -> None:
        trace = decision.trace
        try:
            self.metrics.count(trace, self._latency_threshold_ms(trace.journey))
            if decision.keep:
                self.metrics.add_exemplar(trace, slow=decision.reason == "slow")
        except Exception:  # one odd trace must not cost the others their decision
            self.stats.uncounted += 1
            log.exception("span metrics failed on trace %s; it is not counted", trace.trace_id)

    def _submit(self, traces: list[Trace], epoch: int | None) -> None:
        """``epoch``: the oldest epoch of ``traces``' spans."""
        batch = self._held + traces
        try:
            self.writer.submit_traces(batch)
            self._held, self._held_epoch = [], None
        except Saturated:
            self._held = batch
            self._held_epoch = min(e for e in (self._held_epoch, epoch) if e is not None)
            log.warning("store writer saturated; holding %d kept traces", len(batch))
        except Exception:
            # Held, a batch the writer fails on would be retried at every tick and keep all
            # ingest refused (check_capacity) for ever: drop it, loudly.
            self._held, self._held_epoch = [], None
            self.stats.spans_lost += sum(len(t.spans) for t in batch)
            log.exception("store writer failed on %d kept traces; they are lost", len(batch))

    def _release(self) -> None:
        """Note the oldest spooled request still with the collector against what the writer
        has been given so far; delete what the writer has since stored."""
        if self.spool is None or self._releases is None:
            return
        holding = (self.sampler.oldest_epoch, self._held_epoch, self._replaying)
        floor = min((e for e in holding if e is not None), default=self.spool.head)
        self._releases.note(min(floor, self.spool.head), self.writer.submitted)
        self._releases.settle(self.writer.completed)

    def _flush_metrics(self, *, final: bool) -> None:
        """Rows of buckets past their grace period; all rows, future buckets too, when they
        hold more than their byte budget (the store sums rows of one key, so a bucket
        drained early only gets a second row later)."""
        over = self.metrics.bytes > self.settings.span_metrics_budget_bytes
        horizon = None if final or over else self._wall() - self._bucket_grace_s
        rows = self.metrics.drain(horizon)
        if rows:
            self.writer.submit_span_metrics(rows)

    def _latency_threshold_ms(self, journey: str | None) -> float | None:
        found = self.config.journey(journey) if journey else None
        latency = found.objectives.latency if found else None
        return latency.threshold_ms if latency else None


def _span_start(span: Span) -> int:
    return span.start_ns


def _time(item: LogRecord | MetricDataPoint) -> int:
    return item.time_ns
