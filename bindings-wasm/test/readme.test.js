// The README's browser snippet (its ```html block) runs as written in headless Chromium:
// `/sonde-browser/` is this package, as the FastAPI example serves it, and the collector
// is intercepted so the test sees what the page sent.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { fulfillFile, launchChromium } from './chromium.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgRoot = path.resolve(here, '..');
const readme = fs.readFileSync(path.join(pkgRoot, '..', 'README.md'), 'utf8');
const snippets = [...readme.matchAll(/```html\n([\s\S]*?)```/g)].map((m) => m[1]);
const ORIGIN = 'http://readme.sonde.test';
let context;

before(async () => {
  context = await launchChromium();
});

after(async () => {
  await context?.close();
});

test('the README has a browser snippet', () => assert.equal(snippets.length, 1));

test('the README browser snippet runs and its events arrive', async () => {
  const page = await context.newPage();
  const batches = [];
  await page.route(`${ORIGIN}/**`, async (route) => {
    const request = route.request();
    const { pathname, searchParams } = new URL(request.url());
    if (pathname === '/') {
      return route.fulfill({ contentType: 'text/html', body: `<!doctype html><title>readme</title>${snippets[0]}` });
    }
    if (pathname === '/analytics/v1/batch') {
      let body = request.postDataBuffer();
      if (request.headers()['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
      batches.push({ writeKey: searchParams.get('writeKey'), batch: JSON.parse(body.toString()).batch });
      return route.fulfill({ status: 200, contentType: 'application/json', body: '{"success":true}' });
    }
    return fulfillFile(route, path.join(pkgRoot, pathname.replace(/^\/sonde-browser\//, '')));
  });
  const warnings = [];
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${ORIGIN}/`);
  await page.waitForFunction(() => document.body.textContent.includes('ready'), null, { timeout: 15_000 });
  assert.deepEqual(errors, []);
  assert.ok(warnings.some((w) => w.startsWith('invalid_event')), `the refusal was logged: ${warnings}`);
  // The flush interval (5 s) sends the batch.
  const deadline = Date.now() + 15_000;
  while (!batches.length) {
    assert.ok(Date.now() < deadline, 'no batch arrived');
    await new Promise((r) => setTimeout(r, 100));
  }
  const events = batches.flatMap((b) => b.batch);
  assert.equal(batches[0].writeKey, 'my-write-key');
  assert.ok(events.some((e) => e.type === 'page'), 'autocaptured page view');
  assert.ok(events.some((e) => e.type === 'identify' && e.userId === 'user-42'));
  const chosen = events.filter((e) => e.event === 'Plan Chosen');
  assert.deepEqual(chosen.map((e) => e.properties.plan), ['pro']);
  assert.equal(chosen[0].userId, 'user-42');
  assert.ok(events.some((e) => e.event === '$performance' && e.properties.operation === 'render'));
  await page.close();
});
