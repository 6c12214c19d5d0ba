// The dashboard: reads the analytics API next to it (the page is `<mount>/dashboard`, the
// API `<mount>/statistics`, ...) with the admin key kept in sessionStorage, and redraws
// every few seconds. Every value comes from the JSON API; text goes in with textContent.

import uPlot from 'uplot';

const KEY = 'sonde-dashboard-key';
const REFRESH_MS = 5000;
const api = new URL('.', location.href);
const $ = (id) => document.getElementById(id);
const charts = {};
let timer = null;

function key() { return sessionStorage.getItem(KEY) || ''; }

async function get(path) {
  const response = await fetch(new URL(path, api), { headers: { 'X-API-Key': key() } });
  if (response.status === 401) throw Object.assign(new Error('unauthorized'), { unauthorized: true });
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return response.json();
}

function showSignIn(message = '') {
  clearTimeout(timer);
  $('panels').hidden = true;
  $('controls').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message;
  $('key').focus();
}

function cell(row, text, numeric = false) {
  const td = row.insertCell();
  td.textContent = text;
  if (numeric) td.className = 'n';
  return td;
}

function fill(tableId, emptyId, rows, render) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren();
  for (const r of rows) render(body.insertRow(), r);
  $(emptyId).hidden = rows.length > 0;
  $(tableId).hidden = rows.length === 0;
}

const ms = (v) => (v == null ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(0));
const count = (n) => Number(n).toLocaleString('en');
const when = (t) => new Date(t).toLocaleString('en-GB', { hour12: false });

/** `series` (lists of `{start, count}`) as lines over `[fromMs, toMs]`. */
function chart(id, emptyId, series, names, fromMs, toMs) {
  const el = $(id);
  const empty = series.length === 0 || series.every((s) => s.length === 0);
  $(emptyId).hidden = !empty;
  el.hidden = empty;
  if (empty) return;
  // One x axis: every bucket start any series has.
  const xs = [...new Set(series.flatMap((s) => s.map((p) => Date.parse(p.start) / 1000)))].sort((a, b) => a - b);
  const data = [xs, ...series.map((s) => {
    const byStart = new Map(s.map((p) => [Date.parse(p.start) / 1000, p.count]));
    return xs.map((x) => byStart.get(x) ?? 0);
  })];
  const palette = ['#2f6fdf', '#d9822b', '#1f9d6b', '#b3261e', '#7e57c2', '#00838f', '#8d6e63', '#c2185b', '#546e7a', '#9e9d24', '#455a64'];
  const opts = {
    width: Math.max(200, el.clientWidth || 600),
    height: 220,
    series: [{}, ...names.map((name, i) => ({ label: name, stroke: palette[i % palette.length], width: 2, points: { show: xs.length < 3 } }))],
    // The whole range on the x axis, not just the buckets that have events.
    scales: { x: { time: true, range: () => [fromMs / 1000, toMs / 1000] }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    axes: [{}, { size: 50 }],
    legend: { live: false },
  };
  charts[id]?.destroy();
  el.replaceChildren();
  charts[id] = new uPlot(opts, data, el);
  el.setAttribute('aria-label', `${el.getAttribute('aria-label').split(':')[0]}: ${names.map((n, i) => `${n} ${data[i + 1].reduce((a, b) => a + b, 0)}`).join(', ')}`);
}

async function refresh() {
  clearTimeout(timer);
  const range = Number($('range').value);
  const now = Date.now();
  const from = new Date(now - range).toISOString();
  const bucket = range <= 3_600_000 ? 'minute' : 'hour';
  const filters = new URLSearchParams({ limit: '20' });
  if ($('filter-event').value.trim()) filters.set('event', $('filter-event').value.trim());
  if ($('filter-user').value.trim()) filters.set('user_id', $('filter-user').value.trim());
  try {
    const [statistics, week, performance, alerts, latest] = await Promise.all([
      get(`statistics?from=${encodeURIComponent(from)}&bucket=${bucket}`),
      get(`statistics?from=${encodeURIComponent(new Date(now - 7 * 86_400_000).toISOString())}&bucket=day`),
      get('performance'),
      get('alerts?limit=20'),
      get(`events?${filters}`),
    ]);
    render(statistics, week, performance, alerts, latest, range, now);
    $('status').textContent = `Updated ${new Date().toLocaleTimeString('en-GB', { hour12: false })}`;
  } catch (error) {
    if (error.unauthorized) return showSignIn('That key was refused.');
    $('status').textContent = `Update failed: ${error.message}`;
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

function render(statistics, week, performance, alerts, latest, range, now) {
  const stored = statistics.stored ?? {};
  const byName = stored.series_by_event ?? {};
  const names = Object.keys(byName);
  chart('chart-events', 'empty-events', [stored.series ?? [], ...names.map((n) => byName[n])], ['All events', ...names], now - range, now);

  const top = Object.entries(stored.by_event ?? {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 10);
  fill('table-top', 'empty-top', top, (row, [name, n]) => { cell(row, name); cell(row, count(n), true); });

  const today = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate());
  chart('chart-people', 'empty-people', [(week.stored ?? {}).people_series ?? []], ['People'], today - 6 * 86_400_000, today + 86_400_000);

  const storedRoutes = stored.routes ?? {};
  const minutes = range / 60_000;
  const routes = Object.entries(performance.routes ?? {}).sort((a, b) => b[1].count - a[1].count);
  fill('table-routes', 'empty-routes', routes, (row, [name, r]) => {
    cell(row, name);
    cell(row, count(r.count), true);
    cell(row, ((storedRoutes[name]?.count ?? 0) / minutes).toFixed(2), true);
    cell(row, r.count ? `${((100 * r.errors) / r.count).toFixed(1)}%` : '–', true);
    cell(row, ms(r.latency.p50), true);
    cell(row, ms(r.latency.p95), true);
    cell(row, ms(r.latency.p99), true);
  });

  const ops = Object.entries(performance.operations ?? {}).sort((a, b) => (b[1].latency.p95 ?? 0) - (a[1].latency.p95 ?? 0)).slice(0, 10);
  fill('table-ops', 'empty-ops', ops, (row, [name, o]) => {
    cell(row, name);
    cell(row, count(o.count), true);
    cell(row, ms(o.latency.p95), true);
    cell(row, ms(o.latency.max), true);
  });

  const gauges = Object.entries(statistics.live?.gauges ?? {});
  const list = $('gauges');
  list.replaceChildren();
  for (const [name, value] of gauges) {
    const dt = document.createElement('dt');
    dt.textContent = name;
    const dd = document.createElement('dd');
    dd.textContent = Number.isInteger(value) ? count(value) : value.toFixed(1);
    list.append(dt, dd);
  }
  $('empty-host').hidden = gauges.length > 0;

  const active = $('alerts-active');
  active.replaceChildren();
  for (const a of alerts.active ?? []) {
    const li = document.createElement('li');
    li.className = 'firing';
    li.textContent = `${a.rule}: ${a.metric} = ${Number(a.value).toFixed(2)} since ${when(a.since)}`;
    active.append(li);
  }
  $('empty-alerts').hidden = (alerts.active ?? []).length > 0;
  fill('table-history', 'empty-history', alerts.history ?? [], (row, t) => {
    cell(row, when(t.at ?? t.time ?? t.timestamp));
    cell(row, t.rule);
    cell(row, t.state ?? t.kind ?? '');
    cell(row, t.value == null ? '' : Number(t.value).toFixed(2), true);
  });

  fill('table-latest', 'empty-latest', latest.events ?? [], (row, e) => {
    cell(row, when(e.timestamp));
    cell(row, e.type);
    cell(row, e.event ?? e.name ?? '');
    cell(row, e.userId ?? e.anonymousId ?? '');
    propertiesCell(row, e);
  });
}

// Longer properties (a stack trace, a user agent) show their first characters; the whole
// document opens on demand and stays open across refreshes.
const PREVIEW = 120;
const opened = new Set();

function propertiesCell(row, e) {
  const td = row.insertCell();
  td.className = 'props';
  const value = e.properties ?? e.traits ?? {};
  const text = JSON.stringify(value);
  if (text.length <= PREVIEW) {
    td.textContent = text;
    return;
  }
  const details = document.createElement('details');
  const summary = document.createElement('summary');
  summary.textContent = `${text.slice(0, PREVIEW)}…`;
  const full = document.createElement('pre');
  // Pretty-printed when first opened, not for every closed row at every refresh. A click on
  // the summary (Enter and Space make one too) comes before the row opens, so it never
  // shows empty.
  const fill = () => { if (!full.textContent) full.textContent = JSON.stringify(value, null, 2); };
  summary.addEventListener('click', fill);
  details.append(summary, full);
  details.open = opened.has(e.messageId);
  if (details.open) fill();
  details.addEventListener('toggle', () => {
    if (details.open) opened.add(e.messageId); else opened.delete(e.messageId);
  });
  td.append(details);
}

function start() {
  $('signin').hidden = true;
  $('controls').hidden = false;
  $('panels').hidden = false;
  refresh();
}

$('signin').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $('key').value);
  $('key').value = '';
  start();
});
$('signout').addEventListener('click', () => { sessionStorage.removeItem(KEY); showSignIn(); });
$('range').addEventListener('change', refresh);
$('filters').addEventListener('submit', (event) => { event.preventDefault(); refresh(); });
document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
// Charts follow their panel's width (a phone turned, a window resized).
new ResizeObserver(() => {
  for (const [id, plot] of Object.entries(charts)) {
    const width = Math.max(200, document.getElementById(id).clientWidth);
    if (Math.abs(plot.width - width) > 1) plot.setSize({ width, height: 220 });
  }
}).observe(document.body);

if (key()) start(); else showSignIn();
