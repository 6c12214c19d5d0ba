// The README's browser snippet (its ```html block) runs as written in headless Chromium:
// `/sonde-browser/` is this package, as the FastAPI example serves it, and the page's
// collector requests go on to the real collector (the FastAPI example app); the test
// records the write key each batch carried and reads the events back from the store.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectorClient, forwardTo, fulfillFile, launchChromium, startExampleCollector } from './chromium.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgRoot = path.resolve(here, '..');
const readme = fs.readFileSync(path.join(pkgRoot, '..', 'README.md'), 'utf8');
const snippets = [...readme.matchAll(/```html\n([\s\S]*?)```/g)].map((m) => m[1]);
const ORIGIN = 'http://readme.sonde.test';
let context;
let collector;
const { events, eventually } = collectorClient(() => collector.base, 'dev-key');

before(async () => {
  collector = await startExampleCollector();
  context = await launchChromium();
});

after(async () => {
  await context?.close();
  collector?.stop();
});

test('the README has a browser snippet', () => assert.equal(snippets.length, 1));

test('the README browser snippet runs and its events arrive', async () => {
  const page = await context.newPage();
  const writeKeys = [];
  await page.route(`${ORIGIN}/**`, async (route) => {
    const request = route.request();
    const { pathname, searchParams } = new URL(request.url());
    if (pathname === '/') {
      return route.fulfill({ contentType: 'text/html', body: `<!doctype html><title>readme</title>${snippets[0]}` });
    }
    if (pathname === '/analytics/v1/batch') {
      writeKeys.push(searchParams.get('writeKey'));
      return forwardTo(route, collector.base);
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
  // The flush interval (5 s) sends the batch; the collector stores it.
  const chosen = await eventually('the snippet\'s events in the store', async () => {
    const found = await events('event=Plan%20Chosen&limit=100');
    return found.length ? found : null;
  });
  assert.equal(writeKeys[0], 'my-write-key');
  assert.deepEqual(chosen.map((e) => e.properties.plan), ['pro']);
  assert.equal(chosen[0].userId, 'user-42');
  assert.ok((await events('type=page&limit=100')).length >= 1, 'autocaptured page view');
  assert.ok((await events('type=identify&limit=100')).some((e) => e.userId === 'user-42'));
  assert.ok((await events('event=%24performance&limit=100')).some((e) => e.properties.operation === 'render'));
  await page.close();
});
