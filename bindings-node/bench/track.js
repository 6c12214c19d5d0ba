'use strict';
// track() of a 6-property event, ns per call: Sonde against @segment/analytics-node and
// posthog-node pointed at a local dummy server, interleaved in one process.
//   make bench-node   (or: cd bindings-node/bench && npm install && node track.js)

const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const fs = require('node:fs');
const { Sonde } = require('..');
const { Analytics } = require('@segment/analytics-node');
const { PostHog } = require('posthog-node');

const N = 50_000;
const REPS = 5;
const sixProperties = (i) => ({ plan: 'pro', revenue: 42.5, currency: 'EUR', items: i, coupon: null, first_order: true });

function dummyServer() {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => { res.setHeader('content-type', 'application/json'); res.end('{"status":1}'); });
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function perCall(fn) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  return Number(process.hrtime.bigint() - started) / N;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const server = await dummyServer();
  const host = `http://127.0.0.1:${server.address().port}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-node-bench-'));
  const sonde = new Sonde({ store: path.join(dir, 'bench.db'), maxQueueEvents: 1_000_000, maxQueueBytes: 2 ** 30, flushOnExit: false });
  const segment = new Analytics({ writeKey: 'key', host, maxEventsInBatch: 100 });
  const posthog = new PostHog('phc_key', { host, flushAt: 100 });
  const contenders = {
    'building the event object only': (i) => sixProperties(i),
    'sonde.track (SQLite store)': (i) => sonde.track('Order Completed', sixProperties(i), { userId: 'user-7' }),
    '@segment/analytics-node track': (i) => segment.track({ userId: 'user-7', event: 'Order Completed', properties: sixProperties(i) }),
    'posthog-node capture': (i) => posthog.capture({ distinctId: 'user-7', event: 'Order Completed', properties: sixProperties(i) }),
  };
  const results = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
  for (let rep = 0; rep < REPS; rep++) {
    for (const [name, fn] of Object.entries(contenders)) {
      results[name].push(perCall(fn));
      await sonde.flush(120_000);
      await segment.closeAndFlush({ timeout: 60_000 }).catch(() => {});
      await posthog.flush().catch(() => {});
    }
  }
  console.log(`track() of a 6-property event, ns per call, median of ${REPS} interleaved runs of ${N}:`);
  for (const [name, xs] of Object.entries(results)) {
    console.log(`  ${name.padEnd(34)} ${median(xs).toFixed(0).padStart(8)} ns   (runs: ${xs.map((x) => x.toFixed(0)).join(', ')})`);
  }
  await sonde.shutdown();
  await posthog.shutdown().catch(() => {});
  server.close();
}

main();
