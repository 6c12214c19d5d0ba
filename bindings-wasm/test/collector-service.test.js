// The browser package sending to the standalone collector: two `sonde-collector` processes
// on one PostgreSQL database (the scale-out setup), a page on another origin (so CORS and
// the write key are exercised) tracking to one, a second page to the other, and the same
// Segment batch resent to both. Each event is stored once; either collector's statistics
// count what both received.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectorClient, launchChromium } from './chromium.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const COLLECTOR = path.join(root, 'target', 'release', 'sonde-collector');
const KEY = 'service-key';
const WRITE_KEY = 'service-write-key';

let collectors = [];
let site;
let context;

/** A new, empty database on the server `make test-browser` starts (scripts/with-postgres.sh). */
function postgresDatabase() {
  const base = process.env.TEST_POSTGRES_URL;
  assert.ok(base, 'TEST_POSTGRES_URL is not set: run `make test-browser`');
  const name = `browser${process.pid}`;
  execFileSync('psql', [base, '-q', '-c', `DROP DATABASE IF EXISTS ${name}`]);
  execFileSync('psql', [base, '-q', '-c', `CREATE DATABASE ${name}`]);
  return `${base.slice(0, base.lastIndexOf('/'))}/${name}`;
}

/** The page's origin: the browser package under /sonde-browser/ and a page that tracks to
 * the collector named in its query string. */
function startSite() {
  const types = { '.js': 'text/javascript', '.wasm': 'application/wasm' };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/sonde-browser/')) {
      const file = path.join(root, 'bindings-wasm', url.pathname.slice('/sonde-browser/'.length));
      if (!file.startsWith(path.join(root, 'bindings-wasm')) || !fs.existsSync(file)) return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
      return fs.createReadStream(file).pipe(res);
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>service</title>
<script type="module">
  import { Sonde } from '/sonde-browser/js/sonde.js';
  const endpoint = new URLSearchParams(location.search).get('to');
  window.sonde = await Sonde.init({ endpoint, writeKey: '${WRITE_KEY}', flushIntervalMs: 600000 });
  window.sondeReady = true;
</script>`);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${server.address().port}` })));
}

async function startCollector(store, origin) {
  const port = await new Promise((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => { const { port: p } = s.address(); s.close(() => resolve(p)); });
  });
  const process_ = spawn(COLLECTOR, ['--listen', `127.0.0.1:${port}`, '--store', store, '--api-key', KEY,
    '--write-key', WRITE_KEY, '--cors-origins', origin, '--mount', '/analytics',
    '--options', JSON.stringify({ metrics_interval_ms: 200 })], { stdio: ['ignore', 'inherit', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/analytics/health`)).ok) break;
    } catch { /* not yet */ }
    if (i > 150 || process_.exitCode !== null) throw new Error('sonde-collector did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { process: process_, base };
}

before(async () => {
  site = await startSite();
  const store = postgresDatabase();
  collectors = [await startCollector(store, site.base), await startCollector(store, site.base)];
  context = await launchChromium();
});

after(async () => {
  await context?.close();
  for (const c of collectors) c.process.kill('SIGTERM');
  site?.server.close();
});

test('pages on another origin deliver to two collectors on one PostgreSQL: each event once, statistics merged', async () => {
  const [a, b] = collectors;
  const { events, eventually } = collectorClient(() => a.base, KEY);
  const anonymousIds = [];
  for (const [n, collector] of [a, b].entries()) {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));
    await page.goto(`${site.base}/?to=${encodeURIComponent(`${collector.base}/analytics/v1/batch`)}`);
    await page.waitForFunction(() => window.sondeReady === true, null, { timeout: 15_000 });
    assert.deepEqual(errors, []);
    anonymousIds.push(await page.evaluate(() => window.sonde.anonymousId));
    await page.evaluate((i) => { for (let k = 0; k < 10; k++) window.sonde.track('Service Page', { page: i, k }); }, n);
    await page.evaluate(() => window.sonde.flush());
    await page.close();
  }
  // A Segment client retrying the same batch on the other collector.
  const batch = { batch: Array.from({ length: 5 }, (_, i) => ({ type: 'track', event: 'Service Resent', userId: 'r', messageId: `service-resent-${i}`, properties: { i } })) };
  for (const collector of [a, b]) {
    const response = await fetch(`${collector.base}/analytics/v1/batch`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-write-key': WRITE_KEY }, body: JSON.stringify(batch),
    });
    assert.equal(response.status, 200);
  }
  await fetch(`${b.base}/analytics/flush`, { method: 'POST', headers: { 'x-api-key': KEY } });

  const pages = await eventually('both pages', async () => {
    const found = await events('event=Service%20Page&limit=100');
    return found.length >= 20 ? found : null;
  });
  assert.equal(pages.length, 20);
  assert.equal(new Set(pages.map((e) => e.messageId)).size, 20);
  assert.deepEqual(new Set(pages.map((e) => e.anonymousId)), new Set(anonymousIds));
  assert.equal(pages[0].context.library.name, 'sonde-browser');
  assert.equal((await events('event=Service%20Resent&limit=100')).length, 5);

  // Either collector answers for both (they publish every 200 ms).
  for (const collector of [a, b]) {
    let statistics;
    for (let i = 0; i < 100; i++) {
      statistics = await (await fetch(`${collector.base}/analytics/statistics`, { headers: { 'x-api-key': KEY } })).json();
      const { events: seen } = statistics.live;
      if ((seen['Service Page'] ?? 0) >= 20 && (seen['Service Resent'] ?? 0) >= 10 && statistics.instances.length === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(statistics.instances.length, 2);
    assert.equal(statistics.live.events['Service Page'], 20);
    assert.equal(statistics.live.events['Service Resent'], 10, 'each collector counted the batch it received');
  }
});
