'use strict';
// HTTP adapters for Express/Connect, Fastify, Koa, Hono and plain `node:http`: each framework's hooks
// and clocks, and nothing else. What a request records (exclusion, sampling, client
// address, the `__unmatched__` bucket, status, `$error`) is decided by the core's
// RequestRecorder, and what the analytics API answers by the core's Api (core/src/http/).

const http = require('node:http');
const { NativeRecorder, NativeHttpApi, anonymize } = require('./native');

const kNative = Symbol.for('sonde.native');
const kError = Symbol('sondeError');
const kRoute = Symbol('sondeRoute');
const kContext = Symbol('sondeContext');

const errorName = (error) => error?.constructor?.name || error?.name || 'Error';
const pathOf = (req) => (req.originalUrl || req.url || '').split('?')[0];

/** The native recorder from middleware options; `route(req)` stays in JS (a framework hook). */
function recorder(opts = {}) {
  const { route, identify, ...options } = opts;
  if (identify !== undefined && typeof identify !== 'function') {
    const error = new TypeError('identify must be a function: (req, res) => userId | null');
    error.code = 'invalid_config';
    throw error;
  }
  const rules = new NativeRecorder(JSON.stringify(options));
  hookResponses();
  return { rules, route: route || expressRoute, identify, processTimeHeader: rules.processTimeHeader };
}

/**
 * Who made the request, from the `identify(req, res)` hook: a user id, or null (then the
 * request's events are personless, never merged into one process-wide person). A hook that
 * throws counts as no user: instrumentation never breaks the response.
 */
function userOf(rec, req, res) {
  if (!rec.identify) return null;
  try {
    const user = rec.identify(req, res);
    return user == null || user === '' ? null : String(user);
  } catch {
    return null;
  }
}

/** Express's matched route (`baseUrl` + `route.path`); `undefined` when none matched. */
function expressRoute(req) {
  const route = req.route && req.route.path;
  if (typeof route !== 'string') return undefined;
  return `${req.baseUrl || ''}${route}` || '/';
}

/** Remembers the error a request ended with, for the record made when it ends. */
function remember(res, error) {
  if (res) res[kError] = error;
}

const kExchange = Symbol('sondeExchange');

/** The size of a body chunk as `write`/`end`/`push` take it. */
const sizeOf = (chunk, encoding) => (typeof chunk === 'string'
  ? Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding : 'utf8')
  : chunk.length);

/**
 * Whether a request may have a body: HTTP/1 requests declare one (`Content-Length` above 0,
 * or chunked); HTTP/2 need not, so theirs are always counted.
 */
function mayHaveBody(req) {
  if (req.httpVersionMajor >= 2) return true;
  const { headers } = req;
  const length = headers['content-length'];
  return (length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined;
}

/**
 * One request in flight: body bytes received (as the HTTP parser pushes them) and sent, time
 * to first byte, and the end of the response or the client going away, when the facts go to
 * the core in one call (which also decides whether the request is excluded). It sits on
 * `res` (and `req`) under a symbol, and the hooks below are the same functions for every
 * request: a fresh closure per request and per method cost V8 more than the rest of the
 * middleware (BENCHMARKS.md).
 */
class Exchange {
  constructor(native, rec, req) {
    this.native = native;
    this.rec = rec;
    this.req = req;
    this.started = performance.now();
    this.firstByte = 0;
    this.requestBytes = 0;
    this.responseBytes = 0;
    this.recorded = false;
    // Inside the response's own `end`, which may write its chunk through `write` (HTTP/2's
    // does): that chunk is counted once, by the `end` hook.
    this.ending = false;
    // More [native, rec] pairs when several Sonde middlewares observe the same request.
    this.more = null;
    // What the hooks of a response or request hooked on itself hand on to (set by `observe`).
    this.writeHead = null;
    this.write = null;
    this.end = null;
    this.push = null;
  }

  ms(t) {
    return t - this.started;
  }

  record(res, aborted) {
    if (this.recorded) return;
    this.recorded = true;
    this.recordWith(this.native, this.rec, res, aborted);
    if (this.more) for (const [native, rec] of this.more) this.recordWith(native, rec, res, aborted);
  }

  recordWith(native, rec, res, aborted) {
    const { req } = this;
    const error = res[kError];
    const failed = error !== undefined;
    try {
      rec.rules.record(
        native,
        req.method,
        pathOf(req),
        rec.route(req) || null,
        aborted && !res.headersSent ? null : res.statusCode,
        this.ms(performance.now()),
        this.firstByte ? this.ms(this.firstByte) : null,
        req.socket?.remoteAddress ?? null,
        this.requestBytes,
        this.responseBytes,
        req.headers,
        failed ? errorName(error) : null,
        failed ? String(error?.message ?? error) : null,
        failed && typeof error?.stack === 'string' ? error.stack : null,
        aborted,
        userOf(rec, req, res),
      );
    } catch {
      // Instrumentation never breaks the response it observes.
    }
  }
}

// The exchange's side of each hook, shared by both ways of hooking below.
function onHead(x, res) {
  if (x.firstByte) return;
  x.firstByte = performance.now();
  const { rec, req } = x;
  if (rec.processTimeHeader && !res.headersSent && !rec.rules.excludes(req.method, pathOf(req))) {
    res.setHeader('X-Process-Time', (x.ms(x.firstByte) / 1000).toFixed(6));
  }
}

function onChunk(x, chunk, encoding) {
  if (chunk != null && typeof chunk !== 'function' && !x.ending) x.responseBytes += sizeOf(chunk, encoding);
}

/** The response's own `end`, with `write`s it makes meanwhile not counted again. */
function endOnce(x, end, res, chunk, encoding, cb) {
  onChunk(x, chunk, encoding);
  x.ending = true;
  try {
    return end.call(res, chunk, encoding, cb);
  } finally {
    x.ending = false;
  }
}

// Recorded in the tick that completes the response, not at 'finish' (a later tick, by which
// time the client may have the response and the client may have shut down).
function onEnded(x, res) {
  if (res.writableEnded) x.record(res, false);
}

/**
 * `node:http` responses (Express, Fastify, Koa and Hono all answer with one) are hooked once,
 * on `ServerResponse.prototype`, the first time a middleware is made: each request then only
 * sets its exchange. Responses without an exchange pass straight through. Hooking each
 * response's own methods instead added properties to every response, which cost V8 more
 * than everything the middleware records (BENCHMARKS.md).
 */
let responsesHooked = false;
function hookResponses() {
  if (responsesHooked) return;
  responsesHooked = true;
  const proto = http.ServerResponse.prototype;
  const { writeHead, write, end } = proto;
  proto.writeHead = function writeHeadObserved() {
    const x = this[kExchange];
    if (x !== undefined) onHead(x, this);
    return writeHead.apply(this, arguments);
  };
  proto.write = function writeObserved(chunk, encoding, cb) {
    const x = this[kExchange];
    if (x !== undefined) onChunk(x, chunk, encoding);
    return write.call(this, chunk, encoding, cb);
  };
  proto.end = function endObserved(chunk, encoding, cb) {
    const x = this[kExchange];
    if (x === undefined) return end.call(this, chunk, encoding, cb);
    const result = endOnce(x, end, this, chunk, encoding, cb);
    onEnded(x, this);
    return result;
  };
}

// Any other response (HTTP/2's compatibility API, say) is hooked on itself, with the methods
// it had kept on the exchange.
function sondeWriteHead(...args) {
  const x = this[kExchange];
  onHead(x, this);
  return x.writeHead.apply(this, args);
}

function sondeWrite(chunk, encoding, cb) {
  const x = this[kExchange];
  onChunk(x, chunk, encoding);
  return x.write.call(this, chunk, encoding, cb);
}

function sondeEnd(chunk, encoding, cb) {
  const x = this[kExchange];
  const result = endOnce(x, x.end, this, chunk, encoding, cb);
  onEnded(x, this);
  return result;
}

function sondePush(chunk, encoding) {
  const x = this[kExchange];
  if (chunk != null) x.requestBytes += sizeOf(chunk, encoding);
  return x.push.call(this, chunk, encoding);
}

/** 'close' comes after 'finish', or alone when the client went away first. */
function sondeClose() {
  this[kExchange].record(this, !this.writableFinished);
}

/** Starts timing `req`/`res` (see `Exchange`). */
function observe(native, rec, req, res) {
  const observed = res[kExchange];
  if (observed) {
    // Hooked already (a second Sonde middleware): one set of hooks, each recorder told.
    (observed.more ??= []).push([native, rec]);
    return;
  }
  const x = new Exchange(native, rec, req);
  res[kExchange] = x;
  if (!(res instanceof http.ServerResponse)) {
    x.writeHead = res.writeHead;
    x.write = res.write;
    x.end = res.end;
    res.writeHead = sondeWriteHead;
    res.write = sondeWrite;
    res.end = sondeEnd;
  }
  // A request that declares no body keeps its own push.
  if (mayHaveBody(req)) {
    req[kExchange] = x;
    x.push = req.push;
    req.push = sondePush;
  }
  res.on('close', sondeClose);
}

/** `(req, res, next)` middleware for Express and Connect. */
function middleware(sonde, opts) {
  const rec = recorder(opts);
  const native = sonde[kNative];
  return function sondeMiddleware(req, res, next) {
    observe(native, rec, req, res);
    if (typeof next === 'function') next();
  };
}

/** Express error middleware: the request's record carries the error; then passes it on. */
function errorHandler() {
  return function sondeErrorHandler(err, req, res, next) {
    remember(res, err);
    next(err);
  };
}

/**
 * Wraps a plain `node:http` handler: times every request; a thrown error or a rejected
 * promise is recorded (`$error`, status 500) and answered with a 500 if nothing was sent.
 */
function wrap(sonde, handler, opts) {
  const rec = recorder({ route: () => undefined, ...opts });
  const native = sonde[kNative];
  return function sondeHandler(req, res) {
    observe(native, rec, req, res);
    const fail = (err) => {
      remember(res, err);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end('Internal Server Error');
      } else {
        res.destroy(err);
      }
    };
    try {
      const result = handler(req, res);
      if (result && typeof result.then === 'function') result.then(undefined, fail);
      return result;
    } catch (err) {
      fail(err);
      return undefined;
    }
  };
}

/**
 * A Fastify plugin (`fastify.register(sonde.fastify(), options)`): the same records from
 * Fastify's hooks, with the route template Fastify matched.
 */
function fastify(sonde) {
  const plugin = (instance, opts, done) => {
    const rec = recorder({ ...opts, route: (req) => req[kRoute] });
    const native = sonde[kNative];
    instance.addHook('onRequest', (request, reply, next) => {
      request.raw[kRoute] = request.routeOptions?.url;
      observe(native, rec, request.raw, reply.raw);
      next();
    });
    instance.addHook('onError', (request, reply, error, next) => {
      remember(reply.raw, error);
      next();
    });
    done();
  };
  // Hooks apply to the whole app, not an encapsulated child (what fastify-plugin does).
  plugin[Symbol.for('skip-override')] = true;
  plugin[Symbol.for('fastify.display-name')] = 'sonde';
  return plugin;
}

/**
 * The recorder of a framework that keeps the request in a context object (Koa's `ctx`,
 * Hono's `c`): the route is what the framework matched (set on the request once it ran),
 * and `identify` gets the context.
 */
function contextRecorder(opts = {}) {
  const { identify, ...options } = opts;
  return recorder({
    ...options,
    route: (req) => req[kRoute],
    identify: identify && ((req) => identify(req[kContext])),
  });
}

/**
 * Koa middleware (`app.use(sonde.koa(options))`, first): the route template @koa/router
 * matched (`ctx._matchedRoute`), errors thrown downstream (rethrown for Koa to answer),
 * and `identify(ctx)` for the request's user (`ctx.state.user`, say).
 */
function koa(sonde, opts) {
  const rec = contextRecorder(opts);
  const native = sonde[kNative];
  return async function sondeKoa(ctx, next) {
    ctx.req[kContext] = ctx;
    observe(native, rec, ctx.req, ctx.res);
    try {
      await next();
    } catch (error) {
      remember(ctx.res, error);
      throw error;
    } finally {
      const matched = ctx._matchedRoute ?? ctx.routePath;
      ctx.req[kRoute] = typeof matched === 'string' ? matched : undefined;
    }
  };
}

/**
 * Hono middleware on Node (`app.use(sonde.hono(options))` with @hono/node-server): the
 * route template of the handler Hono matched, the error a handler threw (Hono answers it
 * through `onError`), and `identify(c)` for the request's user (`c.get('user')`, say).
 */
function hono(sonde, opts) {
  const rec = contextRecorder(opts);
  const native = sonde[kNative];
  return async function sondeHono(c, next) {
    const { incoming, outgoing } = c.env ?? {};
    if (!incoming || !outgoing) {
      throw new TypeError('sonde.hono() needs Node\'s request and response: serve the app with @hono/node-server');
    }
    incoming[kContext] = c;
    observe(native, rec, incoming, outgoing);
    try {
      await next();
    } finally {
      if (c.error) remember(outgoing, c.error);
      // The last route that is not a middleware (`ALL`) is the handler's.
      const handler = [...(c.req.matchedRoutes ?? [])].reverse().find((r) => r.method !== 'ALL');
      incoming[kRoute] = handler?.path;
    }
  };
}

// -- the analytics API ------------------------------------------------------------------------

/** The body, read no further than one byte past `limit` (the core answers 413). */
function readBounded(req, limit) {
  if (req.readableEnded || req.complete) {
    // A body parser ran first: hand over what it kept.
    const { body } = req;
    if (body === undefined) return Promise.resolve(undefined);
    if (Buffer.isBuffer(body)) return Promise.resolve(body);
    return Promise.resolve(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
  }
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    const finish = (error) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', finish);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (chunk) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        req.pause();
        finish();
      }
    };
    const onEnd = () => finish();
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', finish);
  });
}

/** The core's Api over a client: `answer(req, path, query)` resolves to the response to send. */
function analyticsApi(sonde, opts = {}) {
  const native = new NativeHttpApi(sonde[kNative], JSON.stringify(opts));
  const limit = native.bodyLimit();
  return async function answer(req, path, query) {
    const { method } = req;
    const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? await readBounded(req, limit) : undefined;
    const headers = Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]);
    return native.runsInline(method, path)
      ? native.handle(method, path, query, headers, body)
      : native.handleAsync(method, path, query, headers, body);
  };
}

function send(res, out) {
  res.statusCode = out.status;
  for (const [name, value] of out.headers) res.setHeader(name, value);
  res.end(out.body);
}

function splitUrl(url) {
  const at = url.indexOf('?');
  return at < 0 ? [url, ''] : [url.slice(0, at), url.slice(at + 1)];
}

function failed(res, next, error) {
  if (typeof next === 'function') return next(error);
  if (!res.headersSent) res.statusCode = 500;
  return res.end();
}

/**
 * Express/Connect router for the analytics API, to mount on a path:
 * `app.use('/analytics', sonde.router({ apiKey }))`. Paths that are not API endpoints go on
 * to `next()`.
 */
function router(sonde, opts) {
  const answer = analyticsApi(sonde, opts);
  return function sondeRouter(req, res, next) {
    const [path, query] = splitUrl(req.url || '/');
    if (!NativeHttpApi.serves(path) && typeof next === 'function') return next();
    return answer(req, path, query).then((out) => send(res, out), (error) => failed(res, next, error));
  };
}

/**
 * A `node:http` handler for the analytics API under `prefix` (default `/analytics`):
 * `if (analytics(req, res)) return;` in a request listener. Returns whether it took the
 * request; with a `next` argument, calls it for other paths instead.
 */
function handler(sonde, opts = {}) {
  const { prefix = '/analytics', ...apiOptions } = opts;
  const answer = analyticsApi(sonde, apiOptions);
  const base = prefix.replace(/\/+$/, '');
  return function sondeHandler(req, res, next) {
    const [full, query] = splitUrl(req.url || '/');
    if (full !== base && !full.startsWith(`${base}/`)) {
      if (typeof next === 'function') next();
      return false;
    }
    const path = full.slice(base.length) || '/';
    answer(req, path, query).then((out) => send(res, out), (error) => failed(res, next, error));
    return true;
  };
}

/**
 * A Fastify plugin serving the analytics API:
 * `fastify.register(sonde.fastifyRouter({ apiKey }), { prefix: '/analytics' })`. Bodies are
 * left unparsed for the core (decompression and limits included).
 */
function fastifyRouter(sonde, opts) {
  const answer = analyticsApi(sonde, opts);
  return async function sondeApi(instance) {
    instance.removeAllContentTypeParsers();
    // Leave the stream unread: the core reads it with its own bound.
    instance.addContentTypeParser('*', (request, payload, done) => done(null));
    instance.route({
      method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      url: '/*',
      handler: async (request, reply) => {
        const [, query] = splitUrl(request.url);
        const out = await answer(request.raw, `/${request.params['*']}`, query);
        reply.code(out.status);
        for (const [name, value] of out.headers) reply.header(name, value);
        return reply.send(out.body);
      },
    });
  };
}

module.exports = { middleware, errorHandler, wrap, fastify, koa, hono, router, handler, fastifyRouter, anonymize, kNative, UNMATCHED: '__unmatched__' };
