'use strict';
// Every shared vector about events through the built addon: `message` and `batch` through
// `ingest`, `track` through `track`, `config` through the constructor, `store_query`
// through `queryEvents`. (`alerts` and `stats_merge` test core-only engines.)

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { Sonde } = require('..');
const { NativeRecorder, NativeHttpApi } = require('../native');
const { kNative } = require('../middleware');

const { cases, pairs, subset, checkDelivered, body, checkBatchReport, parseKeepingText } = require('../../tests/vectors/check.cjs');

// The vectors describe the core's defaults: no person required (servers turn it on).
function client(config, delivered) {
  return new Sonde({ requirePerson: false, ...(config ?? {}), sink: (events) => delivered.push(...events), flushIntervalMs: 3_600_000, flushOnExit: false });
}

function attempt(fn) {
  try {
    return { value: fn() };
  } catch (error) {
    return { error };
  }
}

function rejection(outcome) {
  if (outcome.error) {
    assert.ok(outcome.error instanceof Error && typeof outcome.error.code === 'string');
    return pairs(outcome.error.violations);
  }
  const { items } = outcome.value;
  assert.ok(items.length === 1 && items[0].status === 'rejected', JSON.stringify(outcome.value));
  return pairs(items[0].errors);
}

function checkEvents(expected, events) {
  if (expected === undefined) return;
  assert.equal(events.length, expected.length, JSON.stringify(events));
  expected.forEach((want, i) => {
    subset(want.properties, events[i].properties);
    for (const name of want.absent ?? []) assert.ok(!(name in events[i].properties), `${name} in ${JSON.stringify(events[i])}`);
  });
}

function apiRequest(step) {
  const r = step.request;
  const headers = Object.entries(r.headers ?? {});
  let payload = 'json' in r ? Buffer.from(JSON.stringify(r.json)) : Buffer.from(r.text ?? '');
  if (r.gzip) {
    payload = zlib.gzipSync(payload);
    headers.push(['content-encoding', 'gzip']);
  }
  return [r.method, r.path, r.query ?? '', headers, payload];
}

function checkResponse(expected, out) {
  const parsedBody = out.body.length ? JSON.parse(out.body.toString()) : null;
  assert.equal(out.status, expected.status, JSON.stringify(parsedBody));
  if (expected.code) assert.equal(parsedBody.code, expected.code);
  if (expected.body) subset(expected.body, parsedBody);
  for (const [pointer, keys] of Object.entries(expected.keys ?? {})) {
    const at = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~')).reduce((v, k) => v?.[k], parsedBody);
    assert.deepEqual(Object.keys(at ?? {}).sort(), [...keys].sort(), pointer);
  }
  const headers = Object.fromEntries(out.headers.map(([k, v]) => [k.toLowerCase(), v]));
  for (const [name, value] of Object.entries(expected.headers ?? {})) assert.equal(headers[name], value, name);
  if (expected.violations) {
    const withIndex = expected.violations.some((v) => 'index' in v);
    const key = (v) => JSON.stringify([withIndex ? v.index : null, v.path, v.code]);
    assert.deepEqual(parsedBody.violations.map(key).sort(), expected.violations.map(key).sort());
  }
}

const runners = {
  async http_request(c) {
    if (c.expected_errors) {
      const outcome = attempt(() => new NativeRecorder(JSON.stringify(c.recorder)));
      assert.ok(outcome.error, 'the options were accepted');
      assert.equal(outcome.error.code, 'invalid_config');
      assert.deepEqual(pairs(outcome.error.violations), pairs(c.expected_errors));
      return;
    }
    const delivered = [];
    const s = client(c.config, delivered);
    const recorder = new NativeRecorder(JSON.stringify(c.recorder));
    const excluded = [];
    c.input.forEach((f, i) => {
      const headers = Object.fromEntries([['user-agent', f.userAgent], ['forwarded', f.forwarded], ['x-forwarded-for', f.xForwardedFor]]
        .filter(([, v]) => v != null));
      const recorded = recorder.record(s[kNative], f.method, f.path, f.route ?? null, f.statusCode ?? null, f.durationMs,
        f.ttfbMs ?? null, f.peerAddress ?? null, f.requestBodyBytes ?? null, f.responseBodyBytes ?? null, headers,
        f.error?.type ?? null, f.error ? (f.error.message ?? '') : null, f.error?.stack ?? null, f.aborted ?? false);
      assert.equal(recorded, !recorder.excludes(f.method, f.path));
      if (!recorded) excluded.push(i);
    });
    if (c.expected.excluded) assert.deepEqual(excluded, c.expected.excluded);
    if (c.expected.routes) subset(c.expected.routes, s.stats().routes);
    await s.flush();
    checkEvents(c.expected.events, delivered.filter((e) => e.event === '$api_request'));
    checkEvents(c.expected.errors, delivered.filter((e) => e.event === '$error'));
    await s.shutdown();
  },
  async api(c) {
    if (c.expected_errors) {
      const s = client({}, []);
      const outcome = attempt(() => new NativeHttpApi(s[kNative], JSON.stringify(c.api)));
      assert.ok(outcome.error, 'the options were accepted');
      assert.deepEqual(pairs(outcome.error.violations), pairs(c.expected_errors));
      return;
    }
    const destination = c.store
      ? { store: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-api-')), 'api.db') }
      : { sink: () => {} };
    const s = new Sonde({ requirePerson: false, ...(c.config ?? {}), ...destination, flushIntervalMs: 3_600_000, flushOnExit: false });
    const api = new NativeHttpApi(s[kNative], JSON.stringify(c.api));
    for (const [i, step] of c.input.entries()) {
      if (step.flush) {
        await s.flush();
        continue;
      }
      const out = await api.handleAsync(...apiRequest(step));
      try {
        checkResponse(step.expected, out);
      } catch (error) {
        error.message = `step ${i}: ${error.message}`;
        throw error;
      }
    }
    await s.shutdown();
  },

  async message(c) {
    // Delivered as JSON lines, read with the parser that keeps `1.0` apart from `1`.
    const jsonl = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-vector-')), 'out.jsonl');
    const s = new Sonde({ requirePerson: false, ...(c.config ?? {}), jsonl, flushIntervalMs: 3_600_000, flushOnExit: false });
    const delivered = () => fs.readFileSync(jsonl, 'utf8').split('\n').filter(Boolean).map(parseKeepingText);
    if (c.expected_errors) {
      const want = pairs(c.expected_errors);
      assert.deepEqual(rejection(attempt(() => s.ingest(body(c), { dryRun: true }))), want);
      assert.equal(s.stats().counters.received, 0, 'a dry run counted events');
      assert.deepEqual(rejection(attempt(() => s.ingest(body(c)))), want);
      return;
    }
    const item = s.ingest(body(c)).items[0];
    assert.equal(item.status, c.expected.status ?? 'accepted', JSON.stringify(item));
    assert.deepEqual(pairs(item.warnings), pairs(c.expected.warnings ?? []));
    if (item.status === 'accepted') {
      await s.flush();
      const messages = delivered();
      assert.equal(messages.length, 1);
      checkDelivered(c.expected, messages[0]);
    }
    await s.shutdown();
  },
  async batch(c) {
    const s = client(c.config, []);
    const outcome = attempt(() => s.ingest(body(c)));
    if (c.expected_errors) {
      assert.ok(outcome.error, 'expected the request to be refused');
      assert.deepEqual(pairs(outcome.error.violations), pairs(c.expected_errors));
      return;
    }
    checkBatchReport(c, outcome.value);
  },
  async config(c) {
    const outcome = attempt(() => new Sonde({ ...c.input, sink: () => {}, flushOnExit: false }));
    if (c.expected_errors) {
      assert.ok(outcome.error, 'the configuration was accepted');
      assert.equal(outcome.error.code, 'invalid_config');
      assert.deepEqual(pairs(outcome.error.violations), pairs(c.expected_errors));
    } else {
      assert.ok(!outcome.error, String(outcome.error));
      await outcome.value.shutdown();
    }
  },
  async track(c) {
    const delivered = [];
    const s = client(c.config, delivered);
    if (c.input.register) s.register(c.input.register);
    const outcome = attempt(() => s.track(c.input.event, c.input.properties, { userId: c.input.user_id }));
    if (c.expected_errors) {
      assert.ok(outcome.error, 'accepted');
      assert.deepEqual(pairs(outcome.error.violations), pairs(c.expected_errors));
      return;
    }
    assert.ok(!outcome.error, String(outcome.error));
    await s.flush();
    assert.equal(delivered.length, 1);
    checkDelivered(c.expected, delivered[0]);
  },
  async store_query(c, store) {
    let outcome;
    try {
      outcome = { value: await store.queryEvents(c.input) };
    } catch (error) {
      outcome = { error };
    }
    if (c.expected_errors) {
      assert.ok(outcome.error, 'the query was accepted');
      assert.deepEqual(pairs(outcome.error.violations), pairs(c.expected_errors));
    } else {
      assert.ok(!outcome.error, String(outcome.error));
    }
  },
};

const store = new Sonde({ store: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-vectors-')), 'v.db'), flushOnExit: false });
const all = cases();

test('every event vector kind has a runner', () => {
  const kinds = new Set(all.map((v) => v.kind));
  for (const kind of kinds) assert.ok(kind in runners || kind === 'alerts' || kind === 'stats_merge', kind);
  assert.ok(all.filter((v) => v.kind in runners).length >= 140);
});

for (const { kind, name, c } of all) {
  if (!(kind in runners)) continue;
  test(name, () => runners[kind](c, store));
}
