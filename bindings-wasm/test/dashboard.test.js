// The dashboard page (/analytics/dashboard) in real headless Chromium against the example
// FastAPI app: honest empty states, sign-in with the admin key, every panel drawn from
// generated traffic with the values the JSON API gives, phone width, keyboard use.
// Screenshots go to target/ for people to look at.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startExampleCollector } from './chromium.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const shots = path.join(root, 'target', 'dashboard');
const KEY = 'dashboard-key';
let collector;
let quiet;
let context;

before(async () => {
  fs.mkdirSync(shots, { recursive: true });
  // Host gauges sampled and alerts evaluated every 300 ms; one rule that always fires, so
  // the alert panels have something to show.
  quiet = await startExampleCollector(KEY, { alert_rules: [] });
  collector = await startExampleCollector(KEY, {
    metrics_interval: 0.3,
    alert_rules: [{ name: 'queue-watch', metric: 'queue.fill_percent', op: '>=', threshold: 0 }],
  });
  context = await launchChromium();
});

after(async () => {
  await context?.close();
  collector?.stop();
  quiet?.stop();
});

const api = async (p) => (await fetch(`${collector.base}/analytics/${p}`, { headers: { 'x-api-key': KEY } })).json();

async function signIn(page) {
  await page.goto(`${collector.base}/analytics/dashboard`);
  // The key field has the focus: type and press Enter, as a keyboard user would.
  await page.keyboard.type(KEY);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Updated'), null, { timeout: 15_000 });
}

const rows = (page, table) => page.$$eval(`#${table} tbody tr`, (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));

test('before any traffic: a sign-in form, then honest empty states', async () => {
  const page = await context.newPage();
  await page.setViewportSize({ width: 1280, height: 800 });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${quiet.base}/analytics/dashboard`);
  assert.equal(await page.isVisible('#signin'), true);
  assert.equal(await page.isVisible('#panels'), false);
  // A wrong key is refused and the form says so.
  await page.fill('#key', 'wrong');
  await page.click('#signin button[type=submit]');
  await page.waitForFunction(() => document.getElementById('signin-error').textContent !== '');
  assert.match(await page.textContent('#signin-error'), /refused/);
  await page.fill('#key', KEY);
  await page.click('#signin button[type=submit]');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Updated'));
  for (const empty of ['#empty-events', '#empty-top', '#empty-routes', '#empty-ops', '#empty-alerts', '#empty-history', '#empty-latest']) {
    assert.equal(await page.isVisible(empty), true, empty);
  }
  await page.screenshot({ path: path.join(shots, 'empty.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('every panel shows the generated traffic with the values of the JSON API', async () => {
  const get = (p) => fetch(`${collector.base}${p}`);
  for (let i = 0; i < 12; i++) await get('/items');
  for (let i = 0; i < 6; i++) await get('/items/1');
  await get('/items/99'); // 404
  for (let i = 0; i < 3; i++) await get('/fail'); // 500
  await get('/slow'); // a timed operation
  const batch = Array.from({ length: 7 }, (_, i) => ({ type: 'track', event: i < 5 ? 'Checkout Started' : 'Coupon Applied', userId: `u${i % 3}`, properties: { i } }));
  const posted = await fetch(`${collector.base}/analytics/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
  assert.equal(posted.status, 200);
  await fetch(`${collector.base}/analytics/flush`, { method: 'POST', headers: { 'x-api-key': KEY } });

  const page = await context.newPage();
  await page.setViewportSize({ width: 1280, height: 800 });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await signIn(page);
  await page.waitForSelector('#chart-events canvas');

  const statistics = await api('statistics?bucket=hour');
  const performance = await api('performance');
  const top = Object.entries(statistics.stored.by_event).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 10);
  assert.deepEqual(await rows(page, 'table-top'), top.map(([name, n]) => [name, n.toLocaleString('en')]));
  assert.deepEqual(top.slice(0, 1), [['$api_request', 23]]);

  const routes = Object.fromEntries((await rows(page, 'table-routes')).map((r) => [r[0], r]));
  for (const [name, r] of Object.entries(performance.routes)) {
    assert.equal(routes[name][1], String(r.count), name);
    assert.equal(routes[name][3], `${((100 * r.errors) / r.count).toFixed(1)}%`, name);
  }
  assert.equal(routes['GET /items'][1], '12');
  assert.equal(routes['GET /fail'][3], '100.0%');
  const ops = await rows(page, 'table-ops');
  assert.equal(ops[0][0], 'inventory.recount');
  assert.ok(Number(ops[0][2]) >= 250, `p95 ${ops[0][2]} ms`);

  const latest = await rows(page, 'table-latest');
  const stored = (await api('events?limit=20')).events;
  assert.deepEqual(latest.map((r) => r[2]), stored.map((e) => e.event ?? e.name ?? ''));
  // Long properties (an error's stack) are cut short; the whole document opens from the
  // keyboard and stays open when the table is drawn again.
  const failure = stored.findIndex((e) => e.event === '$error');
  const row = page.locator('#table-latest tbody tr').nth(failure);
  assert.ok((await row.locator('summary').textContent()).length <= 121, 'a preview');
  assert.equal(await row.locator('pre').isVisible(), false);
  await row.locator('summary').focus();
  await page.keyboard.press('Enter');
  assert.deepEqual(JSON.parse(await row.locator('pre').textContent()), stored[failure].properties);
  await page.$eval('#table-latest details[open]', (d) => { d.dataset.drawn = 'before'; });
  await page.press('#filter-event', 'Enter'); // a refresh draws the table again
  await page.waitForFunction(() => {
    const open = document.querySelectorAll('#table-latest details[open]');
    return open.length === 1 && open[0].dataset.drawn === undefined && open[0].querySelector('pre').textContent !== '';
  });
  // Closed rows are pretty-printed only when opened.
  assert.ok(await page.$$eval('#table-latest details:not([open]) pre', (pres) => pres.every((p) => p.textContent === '')));
  // Filters: one event name.
  await page.fill('#filter-event', 'Coupon Applied');
  await page.press('#filter-event', 'Enter');
  await page.waitForFunction(() => [...document.querySelectorAll('#table-latest tbody tr')].every((tr) => tr.cells[2].textContent === 'Coupon Applied'));
  assert.equal((await rows(page, 'table-latest')).length, 2);

  assert.equal(await page.isVisible('#chart-people canvas'), true);
  // Host gauges and alerts, as the API has them.
  const live = await api('statistics');
  const gauges = await page.$$eval('#gauges dt', (dts) => dts.map((dt) => dt.textContent));
  assert.ok(gauges.includes('host.cpu_percent'), gauges.join());
  assert.deepEqual(new Set(gauges), new Set(Object.keys(live.live.gauges)));
  const alerts = await api('alerts');
  assert.deepEqual(alerts.active.map((a) => a.rule), ['queue-watch']);
  assert.match(await page.textContent('#alerts-active'), /^queue-watch: queue\.fill_percent = /);
  const history = await rows(page, 'table-history');
  assert.deepEqual(history.map((r) => [r[1], r[2]]), alerts.history.map((t) => [t.rule, t.state]));
  await page.screenshot({ path: path.join(shots, 'desktop.png'), fullPage: true });

  // Phone width: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone`);
  await page.screenshot({ path: path.join(shots, 'phone.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});
