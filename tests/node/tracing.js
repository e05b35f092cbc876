// OpenTelemetry set-up for the Node test service: the real JS SDK, W3C trace context,
// spans exported as OTLP protobuf over HTTP to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.
// Loaded with `node -r ./tracing.js` so the http module is instrumented before use.
'use strict';

const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { defaultResource, resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

const provider = new NodeTracerProvider({
  resource: defaultResource().merge(resourceFromAttributes({
    'service.name': process.env.SERVICE_NAME || 'node-service',
    'service.instance.id': process.env.SERVICE_INSTANCE || 'node-1',
    'service.version': process.env.SERVICE_VERSION || '1.0.0',
  })),
  spanProcessors: [
    new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 200 }),
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
