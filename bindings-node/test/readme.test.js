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

test('the README has its JavaScript snippets', () => assert.equal(snippets.length, 3));

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

/** Runs a framework snippet in a temporary folder; returns its `app` and `sonde`. */
function framework(snippet, dir) {
  const source = snippet.replace("require('sonde')", `require(${JSON.stringify(path.join(__dirname, '..'))})`);
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    return new Function('require', `${source}\nreturn { app, sonde };`)(require);
  } finally {
    process.chdir(cwd);
  }
}

async function itemRecorded(sonde, url) {
  assert.deepEqual(await (await fetch(`${url}/items/5`)).json(), { id: '5' });
  await sonde.flush();
  const [request] = (await sonde.queryEvents({ event: '$api_request' })).events;
  assert.equal(request.properties['http.route'], '/items/:id');
  assert.equal(request.userId, 'user-7');
  await sonde.shutdown();
}

test('the Koa snippet records its routes and user', async () => {
  const { app, sonde } = framework(snippets[1], fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-koa-')));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    await itemRecorded(sonde, `http://127.0.0.1:${server.address().port}`);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test('the Hono snippet records its routes and user', async () => {
  const { serve } = require('@hono/node-server');
  const { app, sonde } = framework(snippets[2], fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-hono-')));
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((r) => server.once('listening', r));
  try {
    await itemRecorded(sonde, `http://127.0.0.1:${server.address().port}`);
  } finally {
    await new Promise((r) => server.close(r));
  }
});
