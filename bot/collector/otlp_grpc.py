"""OTLP over gRPC (4317): the OpenTelemetry Collector's default ``otlp`` exporter and the
default of several SDKs.

Requests are taken as raw bytes (generic handlers without a deserializer) and go through
:func:`~bot.collector.receive.accept_otlp` as OTLP/HTTP protobuf bodies do, so decoding,
redaction, sampling, key binding and the spool are the same code. The key comes in the
metadata, under the header the HTTP side reads (``authorization: Bearer <key>``).

Refusals follow the OTLP specification's gRPC mapping, since exporters retry on it:
INVALID_ARGUMENT for a body that does not decode (not retried), UNAUTHENTICATED and
PERMISSION_DENIED for keys, RESOURCE_EXHAUSTED for a key over its rate and UNAVAILABLE
while the store is behind, both with a ``google.rpc.RetryInfo`` saying when (an exporter
retries RESOURCE_EXHAUSTED only when the server says it may). A message over the size
limit is refused by gRPC itself (RESOURCE_EXHAUSTED, without RetryInfo: not retried).
Compression (gzip) is gRPC's own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2

from bot.collector.pipeline import Collector
from bot.collector.receive import Signal, accept_otlp
from bot.keys import KeyGate
from correlators.errors import (
    IngestError,
    NotPermitted,
    RateLimited,
    RetryLater,
    Unauthenticated,
)

log = logging.getLogger("journeywatch.collector")

METHODS: dict[str, Signal] = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export": "traces",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export": "logs",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export": "metrics",
}
_DETAILS_KEY = "grpc-status-details-bin"


def grpc_server(collector: Collector, gate: KeyGate | None, max_body_bytes: int) -> grpc.aio.Server:
    """An OTLP/gRPC server, not yet bound or started (that happens on the event loop)."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_body_bytes),
            ("grpc.so_reuseport", 0),  # a port in use is an error, not a shared port
        ]
    )
    server.add_generic_rpc_handlers((_Handlers(collector, gate),))
    return server


Behaviour = Callable[[bytes, grpc.aio.ServicerContext[bytes, bytes]], Awaitable[bytes]]


class _Handlers(grpc.GenericRpcHandler):
    def __init__(self, collector: Collector, gate: KeyGate | None) -> None:
        self.collector = collector
        self.gate = gate

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        signal = METHODS.get(handler_call_details.method)
        if signal is None:
            return None  # UNIMPLEMENTED, as for any method a server does not have
        return grpc.unary_unary_rpc_method_handler(self._export(signal))

    def _export(self, signal: Signal) -> Behaviour:
        async def export(body: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            try:
                services = await self._services(context, len(body))
                self.collector.check_capacity()
                return await accept_otlp(self.collector, signal, body, "protobuf", services)
            except IngestError as exc:
                log.info("ingest refused (gRPC %s): %s", _code(exc).name, exc)
                await context.abort(_code(exc), str(exc), _retry_info(exc))

        return export

    async def _services(
        self, context: grpc.aio.ServicerContext[bytes, bytes], size: int
    ) -> frozenset[str] | None:
        """The services the caller's key may send (None: any); its body counted against
        its rate. gRPC has read the body already, so the check comes after it."""
        if self.gate is None:
            return None
        metadata = {
            key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)
        }
        grant = await self.gate.admit(metadata)
        self.gate.charge(grant, size)
        return grant.services


def _code(exc: IngestError) -> grpc.StatusCode:
    if isinstance(exc, Unauthenticated):
        return grpc.StatusCode.UNAUTHENTICATED
    if isinstance(exc, NotPermitted):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(exc, RateLimited):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(exc, RetryLater):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INVALID_ARGUMENT  # a body that does not decode, or an item over a limit


def _retry_info(exc: IngestError) -> tuple[tuple[str, bytes], ...]:
    """The rich status a retryable refusal carries: when to try again."""
    if not isinstance(exc, RetryLater):
        return ()
    info = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=exc.retry_after))
    status = status_pb2.Status(code=_code(exc).value[0], message=str(exc))
    status.details.add().Pack(info)
    return ((_DETAILS_KEY, status.SerializeToString()),)
