'use strict';
// The public Node API against the built addon: events, errors, the store, promises under
// load, the JS sink, timing helpers, exit and signal flushing, worker threads.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawn } = require('node:child_process');
const { Worker } = require('node:worker_threads');
const { Sonde } = require('..');

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-node-'));
const collecting = (options = {}) => {
  const delivered = [];
  // These tests are about the API, not identity: events without a user take the process's
  // anonymous id (habits.test.js checks that a server requires a person by default).
  const sonde = new Sonde({ sink: (events) => delivered.push(...events), flushIntervalMs: 3_600_000, flushOnExit: false, requirePerson: false, ...options });
  return { sonde, delivered };
};

test('every event method delivers Segment JSON', async () => {
  const { sonde, delivered } = collecting();
  const when = new Date('2026-01-02T03:04:05.678Z');
  const ids = [
    sonde.track('Order Completed', { total: 12.5, items: ['a'] }, { userId: 'u1', sessionId: 's1', timestamp: when, context: { ip: '10.0.0.1' } }),
    sonde.page('Home', { path: '/' }, { anonymousId: 'anon' }),
    sonde.screen('Settings', null, { userId: 'u1' }),
    sonde.identify('u1', { plan: 'pro' }),
    sonde.group('g1', { name: 'ACME' }, { userId: 'u1' }),
    sonde.alias({ previousId: 'anon', userId: 'u1' }),
    sonde.trackApiRequest({ method: 'GET', route: '/items/:id', statusCode: 200, durationMs: 12.5, ttfbMs: 3 }),
    sonde.trackPerformance('db.query', 4.2, { metadata: { table: 'users' } }),
    sonde.trackInteraction('click', '#buy', { path: '/cart', value: 3 }),
    sonde.trackError('TypeError', 'x is undefined', { route: '/items/:id' }),
  ];
  await sonde.flush();
  assert.deepEqual(delivered.map((e) => e.messageId), ids);
  const [track, page, , identify, group, alias, api, perf] = delivered;
  assert.equal(track.timestamp, '2026-01-02T03:04:05.678Z');
  assert.deepEqual(track.properties, { total: 12.5, items: ['a'] });
  assert.equal(track.context.ip, '10.0.0.1');
  assert.equal(track.context.library.name, 'sonde-node');
  assert.equal(page.name, 'Home');
  assert.deepEqual(identify.traits, { plan: 'pro' });
  assert.equal(group.groupId, 'g1');
  assert.equal(alias.previousId, 'anon');
  assert.equal(api.properties['http.route'], '/items/:id');
  assert.equal(perf.properties.table, 'users');
  assert.equal(sonde.stats().routes['GET /items/:id'].count, 1);
  await sonde.shutdown();
  assert.equal(sonde.isShutDown, true);
  assert.throws(() => sonde.track('After'), (e) => e.code === 'shut_down');
});

test('track with only a userId (the fast path) delivers what the options path does', async () => {
  const { sonde, delivered } = collecting({ requirePerson: true });
  const props = { plan: 'pro', n: 3 };
  sonde.track('Fast', props, { userId: 'u1' });
  sonde.track('Slow', props, { userId: 'u1', sessionId: 's1' });
  // Not a string id: the options path reads it as before (no user), so the event is refused.
  assert.throws(() => sonde.track('Numeric', props, { userId: 42 }), (e) => e.code === 'invalid_event');
  assert.throws(() => sonde.track('Bad', { n: 1n }, { userId: 'u1' }), TypeError);
  await sonde.flush();
  const [fast, slow] = delivered;
  assert.equal(delivered.length, 2);
  assert.equal(fast.userId, 'u1');
  assert.equal(fast.event, 'Fast');
  assert.deepEqual(fast.properties, slow.properties);
  assert.deepEqual(Object.keys(fast).sort(), Object.keys(slow).filter((k) => k !== 'sessionId').sort());
  assert.deepEqual(fast.context, slow.context);
  await sonde.shutdown();
});

test('errors are real Errors with a code and every violation', async () => {
  const { sonde } = collecting({ trackingPlan: { mode: 'enforce', events: { 'Signed Up': { type: 'object', required: ['plan'] } } } });
  assert.throws(() => sonde.track('', {}), (e) => e instanceof Error && e.name === 'SondeError' && e.code === 'invalid_event' && e.violations[0].code === 'event_name_length');
  assert.throws(() => sonde.middleware({ requestSampleRate: 2 }), (e) => e.name === 'SondeError' && e.code === 'invalid_config' && e.violations[0].path === '/request_sample_rate');
  assert.throws(() => sonde.track('Signed Up', {}), (e) => e.violations.some((v) => v.code === 'required'));
  assert.throws(() => sonde.track('Bad', 'not an object'), (e) => e.code === 'invalid_event' && e.violations[0].path === '/properties');
  assert.throws(() => new Sonde({ batchSize: 0, overflow: 'explode', sink: () => {} }), (e) => {
    assert.equal(e.code, 'invalid_config');
    assert.deepEqual(e.violations.map((v) => v.path).sort(), ['/batch_size', '/overflow']);
    return true;
  });
  assert.throws(() => new Sonde({}), (e) => e.code === 'invalid_config' && /no destination/.test(e.message));
  assert.throws(() => new Sonde({ sink: 42 }), (e) => e instanceof TypeError && e.code === 'invalid_config');
  assert.throws(() => new Sonde({ console: 'loud', store: 3 }), (e) => e.violations.length === 2);
  assert.throws(() => new Sonde({ endpoint: 'localhost:8000', forwardFormat: 'amplitude', httpTimeoutMs: -1 }), (e) => {
    assert.deepEqual(e.violations.map((v) => v.path).sort(), ['/endpoint', '/forward_format', '/http_timeout_ms']);
    return true;
  });
  assert.throws(() => new Sonde({ sink: () => {}, writeKey: 'wk' }), (e) => /pass endpoint too/.test(e.message));
  assert.throws(() => sonde.ingest('{nope'), (e) => e.code === 'invalid_event');
  await assert.rejects(sonde.queryEvents(), (e) => e.code === 'unsupported');
});

test('track reads any string whole and refuses what is not one, naming the argument', async () => {
  const { sonde, delivered } = collecting();
  // Two-, three- and four-byte UTF-8, a lone surrogate (a string argument's becomes U+FFFD;
  // in properties, JSON.stringify escapes it and the reader refuses it, as serde_json does)
  // and a long string: the addon sizes its one copy from the UTF-16 length.
  const long = 'é€😀'.repeat(2000);
  sonde.track('Café ☕ 😀', { note: long }, { userId: 'üser-😀' });
  sonde.track('Lone', {}, { userId: 'a\uD800b' });
  sonde.track('Café ☕ 😀', { note: long }, { userId: 'üser-😀', sessionId: 'séance' });
  const notAString = (call, path) => assert.throws(call, (e) => {
    assert.equal(e.name, 'SondeError');
    assert.equal(e.code, 'invalid_event');
    assert.deepEqual(e.violations.map((v) => `${v.path} ${v.code}`), [`${path} invalid_type`]);
    return true;
  });
  notAString(() => sonde.track(42, {}), '/event');
  notAString(() => sonde.track(undefined, {}, { userId: 'u1' }), '/event');
  notAString(() => sonde.track({ name: 'x' }), '/event');
  await sonde.flush();
  const lone = delivered.splice(1, 1)[0];
  assert.equal(lone.userId, 'a\uFFFDb');
  assert.equal(delivered.length, 2);
  for (const event of delivered) {
    assert.equal(event.event, 'Café ☕ 😀');
    assert.equal(event.userId, 'üser-😀');
    assert.equal(event.properties.note, long);
  }
  assert.equal(delivered[1].sessionId, 'séance');
  await sonde.shutdown();
  // A shut-down client refuses through the same functions, as the methods did.
  assert.throws(() => sonde.track('Late', {}, { userId: 'u1' }), (e) => e.code === 'shut_down');
});

test('NaN and Infinity are refused at their paths, not written as null', async () => {
  const { sonde, delivered } = collecting();
  const refused = (call, paths) => assert.throws(call, (e) => {
    assert.equal(e.name, 'SondeError');
    assert.equal(e.code, 'invalid_event');
    assert.deepEqual(e.violations.map((v) => `${v.path} ${v.code}`), paths.map((p) => `${p} invalid_type`));
    assert.match(e.message, /is not a JSON number/);
    return true;
  });
  refused(() => sonde.track('Priced', { price: NaN, nested: { 'a/b': [1, -Infinity] }, fine: null }),
    ['/properties/price', '/properties/nested/a~1b/1']);
  refused(() => sonde.track('Priced', { price: Infinity }, { userId: 'u1' }), ['/properties/price']);
  refused(() => sonde.identify('u1', { score: NaN }), ['/traits/score']);
  refused(() => sonde.page('Home', {}, { context: { screen: { density: NaN } } }), ['/context/screen/density']);
  refused(() => sonde.trackPerformance('op', 5, { metadata: { ratio: Infinity } }), ['/metadata/ratio']);
  // A null of the caller's own is data, and onInvalid applies as to any refused event.
  sonde.track('Nulled', { fine: null });
  const dropping = collecting({ onInvalid: 'drop' });
  assert.equal(dropping.sonde.track('Priced', { price: NaN }), null);
  await sonde.flush();
  await dropping.sonde.flush();
  assert.deepEqual(delivered.map((e) => [e.event, e.properties]), [['Nulled', { fine: null }]]);
  assert.deepEqual(dropping.delivered, []);
  await sonde.shutdown();
  await dropping.sonde.shutdown();
});

test('ingest takes strings, buffers and objects, with per-item results', async () => {
  const { sonde, delivered } = collecting();
  const batch = { batch: [{ type: 'track', event: 'A', userId: 'u' }, { type: 'track', userId: 'u' }] };
  for (const form of [JSON.stringify(batch), Buffer.from(JSON.stringify(batch)), batch]) {
    const report = sonde.ingest(form);
    assert.equal(report.accepted, 1);
    assert.equal(report.items[1].errors[0].code, 'missing_field');
  }
  assert.equal(sonde.ingest({ event: 'B', userId: 'u' }, { defaultType: 'track' }).accepted, 1);
  assert.equal(sonde.ingest(batch, { dryRun: true }).accepted, 1);
  await sonde.flush();
  assert.deepEqual(delivered.map((e) => e.event), ['A', 'A', 'A', 'B']);
});

/**
 * A new, empty database on the PostgreSQL server `make test-node` starts
 * (scripts/with-postgres.sh); without one the test fails, it is never skipped.
 */
let databases = 0;
function postgresDatabase() {
  const base = process.env.TEST_POSTGRES_URL;
  assert.ok(base, 'TEST_POSTGRES_URL is not set: run `make test-node`, or node --test under scripts/with-postgres.sh');
  const name = `node${process.pid}_${databases++}`;
  execFileSync('psql', [base, '-q', '-c', `CREATE DATABASE ${name}`]);
  return `${base.slice(0, base.lastIndexOf('/'))}/${name}`;
}

for (const backend of ['sqlite', 'postgres']) test(`the store on ${backend}: queries, pages, updates, erasure, aggregates`, async () => {
  const location = backend === 'sqlite' ? path.join(tmp(), 's.db') : postgresDatabase();
  const sonde = new Sonde({ store: location, flushOnExit: false });
  const base = Date.parse('2026-01-01T00:00:00Z');
  const ids = [];
  for (let i = 0; i < 30; i++) {
    ids.push(sonde.track(i % 3 ? 'Viewed' : 'Bought', { i, plan: i % 2 ? 'pro' : 'free' }, { userId: `u${i % 5}`, timestamp: new Date(base + i * 60_000) }));
  }
  await sonde.flush();
  assert.equal(sonde.storePath, location);
  assert.equal((await sonde.getEvent(ids[0])).event, 'Bought');
  assert.equal((await sonde.getEvent('missing')), null);
  const seen = [];
  let cursor;
  do {
    const page = (await sonde.queryEvents({ limit: 7, order: 'asc', cursor, withTotal: true }));
    assert.equal(page.total, 30);
    seen.push(...page.events.map((e) => e.messageId));
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  assert.deepEqual(seen, ids);
  assert.equal((await sonde.queryEvents({ properties: { plan: 'pro' }, limit: 100 })).events.length, 15);
  assert.equal((await sonde.queryEvents({ from: new Date(base + 10 * 60_000), to: new Date(base + 20 * 60_000), limit: 100 })).events.length, 10);
  await assert.rejects(sonde.queryEvents({ limit: 5000 }), (e) => e.violations[0].code === 'invalid_query');
  assert.deepEqual((await sonde.updateEvent(ids[1], { plan: 'team' })).properties, { i: 1, plan: 'team' });
  assert.deepEqual((await sonde.updateEvent(ids[1], { x: 1 }, { replace: true })).properties, { x: 1 });
  assert.equal((await sonde.updateEvent('missing', {})), null);
  const agg = (await sonde.aggregate({ from: new Date(base), to: new Date(base + 3_600_000), bucket: 'minute' }));
  assert.equal(agg.total, 30);
  assert.deepEqual(agg.by_event, { Bought: 10, Viewed: 20 });
  await assert.rejects(sonde.aggregate({ bucket: 'week' }), (e) => e.code === 'invalid_config');
  assert.equal((await sonde.deleteEvent(ids[0])), true);
  assert.equal((await sonde.deleteEvent(ids[0])), false);
  // An erasure with a missing id never wipes the store: refused by name, nothing deleted.
  const before = (await sonde.queryEvents({ withTotal: true, limit: 1 })).total;
  for (const [bad, path] of [[{ userId: undefined }, '/user_id'], [{ userId: null }, '/user_id'], [undefined, ''], [{}, ''], [{ userId: 'u1', cursor: 'x' }, '/cursor']]) {
    await assert.rejects(sonde.deleteEvents(bad), (e) => e.code === 'invalid_config' && e.violations.map((v) => `${v.path} ${v.code}`).join() === `${path} invalid_query`, JSON.stringify(bad));
  }
  assert.equal((await sonde.queryEvents({ withTotal: true, limit: 1 })).total, before);
  assert.equal((await sonde.deleteEvents({ userId: 'u1' })), 6);
  assert.equal((await sonde.queryEvents({ withTotal: true, limit: 1 })).total, 23);
  await sonde.shutdown();
});

test('flush and shutdown are promises that do not block the event loop, under load', async () => {
  const dir = tmp();
  const sonde = new Sonde({ store: path.join(dir, 'load.db'), maxQueueEvents: 100_000, flushOnExit: false });
  for (let i = 0; i < 20_000; i++) sonde.track('Load', { i }, { userId: `u${i % 100}` });
  let ticks = 0;
  const ticker = setInterval(() => { ticks += 1; }, 1);
  await sonde.flush(60_000);
  clearInterval(ticker);
  assert.ok(ticks > 0, 'the event loop kept running during the flush');
  const { counters } = sonde.stats();
  assert.equal(counters.delivered, 20_000);
  assert.equal((await sonde.queryEvents({ withTotal: true, limit: 1 })).total, 20_000);
  await sonde.shutdown();
  await sonde.shutdown(); // a second call returns at once
});

test('shutdown stops accepting in the tick it is called: what came before is delivered', async () => {
  const { sonde, delivered } = collecting({ handleSignals: false });
  sonde.track('Before', {}, { userId: 'u' });
  const done = sonde.shutdown(5000);
  assert.throws(() => sonde.track('After', {}, { userId: 'u' }), (e) => e.code === 'shut_down');
  await done;
  assert.deepEqual(delivered.map((e) => e.event), ['Before']);
});

test('a JS sink receives every event exactly once, and a throwing sink is retried', async () => {
  const { sonde, delivered } = collecting({ batchSize: 50 });
  for (let i = 0; i < 1000; i++) sonde.track('Once', { i }, { userId: 'u' });
  await sonde.flush();
  assert.equal(delivered.length, 1000);
  assert.equal(new Set(delivered.map((e) => e.properties.i)).size, 1000);

  let calls = 0;
  const kept = [];
  const flaky = new Sonde({
    sink: (events) => { calls += 1; if (calls === 1) throw new Error('down'); kept.push(...events); },
    retryInitialBackoffMs: 1, retryMaxBackoffMs: 5, flushOnExit: false,
  });
  flaky.track('Retried', {}, { userId: 'u' });
  await flaky.flush();
  assert.equal(calls, 2);
  assert.equal(kept.length, 1);
  assert.equal(flaky.stats().counters.retries, 1);
});

test('an async sink is awaited: a rejection retries the batch instead of counting it delivered', async () => {
  let calls = 0;
  const kept = [];
  const sonde = new Sonde({
    sink: async (events) => {
      calls += 1;
      await new Promise((r) => setTimeout(r, 5));
      if (calls === 1) throw new Error('the remote store refused');
      kept.push(...events);
    },
    retryInitialBackoffMs: 1, retryMaxBackoffMs: 5, flushOnExit: false,
  });
  sonde.track('Awaited', {}, { userId: 'u' });
  await sonde.flush();
  assert.equal(calls, 2);
  assert.equal(kept.length, 1);
  const counters = sonde.stats().counters;
  assert.deepEqual([counters.delivered, counters.retries], [1, 1]);
  await sonde.shutdown();
});

test('a sink slower than sinkTimeoutMs is waited for again, never called twice for a batch', async () => {
  let calls = 0;
  const kept = [];
  const sonde = new Sonde({
    sink: async (events) => {
      calls += 1;
      await new Promise((r) => setTimeout(r, 400));
      kept.push(...events);
    },
    sinkTimeoutMs: 100, retryInitialBackoffMs: 1, retryMaxBackoffMs: 5, maxRetries: 50, flushOnExit: false,
  });
  sonde.track('Slow', {}, { userId: 'u' });
  await sonde.flush(10_000);
  assert.equal(calls, 1, 'the retries waited for the first call');
  assert.equal(kept.length, 1);
  const counters = sonde.stats().counters;
  assert.equal(counters.delivered, 1);
  assert.ok(counters.retries >= 1, 'the first wait timed out');
  assert.throws(() => new Sonde({ sink: () => {}, sinkTimeoutMs: -1 }), (e) => e.code === 'invalid_config');
  await sonde.shutdown();
});

test('flush past its timeout rejects with a timeout error', async () => {
  const sonde = new Sonde({ sink: () => { throw new Error('down'); }, maxRetries: 100, retryInitialBackoffMs: 1000, flushOnExit: false });
  sonde.track('Stuck', {}, { userId: 'u' });
  await assert.rejects(sonde.flush(200), (e) => e instanceof Error && e.code === 'timeout');
  await assert.rejects(sonde.shutdown(100), (e) => e.code === 'timeout');
  assert.equal(sonde.stats().counters.dropped.shutdown_timeout, 1);
});

test('time() and startTimer() record $performance, failures included', async () => {
  const { sonde, delivered } = collecting();
  assert.equal(sonde.time('sync', () => 42), 42);
  assert.equal(await sonde.time('async', async () => { await new Promise((r) => setTimeout(r, 20)); return 'done'; }), 'done');
  assert.throws(() => sonde.time('throws', () => { throw new TypeError('bad'); }), TypeError);
  await assert.rejects(sonde.time('rejects', async () => { throw new RangeError('far'); }), RangeError);
  const timer = sonde.startTimer('manual');
  timer.end({ rows: 3 });
  assert.equal(timer.end(), null, 'a timer records once');
  await sonde.flush();
  const perf = Object.fromEntries(delivered.map((e) => [e.properties.operation, e.properties]));
  assert.equal(perf.sync.success, true);
  assert.ok(perf.async.duration_ms >= 15);
  assert.equal(perf.throws['error.type'], 'TypeError');
  assert.equal(perf.rejects['error.type'], 'RangeError');
  assert.equal(perf.rejects.success, false);
  assert.equal(perf.manual.rows, 3);
  assert.equal(sonde.stats().operations.async.count, 1);
});

test('super properties, anonymous id, record_request, limits, system metrics, alerts', async () => {
  const { sonde, delivered } = collecting({
    anonymousId: 'anon-1', superProperties: { app: 'shop' }, hostMetrics: true,
    alertRules: [{ name: 'always', metric: 'queue.fill_percent', op: '>=', threshold: 0 }],
  });
  sonde.register({ version: '1.2' });
  sonde.unregister('app');
  assert.deepEqual(sonde.superProperties, { version: '1.2' });
  sonde.track('Viewed');
  sonde.recordRequest('GET', '/health', 200, 1.5);
  assert.equal(sonde.stats().routes['GET /health'].count, 1);
  assert.ok(sonde.limits().maxBatchBytes > 0);
  assert.ok(sonde.systemMetrics().memory_total_bytes > 0);
  assert.deepEqual(sonde.evaluateAlerts().map((t) => t.state), ['fired']);
  assert.deepEqual(sonde.alerts().map((a) => a.rule), ['always']);
  await sonde.flush();
  assert.equal(delivered[0].anonymousId, 'anon-1');
  assert.equal(sonde.anonymousId, 'anon-1');
  assert.ok(delivered.some((e) => e.event === '$alert'));
});

function runChild(script, signal) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (signal && out.includes('ready')) child.kill(signal);
    });
    child.on('error', reject);
    child.on('exit', (code, sig) => resolve({ code, sig }));
  });
}

test('what is buffered is delivered at exit, and on SIGTERM', async () => {
  const dir = tmp();
  const entry = JSON.stringify(path.join(__dirname, '..'));
  const exitDb = path.join(dir, 'exit.db');
  await runChild(`const { Sonde } = require(${entry});
    const s = new Sonde({ store: ${JSON.stringify(exitDb)}, flushIntervalMs: 3600000 });
    for (let i = 0; i < 500; i++) s.track('At Exit', { i }, { userId: 'u' });`);
  const signalDb = path.join(dir, 'signal.db');
  const { sig } = await runChild(`const { Sonde } = require(${entry});
    const s = new Sonde({ store: ${JSON.stringify(signalDb)}, flushIntervalMs: 3600000 });
    for (let i = 0; i < 300; i++) s.track('On Signal', { i }, { userId: 'u' });
    setInterval(() => {}, 1000); console.log('ready');`, 'SIGTERM');
  assert.equal(sig, 'SIGTERM', 'the signal still ends the process');
  const reader = new Sonde({ store: exitDb, flushOnExit: false });
  assert.equal((await reader.queryEvents({ withTotal: true, limit: 1 })).total, 500);
  const signalled = new Sonde({ store: signalDb, flushOnExit: false });
  assert.equal((await signalled.queryEvents({ withTotal: true, limit: 1 })).total, 300);
});

test('SIGTERM under an app that closes gracefully: a request still draining is recorded', async () => {
  // The app handles SIGTERM itself (server.close()): Sonde flushes but stays open, so the
  // slow request the server finishes after the signal still becomes an event; the clients
  // are shut down at beforeExit, once the app is done.
  const dir = tmp();
  const db = path.join(dir, 'draining.db');
  const entry = JSON.stringify(path.join(__dirname, '..'));
  const script = `const http = require('node:http');
    const { Sonde } = require(${entry});
    const s = new Sonde({ store: ${JSON.stringify(db)}, flushIntervalMs: 3600000 });
    const wrap = s.wrap((req, res) => setTimeout(() => res.end('done'), req.url === '/slow' ? 400 : 0));
    const server = http.createServer(wrap).listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
    process.on('SIGTERM', () => server.close());`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve) => {
    let out = '';
    child.stdout.on('data', (d) => { out += d; const m = /port (\d+)/.exec(out); if (m) resolve(Number(m[1])); });
  });
  const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
  const slow = fetch(`http://127.0.0.1:${port}/slow`, { headers: { connection: 'close' } }).then((r) => r.text());
  await new Promise((r) => setTimeout(r, 100)); // the request is in the server
  child.kill('SIGTERM');
  assert.equal(await slow, 'done');
  assert.deepEqual(await exited, { code: 0, sig: null }, 'the app ended the process itself');
  const reader = new Sonde({ store: db, flushOnExit: false });
  const recorded = (await reader.queryEvents({ event: '$api_request' })).events.map((e) => e.properties['url.path']);
  assert.deepEqual(recorded, ['/slow']);
  await reader.shutdown();
});

test('one client per worker thread works', async () => {
  const dir = tmp();
  const db = path.join(dir, 'workers.db');
  const code = `const { parentPort, workerData } = require('node:worker_threads');
    const { Sonde } = require(workerData.entry);
    const s = new Sonde({ store: workerData.db, flushOnExit: false });
    for (let i = 0; i < 1000; i++) s.track('From Worker', { i }, { userId: 'w' + workerData.n });
    s.shutdown().then(() => parentPort.postMessage('done'));`;
  await Promise.all([0, 1, 2].map((n) => new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { entry: path.join(__dirname, '..'), db, n } });
    w.on('message', resolve);
    w.on('error', reject);
  })));
  const reader = new Sonde({ store: db, flushOnExit: false });
  assert.equal((await reader.queryEvents({ withTotal: true, limit: 1 })).total, 3000);
  for (const n of [0, 1, 2]) assert.equal((await reader.queryEvents({ userId: `w${n}`, withTotal: true, limit: 1 })).total, 1000);
});

test('reconfigure: a client with the merged options takes over, nothing accepted is lost', async () => {
  const delivered = [];
  const sonde = new Sonde({ sink: (events) => delivered.push(...events), flushIntervalMs: 3_600_000, flushOnExit: false, batchSize: 500 });
  sonde.register({ app: 'shop' });
  sonde.track('Before', { n: 1 }, { userId: 'u' }); // still buffered in the first client
  const anonymousId = sonde.anonymousId;
  await sonde.reconfigure({ sampleRates: { Noise: 0 }, batchSize: 10 });
  assert.deepEqual(delivered.map((e) => e.event), ['Before'], 'the previous client delivered what it held');
  assert.equal(sonde.options.batch_size, 10);
  sonde.track('Noise', {}, { userId: 'u' });
  sonde.track('After', {}, { userId: 'u' });
  await sonde.flush();
  const after = delivered.find((e) => e.event === 'After');
  assert.equal(after.properties.app, 'shop', 'registered super properties carry over');
  assert.equal(sonde.anonymousId, anonymousId, 'the anonymous id carries over');
  assert.equal(delivered.some((e) => e.event === 'Noise'), false);
  assert.equal(sonde.stats().counters.dropped.sampled, 1);
  // Statistics continue across the change: 'Before' was counted by the first client.
  const { counters, events } = sonde.stats();
  assert.deepEqual([counters.received, counters.delivered], [3, 2]);
  assert.deepEqual([events.Before, events.After], [1, 1]);
  await sonde.reconfigure({ sampleRates: null });
  assert.equal(sonde.stats().counters.received, 3, 'counters never go back');
  assert.equal('sample_rates' in sonde.options, false, 'null removes an option');
  await assert.rejects(sonde.reconfigure({ batchSize: 0, bogus: 1 }), (e) => e.name === 'SondeError' && e.code === 'invalid_config'
    && e.violations.map((v) => v.path).sort().join() === '/batch_size,/bogus');
  await assert.rejects(sonde.reconfigure({ store: 'x.db', flushOnExit: true }), (e) => e.code === 'invalid_config'
    && e.violations.map((v) => v.path).sort().join() === '/flush_on_exit,/store');
  assert.equal(sonde.options.batch_size, 10, 'a refused change changes nothing');
  await sonde.shutdown();
});

test('manual delivery is refused: nothing in Node takes batches', async () => {
  assert.throws(() => new Sonde({ sink: () => {}, delivery: 'manual', flushOnExit: false }),
    (e) => e.code === 'invalid_config' && e.violations.map((v) => `${v.path} ${v.code}`).join() === '/delivery invalid_option');
  const sonde = new Sonde({ sink: () => {}, flushOnExit: false });
  await assert.rejects(sonde.reconfigure({ delivery: 'manual' }), (e) => e.code === 'invalid_config');
  await sonde.shutdown();
});

test('odd timeouts never crash the process (a panic in the addon would abort Node)', async () => {
  const sonde = new Sonde({ sink: () => {}, flushOnExit: false });
  // Infinity once reached Duration::from_secs_f64, which panics on a non-finite value.
  await sonde.reconfigure({ batchSize: 5 }, { timeoutMs: Infinity });
  await sonde.reconfigure({ batchSize: 6 }, { timeoutMs: NaN });
  await sonde.flush(Infinity);
  assert.equal(sonde.options.batch_size, 6);
  await sonde.shutdown();
});
