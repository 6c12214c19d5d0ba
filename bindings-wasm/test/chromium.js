// Debian's Chromium driven by playwright-core (never a downloaded browser), headless with
// a fresh profile: the one launch every browser test uses.

import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CONTENT_TYPES = { '.wasm': 'application/wasm', '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript' };

/** Answers an intercepted request with a file from disk, typed so the page accepts it
 * (`application/wasm` lets the wasm-bindgen glue stream-compile the module). */
export function fulfillFile(route, file) {
  return route.fulfill({ path: file, contentType: CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream' });
}

export async function launchChromium() {
  const executablePath = execFileSync('sh', ['-c', 'command -v chromium']).toString().trim();
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-chromium-'));
  return chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Reads a collector's stored events with its admin key, flushing it while it waits. */
export function collectorClient(base, key) {
  const headers = { 'X-API-Key': key };
  async function events(query) {
    const response = await fetch(`${base()}/analytics/events?${query}`, { headers });
    if (response.status !== 200) throw new Error(`GET /analytics/events answered ${response.status}`);
    return (await response.json()).events;
  }
  /** `check()` until it returns something, flushing the collector between tries (15 s at most). */
  async function eventually(what, check) {
    const deadline = Date.now() + 15_000;
    for (;;) {
      await fetch(`${base()}/analytics/flush`, { method: 'POST', headers });
      const found = await check();
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { events, eventually };
}

const freePort = () => new Promise((resolve) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

/** The FastAPI example app (examples/fastapi_app) on 127.0.0.1 with a fresh store (and
 * `options` added to its client): the real collector the browser tests deliver to. Returns
 * its `base` URL, admin `key` and `stop()`. */
export async function startExampleCollector(key = 'dev-key', options = {}) {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-collector-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(path.join(root, '.venv', 'bin', 'uvicorn'), ['app:app', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warning'], {
    cwd: path.join(root, 'examples', 'fastapi_app'),
    env: { ...process.env, SONDE_STORE: path.join(tmp, 'collector.db'), SONDE_API_KEY: key, SHOP_SONDE_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/analytics/health`)).ok) break;
    } catch { /* not yet */ }
    if (i >= 150 || server.exitCode !== null) {
      server.kill('SIGTERM');
      throw new Error('the example app did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, key, stop: () => server.kill('SIGTERM') };
}

/** Answers an intercepted collector request by passing it on to the real collector at `base`. */
export async function forwardTo(route, base) {
  const { pathname, search } = new URL(route.request().url());
  const response = await route.fetch({ url: `${base}${pathname}${search}` });
  return route.fulfill({ response });
}
