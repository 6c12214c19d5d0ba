// What users of posthog-js and analytics.js expect, in real Chromium against the example
// collector: a refused event never throws into the page by default (onError hears about
// it), beforeSend scrubs and drops, a disabled client sends nothing, alias takes an object,
// and a batch the collector refuses reaches onError with its events.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { collectorClient, launchChromium, startExampleCollector } from './chromium.js';

const KEY = 'dev-key';
let collector;
let context;

const { events, eventually } = collectorClient(() => collector.base, KEY);

before(async () => {
  collector = await startExampleCollector(KEY);
  context = await launchChromium();
});

after(async () => {
  await context?.close();
  collector?.stop();
});

/** A page of the collector's origin with the package loaded as `window.SondeModule`. */
async function openPage() {
  const page = await context.newPage();
  const errors = [];
  const logged = [];
  page.on('pageerror', (e) => errors.push(e));
  page.on('console', (m) => logged.push(`${m.type()} ${m.text()}`));
  await page.goto(`${collector.base}/demo/`);
  await page.waitForFunction(() => window.sondeReady === true, null, { timeout: 15_000 });
  await page.evaluate(async () => { window.SondeModule = await import('/sonde-browser/js/sonde.js'); });
  return { page, errors, logged };
}

const PLAN = { events: { 'Plan Chosen': { required: ['plan'], properties: { plan: { enum: ['free', 'pro'] } } } } };

test('by default a refused event returns null, reaches onError, and logs nothing', async () => {
  const { page, errors, logged } = await openPage();
  const before = logged.length;
  const outcome = await page.evaluate(async (plan) => {
    const seen = [];
    const s = await window.SondeModule.Sonde.init({ trackingPlan: plan, onError: (e, events) => seen.push({ code: e.code, violations: e.violations, events }) });
    const returned = s.track('Plan Chosen', { plan: 'platinum' });
    return { returned, seen, invalid: s.stats().counters.dropped.invalid };
  }, PLAN);
  assert.equal(outcome.returned, null);
  assert.equal(outcome.invalid, 1);
  assert.deepEqual(outcome.seen.map((s) => [s.code, s.violations[0].path, s.events[0].properties.plan]),
    [['invalid_event', '/properties/plan', 'platinum']]);
  assert.deepEqual(logged.slice(before).filter((l) => l.includes('sonde')), [], 'no console output without debug');
  assert.deepEqual(errors, []);
  await page.close();
});

test('debug logs to the console and raises by default', async () => {
  const { page, logged } = await openPage();
  const code = await page.evaluate(async () => {
    const s = await window.SondeModule.Sonde.init({ debug: true, beforeSend: () => { throw new Error('bug'); } });
    s.track('Debugged');
    try { s.track(''); return null; } catch (e) { return e.code; }
  });
  assert.equal(code, 'invalid_event');
  assert.ok(logged.some((l) => l.startsWith('error sonde: beforeSend threw')), logged.join('\n'));
  await page.close();
});

test('beforeSend scrubs and drops; alias takes { userId, previousId? }', async () => {
  const { page } = await openPage();
  const anonymousId = await page.evaluate(async () => {
    const s = await window.SondeModule.Sonde.init({
      beforeSend: (event) => {
        if (event.event === 'Habits Internal') return null;
        const { email, ...rest } = event.properties ?? {};
        return event.type === 'track' ? { ...event, properties: { ...rest, scrubbed: true } } : event;
      },
    });
    s.track('Habits Scrubbed', { email: 'a@b.c', plan: 'pro' });
    s.track('Habits Internal');
    s.alias({ userId: 'habits-user' });
    await s.flush();
    window.habitsFiltered = s.stats().counters.dropped.before_send;
    return s.anonymousId;
  });
  const scrubbed = await eventually('the scrubbed event', async () => (await events('event=Habits%20Scrubbed'))[0]);
  assert.deepEqual(scrubbed.properties, { plan: 'pro', scrubbed: true });
  assert.deepEqual(await events('event=Habits%20Internal'), []);
  assert.equal(await page.evaluate(() => window.habitsFiltered), 1);
  const alias = await eventually('the alias', async () => (await events('type=alias&user_id=habits-user'))[0]);
  assert.equal(alias.previousId, anonymousId);
  const refused = await page.evaluate(async () => {
    const s = await window.SondeModule.Sonde.init({ onInvalid: 'raise' });
    try { s.alias('habits-user', 'x'); return null; } catch (e) { return e.message; }
  });
  assert.match(refused, /alias takes \{ userId, previousId\? \}/);
  await page.close();
});

test('a disabled client validates and sends nothing', async () => {
  const { page } = await openPage();
  const outcome = await page.evaluate(async (plan) => {
    const s = await window.SondeModule.Sonde.init({ disabled: true, trackingPlan: plan });
    const id = s.track('Habits Disabled', { plan: 'pro' });
    let code = null;
    try { s.track('Plan Chosen', {}); } catch (e) { code = e.code; }
    await s.flush();
    return { id, code, sent: s.stats().transport.sent_batches };
  }, PLAN);
  assert.equal(typeof outcome.id, 'string');
  assert.equal(outcome.code, 'invalid_event');
  assert.equal(outcome.sent, 0);
  assert.deepEqual(await events('event=Habits%20Disabled'), []);
  await page.close();
});

test('a batch the collector refuses reaches onError with its events', async () => {
  const { page } = await openPage();
  const seen = await page.evaluate(async () => {
    const seen = [];
    const s = await window.SondeModule.Sonde.init({ endpoint: '/analytics/v1/refuses-everything', onError: (e, events) => seen.push({ code: e.code, events: events.map((x) => x.event) }) });
    s.track('Habits Refused');
    await s.flush();
    return seen;
  });
  assert.deepEqual(seen, [{ code: 'sink_failed', events: ['Habits Refused'] }]);
  await page.close();
});

test('calls made before the module is ready are queued with their time and replayed', async () => {
  const { page } = await openPage();
  const outcome = await page.evaluate(async () => {
    localStorage.clear();
    const s = window.SondeModule.Sonde.load({ flushIntervalMs: 60_000 });
    const early = s.track('Habits Early', { n: 1 }); // the module is still loading
    const calledAt = Date.now();
    s.register({ plan: 'pro' });
    const client = await s.ready;
    const late = s.track('Habits Late', { n: 2 });
    await s.flush();
    return { early, late: typeof late, calledAt };
  });
  assert.equal(outcome.early, null);
  assert.equal(outcome.late, 'string');
  const early = await eventually('the early event', async () => (await events('event=Habits%20Early'))[0]);
  assert.ok(Math.abs(Date.parse(early.timestamp) - outcome.calledAt) < 1_000, 'the time of the call is kept');
  assert.equal(early.properties.n, 1);
  const late = await eventually('the late event', async () => (await events('event=Habits%20Late'))[0]);
  assert.equal(late.properties.plan, 'pro'); // registered before ready, replayed in order
  await page.close();
});

test('every event carries analytics.js context; register persists across loads, registerOnce and reset', async () => {
  const { page } = await openPage();
  await page.evaluate(async () => {
    localStorage.clear();
    const s = await window.SondeModule.Sonde.init({ flushIntervalMs: 60_000 });
    s.register({ plan: 'pro', build: 1 });
    s.registerOnce({ plan: 'free', first_touch: 'ad' });
    s.unregister('build');
    s.screen('Habits Screen', { step: 1 });
    s.trackPerformance('habits.render', 12.5, { metadata: { widget: 'cart' } });
    await s.flush();
  });
  await page.reload();
  await page.waitForFunction(() => window.sondeReady === true, null, { timeout: 15_000 });
  const afterReload = await page.evaluate(async () => {
    const module = await import('/sonde-browser/js/sonde.js');
    const s = await module.Sonde.init({ flushIntervalMs: 60_000 });
    s.track('Habits Registered');
    s.reset();
    s.track('Habits After Reset');
    await s.flush();
    return { language: navigator.language, width: screen.width };
  });
  const screenEvent = await eventually('the screen', async () => (await events('type=screen&limit=100')).find((e) => e.name === 'Habits Screen'));
  assert.deepEqual(screenEvent.properties, { step: 1, plan: 'pro', first_touch: 'ad' });
  const context = screenEvent.context;
  assert.equal(context.page.path, '/demo/');
  assert.ok(context.page.url.endsWith('/demo/') && context.page.title.length > 0);
  assert.equal(context.locale, afterReload.language);
  assert.equal(context.screen.width, afterReload.width);
  assert.ok(context.userAgent.includes('Chrome') && context.timezone);
  assert.equal(context.library.name, 'sonde-browser');
  const perf = await eventually('the timing', async () => (await events('event=%24performance&limit=100')).find((e) => e.properties.operation === 'habits.render'));
  assert.equal(perf.properties.widget, 'cart');
  const registered = await eventually('after reload', async () => (await events('event=Habits%20Registered'))[0]);
  assert.deepEqual(registered.properties, { plan: 'pro', first_touch: 'ad' });
  const reset = await eventually('after reset', async () => (await events('event=Habits%20After%20Reset'))[0]);
  assert.deepEqual(reset.properties, {});
  assert.notEqual(reset.anonymousId, registered.anonymousId);
  await page.close();
});

test('consent mode stores nothing and sends nothing until optIn, then remembers it', async () => {
  const { page } = await openPage();
  const before = await page.evaluate(async () => {
    localStorage.clear();
    const s = await window.SondeModule.Sonde.init({ requireConsent: true, flushIntervalMs: 60_000 });
    const id = s.track('Habits Before Consent');
    s.register({ plan: 'pro' });
    await s.flush();
    const stored = Object.keys(localStorage).filter((k) => k.startsWith('sonde.'));
    s.optIn();
    s.track('Habits After Consent');
    await s.flush();
    return { id, optedOut: s.optedOut, stored, after: Object.keys(localStorage).filter((k) => k.startsWith('sonde.')).sort() };
  });
  assert.equal(before.id, null);
  assert.deepEqual(before.stored, [], 'nothing stored before consent');
  assert.equal(before.optedOut, false);
  assert.ok(before.after.includes('sonde.consent') && before.after.includes('sonde.anonymousId'), before.after.join(','));
  assert.deepEqual(await events('event=Habits%20Before%20Consent'), []);
  const after = await eventually('the consented event', async () => (await events('event=Habits%20After%20Consent'))[0]);
  assert.equal(after.properties.plan, 'pro');
  const remembered = await page.evaluate(async () => {
    const s = await window.SondeModule.Sonde.init({ requireConsent: true });
    return s.optedOut;
  });
  assert.equal(remembered, false, 'the consent is remembered across loads');
  await page.close();
});
