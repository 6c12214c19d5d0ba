'use strict';
// The HTTP destination from Node, through the built addon: a client that stores events and
// forwards them (camelCase options nested in `forward`) to a PostHog-format endpoint, a
// local server that keeps what it receives.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { Sonde } = require('..');

function recordingServer(answer) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
      requests.push({ path: req.url, headers: req.headers, body: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, requests, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

test('forward sends what the client stores on to a PostHog endpoint', async () => {
  const { server, requests, url } = await recordingServer('{"status":1}');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-forward-'));
  try {
    const sonde = new Sonde({
      store: path.join(dir, 'events.db'),
      forward: [{ endpoint: `${url}/batch/`, forwardFormat: 'posthog', writeKey: 'phc_node', outbox: path.join(dir, 'outbox.db') }],
    });
    for (let i = 0; i < 5; i++) sonde.track('Relayed', { i }, { userId: 'n-1' });
    await sonde.flush();
    assert.equal((await sonde.queryEvents({ event: 'Relayed' })).events.length, 5);
    const events = requests.flatMap((r) => r.body.batch);
    assert.deepEqual(events.map((e) => e.properties.i).sort(), [0, 1, 2, 3, 4]);
    assert.ok(events.every((e) => e.event === 'Relayed' && e.distinct_id === 'n-1'));
    assert.equal(requests[0].body.api_key, 'phc_node');
    const outbox = sonde.stats().outboxes[`${url}/batch/`];
    assert.deepEqual([outbox.sent, outbox.pending_events], [5, 0]);
    await sonde.shutdown();
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bad forward entries are refused with a path for each', async () => {
  assert.throws(() => new Sonde({ sink: () => {}, forward: [{ writeKey: 'k' }, { endpoint: 'http://x/v1/batch', colour: 'red' }] }), (e) => {
    assert.equal(e.code, 'invalid_config');
    assert.deepEqual(e.violations.map((v) => v.path).sort(), ['/forward/0/endpoint', '/forward/0/write_key', '/forward/1/colour']);
    return true;
  });
});

test('otlpEndpoint pushes the statistics as OTLP protobuf, with its headers and resource', async () => {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/v1/metrics`;
  const sonde = new Sonde({
    sink: () => {}, flushOnExit: false, hostMetrics: false, metricsIntervalMs: 100,
    otlpEndpoint: url, otlpIntervalMs: 200, otlpHeaders: { 'X-Tenant': 'shop' }, otlpResource: { 'service.name': 'node-shop' },
  });
  try {
    sonde.recordRequest('GET', '/a', 200, 4);
    for (let i = 0; i < 100 && received.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(received.length >= 1, 'an export arrived');
    const { headers, body } = received[0];
    assert.equal(headers['content-type'], 'application/x-protobuf');
    assert.equal(headers['x-tenant'], 'shop', 'header names are passed as given');
    // Protobuf keeps strings as they are: the names and the resource are in the body.
    for (const text of ['node-shop', 'service.name', 'http.server.request.duration', 'http.route']) {
      assert.ok(body.includes(Buffer.from(text)), text);
    }
    // Counted once the exporter has read the answer, a moment after the server has the body.
    for (let i = 0; i < 100 && !(sonde.stats().exports?.[url]?.sent >= 1); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(sonde.stats().exports[url].sent >= 1);
  } finally {
    await sonde.shutdown();
    server.close();
  }
});
