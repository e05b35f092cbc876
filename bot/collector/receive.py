"""What every OTLP receiver does with a request once its body is read, whatever carried it
(HTTP or gRPC): decode, keep, wait for the spool, answer with what was rejected.

The transports differ only in how they read a key, a body and an error; one path behind
them means a span sent over gRPC is redacted, sampled, bound to its key's services and
made durable exactly as one sent over HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from bot.collector.pipeline import Collector
from bot.telemetry import otlp
from bot.telemetry.decoding import Decoded
from bot.telemetry.otlp import Encoding
from bot.telemetry.otlp_metrics import encode_metrics_response

log = logging.getLogger("journeywatch.collector")

Signal = Literal["traces", "logs", "metrics"]
_TAKE: dict[Signal, Callable[[Collector, bytes, Encoding, frozenset[str] | None], Decoded[Any]]] = {
    "traces": Collector.ingest_otlp_traces,
    "logs": Collector.ingest_otlp_logs,
    "metrics": Collector.ingest_otlp_metrics,
}
"""Each signal's request, decoded and kept by the collector."""
_ANSWER: dict[Signal, Callable[[int, str, Encoding], bytes]] = {
    "traces": otlp.encode_trace_response,
    "logs": otlp.encode_logs_response,
    "metrics": encode_metrics_response,
}
"""Each signal's Export response: what was rejected, and why."""


async def accept_otlp(
    collector: Collector, signal: Signal, body: bytes, encoding: Encoding, services: frozenset[str] | None
) -> bytes:
    """The Export response for ``body``, once what it holds is durable; raises the
    :class:`~correlators.errors.IngestError` the transport turns into its refusal."""
    decoded = _TAKE[signal](collector, body, encoding, services)
    rejected, trimmed, errors = decoded.rejected, decoded.trimmed, decoded.errors
    payload = _ANSWER[signal](rejected, "; ".join(errors), encoding)
    await collector.durable()
    collector.stats.trimmed += trimmed
    if rejected or trimmed:
        collector.stats.rejected += rejected
        log.info("rejected %d %s items, trimmed %d parts: %s", rejected, signal, trimmed, "; ".join(errors))
    return payload
