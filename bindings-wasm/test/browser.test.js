// The browser package in real headless Chromium (Debian's, driven by playwright-core),
// served by the FastAPI example app on 127.0.0.1: events tracked and clicked in the page
// land in the store; an event tracked right before the page closes still arrives
// (sendBeacon); a tracking-plan violation is refused in the page with the core's code.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { collectorClient, launchChromium, startExampleCollector } from './chromium.js';

const KEY = 'dev-key';
let collector;
let base;
let context;

const { events, eventually } = collectorClient(() => base, KEY);

before(async () => {
  collector = await startExampleCollector(KEY);
  base = collector.base;
  context = await launchChromium();
});

after(async () => {
  await context?.close();
  collector?.stop();
});

async function openDemo() {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${base}/demo/`);
  await page.waitForFunction(() => window.sondeReady === true, null, { timeout: 15_000 });
  assert.deepEqual(errors, []);
  return page;
}

test('tracked and clicked events arrive in the store', async () => {
  const page = await openDemo();
  const anonymousId = await page.evaluate(() => window.sonde.anonymousId);
  await page.evaluate(() => window.sonde.track('Browser Test', { n: 1, nested: { ok: true } }));
  await page.click('button[data-track="buy"]');
  await page.evaluate(() => window.sonde.flush());
  const tracked = await eventually('the tracked event', async () => (await events('event=Browser%20Test'))[0]);
  assert.deepEqual(tracked.properties, { n: 1, nested: { ok: true } });
  assert.equal(tracked.anonymousId, anonymousId);
  assert.equal(tracked.context.library.name, 'sonde-browser');
  assert.ok(tracked.sessionId && tracked.receivedAt);
  const clicks = await eventually('the click', async () => {
    const found = (await events('event=%24interaction')).filter((e) => e.properties.target === 'buy');
    return found.length ? found : null;
  });
  assert.equal(clicks[0].properties.action, 'click');
  const pages = await events('type=page');
  assert.ok(pages.some((e) => e.name === 'Sonde browser demo' && e.properties.path === '/demo/'));
  await page.close();
});

test('an event tracked as the page closes still arrives (sendBeacon)', async () => {
  const page = await openDemo();
  await page.evaluate(() => window.sonde.track('Tracked Before Close', { last: true }));
  await page.close({ runBeforeUnload: true });
  const found = await eventually('the beaconed event', async () => (await events('event=Tracked%20Before%20Close'))[0]);
  assert.equal(found.properties.last, true);
});

test('a tracking-plan violation is refused in the page with the core code', async () => {
  const page = await openDemo();
  const refused = await page.evaluate(() => {
    try {
      window.sonde.track('Plan Chosen', { plan: 'platinum' });
      return null;
    } catch (e) {
      return { isError: e instanceof Error, name: e.name, code: e.code, violations: e.violations };
    }
  });
  assert.equal(refused.isError, true);
  assert.equal(refused.name, 'SondeError');
  assert.equal(refused.code, 'invalid_event');
  assert.deepEqual(refused.violations.map((v) => [v.path, v.code]), [['/properties/plan', 'enum']]);
  await page.close();
});

test('NaN and Infinity are refused in the page at their paths, not sent as null', async () => {
  const page = await openDemo();
  const refused = await page.evaluate(() => {
    const attempt = (call) => {
      try {
        call();
        return null;
      } catch (e) {
        return { name: e.name, code: e.code, violations: e.violations.map((v) => [v.path, v.code]) };
      }
    };
    return [
      attempt(() => window.sonde.track('Priced', { price: NaN, list: [1, -Infinity], fine: null })),
      attempt(() => window.sonde.identify('u1', { score: Infinity })),
      attempt(() => window.sonde.page('Home', {}, { context: { screen: { density: NaN } } })),
    ];
  });
  assert.deepEqual(refused, [
    { name: 'SondeError', code: 'invalid_event', violations: [['/properties/price', 'invalid_type'], ['/properties/list/1', 'invalid_type']] },
    { name: 'SondeError', code: 'invalid_event', violations: [['/traits/score', 'invalid_type']] },
    { name: 'SondeError', code: 'invalid_event', violations: [['/context/screen/density', 'invalid_type']] },
  ]);
  await page.close();
});

test('collector down: events wait in the page queue and arrive once after a reload', async () => {
  const page = await openDemo();
  await page.evaluate(async () => {
    const { Sonde } = await import('/sonde-browser/js/sonde.js');
    // A collector that is down: nothing listens on port 9 (discard) here.
    const down = await Sonde.init({ endpoint: 'http://127.0.0.1:9/analytics/v1/batch', flushIntervalMs: 600_000 });
    down.track('Queued While Down', { attempt: 1 });
    await down.flush();
  });
  const queued = await page.evaluate(() => JSON.parse(localStorage.getItem('sonde.queue') || '[]').length);
  assert.ok(queued >= 1, 'the failed batch is kept in the page');
  const transport = await page.evaluate(() => window.sonde.stats().transport);
  assert.equal(transport.queued_batches, queued);
  assert.deepEqual(await events('event=Queued%20While%20Down'), []);
  await page.reload();
  await page.waitForFunction(() => window.sondeReady === true, null, { timeout: 15_000 });
  await eventually('the queued event', async () => (await events('event=Queued%20While%20Down'))[0]);
  await page.reload(); // a second load must not send it again
  await page.waitForFunction(() => window.sondeReady === true, null, { timeout: 15_000 });
  // A marker sent after the load's queue check: once it is stored, a resend would be too.
  await page.evaluate(async () => { window.sonde.track('After Second Load'); await window.sonde.flush(); });
  await eventually('the marker', async () => (await events('event=After%20Second%20Load'))[0]);
  assert.equal((await events('event=Queued%20While%20Down')).length, 1);
  assert.equal(await page.evaluate(() => JSON.parse(localStorage.getItem('sonde.queue') || '[]').length), 0);
  await page.close();
});

test('a batch that already failed stays queued when the page hides (its beacon may be lost too)', async () => {
  const page = await openDemo();
  const kept = await page.evaluate(async () => {
    const { Sonde } = await import('/sonde-browser/js/sonde.js');
    const down = await Sonde.init({
      endpoint: 'http://127.0.0.1:9/analytics/v1/batch', flushIntervalMs: 600_000, retryInitialBackoffMs: 40, retryMaxBackoffMs: 40,
    });
    down.track('Failed Then Hidden');
    await down.flush(); // the first attempt fails; the core retries it after at most 40 ms
    // Hold the page past the retry's due time so no timer runs first, then hide it: the
    // beacon takes the due batch, and sendBeacon's `true` only means the browser queued it.
    for (const until = performance.now() + 150; performance.now() < until;);
    window.dispatchEvent(new Event('pagehide'));
    const queue = JSON.parse(localStorage.getItem('sonde.queue') || '[]');
    localStorage.removeItem('sonde.queue'); // nothing for the next tests' pages to resend
    return queue.filter((payload) => payload.includes('Failed Then Hidden')).length;
  });
  assert.equal(kept, 1);
  await page.close();
});

test('two tabs loading at once send the offline queue once (one tab holds the resend lock)', async () => {
  const seed = await openDemo();
  await seed.evaluate(() => {
    const now = new Date().toISOString();
    const payload = (i) => JSON.stringify({
      batch: [{ type: 'track', event: 'Queued For Tabs', messageId: `tabs-${i}`, anonymousId: 'a', timestamp: now, properties: { i } }],
      sentAt: now,
    });
    localStorage.setItem('sonde.queue', JSON.stringify([0, 1, 2, 3, 4].map(payload)));
  });
  await seed.close();
  const sent = new Map(); // messageId -> how many times a tab posted it
  const tabs = await Promise.all([context.newPage(), context.newPage()]);
  for (const tab of tabs) {
    await tab.route('**/analytics/v1/batch*', async (route) => {
      let body = route.request().postDataBuffer();
      if (route.request().headers()['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
      for (const e of JSON.parse(body.toString()).batch) sent.set(e.messageId, (sent.get(e.messageId) ?? 0) + 1);
      await route.continue();
    });
  }
  await Promise.all(tabs.map((tab) => tab.goto(`${base}/demo/`)));
  await Promise.all(tabs.map((tab) => tab.waitForFunction(() => window.sondeReady === true, null, { timeout: 15_000 })));
  await eventually('the queued events', async () => ((await events('event=Queued%20For%20Tabs&limit=100')).length === 5 ? true : null));
  await tabs[0].waitForFunction(() => JSON.parse(localStorage.getItem('sonde.queue') || '[]').length === 0, null, { timeout: 15_000 });
  // Both tabs have loaded and the queue is empty: whoever did not hold the lock sent nothing.
  await Promise.all(tabs.map((tab) => tab.evaluate(() => window.sonde.flush())));
  const queued = [...sent].filter(([id]) => id.startsWith('tabs-'));
  assert.deepEqual(queued.map(([, n]) => n), [1, 1, 1, 1, 1], JSON.stringify(queued));
  await Promise.all(tabs.map((tab) => tab.close()));
});

test('a 503 with Retry-After is retried in the page after the delay', async () => {
  const page = await openDemo();
  const calls = [];
  await page.route('**/analytics/v1/batch*', async (route) => {
    calls.push(Date.now());
    if (calls.length === 1) {
      await route.fulfill({ status: 503, headers: { 'retry-after': '1' }, body: 'busy' });
    } else {
      await route.continue();
    }
  });
  await page.evaluate(async () => {
    window.sonde.track('Retried After 503', { n: 1 });
    await window.sonde.flush();
  });
  const found = await eventually('the retried event', async () => (await events('event=Retried%20After%20503'))[0]);
  assert.equal(found.properties.n, 1);
  assert.ok(calls.length >= 2 && calls[1] - calls[0] >= 900, `retried after the server's delay: ${calls}`);
  await page.close();
});

test('autocapture: history API page views, and page performance when the page is hidden', async () => {
  const page = await openDemo();
  // Tokens ride in query strings and fragments: page views keep only allowed parameters.
  await page.evaluate(() => history.pushState({}, '', '/demo/checkout?step=2&utm_source=news&reset_token=s3cr3t#access_token=x'));
  await page.evaluate(async () => {
    const { Sonde } = await import('/sonde-browser/js/sonde.js');
    const all = await Sonde.init({ keepQueryParams: true, flushIntervalMs: 600_000 });
    all.page('Every Parameter Kept');
    await all.flush();
    await window.sonde.flush();
  });
  const views = await eventually('the history page view', async () => {
    const found = (await events('type=page&limit=100')).filter((e) => e.properties.path === '/demo/checkout');
    return found.length >= 2 ? found : null;
  });
  const byName = Object.fromEntries(views.map((v) => [v.name ?? '', v.properties.url]));
  assert.ok(Object.values(byName).some((url) => url.endsWith('/demo/checkout?utm_source=news')), JSON.stringify(byName));
  assert.ok(!JSON.stringify(views.filter((v) => v.name !== 'Every Parameter Kept')).includes('s3cr3t'));
  assert.ok(byName['Every Parameter Kept'].endsWith('?step=2&utm_source=news&reset_token=s3cr3t'), 'keepQueryParams: true keeps the query (never the fragment)');
  await page.close({ runBeforeUnload: true });
  const navigation = await eventually('the navigation timing', async () => {
    const found = (await events('event=%24performance&limit=100'))
      .filter((e) => e.properties.operation === 'web.navigation' && e.properties.path === '/demo/checkout');
    return found.length ? found : null;
  });
  // A real navigation takes time; its first byte comes within it.
  const { duration_ms: duration, ttfb_ms: ttfb } = navigation[0].properties;
  assert.ok(duration > 0 && ttfb > 0 && ttfb <= duration, `ttfb ${ttfb} ms of ${duration} ms`);
});

test('large batches go out gzipped (CompressionStream) and arrive whole', async () => {
  const page = await openDemo();
  const encodings = [];
  page.on('request', (request) => {
    if (request.url().includes('/analytics/v1/batch')) encodings.push(request.headers()['content-encoding'] ?? 'none');
  });
  const text = 'compressible '.repeat(200);
  await page.evaluate(async (body) => {
    for (let i = 0; i < 5; i++) window.sonde.track('Gzipped Event', { i, body });
    await window.sonde.flush();
  }, text);
  const found = await eventually('the gzipped events', async () => {
    const all = await events('event=Gzipped%20Event&limit=100');
    return all.length === 5 ? all : null;
  });
  assert.deepEqual(found.map((e) => e.properties.i).sort(), [0, 1, 2, 3, 4]);
  assert.equal(found[0].properties.body, text);
  assert.ok(encodings.includes('gzip'), `a batch was sent gzipped: ${encodings}`);
  await page.close();
});

test('reset() forgets the user: new anonymous id, no user id, a new session', async () => {
  const page = await openDemo();
  const before = await page.evaluate(() => {
    window.sonde.identify('user-reset', { plan: 'pro' });
    window.sonde.track('Before Reset');
    return { anonymousId: window.sonde.anonymousId, sessionId: window.sonde.sessionId };
  });
  const after = await page.evaluate(async () => {
    window.sonde.reset();
    window.sonde.track('After Reset');
    await window.sonde.flush();
    return { anonymousId: window.sonde.anonymousId, sessionId: window.sonde.sessionId, userId: window.sonde.userId };
  });
  assert.notEqual(after.anonymousId, before.anonymousId);
  assert.notEqual(after.sessionId, before.sessionId);
  assert.equal(after.userId, null);
  const [old] = await eventually('the event before reset', async () => (await events('event=Before%20Reset'))[0] && events('event=Before%20Reset'));
  assert.equal(old.userId, 'user-reset');
  assert.equal(old.anonymousId, before.anonymousId);
  const [fresh] = await eventually('the event after reset', async () => (await events('event=After%20Reset'))[0] && events('event=After%20Reset'));
  assert.equal(fresh.userId ?? null, null);
  assert.equal(fresh.anonymousId, after.anonymousId);
  assert.equal(fresh.sessionId, after.sessionId);
  // A reload keeps the new identity.
  await page.reload();
  await page.waitForFunction(() => window.sondeReady === true, null, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => window.sonde.anonymousId), after.anonymousId);
  assert.equal(await page.evaluate(() => window.sonde.userId), null);
  await page.close();
});

test('optOut() stops tracking, across reloads, until optIn()', async () => {
  const page = await openDemo();
  const ids = await page.evaluate(async () => {
    window.sonde.optOut();
    const out = [window.sonde.track('While Opted Out'), window.sonde.identify('nobody'), window.sonde.trackInteraction('click', 'x')];
    await window.sonde.flush();
    return out;
  });
  assert.deepEqual(ids, [null, null, null]);
  await page.reload();
  await page.waitForFunction(() => window.sondeReady === true, null, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => window.sonde.optedOut), true);
  assert.equal(await page.evaluate(() => window.sonde.track('Still Opted Out')), null);
  const id = await page.evaluate(async () => {
    window.sonde.optIn();
    const tracked = window.sonde.track('Opted In Again');
    await window.sonde.flush();
    return tracked;
  });
  const [event] = await eventually('the event after optIn', async () => (await events('event=Opted%20In%20Again'))[0] && events('event=Opted%20In%20Again'));
  assert.equal(event.messageId, id);
  assert.deepEqual(await events('event=While%20Opted%20Out'), []);
  assert.deepEqual(await events('event=Still%20Opted%20Out'), []);
  assert.ok((await events('type=identify&limit=100')).every((e) => e.userId !== 'nobody'));
  await page.close();
});

test('transport statistics: a refused batch is counted and not retried; the queue cap drops the oldest', async () => {
  const page = await openDemo();
  let posts = 0;
  await page.route('**/analytics/v1/batch*', (route) => {
    // Only this test's batch: other tabs' leftovers in the shared offline queue may be sent too.
    const raw = route.request().postDataBuffer() ?? Buffer.alloc(0);
    const text = route.request().headers()['content-encoding'] === 'gzip' ? zlib.gunzipSync(raw).toString() : raw.toString();
    if (text.includes('Refused By Collector')) posts += 1;
    return route.fulfill({ status: 400, contentType: 'application/json', body: '{"detail":"no"}' });
  });
  const refused = await page.evaluate(async () => {
    localStorage.setItem('sonde.queue', '[]');
    window.sonde.track('Refused By Collector');
    await window.sonde.flush();
    return window.sonde.stats().transport;
  });
  assert.equal(refused.refused_batches, 1);
  assert.equal(posts, 1);
  await page.unroute('**/analytics/v1/batch*');
  const capped = await page.evaluate(async () => {
    const { Sonde } = await import('/sonde-browser/js/sonde.js');
    localStorage.setItem('sonde.queue', '[]');
    // No retries in the page: each batch fails once and goes to the offline queue (a batch
    // waiting for its retry holds the later ones back, to keep their order).
    const down = await Sonde.init({ endpoint: 'http://127.0.0.1:9/analytics/v1/batch', batchSize: 1, maxQueuedBatches: 2, flushIntervalMs: 600_000, maxRetries: 0 });
    for (let i = 0; i < 4; i++) down.track('Capped', { i });
    await down.flush();
    const stats = down.stats().transport;
    await down.shutdown();
    localStorage.setItem('sonde.queue', '[]');
    return stats;
  });
  assert.equal(capped.queued_batches, 2, JSON.stringify(capped));
  assert.equal(capped.queue_dropped_batches, 2);
  // Each of the four batches failed once; a resend of the offline queue that flush() may
  // start (depending on whether a failure was queued before it) fails too and is counted.
  assert.ok(capped.failed_attempts >= 4 && capped.failed_attempts <= 6, JSON.stringify(capped));
  await page.close();
});

test('retries follow the page\'s retry options, through the core; a batch out of retries waits in the offline queue', async () => {
  const page = await openDemo();
  const outcome = await page.evaluate(async () => {
    const { Sonde } = await import('/sonde-browser/js/sonde.js');
    localStorage.setItem('sonde.queue', '[]');
    const down = await Sonde.init({
      endpoint: 'http://127.0.0.1:9/analytics/v1/batch', batchSize: 1, flushIntervalMs: 600_000,
      maxRetries: 2, retryInitialBackoffMs: 20, retryMaxBackoffMs: 40,
    });
    down.track('Given Up');
    await down.flush();
    const deadline = Date.now() + 10_000;
    while (down.stats().counters.dropped.retry_exhausted < 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const stats = down.stats();
    await down.shutdown();
    const queue = JSON.parse(localStorage.getItem('sonde.queue') || '[]');
    localStorage.setItem('sonde.queue', '[]');
    return { counters: stats.counters, transport: stats.transport, queued: queue.map((p) => JSON.parse(p).batch.map((e) => e.event)) };
  });
  // One attempt and exactly the two retries asked for, then the core gave up.
  assert.equal(outcome.transport.failed_attempts, 3);
  assert.equal(outcome.counters.retries, 2);
  assert.equal(outcome.counters.dropped.retry_exhausted, 1);
  assert.equal(outcome.counters.delivered, 0, 'a failed batch is not counted as delivered');
  assert.deepEqual(outcome.queued, [['Given Up']]);
  await page.close();
});

test('sessions: kept while active, renewed after the idle timeout, shared through storage', async () => {
  // The page's clock is driven by the test (Playwright's clock), so the timeout is crossed
  // exactly: 299 ms idle keeps the session, 301 ms renews it, whatever the machine's load.
  const page = await context.newPage();
  await page.clock.install();
  await page.goto(`${base}/demo/`);
  await page.waitForFunction(() => window.sondeReady === true, null, { timeout: 15_000 });
  await page.clock.pauseAt(Date.now() + 60_000);
  await page.evaluate(async () => {
    const { Sonde } = await import('/sonde-browser/js/sonde.js');
    localStorage.removeItem('sonde.session');
    const options = { endpoint: 'http://127.0.0.1:9/analytics/v1/batch', sessionTimeoutMs: 300, flushIntervalMs: 600_000 };
    window.sessionA = await Sonde.init(options);
    window.first = window.sessionA.sessionId;
    window.sessionOptions = options;
  });
  await page.clock.runFor(299);
  const active = await page.evaluate(() => window.sessionA.sessionId); // activity within the timeout keeps it
  // Another client on the page (as another tab would) finds the session in storage.
  const shared = await page.evaluate(async () => {
    const { Sonde } = await import('/sonde-browser/js/sonde.js');
    window.sessionB = await Sonde.init(window.sessionOptions);
    return window.sessionB.sessionId;
  });
  await page.clock.runFor(301);
  const renewed = await page.evaluate(() => window.sessionA.sessionId);
  const first = await page.evaluate(() => window.first);
  await page.evaluate(async () => {
    await window.sessionA.shutdown();
    await window.sessionB.shutdown();
    localStorage.setItem('sonde.queue', '[]');
  });
  const ids = { first, active, shared, renewed };
  assert.equal(ids.active, ids.first);
  assert.equal(ids.shared, ids.first);
  assert.notEqual(ids.renewed, ids.first);
  await page.close();
});
