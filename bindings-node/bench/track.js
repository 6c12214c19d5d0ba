'use strict';
// track() of a 6-property event: Sonde against @segment/analytics-node and posthog-node,
// interleaved in one process. The two competitors send to a dummy ingest server running as a
// separate process (sink.js), which counts what it received. Reported per contender:
//   - ns per call: the track() loop alone;
//   - until delivered: from the loop's start until every event is delivered (the competitors:
//     their flush() resolved and the server counted all N; Sonde: committed to its SQLite
//     store), as wall ns per event and as this process's CPU ns per event (all its threads).
//   make bench-node   (or: cd bindings-node/bench && npm install && node track.js)

const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const { Sonde } = require('..');
const { Analytics } = require('@segment/analytics-node');
const { PostHog } = require('posthog-node');

const N = 50_000;
const REPS = Number(process.env.REPS || 5);
const sixProperties = (i) => ({ plan: 'pro', revenue: 42.5, currency: 'EUR', items: i, coupon: null, first_order: true });

function startSink() {
  const child = spawn(process.execPath, [path.join(__dirname, 'sink.js')], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  return new Promise((resolve) => {
    child.stdout.once('data', (line) => resolve({ child, port: Number(String(line).trim()) }));
  });
}

function sinkCount(port) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/count' }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve(JSON.parse(body).received));
    }).on('error', reject);
  });
}

async function untilCount(port, target) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const received = await sinkCount(port);
    if (received >= target) return;
    if (Date.now() > deadline) throw new Error(`the sink received ${received} of ${target} events`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpuNs = () => { const u = process.cpuUsage(); return (u.user + u.system) * 1000; };

async function main() {
  const { child, port } = await startSink();
  const host = `http://127.0.0.1:${port}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-node-bench-'));
  const sonde = new Sonde({ store: path.join(dir, 'bench.db'), maxQueueEvents: 1_000_000, maxQueueBytes: 2 ** 30, flushOnExit: false });
  const segment = new Analytics({ writeKey: 'key', host, maxEventsInBatch: 100 });
  const posthog = new PostHog('phc_key', { host, flushAt: 100, maxQueueSize: 1_000_000 }); // its default (1,000) drops most of a round
  let expected = 0; // events the sink must have counted once the current round is delivered
  let kept = null; // the baseline stores its object, or V8 removes the unused allocation
  const contenders = {
    'building the event object only': { track: (i) => { kept = sixProperties(i); } },
    'sonde.track (SQLite store)': {
      track: (i) => sonde.track('Order Completed', sixProperties(i), { userId: 'user-7' }),
      deliver: () => sonde.flush(120_000),
    },
    '@segment/analytics-node track': {
      track: (i) => segment.track({ userId: 'user-7', event: 'Order Completed', properties: sixProperties(i) }),
      deliver: async () => { await segment.flush({ timeout: 120_000 }); expected += N; await untilCount(port, expected); },
    },
    'posthog-node capture': {
      track: (i) => posthog.capture({ distinctId: 'user-7', event: 'Order Completed', properties: sixProperties(i) }),
      deliver: async () => { await posthog.flush(); expected += N; await untilCount(port, expected); },
    },
  };
  const results = Object.fromEntries(Object.keys(contenders).map((k) => [k, { perCall: [], wall: [], cpu: [] }]));
  for (let rep = 0; rep < REPS; rep++) {
    for (const [name, { track, deliver }] of Object.entries(contenders)) {
      const cpu = cpuNs();
      const started = process.hrtime.bigint();
      for (let i = 0; i < N; i++) track(i);
      results[name].perCall.push(Number(process.hrtime.bigint() - started) / N);
      if (!deliver) continue;
      await deliver();
      results[name].wall.push(Number(process.hrtime.bigint() - started) / N);
      results[name].cpu.push((cpuNs() - cpu) / N);
    }
  }
  // Only the benchmark's events: a default alert rule may add an `$alert` (a full disk, say).
  const stored = (await sonde.queryEvents({ event: 'Order Completed', limit: 1, withTotal: true })).total;
  if (stored !== N * REPS) throw new Error(`Sonde stored ${stored} of ${N * REPS} events`);
  const versions = ['@segment/analytics-node', 'posthog-node'].map((p) => `${p} ${JSON.parse(fs.readFileSync(path.join(__dirname, 'node_modules', p, 'package.json'), 'utf8')).version}`).join(', ');
  console.log(`track() of a 6-property event, median of ${REPS} interleaved runs of ${N} (${versions}):`);
  console.log('| contender | ns per call | until delivered, wall ns per event | until delivered, CPU ns per event |');
  console.log('| --- | ---: | ---: | ---: |');
  const cell = (xs) => (xs.length ? median(xs).toFixed(0) : 'n/a');
  for (const [name, r] of Object.entries(results)) {
    console.log(`| ${name} | ${cell(r.perCall)} | ${cell(r.wall)} | ${cell(r.cpu)} |`);
  }
  console.log(`runs, ns per call: ${Object.entries(results).map(([n, r]) => `${n}: ${r.perCall.map((x) => x.toFixed(0)).join(', ')}`).join('; ')}`);
  if (kept === null) throw new Error('the baseline never ran');
  await sonde.shutdown();
  await segment.closeAndFlush({ timeout: 10_000 }).catch(() => {});
  await posthog.shutdown().catch(() => {});
  child.kill();
}

main().catch((error) => { console.error(error); process.exit(1); });
