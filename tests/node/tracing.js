// OpenTelemetry set-up for the Node test service: the real JS SDK, W3C trace context,
// spans exported as OTLP protobuf over HTTP to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or over
// gRPC when OTEL_EXPORTER_OTLP_TRACES_PROTOCOL is "grpc" (the SDK's own variable).
// Loaded with `node -r ./tracing.js` so the http module is instrumented before use.
'use strict';

const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter: ProtoExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { OTLPTraceExporter: GrpcExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
const { defaultResource, resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

const Exporter = process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL === 'grpc' ? GrpcExporter : ProtoExporter;

const provider = new NodeTracerProvider({
  resource: defaultResource().merge(resourceFromAttributes({
    'service.name': process.env.SERVICE_NAME || 'node-service',
    'service.instance.id': process.env.SERVICE_INSTANCE || 'node-1',
    'service.version': process.env.SERVICE_VERSION || '1.0.0',
  })),
  spanProcessors: [
    new BatchSpanProcessor(new Exporter(), { scheduledDelayMillis: 200 }),
  ],
});
provider.register();
registerInstrumentations({ instrumentations: [new HttpInstrumentation()] });

async function shutdown() {
  try {
    await provider.shutdown();
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
