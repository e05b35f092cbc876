// One span and one log record from the real OpenTelemetry JS SDK, exported as OTLP/JSON
// over HTTP to BOT_URL (/v1/traces, /v1/logs). The JSON exporters are put together from
// the SDK's own parts exactly as @opentelemetry/exporter-trace-otlp-http and
// exporter-logs-otlp-http put them together (the HTTP export delegate with the JSON
// serializers of otlp-transformer), since those two packages are not installed here.
// The span comes from a tracer with a name and version, the log record from a logger with
// scope attributes, an eventName and a map attribute. Prints {"traceId": ...} when both
// were exported.
'use strict';

const { context, trace } = require('@opentelemetry/api');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { LoggerProvider, SimpleLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { OTLPExporterBase } = require('@opentelemetry/otlp-exporter-base');
const { createOtlpHttpExportDelegate, convertLegacyHttpOptions } = require('@opentelemetry/otlp-exporter-base/node-http');
const {
  JsonTraceSerializer,
  JsonLogsSerializer,
  TraceExporterMetricsHelper,
  LogsExporterMetricsHelper,
} = require('@opentelemetry/otlp-transformer');

const url = process.env.BOT_URL;
const json = { 'Content-Type': 'application/json' };

class JsonTraceExporter extends OTLPExporterBase {
  constructor() {
    super(createOtlpHttpExportDelegate(
      convertLegacyHttpOptions({ url: `${url}/v1/traces` }, 'TRACES', 'v1/traces', json),
      JsonTraceSerializer,
      'otlp_http_json_span_exporter',
      TraceExporterMetricsHelper,
    ));
  }
}

class JsonLogExporter extends OTLPExporterBase {
  constructor() {
    super(createOtlpHttpExportDelegate(
      convertLegacyHttpOptions({ url: `${url}/v1/logs` }, 'LOGS', 'v1/logs', json),
      JsonLogsSerializer,
      'otlp_http_json_log_exporter',
      LogsExporterMetricsHelper,
    ));
  }
}

async function main() {
  const resource = resourceFromAttributes({ 'service.name': 'shop-node', 'service.instance.id': 'shop-node-1' });
  const tracing = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(new JsonTraceExporter())] });
  const logging = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: new JsonLogExporter() })] });

  const span = tracing.getTracer('shop.checkout', '3.1.4').startSpan('POST /checkout', { kind: 1 });
  span.setAttribute('order.items', 2);
  const logger = logging.getLogger('shop.events', '1.2.0', { attributes: { 'team': 'payments' } });
  logger.emit({
    eventName: 'checkout.completed',
    body: 'order placed',
    attributes: {
      order: { id: 'o-1', lines: [{ sku: 'a', qty: 1 }], contact: 'jane.doe@example.com', password: 'hunter2' },
    },
    context: trace.setSpan(context.active(), span),
  });
  span.end();
  await tracing.shutdown();
  await logging.shutdown();
  process.stdout.write(JSON.stringify({ traceId: span.spanContext().traceId }) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
