// A small Node HTTP service in the middle of a polyglot call chain: it answers any GET by
// calling DOWNSTREAM_URL (the trace context travels in the traceparent header, injected
// by the OpenTelemetry http instrumentation) and relays the status. It prints
// {"port": N} on stdout once listening, so tests can bind port 0.
'use strict';

const http = require('http');
const { trace } = require('@opentelemetry/api');

const downstream = process.env.DOWNSTREAM_URL;

const server = http.createServer((req, res) => {
  const span = trace.getActiveSpan();
  if (span) {
    span.setAttribute('payment.card', req.headers['x-card'] || '');
  }
  if (!downstream) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
    return;
  }
  http
    .get(downstream + req.url, (upstream) => {
      upstream.resume();
      upstream.on('end', () => {
        res.writeHead(upstream.statusCode, { 'content-type': 'text/plain' });
        res.end('relayed');
      });
    })
    .on('error', (err) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
});

server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
