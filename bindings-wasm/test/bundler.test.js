// The package through a bundler: esbuild bundles a page script that imports `sonde-browser`
// by its package name (resolved through package.json), the `.wasm` sits next to the bundle
// as bundlers emit assets, and the bundle runs in headless Chromium and delivers an event.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { collectorClient, forwardTo, fulfillFile, launchChromium, startExampleCollector } from './chromium.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgRoot = path.resolve(here, '..');
const ORIGIN = 'http://bundled.sonde.test';
let context;
let out;
let collector;
const { events, eventually } = collectorClient(() => collector.base, 'dev-key');

before(async () => {
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-bundle-'));
  // An app that depends on the package, as a bundler sees it: node_modules/sonde-browser.
  const app = path.join(out, 'app');
  fs.mkdirSync(path.join(app, 'node_modules'), { recursive: true });
  fs.symlinkSync(pkgRoot, path.join(app, 'node_modules', 'sonde-browser'), 'dir');
  fs.writeFileSync(path.join(app, 'main.js'), `
    import Sonde from 'sonde-browser';
    window.bundled = (async () => {
      const sonde = await Sonde.init({ endpoint: '/analytics/v1/batch', writeKey: 'wk', flushIntervalMs: 600000 });
      const id = sonde.track('Bundled Event', { via: 'esbuild' });
      await sonde.flush();
      return id;
    })();
  `);
  await build({
    entryPoints: [path.join(app, 'main.js')],
    bundle: true,
    format: 'esm',
    minify: true,
    outfile: path.join(out, 'dist', 'main.js'),
    preserveSymlinks: false,
    logLevel: 'silent',
  });
  fs.copyFileSync(path.join(pkgRoot, 'pkg', 'sonde_wasm_bg.wasm'), path.join(out, 'dist', 'sonde_wasm_bg.wasm'));
  collector = await startExampleCollector();
  context = await launchChromium();
});

after(async () => {
  await context?.close();
  collector?.stop();
});

test('a bundled page loads the wasm next to its bundle and delivers', async () => {
  const page = await context.newPage();
  const posted = [];
  await page.route(`${ORIGIN}/**`, async (route) => {
    const request = route.request();
    const { pathname, searchParams } = new URL(request.url());
    if (pathname === '/') {
      return route.fulfill({ contentType: 'text/html', body: '<!doctype html><script type="module" src="/dist/main.js"></script>' });
    }
    if (pathname === '/analytics/v1/batch') {
      posted.push({ writeKey: searchParams.get('writeKey') });
      return forwardTo(route, collector.base);
    }
    return fulfillFile(route, path.join(out, pathname));
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${ORIGIN}/`);
  const id = await page.evaluate(() => window.bundled);
  assert.deepEqual(errors, []);
  assert.deepEqual(posted, [{ writeKey: 'wk' }]);
  const [event] = await eventually('the bundled event in the store', async () => {
    const found = await events('event=Bundled%20Event');
    return found.length ? found : null;
  });
  assert.equal(event.messageId, id);
  assert.deepEqual(event.properties, { via: 'esbuild' });
  assert.equal(event.context.library.name, 'sonde-browser');
  await page.close();
});
