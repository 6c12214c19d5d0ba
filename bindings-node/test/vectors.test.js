'use strict';
// Every shared vector about events through the built addon: `message` and `batch` through
// `ingest`, `track` through `track`, `config` through the constructor, `store_query`
// through `queryEvents`. (`alerts` and `stats_merge` test core-only engines.)

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Sonde } = require('..');

const VECTORS = path.join(__dirname, '..', '..', 'tests', 'vectors');

function cases() {
  const out = [];
  for (const area of fs.readdirSync(VECTORS).sort()) {
    const dir = path.join(VECTORS, area);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
      const doc = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
      for (const c of doc.cases) out.push({ kind: doc.kind, name: `${area}/${file}: ${c.name}`, c });
    }
  }
  return out;
}

const pairs = (violations) => violations.map((v) => `${v.path} ${v.code}`).sort();

function subset(expected, actual, at = '') {
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    assert.ok(actual && typeof actual === 'object', `${at}: expected an object, got ${JSON.stringify(actual)}`);
    for (const [k, v] of Object.entries(expected)) {
      assert.ok(k in actual, `${at}/${k} missing in ${JSON.stringify(actual)}`);
      subset(v, actual[k], `${at}/${k}`);
    }
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual) && actual.length === expected.length, `${at}: ${JSON.stringify(actual)}`);
    expected.forEach((v, i) => subset(v, actual[i], `${at}/${i}`));
  } else if (typeof expected === 'number') {
    assert.equal(typeof actual, 'number', `${at}: ${JSON.stringify(actual)}`);
    assert.ok(Math.abs(expected - actual) <= 1e-9 * Math.max(Math.abs(expected), 1), `${at}: ${expected} vs ${actual}`);
  } else {
    assert.deepEqual(actual, expected, at);
  }
}

function pointer(doc, p) {
  let node = doc;
  for (const raw of p.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(part in node)) return { found: false };
    node = node[part];
  }
  return { found: true, value: node };
}

function checkDelivered(expected, message) {
  if (expected.delivered) subset(expected.delivered, message);
  for (const p of expected.present ?? []) {
    const { found, value } = pointer(message, p);
    assert.ok(found && value !== null, `${p} should be present in ${JSON.stringify(message)}`);
  }
  for (const p of expected.absent ?? []) {
    assert.ok(!pointer(message, p).found, `${p} should be absent from ${JSON.stringify(message)}`);
  }
  for (const p of expected.uuid_v7 ?? []) {
    const id = pointer(message, p).value ?? '';
    assert.ok(id.length === 36 && id[14] === '7', `${p} is not a UUIDv7: ${id}`);
  }
}

function client(config, delivered) {
  return new Sonde({ ...(config ?? {}), sink: (events) => delivered.push(...events), flushIntervalMs: 3_600_000, flushOnExit: false });
}

const body = (c) => (c.raw ? c.input : JSON.stringify(c.input));

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

const runners = {
  async message(c) {
    const delivered = [];
    const s = client(c.config, delivered);
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
      assert.equal(delivered.length, 1);
      checkDelivered(c.expected, delivered[0]);
    }
  },
  async batch(c) {
    const s = client(c.config, []);
    const outcome = attempt(() => s.ingest(body(c)));
    if (c.expected_errors) {
      assert.ok(outcome.error, 'expected the request to be refused');
      assert.deepEqual(pairs(outcome.error.violations), pairs(c.expected_errors));
      return;
    }
    const report = outcome.value;
    const sorted = (errors) => pairs(errors).map((p) => ({ path: p.split(' ')[0], code: p.split(' ')[1] }));
    for (const item of report.items) item.errors = sorted(item.errors);
    const expected = JSON.parse(JSON.stringify(c.expected));
    const items = expected.items;
    delete expected.items;
    if (items) {
      if (items.length === 0) assert.deepEqual(report.items, []);
      for (const want of items) {
        if (want.errors) want.errors = sorted(want.errors);
        subset(want, report.items[want.index], `/items/${want.index}`);
      }
    }
    subset(expected, report);
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
    const outcome = attempt(() => store.queryEvents(c.input));
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
