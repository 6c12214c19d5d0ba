'use strict';
// Middleware overhead: a trivial Express endpoint in a child process, loaded by `wrk` on
// 127.0.0.1 (bounded), bare / with `sonde.middleware()` storing every request event in
// SQLite / with request events sampled out, interleaved. Reports requests/s and the server
// process's CPU per request (from /proc, including the worker thread's inserts after wrk
// returns: the server flushes before its CPU is read) minus the bare app's.
//   node bindings-node/bench/middleware.js                  (make bench-node; needs wrk)
//   node bindings-node/bench/middleware.js --before 90f8873 (adds that commit's middleware.js
//                                                            over the same addon)

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPS = Number(process.env.REPS || 5);
const DURATION = process.env.DURATION || '5s';
const TICK = 100; // USER_HZ on Linux
const VARIANTS = { bare: null, 'sonde middleware, events stored': { requestSampleRate: 1 }, 'sonde middleware, sampled out': { requestSampleRate: 0 } };

if (process.argv[2] === 'serve') {
  // The server: one variant, fresh store, `/flush` to wait for the worker's inserts.
  const express = require(path.join(__dirname, '..', 'node_modules', 'express'));
  const { Sonde } = require(path.join(__dirname, '..'));
  const options = JSON.parse(process.argv[3]);
  const app = express();
  let sonde;
  if (options?.noop) {
    app.use((req, res, next) => next()); // what any Express middleware costs (middleware_instructions.js)
  } else if (options) {
    sonde = new Sonde({ store: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-mw-bench-')), 'mw.db'), flushOnExit: false });
    const { before, ...rules } = options;
    const mount = { ...rules, excludePaths: ['/flush$'] };
    app.use(before ? require(before).middleware(sonde, mount) : sonde.middleware(mount));
  }
  app.get('/hello', (req, res) => res.json({ hello: 'world' }));
  app.get('/flush', async (req, res) => { if (sonde) await sonde.flush(30_000); res.end('ok'); });
  const server = app.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
  return;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpuSeconds = (pid) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICK;
};

function wrk(url) {
  const out = execFileSync('wrk', ['-t1', '-c16', `-d${DURATION}`, url], { encoding: 'utf8', timeout: 60_000 });
  return { rps: Number(out.match(/Requests\/sec:\s+([\d.]+)/)[1]), total: Number(out.match(/(\d+) requests in/)[1]) };
}

async function measure(options) {
  const child = spawn(process.execPath, [__filename, 'serve', JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d)))));
  const url = `http://127.0.0.1:${port}`;
  try {
    wrk(`${url}/hello`); // warm-up
    await fetch(`${url}/flush`);
    const before = cpuSeconds(child.pid);
    const { rps, total } = wrk(`${url}/hello`);
    await fetch(`${url}/flush`);
    return { rps, cpuUs: ((cpuSeconds(child.pid) - before) / total) * 1e6 };
  } finally {
    child.kill();
  }
}

/** `middleware.js` as it was at `commit`, in a file beside the package (it requires `./sonde.node`). */
function middlewareAt(commit) {
  const source = execFileSync('git', ['show', `${commit}:bindings-node/middleware.js`], { cwd: path.join(__dirname, '..'), encoding: 'utf8' });
  const file = path.join(__dirname, '..', `.middleware-${commit}.js`);
  fs.writeFileSync(file, source);
  process.on('exit', () => fs.rmSync(file, { force: true }));
  return file;
}

async function main() {
  execFileSync('sh', ['-c', 'command -v wrk']);
  const at = process.argv.indexOf('--before');
  if (at > 0) {
    const file = middlewareAt(process.argv[at + 1]);
    VARIANTS['before, events stored'] = { requestSampleRate: 1, before: file };
    VARIANTS['before, sampled out'] = { requestSampleRate: 0, before: file };
  }
  const rows = Object.fromEntries(Object.keys(VARIANTS).map((k) => [k, []]));
  for (let i = 0; i < REPS; i++) {
    for (const [name, options] of Object.entries(VARIANTS)) rows[name].push(await measure(options));
  }
  const bareRps = median(rows.bare.map((r) => r.rps));
  const bareCpu = median(rows.bare.map((r) => r.cpuUs));
  console.log(`trivial Express endpoint, wrk -t1 -c16 -d${DURATION}, median of ${REPS}:`);
  for (const [name, values] of Object.entries(rows)) {
    const rps = median(values.map((v) => v.rps));
    const cpu = median(values.map((v) => v.cpuUs));
    console.log(`  ${name.padEnd(34)} ${rps.toFixed(0).padStart(7)} req/s (${(rps / bareRps).toFixed(2)}x)  CPU ${cpu.toFixed(1)} µs/req (+${(cpu - bareCpu).toFixed(1)})`);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
