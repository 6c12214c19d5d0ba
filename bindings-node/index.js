'use strict';
// The public Node API over the native addon (`sonde.node`, built from src/ by `make`):
// promises for waits, timing helpers, exit hooks. Everything else is the core's.

const { NativeSonde } = require('./native');
const http = require('./middleware');

/** A core error as a real Error with `code` and `violations` (from a task's result). */
function coreError(data) {
  const error = new Error(data.message);
  error.name = 'SondeError';
  error.code = data.code;
  error.violations = data.violations;
  return error;
}

// Objects cross to the addon as JSON text and results come back as JSON text:
// JSON.stringify / JSON.parse in V8 are far cheaper than walking objects through N-API.
// (Dates become RFC 3339 text on the way, through their toJSON.)
const json = (value) => (value == null ? undefined : JSON.stringify(value));

/**
 * An event's object (properties, traits, options) as JSON text. JSON.stringify writes NaN
 * and ±Infinity as null without a word; the event is refused instead, every such number at
 * its path (`/properties/price`), as the Python binding refuses them. Only text holding a
 * null is searched (most events hold none; a real null costs one quick pass).
 */
function eventJson(value, at) {
  if (value == null) return undefined;
  const text = JSON.stringify(value);
  if (text.includes('null') && hasNonFinite(value, 0)) refuseNonFinite(value, at);
  return text;
}

/**
 * Whether `v` holds NaN or an infinity (`x - x` is NaN for both): no paths built, since most
 * nulls are real. `Object.values` is what JSON.stringify reads (own enumerable keys) and,
 * with numbers tested before recursing, runs in half the time of a `for...in` walk.
 */
function hasNonFinite(v, depth) {
  if (typeof v === 'number') return v - v !== 0;
  if (v === null || typeof v !== 'object' || depth >= 64 || typeof v.toJSON === 'function') return false;
  const items = Array.isArray(v) ? v : Object.values(v);
  for (let i = 0; i < items.length; i++) {
    const x = items[i];
    if (typeof x === 'number' ? x - x !== 0 : x !== null && typeof x === 'object' && hasNonFinite(x, depth + 1)) return true;
  }
  return false;
}

const pointerKey = (key) => String(key).replaceAll('~', '~0').replaceAll('/', '~1');

function refuseNonFinite(value, at) {
  const violations = [];
  const walk = (v, path, depth) => {
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) violations.push({ path, code: 'invalid_type', message: `${v} is not a JSON number (NaN or infinite)` });
    } else if (v !== null && typeof v === 'object' && typeof v.toJSON !== 'function' && depth < 64) {
      for (const key of Object.keys(v)) walk(v[key], `${path}/${pointerKey(key)}`, depth + 1);
    }
  };
  walk(value, at, 0);
  if (violations.length === 0) return;
  const [first] = violations;
  const more = violations.length > 1 ? ` (and ${violations.length - 1} more)` : '';
  throw coreError({ code: 'invalid_event', message: `invalid_event: ${first.path}: ${first.message} (invalid_type)${more}`, violations });
}

/** Whether `key` is the only enumerable key of `object`. */
function onlyKey(object, key) {
  for (const k in object) if (k !== key) return false;
  return true;
}

/** A thread-pool task's result (`src/client.rs`, `Work`): its value, or its error thrown as a SondeError. */
async function settled(task) {
  const { value, error } = JSON.parse(await task);
  if (error) throw coreError(error);
  return value;
}

// Clients that flush at exit, and the one set of process hooks that serves them all.
const live = new Set();
let hooked = false;

function hookProcess() {
  if (hooked) return;
  hooked = true;
  process.on('beforeExit', () => {
    for (const client of [...live]) client.shutdown(client.exitTimeoutMs).catch(() => {});
  });
  for (const signal of ['SIGTERM', 'SIGINT']) {
    const onSignal = async () => {
      const clients = [...live].filter((c) => c.handleSignals);
      // Deliver what is buffered while still accepting: requests the server is draining
      // are still recorded.
      await Promise.all(clients.map((c) => c.flush(c.exitTimeoutMs).catch(() => {})));
      if (process.listenerCount(signal) > 1) {
        // The app handles this signal (a graceful close, say): it decides when the process
        // ends, and beforeExit shuts the clients down once its work is done.
        return;
      }
      await Promise.all(clients.map((c) => c.shutdown(c.exitTimeoutMs).catch(() => {})));
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

class Sonde {
  #native;
  /** The per-event calls as plain functions bound to the client (the addon's `hot.rs`). */
  #calls;

  /** The addon's client, for the HTTP adapters in middleware.js (not public API). */
  get [http.kNative]() { return this.#native; }

  /**
   * @param {object} options the core's options in camelCase (`sampleRate`, `trackingPlan`,
   *   `batchSize`, `flushIntervalMs`, ...; every duration in milliseconds) plus
   *   destinations: `store` (SQLite file or `postgresql://` URL), `console`, `jsonl`,
   *   `endpoint` (a collector's batch URL, with `writeKey`, `forwardFormat`,
   *   `httpTimeoutMs`), and `sink` (a function receiving each batch as an array of events;
   *   it may return a promise, which is awaited: a rejection retries the batch;
   *   `sinkTimeoutMs`, default 30000, bounds each wait, and a call still running then is
   *   waited for again rather than repeated).
   *   Tests and local runs: `disabled: true` validates and sends nothing (no destination
   *   needed); `debug: true` logs each delivered batch through `logger.debug`.
   *   Failures: `onError(error, events)` is called for lost events (and for refused ones
   *   under `onInvalid: 'warn'`); `logger` (default `console`) gets warnings and errors.
   *   `onInvalid` ('raise', 'warn' or 'drop'; default 'raise' when disabled, in debug mode
   *   or under `node --test`/`NODE_ENV=test`, else 'warn') decides what a tracking call
   *   does with an event it cannot accept. `beforeSend(event)` returns the event (changed
   *   or not) or null to drop it, for the events this process tracks.
   *   `SONDE_*` environment variables fill options not passed (see the README).
   *   Lifecycle: `flushOnExit` (default true), `handleSignals` (default true),
   *   `exitTimeoutMs` (default 2000).
   */
  constructor(options = {}) {
    const {
      sink, sinkTimeoutMs, flushOnExit = true, handleSignals = true, exitTimeoutMs = 2000,
      onError, logger = console, beforeSend, ...rest
    } = options;
    for (const [name, value] of [['sink', sink], ['onError', onError], ['beforeSend', beforeSend]]) {
      if (value !== undefined && typeof value !== 'function') {
        const error = new TypeError(`${name} must be a function`);
        error.code = 'invalid_config';
        throw error;
      }
    }
    if (!logger || ['debug', 'warn', 'error'].some((level) => typeof logger[level] !== 'function')) {
      const error = new TypeError('logger must have debug, warn and error methods (console does)');
      error.code = 'invalid_config';
      throw error;
    }
    if (sinkTimeoutMs !== undefined && !(Number.isInteger(sinkTimeoutMs) && sinkTimeoutMs > 0 && sinkTimeoutMs < 2 ** 32)) {
      const error = new TypeError(`sinkTimeoutMs must be a positive integer of milliseconds, got ${sinkTimeoutMs}`);
      error.code = 'invalid_config';
      throw error;
    }
    this.#onError = onError;
    this.#logger = logger;
    this.#beforeSend = beforeSend;
    // Always async: the worker awaits the promise, so a rejection (or a throw) is a failed
    // delivery that is retried, never an unhandled rejection or a false success.
    const nativeSink = sink ? async (json) => { await sink(JSON.parse(json)); } : undefined;
    const onNotice = (json) => this.#notice(JSON.parse(json));
    this.#native = new NativeSonde(JSON.stringify(rest), nativeSink, sinkTimeoutMs, onNotice);
    this.#calls = this.#native.eventCalls();
    for (const warning of JSON.parse(this.#native.environmentWarnings)) this.#logger.warn(`sonde: ${warning}`);
    this.exitTimeoutMs = exitTimeoutMs;
    this.handleSignals = handleSignals;
    if (flushOnExit) {
      live.add(this);
      hookProcess();
    }
  }

  #onError;
  #logger;
  #beforeSend;
  /** `onInvalid: 'warn'` lines: the mistake's code and violations -> { at, held }. */
  #warned = new Map();

  /** A notice from the core: lost events (logged, given to onError), deliveries in debug mode. */
  #notice(notice) {
    if (notice.kind === 'delivered') {
      if (this.options.debug) this.#logger.debug(`sonde: batch ${notice.batch} delivered (${notice.events} events)`);
      return;
    }
    const error = coreError({ code: notice.code, message: notice.message });
    error.reason = notice.reason;
    this.#logger.error(`sonde: ${notice.message}`);
    this.#tellOnError(error, notice.events);
  }

  #tellOnError(error, events) {
    if (!this.#onError) return;
    try {
      this.#onError(error, events);
    } catch (raised) {
      this.#logger.error(`sonde: onError threw ${raised?.stack ?? raised}`);
    }
  }

  /** A tracking call could not take its event: what `onInvalid` says (raise, warn or drop). */
  #refused(error, event) {
    const policy = this.#native.invalidPolicy;
    // A client that was shut down cannot take the event whatever it holds: that is the
    // caller's to know (a server draining requests answers them as failed).
    if (policy === 'raise' || error?.code === 'shut_down') throw error;
    if (policy === 'warn') {
      // One line a second per kind of mistake, saying how many it stands for: a hot loop of
      // mistakes must not flood the log (onError still hears about every event).
      // The same mistake (code and where) is held back; a different one is written.
      const key = `${error.code} ${(error.violations ?? []).map((v) => `${v.path}:${v.code}`).join(' ')}`;
      const now = performance.now();
      const seen = this.#warned.get(key);
      if (!seen || now - seen.at >= 1000) {
        const more = seen?.held ? ` (${seen.held} more like it since the last report)` : '';
        this.#logger.warn(`sonde: event dropped (onInvalid: 'warn'): ${error.message}${more}`);
        this.#warned.set(key, { at: now, held: 0 });
      } else {
        seen.held += 1;
      }
      this.#tellOnError(error, [event]);
    }
    return null;
  }

  /**
   * Runs the call, through `beforeSend` when there is one: `event` is the Segment-shaped
   * message the call describes; `send` takes it (changed or not) to the addon.
   */
  #record(event, send) {
    try {
      if (this.#beforeSend) {
        let changed;
        try {
          changed = this.#beforeSend({ ...event });
        } catch (raised) {
          this.#logger.error(`sonde: beforeSend threw ${raised?.stack ?? raised}; the event goes on unchanged`);
          changed = event;
        }
        if (changed == null) {
          this.#native.recordFiltered();
          return null;
        }
        if (typeof changed !== 'object' || changed.type !== event.type) {
          this.#logger.error(`sonde: beforeSend must return the event (an object of type '${event.type}') or null; the event goes on unchanged`);
          changed = event;
        }
        return send(changed);
      }
      return send(event);
    } catch (error) {
      return this.#refused(error, event);
    }
  }

  track(event, properties, options) {
    if (!this.#beforeSend) {
      // The hot path: no event object built.
      try {
        // The common call names only its user: the id crosses as a string, not as JSON.
        if (typeof options?.userId === 'string' && onlyKey(options, 'userId')) {
          return this.#calls.trackFor(event, eventJson(properties, '/properties'), options.userId);
        }
        return this.#calls.track(event, eventJson(properties, '/properties'), eventJson(options, ''));
      } catch (error) {
        return this.#refused(error, { ...options, type: 'track', event, properties });
      }
    }
    return this.#record({ ...options, type: 'track', event, properties },
      ({ type, event: name, properties: props, ...envelope }) => this.#calls.track(name, eventJson(props, '/properties'), eventJson(envelope, '')));
  }
  page(name, properties, options) {
    return this.#record({ ...options, type: 'page', name, properties },
      ({ type, name: n, properties: props, ...envelope }) => this.#native.page(n, eventJson(props, '/properties'), eventJson(envelope, '')));
  }
  screen(name, properties, options) {
    return this.#record({ ...options, type: 'screen', name, properties },
      ({ type, name: n, properties: props, ...envelope }) => this.#native.screen(n, eventJson(props, '/properties'), eventJson(envelope, '')));
  }
  identify(userId, traits, options) {
    return this.#record({ ...options, type: 'identify', userId, traits },
      ({ type, userId: id, traits: t, ...envelope }) => this.#native.identify(id, eventJson(t, '/traits'), eventJson(envelope, '')));
  }
  group(groupId, traits, options) {
    return this.#record({ ...options, type: 'group', groupId, traits },
      ({ type, groupId: id, traits: t, ...envelope }) => this.#native.group(id, eventJson(t, '/traits'), eventJson(envelope, '')));
  }
  /**
   * Merges two identities: `{ previousId, userId }` (an object, as in @segment/analytics-node:
   * two positional strings are too easy to swap), plus the usual options.
   */
  alias(identities, options) {
    if (identities === null || typeof identities !== 'object') {
      const error = new TypeError("alias takes { previousId, userId } (an object), e.g. alias({ previousId: anonymousId, userId: '42' })");
      error.code = 'invalid_event';
      return this.#refused(error, { ...options, type: 'alias', userId: identities });
    }
    const { previousId, userId, ...envelope } = identities;
    return this.#record({ ...envelope, ...options, type: 'alias', previousId, userId },
      ({ type, previousId: p, userId: u, ...rest }) => this.#native.alias(u, p, eventJson(rest, '')));
  }
  trackApiRequest(request) {
    return this.#guard({ type: 'track', event: '$api_request', request },
      () => this.#native.trackApiRequest(JSON.stringify(request)));
  }
  recordRequest(method, route, statusCode, durationMs) {
    this.#native.recordRequest(method, route, statusCode, durationMs);
  }
  trackPerformance(operation, durationMs, options) {
    return this.#guard({ type: 'track', event: '$performance', operation, durationMs },
      () => this.#native.trackPerformance(operation, durationMs, eventJson(options, '')));
  }
  trackInteraction(action, target, options) {
    return this.#guard({ type: 'track', event: '$interaction', action, target },
      () => this.#native.trackInteraction(action, target, eventJson(options, '')));
  }
  trackError(errorType, message, options) {
    return this.#guard({ type: 'track', event: '$error', errorType, message },
      () => this.#native.trackError(errorType, message, eventJson(options, '')));
  }

  /** The reserved events: `onInvalid` applies; `beforeSend` does not (they are Sonde's own). */
  #guard(event, send) {
    try {
      return send();
    } catch (error) {
      return this.#refused(error, event);
    }
  }

  /** Segment-shaped body (string, Buffer or object); per-item results. */
  ingest(body, options = {}) {
    const raw = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    return JSON.parse(this.#native.ingest(raw, options.defaultType, options.dryRun ?? false));
  }

  register(properties) { this.#native.register(JSON.stringify(properties)); }
  unregister(key) { this.#native.unregister(key); }
  get superProperties() { return JSON.parse(this.#native.superProperties()); }
  get anonymousId() { return this.#native.anonymousId; }
  get isShutDown() { return this.#native.isShutDown; }
  get storePath() { return this.#native.storePath ?? null; }
  limits() { return JSON.parse(this.#native.limits()); }

  /**
   * Changes core options at run time (sampling, tracking plan, batching, limits, ...;
   * `null` removes one): a client built with the merged options takes over, and the
   * previous one delivers what it holds within `timeoutMs`. Destinations, `sink` and the
   * exit options cannot change. A bad option rejects with a `SondeError` naming every
   * problem and changes nothing. Built off the event loop.
   */
  async reconfigure(options, { timeoutMs = 5000 } = {}) {
    await settled(this.#native.reconfigure(JSON.stringify(options ?? {}), timeoutMs));
  }

  /** The core options in force (snake_case), as `GET /config` shows them. */
  get options() { return JSON.parse(this.#native.options()); }

  /** Delivers everything accepted so far; never blocks the event loop. */
  async flush(timeoutMs = 5000) {
    await settled(this.#native.flushAsync(timeoutMs));
  }

  /** Stops accepting events and delivers what is buffered within `timeoutMs`. */
  async shutdown(timeoutMs = 5000) {
    live.delete(this);
    // Closed here, not on the thread pool: an event tracked in the same tick as a response
    // that then reaches its client is never refused behind that client's back.
    this.#native.close();
    await settled(this.#native.shutdownAsync(timeoutMs));
  }

  stats() { return JSON.parse(this.#native.stats()); }
  /**
   * The statistics of every instance sharing the store, merged, in the Prometheus text
   * format (OpenMetrics with `{ openMetrics: true }`), as `/metrics` serves them.
   */
  async metricsText({ openMetrics = false } = {}) { return settled(this.#native.metricsText(openMetrics)); }
  systemMetrics() { return JSON.parse(this.#native.systemMetrics()); }
  alerts() { return JSON.parse(this.#native.alerts()); }
  evaluateAlerts() { return JSON.parse(this.#native.evaluateAlerts()); }

  // The store methods run SQLite on libuv's thread pool, never on the event loop: each
  // resolves to its value or rejects with the SondeError.
  /** A page of stored events: `{ events, next_cursor, total }`. */
  async queryEvents(filters) { return settled(this.#native.queryEvents(json(filters))); }
  async getEvent(messageId) { return settled(this.#native.getEvent(messageId)); }
  async updateEvent(messageId, properties, options = {}) {
    return settled(this.#native.updateEvent(messageId, JSON.stringify(properties), options.replace ?? false));
  }
  async deleteEvent(messageId) { return settled(this.#native.deleteEvent(messageId)); }
  /**
   * Deletes the stored events the filters match; how many. At least one filter, none of them
   * `undefined` or `null` (an erasure with a missing id must not wipe the store);
   * `{ all: true }` alone deletes every event.
   */
  async deleteEvents(filters) {
    // JSON.stringify would drop an undefined filter silently: send it as null, refused by name.
    const given = filters && typeof filters === 'object'
      ? Object.fromEntries(Object.entries(filters).map(([k, v]) => [k, v === undefined ? null : v]))
      : filters;
    return settled(this.#native.deleteEvents(json(given)));
  }
  async aggregate(options) { return settled(this.#native.aggregate(json(options))); }

  /**
   * Request instrumentation for Express/Connect (`app.use(sonde.middleware())`); options
   * (checked by the core): `excludePaths` (regular expressions matched at the start of the
   * path), `excludeMethods`, `requestSampleRate` for request events (statistics see every
   * request), `processTimeHeader`, `trustedProxies`
   * (how many proxies to believe) or `trustForwarded` (every hop), `route(req)` for other
   * frameworks, `identify(req, res)` for the request's user. Client addresses follow the
   * client's `ipPolicy`.
   */
  middleware(options) { return http.middleware(this, options); }

  /** Express error middleware (`app.use(sonde.errorHandler())`, after the routes). */
  errorHandler() { return http.errorHandler(); }

  /** A Fastify plugin: `fastify.register(sonde.fastify(), middlewareOptions)`. */
  fastify() { return http.fastify(this); }

  /** Koa middleware: `app.use(sonde.koa(options))`, first; `identify(ctx)` gives the user. */
  koa(options) { return http.koa(this, options); }

  /** Hono middleware (on @hono/node-server): `app.use(sonde.hono(options))`; `identify(c)` gives the user. */
  hono(options) { return http.hono(this, options); }

  /** Wraps a `node:http` handler: `http.createServer(sonde.wrap((req, res) => ...))`. */
  wrap(handler, options) { return http.wrap(this, handler, options); }

  /**
   * The analytics API and Segment-compatible collector for Express/Connect:
   * `app.use('/analytics', sonde.router({ apiKey }))`. Options: `apiKey`, `writeKeys`,
   * `protectReads`, `allowUnauthenticated`, `corsOrigins`, `maxBodyBytes`.
   */
  router(options) { return http.router(this, options); }

  /** The analytics API for `node:http` under `prefix` (default `/analytics`). */
  handler(options) { return http.handler(this, options); }

  /** The analytics API as a Fastify plugin: `fastify.register(sonde.fastifyRouter(o), { prefix })`. */
  fastifyRouter(options) { return http.fastifyRouter(this, options); }

  /**
   * Runs `fn` and records its duration as a `$performance` event; a throw or a rejection is
   * recorded with `success: false` and the error's name, then rethrown.
   */
  time(operation, fn) {
    const timer = this.startTimer(operation);
    let result;
    try {
      result = fn();
    } catch (error) {
      timer.fail(error);
      throw error;
    }
    if (result && typeof result.then === 'function') {
      return result.then(
        (value) => { timer.end(); return value; },
        (error) => { timer.fail(error); throw error; },
      );
    }
    timer.end();
    return result;
  }

  /** A timer: `end(metadata?)` records success, `fail(error, metadata?)` a failure. */
  startTimer(operation) {
    const started = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
    let done = false;
    const record = (success, errorType, metadata) => {
      if (done) return null;
      done = true;
      return this.#native.trackPerformance(operation, elapsed(), JSON.stringify({ success, errorType, metadata }));
    };
    return {
      end: (metadata) => record(true, undefined, metadata),
      fail: (error, metadata) => record(false, error?.constructor?.name || error?.name || 'Error', metadata),
    };
  }
}

module.exports = { Sonde };
