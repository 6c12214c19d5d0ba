'use strict';
// Koa (with @koa/router) and Hono (on @hono/node-server) with real servers on 127.0.0.1:
// route templates, unmatched paths, errors, identify from the framework's context.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Koa = require('koa');
const Router = require('@koa/router');
const { Hono } = require('hono');
const { serve } = require('@hono/node-server');
const { Sonde } = require('..');

const storeClient = () => new Sonde({ store: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sonde-fw-')), 'fw.db'), flushOnExit: false });

async function recorded(sonde) {
  await sonde.flush();
  const page = await sonde.queryEvents({ order: 'asc', limit: 100 });
  return page.events;
}

function summary(events) {
  return events.filter((e) => e.event === '$api_request').map((e) => [
    e.properties['http.route'], e.properties['http.response.status_code'], e.userId ?? e.anonymousId]);
}

test('koa: router templates, unmatched, thrown errors, identify(ctx)', async () => {
  const sonde = storeClient();
  const app = new Koa();
  app.silent = true;
  app.use(sonde.koa({ identify: (ctx) => ctx.state.user }));
  app.use(async (ctx, next) => { ctx.state.user = ctx.get('x-user') || undefined; await next(); });
  const router = new Router();
  router.get('/items/:id', (ctx) => { ctx.body = { id: ctx.params.id }; });
  router.get('/boom', () => { throw new RangeError('out of range'); });
  app.use(router.routes());
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  try {
    assert.deepEqual(await (await fetch(`${url}/items/7`, { headers: { 'x-user': 'u-7' } })).json(), { id: '7' });
    assert.equal((await fetch(`${url}/nowhere`)).status, 404);
    assert.equal((await fetch(`${url}/boom`)).status, 500);
  } finally {
    await new Promise((r) => server.close(r));
  }
  const events = await recorded(sonde);
  assert.deepEqual(summary(events), [
    ['/items/:id', 200, 'u-7'],
    ['__unmatched__', 404, '$personless'],
    ['/boom', 500, '$personless'],
  ]);
  const error = events.find((e) => e.event === '$error');
  assert.equal(error.properties['error.type'], 'RangeError');
  await sonde.shutdown();
});

test('hono on node-server: handler templates, unmatched, errors through onError, identify(c)', async () => {
  const sonde = storeClient();
  const app = new Hono();
  app.use(sonde.hono({ identify: (c) => c.get('user') }));
  app.use(async (c, next) => { if (c.req.header('x-user')) c.set('user', c.req.header('x-user')); await next(); });
  app.get('/items/:id', (c) => c.json({ id: c.req.param('id') }));
  app.get('/boom', () => { throw new TypeError('x is undefined'); });
  app.onError((error, c) => c.text('failed', 500));
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  try {
    assert.deepEqual(await (await fetch(`${url}/items/3`, { headers: { 'x-user': 'u-3' } })).json(), { id: '3' });
    assert.equal((await fetch(`${url}/nowhere`)).status, 404);
    assert.equal((await fetch(`${url}/boom`)).status, 500);
  } finally {
    await new Promise((r) => server.close(r));
  }
  const events = await recorded(sonde);
  assert.deepEqual(summary(events), [
    ['/items/:id', 200, 'u-3'],
    ['__unmatched__', 404, '$personless'],
    ['/boom', 500, '$personless'],
  ]);
  assert.equal(events.find((e) => e.event === '$error').properties['error.type'], 'TypeError');
  // Outside node-server there is no Node response to observe: a clear error.
  const bare = new Hono();
  bare.use(sonde.hono());
  bare.get('/', (c) => c.text('ok'));
  bare.onError((error, c) => c.text(error.message, 500));
  const answer = await bare.request('/');
  assert.match(await answer.text(), /@hono\/node-server/);
  await sonde.shutdown();
});
