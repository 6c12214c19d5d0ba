'use strict';
// Sonde's track() alone in a plain loop: 7 rounds of 50,000 calls of the benchmark's
// 6-property event, flushed between rounds, ns per call for each round. Two clients:
//   store     the default SQLite store (its worker commits on the other core meanwhile)
//   disabled  validated and dropped: no worker busy beside the loop
//   node track_loop.js [store|disabled]   (both when no argument)

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Sonde } = require('..');

const N = 50_000;
const ROUNDS = 7;
const sixProperties = (i) => ({ plan: 'pro', revenue: 42.5, currency: 'EUR', items: i, coupon: null, first_order: true });

async function measure(mode) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-loop-'));
  const options = mode === 'disabled'
    ? { disabled: true, flushOnExit: false }
    : { store: path.join(dir, 'loop.db'), maxQueueEvents: 1_000_000, maxQueueBytes: 2 ** 30, flushOnExit: false };
  const sonde = new Sonde(options);
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < N; i++) sonde.track('Order Completed', sixProperties(i), { userId: 'user-7' });
    rounds.push(Number(process.hrtime.bigint() - started) / N);
    await sonde.flush(120_000);
  }
  await sonde.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
  const sorted = [...rounds].sort((a, b) => a - b);
  console.log(`${mode}: median ${sorted[ROUNDS >> 1].toFixed(0)} ns per call, rounds ${rounds.map((x) => x.toFixed(0)).join(', ')}`);
}

(async () => {
  const modes = process.argv[2] ? [process.argv[2]] : ['store', 'disabled'];
  for (const mode of modes) await measure(mode);
})();
