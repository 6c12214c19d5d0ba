// The browser package sending to a Node collector: the Node example (examples/node_app,
// the core's Api through `sonde.handler()`) serves the demo page in real headless Chromium;
// what the page tracks, clicks and beacons lands in the Node service's store.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectorClient, launchChromium } from './chromium.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const KEY = 'node-key';
let server;
let base;
let context;

const { events, eventually } = collectorClient(() => base, KEY);

before(async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-node-collector-'));
  server = spawn(process.execPath, [path.join(root, 'examples', 'node_app', 'server.js')], {
    env: { ...process.env, PORT: '0', SONDE_STORE: path.join(tmp, 'node.db'), SONDE_API_KEY: KEY },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  base = await new Promise((resolve, reject) => {
    server.stdout.on('data', (d) => {
      const m = String(d).match(/http:\/\/127\.0\.0\.1:\d+/);
      if (m) resolve(m[0]);
    });
    server.on('exit', () => reject(new Error('the Node example exited')));
  });
  context = await launchChromium();
});

after(async () => {
  await context?.close();
  server?.kill('SIGTERM');
});

test('the demo page delivers to the Node collector: tracked, clicked, beaconed', async () => {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${base}/demo/`);
  await page.waitForFunction(() => window.sondeReady === true, null, { timeout: 15_000 });
  assert.deepEqual(errors, []);
  await page.screenshot({ path: path.join(os.tmpdir(), 'sonde-node-collector.png') });
  const anonymousId = await page.evaluate(() => window.sonde.anonymousId);
  await page.evaluate(() => window.sonde.track('Node Collector Test', { n: 2 }));
  await page.click('button[data-track="subscribe"]');
  await page.evaluate(() => window.sonde.flush());
  const tracked = await eventually('the tracked event', async () => (await events('event=Node%20Collector%20Test'))[0]);
  assert.deepEqual(tracked.properties, { n: 2 });
  assert.equal(tracked.anonymousId, anonymousId);
  assert.equal(tracked.context.library.name, 'sonde-browser');
  assert.ok(tracked.receivedAt);
  await eventually('the click', async () => (await events('event=%24interaction')).find((e) => e.properties.target === 'subscribe'));

  await page.evaluate(() => window.sonde.track('Beaconed To Node', { last: true }));
  await page.close({ runBeforeUnload: true });
  const beaconed = await eventually('the beaconed event', async () => (await events('event=Beaconed%20To%20Node'))[0]);
  assert.equal(beaconed.properties.last, true);

  const routes = (await (await fetch(`${base}/analytics/performance`, { headers: { 'x-api-key': KEY } })).json()).routes;
  assert.ok(!Object.keys(routes).some((r) => r.includes('analytics')), 'the collector does not time itself');
});
