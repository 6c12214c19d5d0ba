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

const { cases, pairs, checkDelivered, body, checkBatchReport } = require('../../tests/vectors/check.cjs');

function client(config, delivered) {
  return new Sonde({ ...(config ?? {}), sink: (events) => delivered.push(...events), flushIntervalMs: 3_600_000, flushOnExit: false });
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
