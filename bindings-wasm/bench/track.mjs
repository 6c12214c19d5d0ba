// Main-thread cost of one `track` call in headless Chromium (Debian's, via playwright-core):
// sonde-browser against posthog-js and @segment/analytics-next from npm, in the same page
// setup. Every request the SDKs make is answered locally (page.route), so only the call
// is measured: rounds of ROUND calls of a 6-property event timed with performance.now(),
// after a warm-up, with each SDK's own flush (untimed) between rounds; the median round.
// `make bench-browser` runs it after the size comparison.
//
//   node bench/track.mjs

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { fulfillFile, launchChromium } from '../test/chromium.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgRoot = path.resolve(here, '..');
const require = createRequire(import.meta.url);
const ORIGIN = 'http://bench.sonde.test';
const ROUND = Number(process.env.ROUND || 2000);
const ROUNDS = 9;

const files = {
  '/posthog.js': path.join(path.dirname(require.resolve('posthog-js/package.json')), 'dist', 'module.js'),
  '/segment.js': path.join(path.dirname(require.resolve('@segment/analytics-next/package.json')), 'dist', 'umd', 'index.js'),
};

async function measure(page, setup) {
  return page.evaluate(async ({ setup, ROUND, ROUNDS }) => {
    const props = { plan: 'pro', seats: 3, trial: false, source: 'pricing-page', price: 49.5, tags: ['a', 'b'] };
    // eslint-disable-next-line no-new-func
    const client = await new Function(`return (async () => { ${setup} })();`)();
    const perCall = [];
    for (let warm = 0; warm < ROUND; warm++) client.track('Button Clicked', props);
    await client.flush();
    for (let r = 0; r < ROUNDS; r++) {
      const start = performance.now();
      for (let i = 0; i < ROUND; i++) client.track('Button Clicked', props);
      perCall.push(((performance.now() - start) * 1000) / ROUND);
      await client.flush();
    }
    perCall.sort((a, b) => a - b);
    return { median_us: perCall[Math.floor(perCall.length / 2)], min_us: perCall[0], max_us: perCall[perCall.length - 1] };
  }, { setup, ROUND, ROUNDS });
}

const sdks = {
  'sonde-browser': `
    const { Sonde } = await import('/sonde-browser/js/sonde.js');
    const s = await Sonde.init({ endpoint: '/v1/batch', flushAt: 100, flushIntervalMs: 600000 });
    return { track: (e, p) => s.track(e, p), flush: () => s.flush() };`,
  'posthog-js': `
    const { default: posthog } = await import('/posthog.js');
    posthog.init('phc_bench', { api_host: location.origin, autocapture: false, capture_pageview: false,
      capture_pageleave: false, disable_session_recording: true, persistence: 'memory',
      advanced_disable_flags: true, disable_surveys: true });
    return { track: (e, p) => posthog.capture(e, p), flush: async () => {} };`,
  '@segment/analytics-next': `
    await new Promise((resolve, reject) => {
      const tag = document.createElement('script');
      tag.src = '/segment.js'; tag.onload = resolve; tag.onerror = reject;
      document.head.append(tag);
    });
    const [analytics] = await window.AnalyticsNext.AnalyticsBrowser.load(
      { writeKey: 'wk_bench', cdnSettings: { integrations: { 'Segment.io': { apiKey: 'wk_bench', apiHost: location.host + '/v1' } } } },
      { initialPageview: false });
    return { track: (e, p) => { analytics.track(e, p); }, flush: () => new Promise((r) => setTimeout(r, 50)) };`,
};

const context = await launchChromium();
const results = {};
try {
  for (const [name, setup] of Object.entries(sdks)) {
    const page = await context.newPage();
    await page.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.origin !== ORIGIN) return route.fulfill({ status: 200, contentType: 'application/json', body: '{}' });
      if (url.pathname === '/') return route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>bench</title>' });
      const file = files[url.pathname]
        ?? (url.pathname.startsWith('/sonde-browser/') ? path.join(pkgRoot, url.pathname.slice('/sonde-browser/'.length)) : null);
      if (file && fs.existsSync(file)) return fulfillFile(route, file);
      return route.fulfill({ status: 200, contentType: 'application/json', body: '{"success":true}' });
    });
    await page.goto(`${ORIGIN}/`);
    try {
      results[name] = await measure(page, setup);
    } catch (error) {
      results[name] = { error: String(error.message || error).split('\n')[0] };
    }
    await page.close();
  }
} finally {
  await context.close();
}

const versions = Object.fromEntries(['posthog-js', '@segment/analytics-next']
  .map((name) => [name, require(`${name}/package.json`).version]));
console.log(`versions: ${JSON.stringify(versions)}; ${ROUNDS} rounds of ${ROUND} calls`);
console.log('| SDK | track, µs per call (median round) | fastest round | slowest round |\n| --- | ---: | ---: | ---: |');
for (const [name, r] of Object.entries(results)) {
  if (r.error) console.log(`| ${name} | failed: ${r.error} | | |`);
  else console.log(`| ${name} | ${r.median_us.toFixed(2)} | ${r.min_us.toFixed(2)} | ${r.max_us.toFixed(2)} |`);
}
