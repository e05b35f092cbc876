// OpenTelemetry for the shop's Node services: the real JS SDK, traces and logs as OTLP
// protobuf over HTTP. The exporters read OTEL_EXPORTER_OTLP_ENDPOINT and append /v1/traces
// and /v1/logs themselves, like the Python services'. Loaded with `node -r ./telemetry.js`
// so that the http module is instrumented before the service requires it.
//
// The http instrumentation makes the SERVER span of each request from the W3C traceparent
// and baggage headers (register() installs both propagators); control requests (/_health,
// /_fault) are left untraced. Batches leave every 500 ms so the bot sees traffic quickly.
'use strict';

const { logs } = require('@opentelemetry/api-logs');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-proto');
const { defaultResource, resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

const BATCH_DELAY_MS = 500;
const service = process.env.SHOP_SERVICE || 'auth';

const resource = defaultResource().merge(resourceFromAttributes({
  'service.name': service,
  'service.version': process.env.SHOP_VERSION || '1.0.0',
  'service.instance.id': process.env.SHOP_INSTANCE || `${service}-1`,
  'service.namespace': 'demo-shop',
  'deployment.environment': 'demo',
  'deployment.environment.name': 'demo',
  'cloud.availability_zone': process.env.SHOP_ZONE || 'demo-a',
}));

const tracerProvider = new NodeTracerProvider({
  resource,
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: BATCH_DELAY_MS })],
});
tracerProvider.register();

const loggerProvider = new LoggerProvider({
  resource,
  processors: [new BatchLogRecordProcessor({ exporter: new OTLPLogExporter(), scheduledDelayMillis: BATCH_DELAY_MS })],
});
logs.setGlobalLoggerProvider(loggerProvider);

registerInstrumentations({
  instrumentations: [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (request) => (request.url || '').startsWith('/_'),
    }),
  ],
});

// Flush what is buffered before exiting; the service calls this on SIGTERM and when its
// lifeline (stdin, held by the parent) closes.
async function shutdown() {
  await Promise.allSettled([tracerProvider.shutdown(), loggerProvider.shutdown()]);
}

module.exports = { shutdown };
