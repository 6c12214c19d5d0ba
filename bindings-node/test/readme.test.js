'use strict';
// The README's JavaScript snippet runs as written (in a temporary folder), with
// `require('sonde')` pointing at this package and `loadCatalog` supplied.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
const snippets = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);

test('the README has a JavaScript snippet', () => assert.equal(snippets.length, 1));

test('the README snippet runs and does what its comments say', async () => {
  const cwd = process.cwd();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-readme-'));
  process.chdir(dir);
  const logged = [];
  try {
    const source = snippets[0].replace("require('sonde')", `require(${JSON.stringify(path.join(__dirname, '..'))})`);
    const run = new Function('require', 'loadCatalog', 'console', `return (async () => {\n${source}\n})();`);
    await run(require, async () => ['teapot'], { log: (...args) => logged.push(args) });
  } finally {
    process.chdir(cwd);
  }
  // console.log(e.code, e.violations)
  const [code, violations] = logged[0];
  assert.equal(code, 'invalid_event');
  assert.equal(violations[0].path, '/event');
  assert.equal(violations[0].code, 'event_name_length');
  // console.log((await sonde.queryEvents({ userId: 'user-7', limit: 10 })).events)
  const [events] = logged[1];
  assert.deepEqual(events.map((e) => e.event), ['Signed Up']);
  assert.deepEqual(events[0].properties, { plan: 'pro' });
  const { Sonde } = require('..');
  const reopened = new Sonde({ store: path.join(dir, 'events.db'), flushOnExit: false });
  const timing = (await reopened.queryEvents({ event: '$performance' })).events;
  assert.equal(timing.length, 1);
  assert.equal(timing[0].properties.operation, 'load_catalog');
  assert.equal(timing[0].properties.success, true);
  await reopened.shutdown();
});
