// auth: the shop's Node service. POST /login and POST /session ({"user": id}) look the
// user up in the shared SQLite database through a CLIENT span named like a database call
// (db.system=sqlite, db.name=shop), so the bot sees the same `sqlite:shop` dependency as
// from the Python services. The db-slow fault adds 300-600 ms inside that span.
//
// Same process contract as the Python services (demo/runtime.py): SHOP_* environment,
// prints {"listening": PORT} once bound to 127.0.0.1, POST /_fault and GET /_health for
// loopback callers, exits cleanly on SIGTERM or when stdin (the parent's lifeline) closes.
'use strict';

const http = require('http');
const Database = require('libsql');
const { trace, context, propagation, SpanKind, SpanStatusCode } = require('@opentelemetry/api');
const { logs, SeverityNumber } = require('@opentelemetry/api-logs');
const { shutdown } = require('./telemetry');

const FAULTS = new Set(['db-slow']);
const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const BAGGAGE_TO_ATTRIBUTES = ['journey.name'];
const tracer = trace.getTracer('demo.auth');
const logger = logs.getLogger('shop.auth');
const identity = {
  service: process.env.SHOP_SERVICE || 'auth',
  instance: process.env.SHOP_INSTANCE || 'auth-1',
  version: process.env.SHOP_VERSION || '1.0.0',
};
const active = new Set();

const db = new Database(process.env.SHOP_DATABASE);
db.pragma('busy_timeout = 5000');
const findUser = db.prepare('SELECT id, tier FROM users WHERE id = ?');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function log(severityNumber, severityText, body) {
  logger.emit({ severityNumber, severityText, body });
}

// One database statement in a CLIENT span, as a database instrumentation would record it.
async function lookupUser(user) {
  return tracer.startActiveSpan('SELECT shop.users', {
    kind: SpanKind.CLIENT,
    attributes: {
      'db.system': 'sqlite',
      'db.name': 'shop',
      'db.operation': 'SELECT',
      'db.sql.table': 'users',
      'db.statement': 'SELECT id, tier FROM users WHERE id = ?',
    },
  }, async (span) => {
    try {
      if (active.has('db-slow')) {
        await sleep(300 + Math.random() * 300);
      }
      return findUser.get(user);
    } catch (err) {
      span.recordException(err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: `users: ${err.message}` });
      throw new Error(`users: ${err.message}`);
    } finally {
      span.end();
    }
  });
}

async function login(body) {
  const row = await lookupUser(String(body.user || ''));
  if (!row) {
    return [401, { error: 'unknown user' }];
  }
  await sleep(10 + Math.random() * 20); // password hash check
  log(SeverityNumber.INFO, 'INFO', `login ok for a ${row.tier} user`);
  return [200, { user: row.id, tier: row.tier }];
}

async function session(body) {
  const row = await lookupUser(String(body.user || ''));
  return row ? [200, { user: row.id, tier: row.tier }] : [401, { error: 'no session for this user' }];
}

const ROUTES = { 'POST /login': login, 'POST /session': session };

function reply(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

function control(req, res, path, body) {
  if (!LOOPBACK.has(req.socket.remoteAddress)) {
    reply(res, 403, { error: 'control endpoints answer loopback callers only' });
  } else if (path === '/_health') {
    reply(res, 200, { ...identity, faults: [...active].sort() });
  } else if (req.method !== 'POST') {
    reply(res, 405, { error: `use POST ${path}` });
  } else if (!FAULTS.has(body.kind)) {
    reply(res, 400, { error: `this process simulates ${[...FAULTS]}, not ${JSON.stringify(body.kind)}` });
  } else {
    if (body.on === false) active.delete(body.kind); else active.add(body.kind);
    reply(res, 200, { ...identity, faults: [...active].sort() });
  }
}

async function handle(req, res, raw) {
  const path = req.url.split('?')[0];
  let body;
  try {
    body = raw ? JSON.parse(raw) : {};
  } catch (err) {
    reply(res, 400, { error: `body is not JSON: ${err.message}` });
    return;
  }
  if (path === '/_health' || path === '/_fault') {
    control(req, res, path, body);
    return;
  }
  const route = `${req.method} ${path}`;
  const span = trace.getActiveSpan();
  if (span) {
    span.updateName(route);
    span.setAttribute('http.route', path);
    const carried = propagation.getBaggage(context.active());
    for (const key of BAGGAGE_TO_ATTRIBUTES) {
      const entry = carried && carried.getEntry(key);
      if (entry) span.setAttribute(key, entry.value);
    }
  }
  const handler = ROUTES[route];
  if (!handler) {
    reply(res, 404, { error: `no route ${route}` });
    return;
  }
  try {
    const [status, answer] = await handler(body);
    reply(res, status, answer);
  } catch (err) {
    const cause = `${err.name}: ${err.message}`;
    if (span) {
      span.recordException(err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: cause });
    }
    log(SeverityNumber.ERROR, 'ERROR', `${route} failed with 500: ${cause}`);
    reply(res, 500, { error: cause });
  }
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => handle(req, res, Buffer.concat(chunks).toString()));
});

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  server.close();
  await shutdown();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (!process.stdin.isTTY) {
  process.stdin.on('end', stop);
  process.stdin.resume();
}

server.listen(Number(process.env.SHOP_PORT || 0), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ listening: server.address().port }) + '\n');
});
