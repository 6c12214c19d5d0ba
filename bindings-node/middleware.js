'use strict';
// HTTP request instrumentation for Express/Connect and plain `node:http`: method, route
// template, status, duration to `finish`, time to first byte, body sizes, client address,
// user agent; errors become `$error` events. Options match the Python middleware's.

const net = require('node:net');

const UNMATCHED = '__unmatched__';

/** Zeroes the host part: the last octet of IPv4, the last 80 bits of IPv6. */
function anonymize(address) {
  if (net.isIPv4(address)) return address.replace(/\.\d+$/, '.0');
  if (net.isIPv6(address)) {
    const v4 = address.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i);
    if (v4) return `::ffff:${anonymize(v4[1])}`;
    const groups = address.split(':');
    return `${groups.slice(0, 3).join(':')}::`;
  }
  return address;
}

/** Express's matched route (`baseUrl` + `route.path`), else the `__unmatched__` bucket. */
function expressRoute(req) {
  const route = req.route && req.route.path;
  if (typeof route !== 'string') return UNMATCHED;
  return `${req.baseUrl || ''}${route}` || '/';
}

function options(opts = {}) {
  const {
    excludePaths = [],
    excludeMethods = ['OPTIONS'],
    sampleRate = 1,
    processTimeHeader = false,
    clientAddress = 'full',
    trustForwarded = false,
    route = expressRoute,
  } = opts;
  if (!(sampleRate >= 0 && sampleRate <= 1)) {
    const error = new RangeError(`sampleRate must be between 0 and 1, got ${sampleRate}`);
    error.code = 'invalid_config';
    throw error;
  }
  if (!['full', 'anonymize', 'omit'].includes(clientAddress)) {
    const error = new RangeError(`clientAddress must be 'full', 'anonymize' or 'omit', got ${clientAddress}`);
    error.code = 'invalid_config';
    throw error;
  }
  return {
    excluded: excludePaths.length ? new RegExp(excludePaths.map((p) => `(?:${p})`).join('|')) : null,
    excludedMethods: new Set(excludeMethods.map((m) => m.toUpperCase())),
    sampleRate,
    processTimeHeader,
    clientAddress,
    trustForwarded,
    route,
  };
}

function client(req, o) {
  if (o.clientAddress === 'omit') return undefined;
  let address;
  if (o.trustForwarded) {
    const forwarded = req.headers['x-forwarded-for'];
    if (typeof forwarded === 'string') address = forwarded.split(',')[0].trim();
  }
  address = address || (req.socket && req.socket.remoteAddress);
  if (!address) return undefined;
  return o.clientAddress === 'anonymize' ? anonymize(address) : address;
}

const errorName = (error) => error?.constructor?.name || error?.name || 'Error';

/** Records one request: an `$api_request` event when sampled, route statistics always. */
function report(sonde, o, request) {
  try {
    if (o.sampleRate >= 1 || Math.random() < o.sampleRate) {
      sonde.trackApiRequest(request);
      return;
    }
  } catch {
    // Instrumentation never breaks the response; statistics still see the request.
  }
  sonde.recordRequest(request.method, request.route, request.statusCode, request.durationMs);
}

/** Records an `$error` event; never throws over the application's own error. */
function recordError(sonde, error, route, withStack) {
  try {
    sonde.trackError(errorName(error), String(error?.message ?? error).slice(0, 1000), {
      stack: withStack && typeof error?.stack === 'string' ? error.stack.slice(0, 8000) : undefined,
      route,
    });
  } catch {
    // never mask the application's error
  }
}

/** Starts timing `req`/`res`; records when the response finishes or the client goes away. */
function observe(sonde, o, req, res) {
  const started = process.hrtime.bigint();
  const ms = (t) => Number(t - started) / 1e6;
  let firstByte = 0n;
  let responseBytes = 0;
  const count = (chunk, encoding) => {
    if (chunk == null || typeof chunk === 'function') return;
    responseBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk.length;
  };
  const { writeHead, write, end } = res;
  res.writeHead = function sondeWriteHead(...args) {
    if (!firstByte) {
      firstByte = process.hrtime.bigint();
      if (o.processTimeHeader && !res.headersSent) res.setHeader('X-Process-Time', (ms(firstByte) / 1000).toFixed(6));
    }
    return writeHead.apply(this, args);
  };
  res.write = function sondeWrite(chunk, encoding, cb) {
    count(chunk, encoding);
    return write.call(this, chunk, encoding, cb);
  };
  res.end = function sondeEnd(chunk, encoding, cb) {
    count(chunk, encoding);
    return end.call(this, chunk, encoding, cb);
  };
  let recorded = false;
  const record = (aborted) => {
    if (recorded) return;
    recorded = true;
    const error = res.locals && res.locals.sondeError;
    const declared = Number(req.headers['content-length']);
    report(sonde, o, {
      method: req.method,
      route: o.route(req) || UNMATCHED,
      statusCode: aborted && !res.headersSent ? 499 : res.statusCode,
      durationMs: ms(process.hrtime.bigint()),
      path: (req.originalUrl || req.url || '').split('?')[0],
      clientAddress: client(req, o),
      userAgent: req.headers['user-agent'],
      requestBodySize: Number.isFinite(declared) ? declared : undefined,
      responseBodySize: responseBytes,
      errorType: error ? errorName(error) : aborted ? 'ClientAborted' : undefined,
      ttfbMs: firstByte ? ms(firstByte) : undefined,
    });
  };
  res.once('finish', () => record(false));
  res.once('close', () => record(!res.writableFinished));
}

function excluded(o, req) {
  if (o.excludedMethods.has(req.method)) return true;
  return o.excluded !== null && o.excluded.test((req.originalUrl || req.url || '').split('?')[0]);
}

/** `(req, res, next)` middleware for Express and Connect. */
function middleware(sonde, opts) {
  const o = options(opts);
  return function sondeMiddleware(req, res, next) {
    if (!excluded(o, req)) observe(sonde, o, req, res);
    if (typeof next === 'function') next();
  };
}

/** Express error middleware: records an `$error` event, then passes the error on. */
function errorHandler(sonde, opts) {
  const o = options(opts);
  return function sondeErrorHandler(err, req, res, next) {
    if (res.locals) res.locals.sondeError = err;
    recordError(sonde, err, o.route(req) || UNMATCHED, true);
    next(err);
  };
}

/**
 * Wraps a plain `node:http` handler: times every request; a thrown error or a rejected
 * promise is recorded (`$error`, status 500) and answered with a 500 if nothing was sent.
 */
function wrap(sonde, handler, opts) {
  const o = options({ route: () => UNMATCHED, ...opts });
  return function sondeHandler(req, res) {
    if (!res.locals) res.locals = {};
    const skip = excluded(o, req);
    if (!skip) observe(sonde, o, req, res);
    const fail = (err) => {
      res.locals.sondeError = err;
      recordError(sonde, err, o.route(req) || UNMATCHED, true);
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
    const o = options({ route: (request) => request.routeOptions?.url, ...opts });
    const started = Symbol('sondeStarted');
    const failure = Symbol('sondeError');
    instance.addHook('onRequest', (request, reply, next) => {
      if (!excluded(o, request.raw)) request[started] = process.hrtime.bigint();
      next();
    });
    instance.addHook('onError', (request, reply, error, next) => {
      request[failure] = error;
      recordError(sonde, error, o.route(request) || UNMATCHED, true);
      next();
    });
    instance.addHook('onResponse', (request, reply, next) => {
      const begun = request[started];
      if (begun !== undefined) {
        const declared = Number(request.headers['content-length']);
        const sent = Number(reply.getHeader('content-length'));
        const error = request[failure];
        report(sonde, o, {
          method: request.method,
          route: o.route(request) || UNMATCHED,
          statusCode: reply.statusCode,
          durationMs: Number(process.hrtime.bigint() - begun) / 1e6,
          path: request.url.split('?')[0],
          clientAddress: client(request.raw, o),
          userAgent: request.headers['user-agent'],
          requestBodySize: Number.isFinite(declared) ? declared : undefined,
          responseBodySize: Number.isFinite(sent) ? sent : undefined,
          errorType: error ? errorName(error) : undefined,
        });
      }
      next();
    });
    done();
  };
  // Hooks apply to the whole app, not an encapsulated child (what fastify-plugin does).
  plugin[Symbol.for('skip-override')] = true;
  plugin[Symbol.for('fastify.display-name')] = 'sonde';
  return plugin;
}

module.exports = { middleware, errorHandler, wrap, fastify, anonymize, UNMATCHED };
