// Main-thread cost of `track` in headless Chromium (Debian's, via playwright-core):
// sonde-browser against posthog-js and @segment/analytics-next from npm, in the same page
// setup. Every request is answered locally (page.route), and the route handler counts the
// tracked events each SDK delivers (JSON, gzip or base64 bodies, batched or not). Rounds of
// ROUND calls of a 6-property event, after a warm-up round; per round:
//   - per call: the track() loop alone, timed in the page with performance.now();
//   - until delivered: from the round's start until the handler counted all ROUND events
//     (Sonde's flush() asks for delivery; the others deliver on their own schedule), as wall
//     time and as main-thread busy time (CDP Performance.getMetrics TaskDuration), per event.
// The median round of ROUNDS. Then the page-load cost: in LOADS fresh pages, each SDK's
// loading snippet followed at once by one track() call, timed from the snippet's start:
// until that call has returned (a page can track: Sonde queues calls made before its module
// is ready and replays them), and until the SDK is fully loaded (Sonde: `ready`, the .wasm
// fetched, compiled while it streams in and instantiated); the early event must arrive.
// `make bench-browser` runs it after the size comparison.
//
//   node bench/track.mjs

import fs from 'node:fs';
import zlib from 'node:zlib';
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
const LOADS = 7;

const files = {
  '/posthog.js': path.join(path.dirname(require.resolve('posthog-js/package.json')), 'dist', 'module.js'),
  '/segment.js': path.join(path.dirname(require.resolve('@segment/analytics-next/package.json')), 'dist', 'umd', 'index.js'),
};

const props = { plan: 'pro', seats: 3, trial: false, source: 'pricing-page', price: 49.5, tags: ['a', 'b'] };

// Tracked events in one request body, whatever the SDK's encoding.
function eventsIn(request) {
  let body = request.postDataBuffer();
  if (!body || body.length === 0) return 0;
  if (body[0] === 0x1f && body[1] === 0x8b) body = zlib.gunzipSync(body);
  let text = body.toString('utf8');
  if (text.startsWith('data=')) text = Buffer.from(decodeURIComponent(text.slice(5)), 'base64').toString('utf8');
  let parsed;
  try { parsed = JSON.parse(text); } catch { return 0; }
  const items = Array.isArray(parsed) ? parsed : Array.isArray(parsed.batch) ? parsed.batch : [parsed];
  return items.filter((item) => item && item.event === 'Button Clicked').length;
}

async function measure(page, cdp, setup, delivered) {
  await page.evaluate(async ({ setup, props }) => {
    // eslint-disable-next-line no-new-func
    window.benchClient = await new Function(`return (async () => { ${setup} })();`)();
    window.benchProps = props;
  }, { setup, props });
  const busySeconds = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value;
  const untilDelivered = async (target) => {
    const deadline = Date.now() + 60_000;
    while (delivered() < target) {
      if (Date.now() > deadline) throw new Error(`${delivered()} of ${target} events delivered`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const round = () => page.evaluate(async (ROUND) => {
    const start = performance.now();
    for (let i = 0; i < ROUND; i++) window.benchClient.track('Button Clicked', window.benchProps);
    const perCall = ((performance.now() - start) * 1000) / ROUND;
    await window.benchClient.flush();
    return perCall;
  }, ROUND);
  await round(); // warm-up
  await untilDelivered(ROUND);
  const rounds = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const busy = await busySeconds();
    const started = process.hrtime.bigint();
    const perCall = await round();
    await untilDelivered((r + 1) * ROUND);
    const wall = Number(process.hrtime.bigint() - started) / 1000 / ROUND;
    rounds.push({ perCall, wall, busy: ((await busySeconds()) - busy) * 1e6 / ROUND });
  }
  const median = (key) => rounds.map((x) => x[key]).sort((a, b) => a - b)[Math.floor(rounds.length / 2)];
  const perCalls = rounds.map((x) => x.perCall).sort((a, b) => a - b);
  return { perCall: median('perCall'), min: perCalls[0], max: perCalls.at(-1), wall: median('wall'), busy: median('busy'), delivered: delivered() };
}

const sdks = {
  'sonde-browser': `
    const { Sonde } = await import('/sonde-browser/js/sonde.js');
    const s = await Sonde.init({ endpoint: '/v1/batch', batchSize: 100, flushIntervalMs: 600000 });
    return { track: (e, p) => s.track(e, p), flush: () => s.flush() };`,
  'posthog-js': `
    const { default: posthog } = await import('/posthog.js');
    posthog.init('phc_bench', { api_host: location.origin, autocapture: false, capture_pageview: false,
      capture_pageleave: false, disable_session_recording: true, persistence: 'memory',
      advanced_disable_flags: true, disable_surveys: true,
      opt_out_useragent_filter: true, /* headless Chromium looks like a bot: posthog-js would drop every event */
      rate_limiting: { events_per_second: 1e6, events_burst_limit: 1e6 } /* its default (10/s, burst 100) drops the rest of a round */ });
    return { track: (e, p) => posthog.capture(e, p), flush: async () => {} }; /* delivers on its own timer */`,
  '@segment/analytics-next': `
    await new Promise((resolve, reject) => {
      const tag = document.createElement('script');
      tag.src = '/segment.js'; tag.onload = resolve; tag.onerror = reject;
      document.head.append(tag);
    });
    const [analytics] = await window.AnalyticsNext.AnalyticsBrowser.load(
      { writeKey: 'wk_bench', cdnSettings: { integrations: { 'Segment.io': { apiKey: 'wk_bench', apiHost: location.host + '/v1' } } } },
      { initialPageview: false });
    return { track: (e, p) => { analytics.track(e, p); }, flush: async () => {} }; /* sends as it tracks */`,
};

// Each returns { usable, ready } in ms from its start; `props` is the page's event.
const loaders = {
  'sonde-browser': `
    const t0 = performance.now();
    const { Sonde } = await import('/sonde-browser/js/sonde.js');
    const s = Sonde.load({ endpoint: '/v1/batch', flushIntervalMs: 600000 });
    s.track('Button Clicked', props);
    const usable = performance.now() - t0;
    await s.ready;
    const ready = performance.now() - t0;
    await s.flush();
    return { usable, ready };`,
  'posthog-js': `
    const t0 = performance.now();
    const { default: posthog } = await import('/posthog.js');
    posthog.init('phc_bench', { api_host: location.origin, autocapture: false, capture_pageview: false,
      capture_pageleave: false, disable_session_recording: true, persistence: 'memory',
      advanced_disable_flags: true, disable_surveys: true, opt_out_useragent_filter: true,
      request_batching: false });
    posthog.capture('Button Clicked', props);
    const usable = performance.now() - t0;
    return { usable, ready: usable };`,
  '@segment/analytics-next': `
    const t0 = performance.now();
    await new Promise((resolve, reject) => {
      const tag = document.createElement('script');
      tag.src = '/segment.js'; tag.onload = resolve; tag.onerror = reject;
      document.head.append(tag);
    });
    const analytics = window.AnalyticsNext.AnalyticsBrowser.load(
      { writeKey: 'wk_bench', cdnSettings: { integrations: { 'Segment.io': { apiKey: 'wk_bench', apiHost: location.host + '/v1' } } } },
      { initialPageview: false });
    analytics.track('Button Clicked', props);
    const usable = performance.now() - t0;
    await analytics;
    const ready = performance.now() - t0;
    return { usable, ready };`,
};

/** Serves the page, the SDKs and a collector that counts `Button Clicked` events. */
async function servedPage(context) {
  const page = await context.newPage();
  const state = { delivered: 0 };
  await page.route('**/*', (route) => {
    const request = route.request();
    const url = new URL(request.url());
    if (request.method() === 'POST') state.delivered += eventsIn(request);
    if (url.origin !== ORIGIN) return route.fulfill({ status: 200, contentType: 'application/json', body: '{}' });
    if (url.pathname === '/') return route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>bench</title>' });
    const file = files[url.pathname]
      ?? (url.pathname.startsWith('/sonde-browser/') ? path.join(pkgRoot, url.pathname.slice('/sonde-browser/'.length)) : null);
    if (file && fs.existsSync(file)) return fulfillFile(route, file);
    return route.fulfill({ status: 200, contentType: 'application/json', body: '{"success":true}' });
  });
  await page.goto(`${ORIGIN}/`);
  return { page, state };
}

async function loadTimes(context, loader) {
  const runs = [];
  for (let i = 0; i < LOADS; i++) {
    const { page, state } = await servedPage(context);
    try {
      const times = await page.evaluate(async ({ loader, props }) =>
        // eslint-disable-next-line no-new-func
        new Function('props', `return (async () => { ${loader} })();`)(props), { loader, props });
      const deadline = Date.now() + 10_000;
      while (state.delivered < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      runs.push({ ...times, delivered: state.delivered });
    } finally {
      await page.close();
    }
  }
  const median = (key) => runs.map((x) => x[key]).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
  return { first: runs[0], usable: median('usable'), ready: median('ready'), delivered: runs.every((r) => r.delivered >= 1) };
}

const context = await launchChromium();
const results = {};
const loads = {};
try {
  for (const [name, setup] of Object.entries(sdks)) {
    const { page, state } = await servedPage(context);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    try {
      results[name] = await measure(page, cdp, setup, () => state.delivered);
    } catch (error) {
      results[name] = { error: String(error.message || error).split('\n')[0] };
    }
    await page.close();
  }
  for (const [name, loader] of Object.entries(loaders)) {
    try {
      loads[name] = await loadTimes(context, loader);
    } catch (error) {
      loads[name] = { error: String(error.message || error).split('\n')[0] };
    }
  }
} finally {
  await context.close();
}

const versions = Object.fromEntries(['posthog-js', '@segment/analytics-next']
  .map((name) => [name, require(`${name}/package.json`).version]));
console.log(`versions: ${JSON.stringify(versions)}; ${ROUNDS} rounds of ${ROUND} calls`);
console.log('| SDK | track, µs per call (median round) | fastest round | slowest round | until delivered, wall µs per event | until delivered, main-thread busy µs per event |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const [name, r] of Object.entries(results)) {
  if (r.error) console.log(`| ${name} | failed: ${r.error} | | | | |`);
  else console.log(`| ${name} | ${r.perCall.toFixed(2)} | ${r.min.toFixed(2)} | ${r.max.toFixed(2)} | ${r.wall.toFixed(2)} | ${r.busy.toFixed(2)} |`);
}

console.log(`\npage load, ${LOADS} fresh pages each (ms from the snippet's start; the first page, then the median):`);
console.log('| SDK | first track() returned | loaded (ready) | first page: returned / loaded | the early event delivered |');
console.log('| --- | ---: | ---: | ---: | --- |');
for (const [name, r] of Object.entries(loads)) {
  if (r.error) console.log(`| ${name} | failed: ${r.error} | | | |`);
  else console.log(`| ${name} | ${r.usable.toFixed(2)} | ${r.ready.toFixed(2)} | ${r.first.usable.toFixed(2)} / ${r.first.ready.toFixed(2)} | ${r.delivered ? 'yes, every page' : 'NO'} |`);
}
