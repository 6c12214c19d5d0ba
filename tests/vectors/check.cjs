'use strict';
// The shared vectors' comparison rules (tests/vectors/README.md) for the JavaScript suites:
// the Node binding's and the browser's runners both load the cases and check results here.

const fs = require('node:fs');
const path = require('node:path');
const assert = require('node:assert/strict');

const VECTORS = __dirname;

/** Every case of every vector file: `{kind, name, c}`, in a stable order. */
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

/** Violations as sorted `"path code"` strings: compared as a set, message text ignored. */
const pairs = (violations) => violations.map((v) => `${v.path} ${v.code}`).sort();

/** `expected` is contained in `actual`; numbers compare within 1e-9 relative. */
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

/** A delivered message against `expected.delivered / present / absent / uuid_v7`. */
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

/** The request body of a `message` or `batch` case. */
const body = (c) => (c.raw ? c.input : JSON.stringify(c.input));

/** A `batch` case's report against `expected` (items matched by index, errors as sets). */
function checkBatchReport(c, report) {
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
}

module.exports = { cases, pairs, subset, pointer, checkDelivered, body, checkBatchReport };
