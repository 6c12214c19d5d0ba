'use strict';
// The shared vectors' comparison rules (tests/vectors/README.md) for the JavaScript suites:
// the Node binding's and the browser's runners both load the cases and check results here.

const fs = require('node:fs');
const path = require('node:path');
const assert = require('node:assert/strict');

const VECTORS = __dirname;

// JSON.parse forgets how a value was written: `1.0` and `1` become the same number, and
// JSON.stringify writes it back as `1`. The vectors test that distinction, so the runners
// read vector files (and delivered JSON text) with this parser, which remembers the source
// text of every object and array (`jsonText`) and the lexeme of every number (`numberText`).
const sourceText = new WeakMap();
const numberLexemes = new WeakMap();

function parseKeepingText(text) {
  let i = 0;
  const fail = (why) => { throw new SyntaxError(`${why} at ${i}`); };
  const space = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  function value() {
    space();
    const start = i;
    const ch = text[i];
    if (ch === '{' || ch === '[') {
      const isObject = ch === '{';
      const node = isObject ? {} : [];
      const lexemes = new Map();
      i++;
      space();
      if (text[i] === (isObject ? '}' : ']')) i++;
      else {
        for (;;) {
          let key = node.length;
          if (isObject) {
            space();
            key = JSON.parse(text.slice(i, stringEnd()));
            space();
            if (text[i++] !== ':') fail('expected :');
          }
          space();
          const numberStart = i;
          const child = value();
          if (typeof child === 'number') lexemes.set(key, text.slice(numberStart, i));
          if (isObject) Object.defineProperty(node, key, { value: child, enumerable: true, writable: true, configurable: true });
          else node.push(child);
          space();
          const next = text[i++];
          if (next === (isObject ? '}' : ']')) break;
          if (next !== ',') fail('expected ,');
        }
      }
      sourceText.set(node, text.slice(start, i));
      numberLexemes.set(node, lexemes);
      return node;
    }
    if (ch === '"') return JSON.parse(text.slice(start, stringEnd()));
    const match = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!match) fail('unexpected input');
    i += match[0].length;
    return JSON.parse(match[0]);
  }
  function stringEnd() {
    let j = i + 1;
    while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
    i = j + 1;
    return i;
  }
  const result = value();
  space();
  if (i !== text.length) fail('trailing input');
  return result;
}

/** A value as JSON text: its source text when it was read by `parseKeepingText`. */
const jsonText = (v) => (v !== null && typeof v === 'object' && sourceText.get(v)) || JSON.stringify(v);

/** How the number at `key` of `parent` was written, when the parser saw it. */
const numberText = (parent, key) => numberLexemes.get(parent)?.get(key);

/** Every case of every vector file: `{kind, name, c}`, in a stable order. */
function cases() {
  const out = [];
  for (const area of fs.readdirSync(VECTORS).sort()) {
    const dir = path.join(VECTORS, area);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
      const doc = parseKeepingText(fs.readFileSync(path.join(dir, file), 'utf8'));
      for (const c of doc.cases) out.push({ kind: doc.kind, name: `${area}/${file}: ${c.name}`, c });
    }
  }
  return out;
}

/** Violations as sorted `"path code"` strings: compared as a set, message text ignored. */
const pairs = (violations) => violations.map((v) => `${v.path} ${v.code}`).sort();

const integral = (lexeme) => /^-?\d+$/.test(lexeme);

/** `expected` is contained in `actual`; numbers compare within 1e-9 relative. With
 * `exactNumbers` (a case's `expected.exact_numbers`), a number written as an integer must
 * also be delivered as one, and a float (`1.0`) as a float. */
function subset(expected, actual, at = '', exactNumbers = false) {
  const child = (parentE, parentA, key, e, a) => {
    if (exactNumbers && typeof e === 'number') {
      const want = numberText(parentE, key);
      const got = numberText(parentA, key);
      assert.ok(want !== undefined && got !== undefined, `${at}/${key}: number lexemes unknown (read both with parseKeepingText)`);
      assert.equal(integral(got), integral(want), `${at}/${key}: ${got} delivered where the vector wrote ${want}`);
    }
    subset(e, a, `${at}/${key}`, exactNumbers);
  };
  if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
    assert.ok(actual && typeof actual === 'object', `${at}: expected an object, got ${JSON.stringify(actual)}`);
    for (const [k, v] of Object.entries(expected)) {
      assert.ok(k in actual, `${at}/${k} missing in ${JSON.stringify(actual)}`);
      child(expected, actual, k, v, actual[k]);
    }
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual) && actual.length === expected.length, `${at}: ${JSON.stringify(actual)}`);
    expected.forEach((v, i) => child(expected, actual, i, v, actual[i]));
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
  if (expected.delivered) subset(expected.delivered, message, '', expected.exact_numbers === true);
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
const body = (c) => (c.raw ? c.input : jsonText(c.input));

/** A `batch` case's report against `expected` (items matched by index, errors as sets). */
function checkBatchReport(c, report) {
  const sorted = (errors) => pairs(errors).map((p) => ({ path: p.split(' ')[0], code: p.split(' ')[1] }));
  for (const item of report.items) item.errors = sorted(item.errors);
  const expected = structuredClone(c.expected);
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

module.exports = { cases, pairs, subset, pointer, checkDelivered, body, checkBatchReport, parseKeepingText, jsonText, numberText };
