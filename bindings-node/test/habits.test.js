'use strict';
// What users of @segment/analytics-node and posthog-node do on day one: a disabled client
// for tests, SONDE_* variables, onError and a logger, beforeSend, the onInvalid policy,
// alias as an object, every duration in milliseconds. Runs the built addon.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { Sonde } = require('..');

/** A logger that keeps what it is told. */
function recordingLogger() {
  const lines = [];
  const keep = (level) => (message) => lines.push([level, message]);
  return { lines, debug: keep('debug'), warn: keep('warn'), error: keep('error') };
}

function collecting(options = {}) {
  const delivered = [];
  const sonde = new Sonde({ sink: (events) => { delivered.push(...events); }, flushIntervalMs: 3_600_000, flushOnExit: false, ...options });
  return { sonde, delivered };
}

test('a disabled client needs no destination, validates, and sends nothing', async () => {
  const delivered = [];
  const sonde = new Sonde({ disabled: true, sink: (events) => { delivered.push(...events); }, flushOnExit: false,
    trackingPlan: { events: { 'Signed Up': { required: ['plan'] } } } });
  assert.equal(typeof sonde.track('Signed Up', { plan: 'pro' }, { userId: 'u1' }), 'string');
  assert.throws(() => sonde.track('Signed Up', {}, { userId: 'u1' }), (e) => e.violations[0].code === 'required');
  await sonde.flush();
  assert.deepEqual(delivered, []);
  await sonde.shutdown();
  assert.throws(() => new Sonde({ flushOnExit: false }), (e) => /disabled: true/.test(e.message));
});

test("onInvalid: 'warn' writes a line a second per error code, not one per event", async () => {
  const logger = recordingLogger();
  let told = 0;
  const { sonde } = collecting({ onInvalid: 'warn', logger, onError: () => { told += 1; } });
  for (let i = 0; i < 300; i++) sonde.track('', {}, { userId: 'u1' });
  await new Promise((r) => setTimeout(r, 1050));
  sonde.track('', {}, { userId: 'u1' });
  const lines = logger.lines.filter(([level]) => level === 'warn').map(([, line]) => line);
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.doesNotMatch(lines[0], /more like it/);
  assert.match(lines[1], /\(299 more like it since the last report\)/);
  assert.equal(told, 301);
  assert.equal(sonde.stats().counters.dropped.invalid, 301);
  await sonde.shutdown();
});

test('under node --test invalid events raise by default; warn and drop are chosen explicitly', async () => {
  const seen = [];
  const logger = recordingLogger();
  const { sonde } = collecting();
  assert.equal(sonde.options.on_invalid, 'raise');
  assert.throws(() => sonde.track(''), (e) => e.code === 'invalid_event');
  await sonde.shutdown();

  const warn = collecting({ onInvalid: 'warn', logger, onError: (error, events) => seen.push([error, events]) }).sonde;
  assert.equal(warn.track('', { x: 1 }, { userId: 'u1' }), null);
  assert.equal(warn.alias('u1', 'anon'), null); // positional strings: refused, not swapped
  assert.equal(seen.length, 2);
  assert.equal(seen[0][0].code, 'invalid_event');
  assert.equal(seen[0][0].violations[0].path, '/event');
  assert.deepEqual(seen[0][1], [{ userId: 'u1', type: 'track', event: '', properties: { x: 1 } }]);
  assert.match(seen[1][0].message, /previousId, userId/);
  assert.equal(logger.lines.filter(([level]) => level === 'warn').length, 2);
  assert.equal(warn.stats().counters.dropped.invalid, 1);
  await warn.shutdown();

  const quiet = collecting({ onInvalid: 'drop', logger, onError: () => seen.push('called') }).sonde;
  assert.equal(quiet.track(''), null);
  assert.equal(seen.length, 2);
  await quiet.shutdown();
});

test('outside a test runner the default is warn: a tracking mistake never throws in production', () => {
  const script = `
    const { Sonde } = require(${JSON.stringify(path.join(__dirname, '..'))});
    const s = new Sonde({ sink: () => {}, flushOnExit: false, logger: { debug() {}, warn: (m) => console.log('warned', m.includes("onInvalid: 'warn'")), error() {} } });
    console.log(s.options.on_invalid ?? 'default', s.track(''));
    const d = new Sonde({ disabled: true, flushOnExit: false });
    try { d.track(''); } catch (e) { console.log('disabled raises', e.code); }
  `;
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_ENV;
  const out = execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
  assert.deepEqual(out.trim().split('\n'), ['warned true', 'default null', 'disabled raises invalid_event']);
});

test('lost events reach onError with the events, and the logger', async () => {
  const seen = [];
  const logger = recordingLogger();
  const { sonde } = collecting({
    sink: () => { throw new Error('collector down'); },
    maxRetries: 1, retryInitialBackoffMs: 1, retryMaxBackoffMs: 2, logger,
    onError: (error, events) => seen.push([error, events]),
  });
  sonde.track('Checkout', { total: 3 }, { userId: 'u1' });
  await sonde.flush().catch(() => {});
  for (let i = 0; i < 200 && seen.length === 0; i += 1) await new Promise((r) => setTimeout(r, 10));
  const [[error, events]] = seen;
  assert.equal(error.code, 'sink_failed');
  assert.equal(error.reason, 'retry_exhausted');
  assert.match(error.message, /collector down/);
  assert.deepEqual(events.map((e) => [e.event, e.properties]), [['Checkout', { total: 3 }]]);
  assert.ok(logger.lines.some(([level, m]) => level === 'error' && /retry_exhausted/.test(m)));
  await sonde.shutdown();
});

test('debug mode logs each delivered batch', async () => {
  const logger = recordingLogger();
  const { sonde } = collecting({ debug: true, logger, onInvalid: 'raise' });
  sonde.track('A', {}, { userId: 'u1' });
  await sonde.flush();
  for (let i = 0; i < 200 && !logger.lines.some(([l]) => l === 'debug'); i += 1) await new Promise((r) => setTimeout(r, 10));
  assert.ok(logger.lines.some(([level, m]) => level === 'debug' && /delivered \(1 events\)/.test(m)));
  await sonde.shutdown();
});

test('beforeSend scrubs, drops (counted) and survives its own bugs', async () => {
  const logger = recordingLogger();
  const { sonde, delivered } = collecting({
    logger,
    beforeSend: (event) => {
      if (event.event === 'Internal') return null;
      if (event.event === 'Crash') throw new Error('oops');
      if (event.type === 'identify') return { ...event, traits: { plan: event.traits.plan } };
      const { email, ...rest } = event.properties ?? {};
      return { ...event, properties: { ...rest, scrubbed: true } };
    },
  });
  sonde.track('Signed Up', { email: 'a@b.c', plan: 'pro' }, { userId: 'u1' });
  assert.equal(sonde.track('Internal', {}, { userId: 'u1' }), null);
  sonde.track('Crash', { n: 1 }, { userId: 'u1' });
  sonde.identify('u1', { plan: 'pro', email: 'a@b.c' });
  await sonde.flush();
  assert.deepEqual(delivered.map((e) => e.event ?? e.type), ['Signed Up', 'Crash', 'identify']);
  assert.deepEqual(delivered[0].properties, { plan: 'pro', scrubbed: true });
  assert.deepEqual(delivered[1].properties, { n: 1 });
  assert.deepEqual(delivered[2].traits, { plan: 'pro' });
  assert.equal(sonde.stats().counters.dropped.before_send, 1);
  assert.ok(logger.lines.some(([level, m]) => level === 'error' && /beforeSend threw/.test(m)));
  await sonde.shutdown();
});

test('alias takes { previousId, userId }', async () => {
  const { sonde, delivered } = collecting();
  sonde.alias({ previousId: 'anon-7', userId: 'user-7' });
  await sonde.flush();
  assert.deepEqual(delivered.map((e) => [e.previousId, e.userId]), [['anon-7', 'user-7']]);
  await sonde.shutdown();
});

test('SONDE_* variables fill what is not passed; unknown names are logged; bad values named', async () => {
  const saved = { ...process.env };
  try {
    process.env.SONDE_SAMPLE_RATE = '0';
    process.env.SONDE_SAMPLERATE = '0.5';
    const logger = recordingLogger();
    const { sonde, delivered } = collecting({ logger });
    assert.equal(sonde.options.sample_rate, 0);
    assert.ok(logger.lines.some(([level, m]) => level === 'warn' && /SONDE_SAMPLERATE is not a Sonde setting/.test(m)));
    sonde.track('Sampled Out', {}, { userId: 'u1' });
    await sonde.flush();
    assert.deepEqual(delivered, []);
    await sonde.shutdown();
    const explicit = collecting({ sampleRate: 1, logger }).sonde;
    assert.equal(explicit.options.sample_rate, 1);
    await explicit.shutdown();
    process.env.SONDE_DISABLED = 'yes';
    const disabled = new Sonde({ flushOnExit: false, logger });
    assert.equal(disabled.options.disabled, true);
    await disabled.shutdown();
    process.env.SONDE_SAMPLE_RATE = 'half';
    assert.throws(() => collecting({ logger }), (e) => e.violations[0].path === '/SONDE_SAMPLE_RATE');
  } finally {
    for (const name of ['SONDE_SAMPLE_RATE', 'SONDE_SAMPLERATE', 'SONDE_DISABLED']) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  }
});

test('every duration is in milliseconds; the seconds spelling says what to write', async () => {
  const { sonde } = collecting({ endpoint: 'http://127.0.0.1:9/v1/batch', httpTimeoutMs: 2500, retryMaxBackoffMs: 2000 });
  assert.equal(sonde.options.retry_max_backoff_ms, 2000);
  await sonde.shutdown(10);
  assert.throws(() => collecting({ endpoint: 'http://127.0.0.1:9/v1/batch', httpTimeout: 10 }),
    (e) => e.violations[0].path === '/http_timeout' && /httpTimeoutMs|http_timeout_ms/.test(e.violations[0].message));
});
