'use strict';
// The HTTP middleware with real servers on 127.0.0.1: Express (route templates, routers,
// errors, exclusions, sampling) and plain node:http; events land in the store.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const express = require('express');
const { Sonde } = require('..');
const { anonymize } = require('../middleware');

function listen(handler) {
  return new Promise((resolve) => {
    const server = http.createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

const close = (server) => new Promise((resolve) => server.close(resolve));
const storeClient = (options = {}) => new Sonde({ store: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-mw-')), 'mw.db'), flushOnExit: false, ...options });
/** Waits until `check()` resolves truthy, flushing nothing (5 s at most). */
async function eventually(check) {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
const requests = async (sonde) => (await sonde.queryEvents({ event: '$api_request', order: 'asc', limit: 100 })).events.map((e) => e.properties);

test('a request is recorded in the tick its response ends, so a shutdown right after keeps it', async () => {
  const store = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-mw-')), 'bye.db');
  const sonde = new Sonde({ store, flushOnExit: false });
  const stopped = [];
  const app = sonde.wrap((req, res) => {
    res.end('bye');
    // The client may read the response before 'finish' fires; the record must not wait.
    stopped.push(sonde.shutdown(5000));
  }, { route: () => '/bye' });
  const { server, url } = await listen(app);
  try {
    assert.equal((await fetch(`${url}/bye`)).status, 200);
  } finally {
    await close(server);
  }
  await Promise.all(stopped);
  const reader = new Sonde({ store, flushOnExit: false });
  const events = (await reader.queryEvents({ event: '$api_request' })).events;
  assert.deepEqual(events.map((e) => e.properties['http.route']), ['/bye']);
  await reader.shutdown();
});

test('express: templates, routers, unmatched, sizes, timing, errors', async () => {
  const sonde = storeClient();
  const app = express();
  app.use(sonde.middleware({ processTimeHeader: true }));
  app.get('/items/:id', (req, res) => res.json({ id: req.params.id }));
  const admin = express.Router();
  admin.post('/users/:userId/roles', express.json(), (req, res) => res.status(201).json(req.body));
  app.use('/admin', admin);
  app.get('/slow', async (req, res) => { await new Promise((r) => setTimeout(r, 60)); res.send('done'); });
  app.get('/boom', () => { throw new RangeError('out of range'); });
  app.use(sonde.errorHandler());
  const { server, url } = await listen(app);
  try {
    const started = performance.now();
    const item = await fetch(`${url}/items/7?x=1`, { headers: { 'user-agent': 'node-test' } });
    const waitedSeconds = (performance.now() - started) / 1000;
    assert.equal(item.status, 200);
    // Seconds the app spent before its first byte: some, and no more than the client waited.
    const processSeconds = Number(item.headers.get('x-process-time'));
    assert.ok(processSeconds > 0 && processSeconds <= waitedSeconds, `${processSeconds} s of ${waitedSeconds} s`);
    assert.equal((await fetch(`${url}/admin/users/42/roles`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"role":"admin"}' })).status, 201);
    assert.equal((await fetch(`${url}/nowhere`)).status, 404);
    await (await fetch(`${url}/slow`)).text();
    assert.equal((await fetch(`${url}/boom`)).status, 500);
  } finally {
    await close(server);
  }
  await sonde.flush();
  const found = await requests(sonde);
  assert.deepEqual(found.map((r) => [r['http.request.method'], r['http.route'], r['http.response.status_code']]), [
    ['GET', '/items/:id', 200],
    ['POST', '/admin/users/:userId/roles', 201],
    ['GET', '__unmatched__', 404],
    ['GET', '/slow', 200],
    ['GET', '/boom', 500],
  ]);
  const [first, roles, , slow, boom] = found;
  assert.equal(first['url.path'], '/items/7');
  assert.equal(first['user_agent.original'], 'node-test');
  assert.equal(first['http.response.body.size'], Buffer.byteLength('{"id":"7"}'));
  assert.ok(first.ttfb_ms <= first.duration_ms);
  assert.equal(roles['http.request.body.size'], Buffer.byteLength('{"role":"admin"}'));
  assert.ok(slow.duration_ms >= 50);
  assert.equal(boom['error.type'], 'RangeError');
  const [error] = (await sonde.queryEvents({ event: '$error' })).events;
  assert.equal(error.properties['error.type'], 'RangeError');
  assert.equal(error.properties['http.route'], '/boom');
  assert.equal(sonde.stats().routes['GET /items/:id'].count, 1);
  await sonde.shutdown();
});

test('chunked bodies are counted, a client that goes away is recorded once, and two Sonde middlewares both record', async () => {
  const sonde = storeClient();
  const other = storeClient();
  const app = express();
  app.use(sonde.middleware());
  app.use(other.middleware());
  app.post('/upload', express.text({ type: '*/*' }), (req, res) => res.send(`got ${req.body.length}`));
  let hung;
  const reached = new Promise((resolve) => { hung = resolve; });
  app.get('/hang', (req, res) => { res.write('partial'); hung(); }); // never ends
  const { server, url } = await listen(app);
  try {
    // No Content-Length: the body arrives chunked and is counted as the parser pushes it.
    const response = await new Promise((resolve, reject) => {
      const req = http.request(`${url}/upload`, { method: 'POST', headers: { 'content-type': 'text/plain' } }, (res) => {
        let text = '';
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.write('abc');
      req.end('defg');
    });
    assert.equal(response, 'got 7');
    const gone = new AbortController();
    const hanging = fetch(`${url}/hang`, { signal: gone.signal }).then((r) => r.body.getReader().read());
    await reached;
    gone.abort();
    await hanging.catch(() => {});
    await eventually(async () => (await requests(sonde)).length === 2);
  } finally {
    server.closeAllConnections();
    await close(server);
  }
  for (const client of [sonde, other]) {
    await client.flush();
    const [upload, hang] = await requests(client);
    assert.equal(upload['http.route'], '/upload');
    assert.equal(upload['http.request.body.size'], 7);
    assert.equal(upload['http.response.body.size'], Buffer.byteLength('got 7'));
    assert.equal(hang['http.route'], '/hang');
    assert.equal(hang['error.type'], 'ClientAborted');
    assert.equal(hang['http.response.body.size'], Buffer.byteLength('partial'));
    assert.equal((await requests(client)).length, 2, 'recorded once each');
    await client.shutdown();
  }
});

test('HTTP/2 responses (not node:http ones) are hooked on themselves: status, sizes, timing, process time', async () => {
  const http2 = require('node:http2');
  const sonde = storeClient();
  const server = http2.createServer(sonde.wrap((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'text/plain' });
      res.write('echo:');
      res.end(body);
    });
  }, { route: (req) => req.url.split('?')[0], processTimeHeader: true }));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const session = http2.connect(`http://127.0.0.1:${server.address().port}`);
  const call = (method, url, body) => new Promise((resolve, reject) => {
    const stream = session.request({ ':method': method, ':path': url });
    let headers;
    let text = '';
    stream.on('response', (h) => { headers = h; });
    stream.on('data', (d) => { text += d; });
    stream.on('end', () => resolve({ headers, text }));
    stream.on('error', reject);
    stream.end(body);
  });
  try {
    const posted = await call('POST', '/notes', 'hello');
    assert.equal(posted.headers[':status'], 201);
    assert.equal(posted.text, 'echo:hello');
    assert.ok(Number(posted.headers['x-process-time']) > 0);
    assert.equal((await call('GET', '/notes')).text, 'echo:');
  } finally {
    session.close();
    await close(server);
  }
  await sonde.flush();
  const [post, get] = await requests(sonde);
  assert.deepEqual([post['http.route'], post['http.response.status_code'], get['http.response.status_code']], ['/notes', 201, 200]);
  assert.equal(post['http.request.body.size'], 5);
  assert.equal(post['http.response.body.size'], Buffer.byteLength('echo:hello'));
  assert.equal(get['http.request.body.size'], 0);
  assert.ok(post.ttfb_ms <= post.duration_ms);
  assert.equal(post['error.type'], undefined);
  await sonde.shutdown();
});

test('exclusions, sampling and client privacy', async () => {
  const sonde = storeClient({ ipPolicy: 'anonymize' });
  const app = express();
  app.use(sonde.middleware({ excludePaths: ['^/health$'], excludeMethods: ['DELETE'], trustForwarded: true }));
  app.get('/health', (req, res) => res.send('ok'));
  app.delete('/items/:id', (req, res) => res.sendStatus(204));
  app.get('/items/:id', (req, res) => res.send('item'));
  const quiet = storeClient({ ipPolicy: 'drop' });
  const sampled = express();
  sampled.use(quiet.middleware({ requestSampleRate: 0 }));
  sampled.get('/items/:id', (req, res) => res.send('item'));
  const a = await listen(app);
  const b = await listen(sampled);
  try {
    await fetch(`${a.url}/health`);
    await fetch(`${a.url}/items/1`, { method: 'DELETE' });
    await fetch(`${a.url}/items/1`, { headers: { 'x-forwarded-for': '203.0.113.77, 10.0.0.1' } });
    for (let i = 0; i < 10; i++) await (await fetch(`${b.url}/items/${i}`)).text();
  } finally {
    await close(a.server);
    await close(b.server);
  }
  await sonde.flush();
  await quiet.flush();
  const [only, ...rest] = await requests(sonde);
  assert.equal(rest.length, 0);
  assert.equal(only['http.route'], '/items/:id');
  assert.equal(only['client.address'], '203.0.113.0');
  assert.deepEqual(await requests(quiet), []);
  assert.equal(quiet.stats().routes['GET /items/:id'].count, 10);
  assert.throws(() => sonde.middleware({ requestSampleRate: 2 }), (e) => e.code === 'invalid_config');
  // The old names say where the setting went.
  assert.throws(() => sonde.middleware({ sampleRate: 0.5 }), (e) => /request_sample_rate/.test(e.violations[0].message));
  assert.throws(() => sonde.middleware({ clientAddress: 'omit' }), (e) => /ip_policy/.test(e.violations[0].message));
  assert.equal(anonymize('2001:db8:85a3:8d3:1319:8a2e:370:7348'), '2001:db8:85a3::');
});

test('node:http handlers: wrap() records requests and turns throws into 500s', async () => {
  const sonde = storeClient();
  const handler = sonde.wrap(async (req, res) => {
    if (req.url === '/fail') throw new TypeError('bad input');
    res.setHeader('content-type', 'text/plain');
    res.end('hello');
  }, { route: (req) => (req.url === '/fail' ? '/fail' : '/hello') });
  const { server, url } = await listen(handler);
  try {
    assert.equal(await (await fetch(`${url}/hello`)).text(), 'hello');
    assert.equal((await fetch(`${url}/fail`)).status, 500);
  } finally {
    await close(server);
  }
  await sonde.flush();
  const found = await requests(sonde);
  assert.deepEqual(found.map((r) => [r['http.route'], r['http.response.status_code']]), [['/hello', 200], ['/fail', 500]]);
  assert.equal(found[0]['http.response.body.size'], 5);
  assert.equal(found[1]['error.type'], 'TypeError');
  assert.equal((await sonde.queryEvents({ event: '$error' })).events.length, 1);
  await sonde.shutdown();
});

test('fastify plugin: templates, errors, exclusions', async () => {
  const Fastify = require('fastify');
  const sonde = storeClient();
  const app = Fastify();
  await app.register(sonde.fastify(), { excludePaths: ['^/health$'] });
  app.get('/health', async () => 'ok');
  app.get('/items/:id', async (request) => ({ id: request.params.id }));
  app.get('/boom', async () => { throw new SyntaxError('broken'); });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    await fetch(`${url}/health`);
    assert.equal((await (await fetch(`${url}/items/5`)).json()).id, '5');
    assert.equal((await fetch(`${url}/boom`)).status, 500);
    assert.equal((await fetch(`${url}/nope`)).status, 404);
  } finally {
    await app.close();
  }
  await sonde.flush();
  const found = await requests(sonde);
  assert.deepEqual(found.map((r) => [r['http.route'], r['http.response.status_code']]), [
    ['/items/:id', 200],
    ['/boom', 500],
    ['__unmatched__', 404],
  ]);
  assert.equal(found[1]['error.type'], 'SyntaxError');
  assert.ok(found[0]['http.response.body.size'] > 0);
  assert.equal((await sonde.queryEvents({ event: '$error' })).events[0].properties['error.type'], 'SyntaxError');
  await sonde.shutdown();
});

test('identify names the user of each request; the rest are personless; a throwing hook is no user', async () => {
  const sonde = storeClient();
  const app = express();
  app.use((req, res, next) => { req.user = req.get('x-user') ? { id: req.get('x-user') } : undefined; next(); });
  app.use(sonde.middleware({
    identify: (req) => {
      if (req.user?.id === 'explode') throw new Error('bug in identify');
      return req.user?.id;
    },
  }));
  app.get('/me', (req, res) => res.json({ ok: true }));
  const { server, url } = await listen(app);
  try {
    for (const user of ['u-42', undefined, 'explode']) {
      const res = await fetch(`${url}/me`, { headers: user ? { 'x-user': user } : {} });
      assert.equal(res.status, 200);
    }
  } finally {
    await close(server);
  }
  await sonde.flush();
  const events = (await sonde.queryEvents({ event: '$api_request', order: 'asc', limit: 10 })).events;
  assert.deepEqual(events.map((e) => [e.userId ?? null, e.anonymousId ?? null]),
    [['u-42', null], [null, '$personless'], [null, '$personless']]);
  // The app's own events must name their person on a server.
  assert.throws(() => sonde.track('Checkout'), (e) => e.violations[0].code === 'missing_identity');
  assert.throws(() => sonde.middleware({ identify: 'user' }), (e) => e.code === 'invalid_config');
  await sonde.shutdown();
});
