// sonde-browser: the public API over the WebAssembly core (`../pkg/sonde_wasm.js`, built by
// `make wasm`). The core validates, batches and counts; this file is the transport
// (fetch with keepalive, sendBeacon when the page goes away, a capped persistent queue for
// what could not be sent), identity persistence and timing helpers.

import initWasm, { NativeSonde } from '../pkg/sonde_wasm.js';

const BEACON_LIMIT = 64 * 1024;
// Below this a gzip header and a CORS preflight cost more than the bytes saved.
const GZIP_MIN_BYTES = 1024;
const QUEUE_KEY = 'sonde.queue';
const ANONYMOUS_KEY = 'sonde.anonymousId';
const USER_KEY = 'sonde.userId';
const SESSION_KEY = 'sonde.session';
const OPT_OUT_KEY = 'sonde.optOut';
const CONSENT_KEY = 'sonde.consent';
const SUPER_KEY = 'sonde.superProperties';
const SESSION_WRITE_INTERVAL_MS = 5000;

/** localStorage when the page may use it, else a Map that lives as long as the page. */
function storage() {
  try {
    const probe = '__sonde_probe__';
    window.localStorage.setItem(probe, '1');
    window.localStorage.removeItem(probe);
    return window.localStorage;
  } catch {
    const memory = new Map();
    return {
      getItem: (k) => (memory.has(k) ? memory.get(k) : null),
      setItem: (k, v) => memory.set(k, String(v)),
      removeItem: (k) => memory.delete(k),
    };
  }
}

/** A store that keeps nothing past the page: what is used before consent is given. */
function memoryStore() {
  const memory = new Map();
  return {
    getItem: (k) => (memory.has(k) ? memory.get(k) : null),
    setItem: (k, v) => memory.set(k, String(v)),
    removeItem: (k) => memory.delete(k),
  };
}

/**
 * An event's object (properties, traits, options) as JSON text. JSON.stringify writes NaN
 * and ±Infinity as null without a word; the event is refused instead, every such number at
 * its path (`/properties/price`), as the server bindings refuse them. Only text holding a
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
  const error = new Error(`invalid_event: ${first.path}: ${first.message} (invalid_type)${more}`);
  error.name = 'SondeError';
  error.code = 'invalid_event';
  error.violations = violations;
  throw error;
}

/** The parts of analytics.js's `context` that do not change while the page lives. */
function deviceContext() {
  const context = {};
  try {
    if (typeof navigator !== 'undefined') {
      if (navigator.userAgent) context.userAgent = navigator.userAgent;
      if (navigator.language) context.locale = navigator.language;
    }
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) context.timezone = zone;
    if (typeof screen !== 'undefined') {
      context.screen = { width: screen.width, height: screen.height, density: window.devicePixelRatio || 1 };
    }
  } catch {
    // a page without these reports what it has
  }
  return context;
}

// The event methods `Sonde.load` queues until the module is ready, and where each takes
// its options (the time of the call is kept there, so a replayed event keeps its time).
const QUEUED_METHODS = { track: 2, page: 2, screen: 2, identify: 2, group: 2, alias: 1, trackInteraction: 2, trackError: 2, trackPerformance: 2 };

/**
 * `href` without the query parameters the page did not allow (`allow`: names, or prefixes
 * ending in `*`; `true` keeps every one) and without its fragment: tokens travel in query
 * strings and fragments (password resets, OAuth redirects) and must not become analytics.
 */
function keptUrl(href, allow) {
  if (!href) return href;
  let url;
  try {
    url = new URL(href);
  } catch {
    return '';
  }
  if (allow !== true) {
    const kept = new URLSearchParams();
    for (const [name, value] of url.searchParams) {
      if (allow.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p))) kept.append(name, value);
    }
    url.search = kept.toString();
  }
  url.hash = '';
  return url.toString();
}

const QUEUE_LOCK = 'sonde.queue.resend';
const LEASE_MS = 30_000;

/**
 * Runs `work` unless another tab of this site is already running it: the Web Locks API
 * where the browser has it, else a lease in storage (taken, then read back to see who won).
 * Two tabs loading at once would otherwise both send the offline queue.
 */
async function exclusively(store, work) {
  if (navigator.locks && typeof navigator.locks.request === 'function') {
    return navigator.locks.request(QUEUE_LOCK, { ifAvailable: true }, (lock) => (lock ? work() : undefined));
  }
  const now = Date.now();
  let lease = null;
  try { lease = JSON.parse(store.getItem(QUEUE_LOCK)); } catch { lease = null; }
  if (lease && lease.until > now) return undefined;
  const mine = { owner: newId(), until: now + LEASE_MS };
  store.setItem(QUEUE_LOCK, JSON.stringify(mine));
  try {
    if (JSON.parse(store.getItem(QUEUE_LOCK))?.owner !== mine.owner) return undefined;
  } catch {
    return undefined;
  }
  try {
    return await work();
  } finally {
    store.removeItem(QUEUE_LOCK);
  }
}

/** `Retry-After` (seconds or an HTTP date) in milliseconds, or undefined. */
function retryAfter(header) {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/** `text` gzipped by the browser's own `CompressionStream`. */
async function gzip(text) {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Response(stream).arrayBuffer();
}

function randomSeed() {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return (words[0] & 0x1fffff) * 2 ** 32 + words[1]; // 53 bits: exact as a JSON number
}

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class Sonde {
  /**
   * Loads the WebAssembly core and starts a client.
   * Options: `endpoint` (a Segment-compatible batch URL, e.g. `/analytics/v1/batch`),
   * `writeKey`, `batchSize` (events per batch, 20; `flushAt` is accepted as Segment's name for it), `flushIntervalMs` (5000),
   * `sessionTimeoutMs` (30 min idle), `maxQueuedBatches` (persistent queue cap, 100),
   * `compression` (`'gzip'`, the default where the browser has `CompressionStream`, or
   * `false`), `keepQueryParams` (the query parameters page views keep in `url` and
   * `referrer`: names, or prefixes ending in `*`; default `['utm_*']`, `true` keeps all;
   * fragments are always dropped), `anonymousId` (the visitor's id when the page knows it; otherwise the one this
   * browser keeps in `localStorage`, created once), `wasmUrl`, and the core's options (`trackingPlan`, `sampleRate`, `superProperties`, ...).
   * `disabled: true` validates and sends nothing; `onInvalid` (`'raise'`, `'warn'` or
   * `'drop'`; default `'raise'` when disabled or with `debug: true`, else `'warn'`) decides
   * what a tracking call does with an event it cannot accept; `onError(error, events)` hears
   * about refused events and batches the collector refused or the offline queue dropped;
   * `beforeSend(event)` returns the event (changed or not) or null to drop it; `debug: true`
   * logs to the console (nothing is logged otherwise).
   */
  static async init(options = {}) {
    await initWasm(options.wasmUrl ? { module_or_path: options.wasmUrl } : undefined);
    const client = new Sonde(options);
    if (!client.#disabled && !client.#optedOut) client.#resendQueued();
    return client;
  }

  /**
   * A client to use at once, while the WebAssembly core loads (as posthog-js's and
   * analytics.js's snippets allow): event calls made before it is ready are queued, with
   * the time they were made, and replayed in order once it is (they return `null`; a
   * refusal then goes to `onError`, as it cannot be thrown to a call that returned).
   * `ready` resolves to the client; `flush` and `shutdown` wait for it.
   */
  static load(options = {}) {
    const queued = [];
    let client = null;
    const facade = {};
    const ready = Sonde.init(options).then((loaded) => {
      client = loaded;
      for (const [method, args] of queued.splice(0)) {
        try {
          loaded[method](...args);
        } catch (error) {
          loaded.#log('warn', `a call made before the module was ready was refused: ${error.message}`);
          loaded.#tellOnError(error, []);
        }
      }
      return loaded;
    });
    for (const [method, at] of Object.entries(QUEUED_METHODS)) {
      facade[method] = (...args) => {
        if (client) return client[method](...args);
        const given = args[at];
        args[at] = { timestamp: new Date().toISOString(), ...(given && typeof given === 'object' ? given : {}) };
        queued.push([method, args]);
        return null;
      };
    }
    for (const method of ['register', 'registerOnce', 'unregister', 'reset', 'optIn', 'optOut']) {
      facade[method] = (...args) => (client ? client[method](...args) : queued.push([method, args]) && undefined);
    }
    for (const method of ['flush', 'shutdown']) facade[method] = async () => (await ready)[method]();
    facade.stats = () => client?.stats() ?? null;
    facade.ready = ready;
    for (const name of ['anonymousId', 'userId', 'sessionId', 'optedOut']) {
      Object.defineProperty(facade, name, { get: () => client?.[name] ?? null, enumerable: true });
    }
    return facade;
  }

  #native;
  // Where the page's state persists (localStorage when allowed); before consent, in
  // consent mode, a store that forgets with the page.
  #persistent = storage();
  #store;
  #requireConsent;
  #registered = {};
  #device = deviceContext();
  #referrer;
  #pageHref = null;
  #pageContext = null;
  #endpoint;
  #sessionTimeoutMs;
  #keepQueryParams;
  #maxQueued;
  #timer = null;
  // Batches that failed in this page and wait for the core's retry: batch id -> the payload
  // kept in the offline queue meanwhile (so a page closed before the retry loses nothing).
  #awaitingRetry = new Map();
  #resending = false;
  #sending = false;
  // What happened to batches after the core handed them over (the core counts them as
  // delivered once the transport has taken them: sent, persisted for later, or refused).
  #transport = { sent_batches: 0, failed_attempts: 0, refused_batches: 0, queue_dropped_batches: 0 };
  #userId = null;
  #anonymousId;
  #optedOut;
  #gzip;
  #disabled;
  #debug;
  #onError;
  #beforeSend;

  constructor(options) {
    const {
      endpoint = '/analytics/v1/batch',
      writeKey,
      flushAt,
      batchSize = flushAt ?? 20,
      flushIntervalMs = 5000,
      sessionTimeoutMs = 30 * 60 * 1000,
      maxQueuedBatches = 100,
      autocapture = {},
      compression = 'gzip',
      wasmUrl, // eslint-disable-line no-unused-vars
      keepQueryParams = ['utm_*'],
      anonymousId: givenAnonymousId = options.anonymous_id,
      anonymous_id, // eslint-disable-line no-unused-vars
      onError,
      beforeSend,
      requireConsent = false,
      ...core
    } = options;
    this.#requireConsent = requireConsent === true;
    const consented = !this.#requireConsent || this.#persistent.getItem(CONSENT_KEY) === 'granted';
    // Nothing is stored before consent in consent mode: an id made now lives in the page.
    this.#store = consented ? this.#persistent : memoryStore();
    for (const [name, value] of [['onError', onError], ['beforeSend', beforeSend]]) {
      if (value !== undefined && typeof value !== 'function') {
        const error = new TypeError(`${name} must be a function`);
        error.code = 'invalid_config';
        throw error;
      }
    }
    this.#onError = onError;
    this.#beforeSend = beforeSend;
    this.#disabled = core.disabled === true;
    this.#debug = core.debug === true;
    const url = new URL(endpoint, window.location.href);
    if (writeKey) url.searchParams.set('writeKey', writeKey);
    this.#endpoint = url.toString();
    this.#sessionTimeoutMs = sessionTimeoutMs;
    this.#keepQueryParams = keepQueryParams === true ? true : [...keepQueryParams];
    this.#maxQueued = maxQueuedBatches;
    this.#gzip = compression === 'gzip' && typeof CompressionStream === 'function';
    // A page that knows the visitor's id (a server-set cookie, say) passes it; otherwise
    // the id this browser already has, or a new one.
    let anonymousId = givenAnonymousId ?? this.#store.getItem(ANONYMOUS_KEY);
    if (!anonymousId) anonymousId = newId();
    if (anonymousId !== this.#store.getItem(ANONYMOUS_KEY)) this.#store.setItem(ANONYMOUS_KEY, anonymousId);
    this.#anonymousId = anonymousId;
    this.#optedOut = this.#persistent.getItem(OPT_OUT_KEY) === '1' || !consented;
    this.#userId = this.#store.getItem(USER_KEY);
    this.#referrer = keptUrl(document.referrer, this.#keepQueryParams);
    this.#native = new NativeSonde(JSON.stringify({
      batchSize,
      batchBytes: BEACON_LIMIT - 1024, // every batch fits in one beacon
      flushIntervalMs,
      anonymousId,
      randomSeed: randomSeed(),
      ...core,
    }));
    try {
      this.#registered = JSON.parse(this.#store.getItem(SUPER_KEY)) || {};
    } catch {
      this.#registered = {};
    }
    if (Object.keys(this.#registered).length) this.#native.register(JSON.stringify(this.#registered));
    this.#configuredSuper = core.superProperties ?? core.super_properties ?? {};
    this.#autocapture(autocapture);
    const goingAway = () => {
      this.#persistSession();
      this.#reportVitals();
      this.#beacon();
    };
    window.addEventListener('pagehide', goingAway);
    window.addEventListener('online', () => { if (!this.#disabled) this.#resendQueued(); });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') goingAway();
    });
    this.#schedule();
  }

  #vitals = null;
  #configuredSuper = {};

  /**
   * Opt-in automatic events: `pageViews` (now and on history API navigation), `clicks`
   * (`true`: elements carrying the `attribute`, default `data-track`; `'all'`: also every
   * button and link), `performance` (navigation timing, LCP, CLS and INP as `$performance`
   * events, sent when the page is hidden).
   */
  #autocapture({ pageViews = false, clicks = false, performance: vitals = false, attribute = 'data-track' }) {
    if (pageViews) {
      let last = location.pathname + location.search;
      const viewed = () => {
        const now = location.pathname + location.search;
        if (now === last) return;
        last = now;
        this.page(document.title || null);
      };
      for (const method of ['pushState', 'replaceState']) {
        const original = history[method];
        history[method] = function sondeHistory(...args) {
          const result = original.apply(this, args);
          queueMicrotask(viewed);
          return result;
        };
      }
      window.addEventListener('popstate', viewed);
      this.page(document.title || null);
    }
    if (clicks) {
      const selector = clicks === 'all' ? `[${attribute}], button, a, [role="button"]` : `[${attribute}]`;
      document.addEventListener('click', (event) => {
        const element = event.target instanceof Element ? event.target.closest(selector) : null;
        if (!element) return;
        const name = element.getAttribute(attribute) || element.id
          || (element.textContent || '').trim().slice(0, 100) || element.tagName.toLowerCase();
        try {
          this.trackInteraction('click', name, { path: location.pathname });
        } catch {
          // never break the page's own click handling
        }
      }, { capture: true });
    }
    if (vitals && typeof PerformanceObserver === 'function') {
      this.#vitals = { lcp: null, cls: 0, inp: 0, reported: false };
      const observe = (type, handle) => {
        try {
          new PerformanceObserver((list) => list.getEntries().forEach(handle)).observe({ type, buffered: true });
        } catch {
          // this browser does not report that entry type
        }
      };
      observe('largest-contentful-paint', (e) => { this.#vitals.lcp = e.startTime; });
      observe('layout-shift', (e) => { if (!e.hadRecentInput) this.#vitals.cls += e.value; });
      observe('event', (e) => { if (e.interactionId) this.#vitals.inp = Math.max(this.#vitals.inp, e.duration); });
    }
  }

  /** Page performance, once per page, as `$performance` events (`web.*` operations). */
  #reportVitals() {
    const v = this.#vitals;
    if (!v || v.reported || this.#optedOut) return;
    v.reported = true;
    const path = location.pathname;
    const record = (operation, ms, metadata = {}) => {
      try {
        this.#native.trackPerformance(operation, Math.max(0, ms), this.#identity({ metadata: { path, ...metadata } }));
      } catch {
        // a value the schema refuses is not worth breaking the page for
      }
    };
    const [nav] = performance.getEntriesByType('navigation');
    if (nav) {
      record('web.navigation', nav.duration || nav.loadEventEnd, {
        ttfb_ms: nav.responseStart,
        dom_content_loaded_ms: nav.domContentLoadedEventEnd,
        load_ms: nav.loadEventEnd,
      });
    }
    if (v.lcp !== null) record('web.lcp', v.lcp);
    record('web.cls', 0, { value: Math.round(v.cls * 10000) / 10000 });
    if (v.inp > 0) record('web.inp', v.inp);
  }

  get anonymousId() { return this.#anonymousId; }
  get userId() { return this.#userId; }

  #session = null; // { id, lastActivity, persistedAt }

  /**
   * The current session id; a new one after `sessionTimeoutMs` without activity (in any
   * tab: storage is checked before a session is renewed). Activity is written to storage at
   * most every few seconds and when the page is hidden, not on every event.
   */
  get sessionId() {
    const now = Date.now();
    let session = this.#session;
    if (!session || now - session.lastActivity > this.#sessionTimeoutMs) {
      let stored = null;
      try { stored = JSON.parse(this.#store.getItem(SESSION_KEY)); } catch { stored = null; }
      const fresh = stored && typeof stored.id === 'string' && now - stored.lastActivity <= this.#sessionTimeoutMs;
      session = fresh ? { id: stored.id, lastActivity: now, persistedAt: 0 } : { id: newId(), lastActivity: now, persistedAt: 0 };
      this.#session = session;
    }
    session.lastActivity = now;
    if (now - session.persistedAt > SESSION_WRITE_INTERVAL_MS) this.#persistSession();
    return session.id;
  }

  #persistSession() {
    const session = this.#session;
    if (!session) return;
    session.persistedAt = Date.now();
    try {
      this.#store.setItem(SESSION_KEY, JSON.stringify({ id: session.id, lastActivity: session.lastActivity }));
    } catch {
      // storage full: the session still lives in this page
    }
  }

  /**
   * The envelope of an event: identity, and analytics.js's context (page, user agent,
   * locale, timezone, screen) under what the call gave.
   */
  #identity(options) {
    if (options?.context) {
      const context = { ...this.#device, page: this.#page(), ...options.context };
      return eventJson({ userId: this.#userId ?? undefined, anonymousId: this.#anonymousId, sessionId: this.sessionId, ...options, context }, '');
    }
    // The usual call: the context is the core's default, handed over once per page state.
    this.#page();
    return eventJson({ userId: this.#userId ?? undefined, anonymousId: this.#anonymousId, sessionId: this.sessionId, ...options }, '');
  }

  #pageTitle = null;

  /** The page part of the context, worked out again only when the URL or title changed. */
  #page() {
    const href = window.location.href;
    const title = document.title;
    if (href !== this.#pageHref) {
      this.#pageHref = href;
      const url = keptUrl(href, this.#keepQueryParams);
      let search = '';
      try { search = new URL(url).search; } catch { search = ''; }
      this.#pageContext = { path: window.location.pathname, url, search, title, referrer: this.#referrer };
      this.#pageTitle = null;
    }
    if (title !== this.#pageTitle) {
      this.#pageTitle = title;
      this.#pageContext.title = title;
      this.#native.setContextDefaults(JSON.stringify({ ...this.#device, page: this.#pageContext }));
    }
    return this.#pageContext;
  }

  /**
   * Forgets who is using the page (call it on logout): the user id, the session, and the
   * anonymous id, which is replaced by a new one. Buffered events keep the ids they had.
   */
  reset() {
    this.#userId = null;
    this.#store.removeItem(USER_KEY);
    this.#store.removeItem(SESSION_KEY);
    this.#session = null;
    this.#anonymousId = newId();
    this.#store.setItem(ANONYMOUS_KEY, this.#anonymousId);
    for (const key of Object.keys(this.#registered)) this.#native.unregister(key);
    this.#registered = {};
    this.#store.removeItem(SUPER_KEY);
  }

  /**
   * One event call: nothing at all while opted out; else `event` (what the call describes)
   * through `beforeSend`, then `call` with it, then a flush timer. A refusal follows
   * `onInvalid`.
   */
  #send(event, call) {
    if (this.#optedOut) return null;
    let id;
    try {
      let sent = event;
      if (this.#beforeSend) {
        try {
          sent = this.#beforeSend({ ...event });
        } catch (raised) {
          this.#log('error', `beforeSend threw ${raised}; the event goes on unchanged`);
          sent = event;
        }
        if (sent == null) {
          this.#native.recordFiltered();
          return null;
        }
        if (typeof sent !== 'object' || sent.type !== event.type) {
          this.#log('error', `beforeSend must return the event (an object of type '${event.type}') or null; the event goes on unchanged`);
          sent = event;
        }
      }
      id = call(sent);
    } catch (error) {
      return this.#refused(error, event);
    }
    this.#schedule();
    return id;
  }

  /** A call that could not take its event: what `onInvalid` says (raise, warn or drop). */
  #refused(error, event) {
    const policy = this.#native.invalidPolicy;
    if (policy === 'raise' || error?.code === 'shut_down') throw error; // shut down: the caller's to know
    if (policy === 'warn') {
      this.#log('warn', `event dropped (onInvalid: 'warn'): ${error.message}`);
      this.#tellOnError(error, [event]);
    }
    return null;
  }

  /** The console, only in debug mode. */
  #log(level, message) {
    if (this.#debug) console[level](`sonde: ${message}`); // eslint-disable-line no-console
  }

  #tellOnError(error, events) {
    if (!this.#onError) return;
    try {
      this.#onError(error, events);
    } catch (raised) {
      this.#log('error', `onError threw ${raised}`);
    }
  }

  /** Batches that will never arrive: logged in debug mode and given to `onError`. */
  #lost(code, message, payloads) {
    const error = new Error(message);
    error.name = 'SondeError';
    error.code = code;
    error.violations = [];
    this.#log('error', message);
    const events = [];
    for (const payload of payloads) {
      try { events.push(...JSON.parse(payload).batch); } catch { /* not ours: nothing to report */ }
    }
    this.#tellOnError(error, events);
  }

  /** Stops all tracking in this browser, remembered across page loads: event methods do nothing and return null. */
  optOut() {
    this.#optedOut = true;
    this.#persistent.setItem(OPT_OUT_KEY, '1');
    this.#persistent.removeItem(CONSENT_KEY);
  }

  /**
   * Tracking again after `optOut()`, or for the first time in consent mode
   * (`requireConsent: true`): the consent is remembered, and what the page kept in memory
   * until now (its anonymous id, session, registered properties) is stored from here on.
   */
  optIn() {
    this.#optedOut = false;
    this.#persistent.removeItem(OPT_OUT_KEY);
    if (this.#requireConsent) this.#persistent.setItem(CONSENT_KEY, 'granted');
    if (this.#store !== this.#persistent) {
      for (const key of [ANONYMOUS_KEY, USER_KEY, SESSION_KEY, SUPER_KEY]) {
        const value = this.#store.getItem(key);
        if (value !== null) this.#persistent.setItem(key, value);
      }
      this.#store = this.#persistent;
      if (!this.#disabled) this.#resendQueued();
    }
  }

  get optedOut() { return this.#optedOut; }

  track(event, properties, options) {
    if (this.#beforeSend || this.#optedOut) {
      return this.#send({ ...options, type: 'track', event, properties },
        ({ type, event: name, properties: props, ...rest }) => this.#native.track(name, eventJson(props, '/properties'), this.#identity(rest)));
    }
    // The hot path: no event object built unless the call is refused, and for the usual
    // call (no options) the identity crosses as strings rather than as JSON.
    let id;
    try {
      if (options == null) {
        this.#page();
        id = this.#native.trackAs(event, eventJson(properties, '/properties'), this.#userId ?? undefined, this.#anonymousId, this.sessionId);
      } else {
        id = this.#native.track(event, eventJson(properties, '/properties'), this.#identity(options));
      }
    } catch (error) {
      return this.#refused(error, { ...options, type: 'track', event, properties });
    }
    this.#schedule();
    return id;
  }
  page(name, properties, options) {
    const props = {
      path: window.location.pathname,
      url: keptUrl(window.location.href, this.#keepQueryParams),
      title: document.title,
      referrer: keptUrl(document.referrer, this.#keepQueryParams),
      ...properties,
    };
    return this.#send({ ...options, type: 'page', name: name ?? null, properties: props },
      ({ type, name: n, properties: p, ...rest }) => this.#native.page(n ?? null, eventJson(p, '/properties'), this.#identity(rest)));
  }
  identify(userId, traits, options) {
    return this.#send({ ...options, type: 'identify', userId, traits }, ({ type, userId: id, traits: t, ...rest }) => {
      const sent = this.#native.identify(id, eventJson(t, '/traits'), this.#identity(rest));
      this.#userId = id;
      this.#store.setItem(USER_KEY, id);
      return sent;
    });
  }
  group(groupId, traits, options) {
    return this.#send({ ...options, type: 'group', groupId, traits },
      ({ type, groupId: id, traits: t, ...rest }) => this.#native.group(id, eventJson(t, '/traits'), this.#identity(rest)));
  }
  /**
   * Merges two identities: `{ userId, previousId }`, `previousId` defaulting to this
   * browser's anonymous id (an object, as in Sonde's Node and Segment's server SDKs: two
   * positional strings are too easy to swap).
   */
  alias(identities, options) {
    if (identities === null || typeof identities !== 'object') {
      return this.#send({ ...options, type: 'alias', userId: identities }, () => {
        const error = new TypeError("alias takes { userId, previousId? } (an object), e.g. alias({ userId: '42' })");
        error.code = 'invalid_event';
        throw error;
      });
    }
    const { userId, previousId = this.#anonymousId, ...envelope } = identities;
    return this.#send({ ...envelope, ...options, type: 'alias', previousId, userId },
      ({ type, previousId: p, userId: u, ...rest }) => this.#native.alias(u, p, eventJson({ anonymousId: this.#anonymousId, ...rest }, '')));
  }
  trackInteraction(action, target, options) {
    return this.#send({ ...options, type: 'track', event: '$interaction', action, target },
      ({ type, event, action: a, target: t, ...rest }) => this.#native.trackInteraction(a, t, this.#identity(rest)));
  }
  trackError(errorType, message, options) {
    return this.#send({ ...options, type: 'track', event: '$error', errorType, message },
      ({ type, event, errorType: e, message: m, ...rest }) => this.#native.trackError(e, m, this.#identity(rest)));
  }
  /** Super properties for every event from now on, kept across page loads (until `reset()`). */
  register(properties) {
    this.#native.register(JSON.stringify(properties));
    this.#registered = { ...this.#registered, ...properties };
    this.#persistRegistered();
  }

  /** `register`, for the keys not registered yet (first touch attribution, say). */
  registerOnce(properties) {
    const fresh = Object.fromEntries(Object.entries(properties ?? {})
      .filter(([key]) => !(key in this.#registered) && !(key in this.#configuredSuper)));
    if (Object.keys(fresh).length) this.register(fresh);
  }

  /** Stops sending one super property. */
  unregister(key) {
    this.#native.unregister(key);
    delete this.#registered[key];
    this.#persistRegistered();
  }

  #persistRegistered() {
    try {
      if (Object.keys(this.#registered).length) this.#store.setItem(SUPER_KEY, JSON.stringify(this.#registered));
      else this.#store.removeItem(SUPER_KEY);
    } catch {
      // storage full: they still apply in this page
    }
  }

  screen(name, properties, options) {
    return this.#send({ ...options, type: 'screen', name: name ?? null, properties },
      ({ type, name: n, properties: p, ...rest }) => this.#native.screen(n ?? null, eventJson(p, '/properties'), this.#identity(rest)));
  }

  /** A `$performance` event: `options` takes `success`, `errorType`, `metadata`. */
  trackPerformance(operation, durationMs, options) {
    return this.#send({ ...options, type: 'track', event: '$performance', operation, durationMs },
      ({ type, event, operation: o, durationMs: d, ...rest }) => this.#native.trackPerformance(o, d, this.#identity(rest)));
  }
  /** The core's statistics, plus `transport`: batches sent, failed attempts, batches the
   * collector refused (4xx), batches waiting in the persistent queue, and batches the
   * queue's cap (or a full storage) pushed out. */
  stats() {
    const stats = JSON.parse(this.#native.stats());
    stats.transport = { ...this.#transport, queued_batches: this.#queued().length };
    return stats;
  }

  /** Runs `fn` (sync or async) and records a `$performance` event; failures are rethrown. */
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
      return result.then((v) => { timer.end(); return v; }, (e) => { timer.fail(e); throw e; });
    }
    timer.end();
    return result;
  }

  startTimer(operation) {
    const started = performance.now();
    let done = false;
    const record = (success, errorType, metadata) => {
      if (done) return null;
      done = true;
      const durationMs = performance.now() - started;
      return this.#send({ type: 'track', event: '$performance', operation, durationMs, success, errorType, metadata },
        ({ type, event, operation: o, durationMs: d, ...rest }) => this.#native.trackPerformance(o, d, this.#identity(rest)));
    };
    return {
      end: (metadata) => record(true, undefined, metadata),
      fail: (error, metadata) => record(false, error?.constructor?.name || error?.name || 'Error', metadata),
    };
  }

  /** Sends everything buffered now; resolves when every batch got an answer. */
  async flush() {
    this.#native.flush();
    await this.#drain();
  }

  /** Stops accepting events and sends what is left. */
  async shutdown() {
    this.#native.close();
    await this.#drain();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #timerAt = 0;

  /** Sets the drain timer for the next due batch, unless one is already set for sooner. */
  #schedule() {
    const due = this.#native.nextBatchIn();
    if (due === undefined) return;
    const at = Date.now() + Math.max(0, due);
    if (this.#timer && this.#timerAt <= at) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => { this.#timer = null; this.#drain(); }, Math.max(0, due));
  }

  async #drain() {
    if (this.#sending) return;
    this.#sending = true;
    let reached = false;
    try {
      for (let batch = this.#native.takeBatch(); batch !== undefined; batch = this.#native.takeBatch()) {
        const { outcome, retryAfterMs } = await this.#post(batch.payload);
        if (outcome === 'failed') {
          this.#retryLater(batch, retryAfterMs);
          continue;
        }
        reached = true;
        if (outcome === 'sent') this.#native.ack(batch.id);
        else {
          this.#native.nack(batch.id, false); // refused (4xx): retrying cannot help
          this.#lost('sink_failed', `the collector refused a batch of ${batch.events} events`, [batch.payload]);
        }
        this.#settled(batch);
      }
    } finally {
      this.#sending = false;
      this.#schedule();
    }
    if (reached) this.#resendQueued(); // the collector answers again: send what earlier loads left
  }

  /**
   * A batch that failed: the core retries it after its backoff (never sooner than the
   * server's Retry-After), as the page's retry options say; until then, and once the core
   * gives up, its payload waits in the offline queue for a later load.
   */
  #retryLater(batch, retryAfterMs) {
    if (!this.#awaitingRetry.has(batch.id)) {
      this.#awaitingRetry.set(batch.id, batch.payload);
      this.#enqueue(batch.payload);
    }
    if (this.#native.nack(batch.id, true, retryAfterMs) === undefined) this.#awaitingRetry.delete(batch.id);
  }

  /** A batch settled for good (delivered or refused): its kept copy leaves the offline queue. */
  #settled(batch) {
    const kept = this.#awaitingRetry.get(batch.id);
    if (kept === undefined) return;
    this.#awaitingRetry.delete(batch.id);
    this.#dequeue(kept);
  }

  /**
   * `sent`, `refused` (a 4xx other than 429: retrying cannot help), or `failed` (network
   * error, 429, 5xx), with the server's `Retry-After` in ms when it gave one.
   */
  async #post(payload) {
    try {
      const headers = { 'content-type': 'text/plain' }; // CORS-simple unless compressed
      let body = payload;
      if (this.#gzip && payload.length >= GZIP_MIN_BYTES) {
        try {
          body = await gzip(payload);
          headers['content-encoding'] = 'gzip';
        } catch {
          this.#gzip = false; // a compressor that fails once is not trusted again: send text
        }
      }
      const response = await fetch(this.#endpoint, {
        method: 'POST',
        body,
        headers,
        keepalive: (body.byteLength ?? body.length) < BEACON_LIMIT,
      });
      if (response.ok) {
        this.#transport.sent_batches += 1;
        return { outcome: 'sent' };
      }
      if (response.status === 429 || response.status >= 500) {
        this.#transport.failed_attempts += 1;
        return { outcome: 'failed', retryAfterMs: retryAfter(response.headers.get('retry-after')) };
      }
      this.#transport.refused_batches += 1;
      return { outcome: 'refused' };
    } catch {
      this.#transport.failed_attempts += 1;
      return { outcome: 'failed' };
    }
  }

  #queued() {
    try { return JSON.parse(this.#store.getItem(QUEUE_KEY)) || []; } catch { return []; }
  }

  /** Keeps a batch for later; past the cap, or when storage is full, the oldest go first. */
  #enqueue(payload) {
    let queue = this.#queued();
    queue.push(payload);
    for (;;) {
      const kept = queue.length > this.#maxQueued ? queue.slice(-this.#maxQueued) : queue;
      this.#transport.queue_dropped_batches += queue.length - kept.length;
      if (kept.length < queue.length) {
        this.#lost('queue_full', `the offline queue is full (maxQueuedBatches ${this.#maxQueued}): its oldest batches were dropped`,
          queue.slice(0, queue.length - kept.length));
      }
      queue = kept;
      try {
        this.#store.setItem(QUEUE_KEY, JSON.stringify(queue));
        return;
      } catch {
        // Storage full: give up the oldest batch and try again.
        this.#lost('queue_full', 'the browser\'s storage is full: the oldest kept batch was dropped', queue.slice(0, 1));
        queue = queue.slice(1);
        this.#transport.queue_dropped_batches += 1;
        if (!queue.length) {
          this.#store.removeItem(QUEUE_KEY);
          return;
        }
      }
    }
  }

  /** Removes one kept payload from the offline queue. */
  #dequeue(payload) {
    const queue = this.#queued();
    const at = queue.indexOf(payload);
    if (at < 0) return;
    queue.splice(at, 1);
    try { this.#store.setItem(QUEUE_KEY, JSON.stringify(queue)); } catch { /* storage gone: nothing to remove */ }
  }

  /**
   * Sends, once each, the offline queue's batches that no retry in this page owns (left by
   * earlier loads, or given up on here), at load and whenever the collector answers again;
   * `sentAt` is renewed so the collector's clock-skew correction stays right. A failure
   * stops the round: the rest wait for the next chance.
   */
  async #resendQueued() {
    if (this.#resending) return;
    this.#resending = true;
    try {
      // One tab at a time: the queue is shared by every tab of the site.
      await exclusively(this.#store, async () => {
        const owned = new Set(this.#awaitingRetry.values());
        for (const payload of this.#queued().filter((p) => !owned.has(p))) {
          const { outcome } = await this.#post(payload.replace(/"sentAt":"[^"]*"\}$/, `"sentAt":"${new Date().toISOString()}"}`));
          if (outcome === 'failed') break;
          this.#dequeue(payload);
        }
      });
    } finally {
      this.#resending = false;
    }
  }

  /** The page is going away: hand what is buffered to `sendBeacon`, which outlives it. */
  #beacon() {
    if (this.#disabled) return;
    this.#native.flush();
    for (let batch = this.#native.takeBatch(); batch !== undefined; batch = this.#native.takeBatch()) {
      const sent = navigator.sendBeacon && batch.payload.length <= BEACON_LIMIT
        && navigator.sendBeacon(this.#endpoint, new Blob([batch.payload], { type: 'text/plain' }));
      if (sent) {
        this.#native.ack(batch.id);
        // `true` only means the browser queued the beacon. A batch that already failed here
        // went to a collector that did not answer, so its kept copy stays in the offline queue
        // for a later load (the collector drops a repeat by messageId); a batch on its first
        // attempt has no kept copy and is trusted to arrive.
        this.#awaitingRetry.delete(batch.id);
      } else {
        this.#retryLater(batch); // kept for a later load; should the page stay, the core retries it
      }
    }
  }
}

export default Sonde;
