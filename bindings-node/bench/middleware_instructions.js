'use strict';
// Instructions per request the Express middleware adds, counted by callgrind (stable on
// noisy machines, unlike the CPU times of middleware.js): the server of middleware.js runs
// under `valgrind --tool=callgrind` (every thread, the store's worker included) and gets N
// and N + EXTRA keep-alive `GET /hello` requests from one client, then `/flush`; the
// difference of the two totals over EXTRA is what one request costs the server process.
// Large counts, so V8's compilation is spread thin.
//   node bindings-node/bench/middleware_instructions.js    (needs valgrind; a few minutes)

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const BASE = 1000;
const EXTRA = 4000;
const VARIANTS = {
  bare: null,
  'a no-op Express middleware': { noop: true },
  'sonde middleware, sampled out': { requestSampleRate: 0 },
  'sonde middleware, events stored': { requestSampleRate: 1 },
};

function totalInstructions(options, n, dir) {
  const out = path.join(dir, `cg.${n}.${Math.random().toString(36).slice(2)}`);
  const server = spawn('valgrind', ['--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${out}`,
    process.execPath, path.join(__dirname, 'middleware.js'), 'serve', JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'ignore'] });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (port, url) => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: url, agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
  });
  return new Promise((resolve, reject) => {
    server.stdout.once('data', async (data) => {
      try {
        const port = Number(String(data));
        for (let i = 0; i < n; i++) await get(port, '/hello');
        await get(port, '/flush');
      } catch (error) {
        reject(error);
      }
      agent.destroy();
      server.kill('SIGINT');
    });
    server.on('exit', () => {
      const match = fs.readFileSync(out, 'utf8').match(/^totals: (\d+)/m);
      if (match) resolve(Number(match[1]));
      else reject(new Error(`no totals in ${out}`));
    });
  });
}

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-mw-cg-'));
  try {
    let bare;
    for (const [name, options] of Object.entries(VARIANTS)) {
      const low = await totalInstructions(options, BASE, dir);
      const high = await totalInstructions(options, BASE + EXTRA, dir);
      const perRequest = (high - low) / EXTRA;
      bare ??= perRequest;
      const added = name === 'bare' ? '' : `  (+${Math.round(perRequest - bare).toLocaleString('en')})`;
      console.log(`${name.padEnd(34)} ${Math.round(perRequest).toLocaleString('en').padStart(10)} instructions per request${added}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
})();
