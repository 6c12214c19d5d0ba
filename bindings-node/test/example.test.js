'use strict';
// examples/node_app runs: requests are answered and land in its SQLite file.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Sonde } = require('..');

test('the example service records its requests', async () => {
  const db = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-example-')), 'example.db');
  const child = spawn(process.execPath, [path.join(__dirname, '..', '..', 'examples', 'node_app', 'server.js')], {
    env: { ...process.env, PORT: '0', SONDE_STORE: db },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      const m = String(d).match(/http:\/\/127\.0\.0\.1:\d+/);
      if (m) resolve(m[0]);
    });
    child.on('exit', () => reject(new Error('the example exited')));
  });
  try {
    assert.equal((await (await fetch(`${url}/items/1`)).json()).name, 'Teapot');
    assert.equal((await fetch(`${url}/fail`)).status, 500);
    assert.equal((await (await fetch(`${url}/slow`)).json()).status, 'recounted');
  } finally {
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  const reader = new Sonde({ store: db, flushOnExit: false });
  const routes = (await reader.queryEvents({ event: '$api_request', order: 'asc' })).events.map((e) => e.properties['http.route']);
  assert.deepEqual(routes, ['/items/:id', '/fail', '/slow']);
  assert.equal((await reader.queryEvents({ event: '$performance' })).events[0].properties.operation, 'inventory.recount');
  assert.equal((await reader.queryEvents({ event: '$error' })).events.length, 1);
});
