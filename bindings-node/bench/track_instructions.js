// A loop of 20,000 `track()` calls of a 6-property event into the SQLite store, for an
// instruction count under callgrind (stable on noisy machines, unlike wall time):
//
//   valgrind --tool=callgrind --callgrind-out-file=cg.out node bindings-node/bench/track_instructions.js
//   callgrind_annotate --inclusive=yes cg.out | grep -E "with_properties|Inner>::process "
//
// Divide the inclusive counts by 20,000.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Sonde } = require('..');

const N = 20_000;

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-bench-'));
  const sonde = new Sonde({ store: path.join(dir, 'b.db'), flushOnExit: false });
  for (let i = 0; i < N; i++) {
    sonde.track('Order Completed', { plan: 'pro', revenue: 42.5, currency: 'EUR', items: i, coupon: null, first_order: true }, { userId: 'user-7' });
  }
  await sonde.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
}

main();
