'use strict';
// The analytics API over real HTTP on 127.0.0.1: the Express router, the node:http handler
// and the Fastify plugin, fed by fetch and by a real Segment-protocol client from npm.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const zlib = require('node:zlib');
const express = require('express');
const { Analytics } = require('@segment/analytics-node');
const { Sonde } = require('..');

const KEY = 'admin-secret';
const WRITE_KEY = 'write-secret';
const ADMIN = { 'x-api-key': KEY };

function listen(handler) {
  return new Promise((resolve) => {
    const server = http.createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

const close = (server) => new Promise((resolve) => server.close(resolve));
const storeClient = () => new Sonde({
  store: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-router-')), 'api.db'),
  flushIntervalMs: 3_600_000,
  flushOnExit: false,
});

test('express router: every endpoint over HTTP, and other paths fall through to the app', async () => {
  const sonde = storeClient();
  const app = express();
  app.use('/analytics', sonde.router({ apiKey: KEY, corsOrigins: ['https://shop.example'] }));
  app.get('/analytics/custom', (req, res) => res.send('the app'));
  const { server, url } = await listen(app);
  const api = `${url}/analytics`;
  try {
    const one = await fetch(`${api}/track`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://shop.example' },
      body: JSON.stringify({ event: 'Signed Up', userId: 'u1', messageId: 'm-1', properties: { plan: 'pro' } }),
    });
    assert.equal(one.status, 200);
    assert.equal(one.headers.get('access-control-allow-origin'), 'https://shop.example');
    assert.equal((await one.json()).status, 'accepted');

    const bad = await fetch(`${api}/track`, { method: 'POST', body: JSON.stringify({ userId: 'u1' }) });
    assert.equal(bad.status, 422);
    const problem = await bad.json();
    assert.equal(problem.code, 'invalid_event');
    assert.deepEqual(problem.violations.map((v) => [v.index, v.path, v.code]), [[0, '/event', 'missing_field']]);

    const gz = zlib.gzipSync(JSON.stringify({ batch: [{ type: 'page', name: 'Home', anonymousId: 'a', messageId: 'm-2' }] }));
    const batch = await fetch(`${api}/v1/batch`, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: gz });
    const report = await batch.json();
    assert.equal(report.success, true);
    assert.equal(report.accepted, 1);

    const preflight = await fetch(`${api}/v1/batch`, { method: 'OPTIONS', headers: { origin: 'https://shop.example' } });
    assert.equal(preflight.status, 204);

    assert.equal((await fetch(`${api}/flush`, { method: 'POST' })).status, 401);
    assert.deepEqual(await (await fetch(`${api}/flush`, { method: 'POST', headers: ADMIN })).json(), { status: 'flushed' });

    const page = await (await fetch(`${api}/events?order=asc&with_total=true`, { headers: { authorization: `Bearer ${KEY}` } })).json();
    assert.equal(page.total, 2);
    assert.deepEqual(page.events.map((e) => e.messageId), ['m-1', 'm-2']);
    assert.equal((await fetch(`${api}/events`)).status, 401);

    const patched = await fetch(`${api}/events/m-1`, { method: 'PATCH', headers: ADMIN, body: JSON.stringify({ properties: { plan: 'team' } }) });
    assert.deepEqual((await patched.json()).properties, { plan: 'team' });
    assert.equal((await (await fetch(`${api}/events/m-1`, { headers: ADMIN })).json()).properties.plan, 'team');
    assert.deepEqual(await (await fetch(`${api}/events/m-1`, { method: 'DELETE', headers: ADMIN })).json(), { deleted: true, message_id: 'm-1' });
    assert.equal((await fetch(`${api}/events/m-1`, { headers: ADMIN })).status, 404);

    assert.equal((await fetch(`${api}/statistics`)).status, 401);
    assert.deepEqual(await (await fetch(`${api}/health`)).json(), { status: 'ok' });
    const stats = await (await fetch(`${api}/statistics?bucket=day`, { headers: ADMIN })).json();
    assert.equal(stats.live.counters.delivered, 2);
    assert.equal(stats.stored.total, 1);
    const health = await (await fetch(`${api}/health`, { headers: ADMIN })).json();
    assert.equal(health.status, 'ok');
    assert.equal(health.store.ok, true);
    const perf = await (await fetch(`${api}/performance`, { headers: ADMIN })).json();
    assert.ok(perf.system.memory_total_bytes > 0);
    const config = await (await fetch(`${api}/config`, { headers: ADMIN })).json();
    assert.equal(config.store, sonde.storePath);
    const put = await fetch(`${api}/config`, { method: 'PUT', headers: ADMIN, body: '{"sample_rates": {"Noise": 0}, "batch_size": 10}' });
    assert.equal(put.status, 200, JSON.stringify(await put.clone().json()));
    const changed = await put.json();
    assert.deepEqual(changed.options.sample_rates, { Noise: 0 });
    assert.equal(changed.options.batch_size, 10, 'the answer shows the new client\'s options');
    assert.equal(changed.store, sonde.storePath, 'the same store');
    assert.deepEqual(sonde.options.sample_rates, { Noise: 0 });
    sonde.track('Noise', {}, { userId: 'u' });
    assert.equal(sonde.stats().counters.dropped.sampled, 1, 'the client in use is the new one');
    const refused = await fetch(`${api}/config`, { method: 'PUT', headers: ADMIN, body: JSON.stringify({ batch_size: -1, what: 1 }) });
    assert.equal(refused.status, 422);
    assert.deepEqual((await refused.json()).violations.map((v) => v.path).sort(), ['/batch_size', '/what']);
    const fixed = await fetch(`${api}/config`, { method: 'PUT', headers: ADMIN, body: '{"store": "x.db", "sink": null}' });
    assert.equal(fixed.status, 422);
    assert.deepEqual((await fixed.json()).violations.map((v) => [v.path, v.code]).sort(), [['/sink', 'invalid_option'], ['/store', 'invalid_option']]);
    assert.deepEqual(sonde.options.sample_rates, { Noise: 0 }, 'a refused change changes nothing');

    assert.equal(await (await fetch(`${api}/custom`)).text(), 'the app');
    assert.equal((await fetch(`${api}/v1/batch`)).status, 405);
  } finally {
    await close(server);
  }
  await sonde.shutdown();
});

test('a Segment SDK from npm delivers to the Node collector with its write key', async () => {
  const sonde = storeClient();
  const app = express();
  app.use('/analytics', sonde.router({ apiKey: KEY, writeKeys: [WRITE_KEY] }));
  const { server, url } = await listen(app);
  try {
    const segment = new Analytics({ writeKey: WRITE_KEY, host: url, path: '/analytics/v1/batch', maxEventsInBatch: 10, flushInterval: 50 });
    segment.track({ userId: 'u-7', event: 'Order Completed', properties: { total: 42.5 } });
    segment.identify({ userId: 'u-7', traits: { plan: 'pro' } });
    segment.page({ anonymousId: 'anon-1', name: 'Pricing' });
    await segment.closeAndFlush({ timeout: 5000 });

    const refused = new Analytics({ writeKey: 'wrong', host: url, path: '/analytics/v1/batch', maxRetries: 0 });
    const failures = [];
    refused.on('error', (e) => failures.push(e));
    refused.track({ userId: 'u-8', event: 'Refused' });
    await refused.closeAndFlush({ timeout: 5000 });
    assert.ok(failures.length >= 1, 'a wrong write key is refused');
  } finally {
    await close(server);
  }
  await sonde.flush();
  const events = (await sonde.queryEvents({ order: 'asc' })).events;
  assert.deepEqual(events.map((e) => e.type).sort(), ['identify', 'page', 'track']);
  const order = events.find((e) => e.type === 'track');
  assert.equal(order.event, 'Order Completed');
  assert.equal(order.properties.total, 42.5);
  assert.equal(order.context.library.name, '@segment/analytics-node');
  assert.ok(order.receivedAt, 'the collector stamps receivedAt');
  await sonde.shutdown();
});

test('node:http handler: the prefix is answered, other paths are the app\'s', async () => {
  const sonde = storeClient();
  const analytics = sonde.handler({ allowUnauthenticated: true });
  const { server, url } = await listen((req, res) => {
    if (analytics(req, res)) return;
    res.end('app');
  });
  try {
    const r = await fetch(`${url}/analytics/v1/track`, { method: 'POST', body: JSON.stringify({ event: 'Raw', userId: 'u' }) });
    assert.equal(r.status, 200);
    assert.equal(await (await fetch(`${url}/elsewhere`)).text(), 'app');
    const missing = await fetch(`${url}/analytics/nope`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).code, 'not_found');
    const big = await fetch(`${url}/analytics/v1/batch`, { method: 'POST', body: 'x'.repeat(600 * 1024) });
    assert.equal(big.status, 413);
    assert.equal((await big.json()).code, 'payload_too_large');
    await fetch(`${url}/analytics/flush`, { method: 'POST' });
    assert.equal((await (await fetch(`${url}/analytics/events`)).json()).events[0].event, 'Raw');
  } finally {
    await close(server);
  }
  await sonde.shutdown();
});

test('/metrics: Prometheus text or OpenMetrics, for the admin key or the scraper token only', async () => {
  const sonde = storeClient();
  const app = express();
  app.use(sonde.middleware());
  app.get('/items/:id', (req, res) => res.json({ id: req.params.id }));
  app.use('/analytics', sonde.router({ apiKey: KEY, metricsToken: 'scrape' }));
  const { server, url } = await listen(app);
  try {
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`${url}/items/${i}`)).status, 200);
    assert.equal((await fetch(`${url}/analytics/metrics`)).status, 401);
    const scraper = { authorization: 'Bearer scrape' };
    assert.equal((await fetch(`${url}/analytics/statistics`, { headers: scraper })).status, 401);
    const text = await fetch(`${url}/analytics/metrics`, { headers: scraper });
    assert.equal(text.status, 200);
    assert.match(text.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    const body = await text.text();
    assert.match(body, /^# TYPE http_server_request_duration_seconds histogram$/m);
    assert.match(body, /^http_server_request_duration_seconds_count\{http_request_method="GET",http_route="\/items\/:id",http_response_status_code="200"\} 5$/m);
    const open = await fetch(`${url}/analytics/metrics`, { headers: { ...ADMIN, accept: 'application/openmetrics-text; version=1.0.0' } });
    assert.match(open.headers.get('content-type'), /^application\/openmetrics-text/);
    assert.match(await open.text(), /# EOF\n$/);
    // The dashboard page is served by the same API, public; its data needs the key.
    const page = await fetch(`${url}/analytics/dashboard`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    assert.match(await page.text(), /<title>Sonde dashboard<\/title>/);
    assert.equal((await fetch(`${url}/analytics/alerts`)).status, 401);
    assert.deepEqual(Object.keys(await (await fetch(`${url}/analytics/alerts`, { headers: ADMIN })).json()).sort(), ['active', 'history']);
    // The same exposition from the client, without HTTP.
    assert.match(await sonde.metricsText(), /^http_server_request_duration_seconds_count\{http_request_method="GET",http_route="\/items\/:id",http_response_status_code="200"\} 5$/m);
    assert.match(await sonde.metricsText({ openMetrics: true }), /# EOF\n$/);
  } finally {
    await close(server);
  }
  await sonde.shutdown();
});

test('fastify plugin serves the same API, bodies read raw by the core', async () => {
  const Fastify = require('fastify');
  const sonde = storeClient();
  const app = Fastify();
  await app.register(sonde.fastifyRouter({ apiKey: KEY }), { prefix: '/analytics' });
  app.get('/hello', async () => 'hi');
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const gz = zlib.gzipSync(JSON.stringify([{ type: 'track', event: 'Fast', userId: 'u' }]));
    const r = await fetch(`${url}/analytics/batch-track`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gz });
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal((await r.json()).accepted, 1);
    const bad = await fetch(`${url}/analytics/track`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    assert.equal(bad.status, 422);
    assert.equal((await bad.json()).violations[0].code, 'invalid_json');
    assert.equal((await fetch(`${url}/analytics/events`)).status, 401);
    await fetch(`${url}/analytics/flush`, { method: 'POST', headers: ADMIN });
    const page = await (await fetch(`${url}/analytics/events`, { headers: ADMIN })).json();
    assert.deepEqual(page.events.map((e) => e.event), ['Fast']);
    assert.equal(await (await fetch(`${url}/hello`)).text(), 'hi');
  } finally {
    await app.close();
  }
  await sonde.shutdown();
});

test('ingestion leaves the event loop when a full buffer can make it wait (overflow block)', async () => {
  const { NativeHttpApi } = require('../native');
  const { kNative } = require('../middleware');
  const quick = new Sonde({ sink: () => {}, flushOnExit: false });
  const waits = new Sonde({ sink: () => {}, flushOnExit: false, overflow: 'block' });
  const api = (s) => new NativeHttpApi(s[kNative], JSON.stringify({ allowUnauthenticated: true }));
  assert.equal(api(quick).runsInline('POST', '/v1/batch'), true);
  assert.equal(api(waits).runsInline('POST', '/v1/batch'), false, 'overflow block can wait: libuv pool');
  assert.equal(api(waits).runsInline('OPTIONS', '/track'), true);
  assert.equal(api(quick).runsInline('GET', '/events'), false);
  await quick.shutdown();
  await waits.shutdown();
});
