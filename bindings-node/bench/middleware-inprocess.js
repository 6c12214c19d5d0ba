'use strict';
// Middleware cost without a server: `sonde.middleware()` called on fake `req`/`res` objects
// (the hooks it installs, the finish, the record), 50,000 requests, median of 7 rounds.
//   node bindings-node/bench/middleware-inprocess.js [--before COMMIT]
// `--before` adds that commit's middleware.js over the same addon.

const { execFileSync } = require('node:child_process');
const { EventEmitter } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');
const { Sonde } = require('..');

const N = 50_000;
const sonde = new Sonde({ sink: () => {}, flushIntervalMs: 3_600_000, flushOnExit: false, maxQueueEvents: 10_000_000, maxQueueBytes: 4_000_000_000 });

function fake() {
  const req = new EventEmitter();
  Object.assign(req, { method: 'GET', url: '/hello', originalUrl: '/hello', baseUrl: '', route: { path: '/hello' } });
  req.headers = { host: '127.0.0.1', 'user-agent': 'wrk', accept: '*/*' };
  req.socket = { remoteAddress: '127.0.0.1' };
  req.push = () => true;
  const res = new EventEmitter();
  Object.assign(res, { statusCode: 200, headersSent: false, writableFinished: true, locals: {} });
  res.writeHead = function writeHead() { this.headersSent = true; return this; };
  res.write = () => true;
  res.end = function end() { this.emit('finish'); this.emit('close'); };
  res.setHeader = () => {};
  return [req, res];
}

const variants = {
  'events': sonde.middleware({ requestSampleRate: 1 }),
  'sampled out': sonde.middleware({ requestSampleRate: 0 }),
};
const at = process.argv.indexOf('--before');
if (at > 0) {
  const commit = process.argv[at + 1];
  const file = path.join(__dirname, '..', `.middleware-${commit}.js`);
  fs.writeFileSync(file, execFileSync('git', ['show', `${commit}:bindings-node/middleware.js`], { cwd: path.join(__dirname, '..'), encoding: 'utf8' }));
  const before = require(file);
  fs.rmSync(file);
  variants[`before ${commit}, events`] = before.middleware(sonde, { requestSampleRate: 1 });
  variants[`before ${commit}, sampled out`] = before.middleware(sonde, { requestSampleRate: 0 });
}

const rounds = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let round = 0; round < 7; round++) {
  for (const [name, middleware] of Object.entries(variants)) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < N; i++) {
      const [req, res] = fake();
      middleware(req, res, () => {});
      res.writeHead(200);
      res.end('{"hello":"world"}');
    }
    rounds[name].push(Number(process.hrtime.bigint() - started) / N);
  }
}
for (const [name, values] of Object.entries(rounds)) {
  console.log(`${name.padEnd(30)} ${values.sort((a, b) => a - b)[3].toFixed(0).padStart(6)} ns per request`);
}
sonde.shutdown(0).catch(() => {});
