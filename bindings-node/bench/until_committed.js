'use strict';
// One loop of 200,000 track() calls of the benchmark's 6-property event into the default
// SQLite store, then flush(): ns per call (the loop alone), and wall time and the process's
// CPU time (every thread, the store's worker included) per event until committed.
//   node bench/until_committed.js

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Sonde } = require('..');

const N = 200_000;

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-bench-'));
  const sonde = new Sonde({ store: path.join(dir, 'b.db'), flushOnExit: false });
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    sonde.track('Order Completed', { plan: 'pro', revenue: 42.5, currency: 'EUR', items: i, coupon: null, first_order: true }, { userId: 'user-7' });
  }
  const looped = process.hrtime.bigint();
  await sonde.flush();
  const committed = process.hrtime.bigint();
  const cpu = process.cpuUsage(cpuBefore);
  const perEvent = (ns) => Math.round(Number(ns) / N);
  console.log(`call ${perEvent(looped - started)} ns, until committed: wall ${perEvent(committed - started)} ns, `
    + `CPU ${Math.round(((cpu.user + cpu.system) * 1000) / N)} ns per event`);
  await sonde.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
}

main();
