"""What every OTLP receiver does with a request once its body is read, whatever carried it
(HTTP or gRPC): decode, keep, wait for the spool, answer with what was rejected.

The transports differ only in how they read a key, a body and an error; one path behind
them means a span sent over gRPC is redacted, sampled, bound to its key's services and
made durable exactly as one sent over HTTP.
"""

from __future__ import annotations

import logging
from typing import Literal

from bot.collector.pipeline import Collector
from bot.telemetry import otlp
from bot.telemetry.otlp import Encoding
from bot.telemetry.otlp_metrics import encode_metrics_response

log = logging.getLogger("journeywatch.collector")

Signal = Literal["traces", "logs", "metrics"]


async def accept_otlp(
    collector: Collector, signal: Signal, body: bytes, encoding: Encoding, services: frozenset[str] | None
) -> bytes:
    """The Export response for ``body``, once what it holds is durable; raises the
    :class:`~correlators.errors.IngestError` the transport turns into its refusal."""
    if signal == "traces":
        spans = collector.ingest_otlp_traces(body, encoding, services)
        rejected, trimmed, errors = spans.rejected, spans.trimmed, spans.errors
        payload = otlp.encode_trace_response(rejected, "; ".join(errors), encoding)
    elif signal == "logs":
        logs = collector.ingest_otlp_logs(body, encoding, services)
        rejected, trimmed, errors = logs.rejected, logs.trimmed, logs.errors
        payload = otlp.encode_logs_response(rejected, "; ".join(errors), encoding)
    else:
        points = collector.ingest_otlp_metrics(body, encoding, services)
        rejected, trimmed, errors = points.rejected, points.trimmed, points.errors
        payload = encode_metrics_response(rejected, "; ".join(errors), encoding)
    await collector.durable()
    collector.stats.trimmed += trimmed
    if rejected or trimmed:
        collector.stats.rejected += rejected
        log.info("rejected %d %s items, trimmed %d parts: %s", rejected, signal, trimmed, "; ".join(errors))
    return payload
