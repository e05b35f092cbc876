"""OpenTelemetry for a Python shop service: traces and logs over OTLP/HTTP protobuf.

The exporters read ``OTEL_EXPORTER_OTLP_ENDPOINT`` themselves and append ``/v1/traces``
and ``/v1/logs``, as every OpenTelemetry SDK does, so the shop is pointed at the bot the
standard way. Batches leave every 500 ms (the SDK default is 5 s for spans and 1 s for
logs) so that a demo audience sees a fault in the bot within a few seconds.

Standard ``logging`` records become OTLP log records through :class:`OtelLogHandler`,
carrying the trace and span id of the request that logged them: the bot attaches a
trace's logs to it by those ids.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass

from opentelemetry import propagate, trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from demo.runtime import Identity

BATCH_DELAY_MS = 500


@dataclass(slots=True)
class Telemetry:
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider

    def shutdown(self) -> None:
        """Flush what is buffered; called on SIGTERM so the last requests are not lost."""
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()


def resource_of(identity: Identity) -> Resource:
    return Resource.create(
        {
            "service.name": identity.service,
            "service.version": identity.version,
            "service.instance.id": identity.instance,
            "service.namespace": "demo-shop",
            "deployment.environment": "demo",
            "deployment.environment.name": "demo",
            "cloud.availability_zone": identity.zone,
        }
    )


def setup(identity: Identity, *, level: int = logging.INFO) -> Telemetry:
    """Install global tracer and logger providers, W3C trace context and baggage."""
    resource = resource_of(identity)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=BATCH_DELAY_MS)
    )
    trace.set_tracer_provider(tracer_provider)
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(), schedule_delay_millis=BATCH_DELAY_MS)
    )
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(OtelLogHandler(logger_provider))
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter(f"%(asctime)s {identity.instance} %(levelname)s %(message)s"))
    root.addHandler(console)
    return Telemetry(tracer_provider, logger_provider)


_SEVERITIES = (
    (logging.CRITICAL, SeverityNumber.FATAL, "FATAL"),
    (logging.ERROR, SeverityNumber.ERROR, "ERROR"),
    (logging.WARNING, SeverityNumber.WARN, "WARN"),
    (logging.INFO, SeverityNumber.INFO, "INFO"),
    (logging.NOTSET, SeverityNumber.DEBUG, "DEBUG"),
)


class OtelLogHandler(logging.Handler):
    """``logging`` -> OTel Logs API, in the current trace context.

    Written here rather than using the SDK's ``LoggingHandler``, which is deprecated as of
    opentelemetry-sdk 1.45 in favour of a handler in the separate
    opentelemetry-instrumentation-logging package: this is the same translation in a few
    lines, with no extra dependency. The SDK's own loggers are left out, so that an export
    failure cannot feed itself back into the exporter."""

    def __init__(self, provider: LoggerProvider) -> None:
        super().__init__()
        self._provider = provider

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("opentelemetry"):
            return
        number, text = next((n, t) for level, n, t in _SEVERITIES if record.levelno >= level)
        exception = record.exc_info[1] if record.exc_info else None
        self._provider.get_logger(record.name).emit(
            timestamp=int(record.created * 1e9),
            observed_timestamp=time.time_ns(),
            severity_number=number,
            severity_text=text,
            body=record.getMessage(),
            attributes={"code.function.name": record.funcName, "code.line.number": record.lineno},
            exception=exception,
        )
