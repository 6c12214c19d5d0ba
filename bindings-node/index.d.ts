import type { IncomingMessage, ServerResponse } from 'node:http';

// Types of the public API (index.js). Checked by compiling test/types.ts with
// `tsc --noEmit --strict` in `make test`.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** One broken rule: where (JSON pointer), what (stable code), why. */
export interface Violation {
  path: string;
  code: string;
  message: string;
}

/** Every error Sonde throws: a real `Error` with a stable `code`. */
export interface SondeError extends Error {
  name: 'SondeError';
  code: string;
  violations: Violation[];
}

/**
 * An event as a tracking call describes it, before validation (what `beforeSend` sees):
 * its `type`, the call's fields (`event`, `name`, `properties`, `userId`, `traits`, ...)
 * and options (`anonymousId`, `timestamp`, `context`, ...).
 */
export interface TrackedEvent {
  type: 'track' | 'page' | 'screen' | 'identify' | 'group' | 'alias';
  [field: string]: unknown;
}

/** A delivered event (Segment JSON, camelCase). */
export interface SondeEvent {
  type: 'track' | 'page' | 'screen' | 'identify' | 'group' | 'alias';
  messageId: string;
  timestamp: string;
  event?: string;
  name?: string;
  userId?: string;
  anonymousId?: string;
  properties?: JsonObject;
  traits?: JsonObject;
  context?: JsonObject;
  [field: string]: JsonValue | undefined;
}

export interface SondeOptions {
  /** A SQLite file to store events in (queryable with `queryEvents`). */
  store?: string;
  /** Print events: `true`/`'pretty'` readable lines, `'json'` JSON lines (stderr). */
  console?: boolean | 'pretty' | 'json';
  /** A JSON-lines file, rotated at `jsonlMaxBytes`, keeping `jsonlMaxFiles` (a device or pipe such as `/dev/stdout` is written to, never rotated). */
  jsonl?: string;
  jsonlMaxBytes?: number;
  jsonlMaxFiles?: number;
  /**
   * A collector's batch URL: Sonde's (`https://host/analytics/v1/batch`), any
   * Segment-compatible one, or PostHog's `/batch/` with `forwardFormat: 'posthog'`.
   * Batches are POSTed gzipped from the worker thread; 429/5xx retried (honouring
   * `Retry-After`), 413 split, other 4xx dropped as `rejected`.
   */
  endpoint?: string;
  /** Basic-auth user for Segment-format collectors, `api_key` for PostHog. */
  writeKey?: string;
  forwardFormat?: 'segment' | 'posthog';
  /** Longest a request to `endpoint` may take, in milliseconds (default 15000). */
  httpTimeoutMs?: number;
  /**
   * A SQLite file keeping batches until the collector took them: an outage or a restart
   * (even `kill -9`) loses nothing; sent oldest first by a thread of its own.
   */
  outbox?: string;
  /** The outbox's cap in bytes (default 256 MiB); past it the oldest batches are dropped. */
  outboxMaxBytes?: number;
  /**
   * More HTTP destinations besides `endpoint`, each with its own options: a collector that
   * stores events (`store`) and also sends them on to Segment or PostHog.
   */
  forward?: ForwardDestination[];
  /**
   * An OpenTelemetry collector's OTLP/HTTP metrics URL (`http://collector:4318/v1/metrics`):
   * the statistics are pushed there as protobuf every `otlpIntervalMs` (default 60000, at
   * most as often as `metricsIntervalMs`), cumulative, latency as exponential histograms.
   */
  otlpEndpoint?: string;
  /** Extra headers for each export (names as given). */
  otlpHeaders?: { [name: string]: string };
  otlpIntervalMs?: number;
  /** Resource attributes (`service.name`, ...). */
  otlpResource?: { [name: string]: string };
  /**
   * Called on the main thread with each delivered batch. A returned promise is awaited; a
   * throw or a rejection makes the batch retry.
   */
  sink?: ((events: SondeEvent[]) => void) | ((events: SondeEvent[]) => Promise<void>);
  /**
   * How long the worker waits for one sink call, promise included (default 30000). A call
   * still running then is not repeated: the batch's retry waits for that same call.
   */
  sinkTimeoutMs?: number;
  sampleRate?: number;
  sampleRates?: { [eventName: string]: number };
  trackingPlan?: JsonObject | null;
  redactKeys?: string[];
  ipPolicy?: 'keep' | 'anonymize' | 'drop';
  /** A backstop on waiting events (default 1,000,000): the byte cap is the one that binds. */
  maxQueueEvents?: number;
  /** Bytes waiting events may hold, JSON plus a 32-byte slot each (default 64 MiB). */
  maxQueueBytes?: number;
  overflow?: 'drop_oldest' | 'drop_newest' | 'block';
  blockTimeoutMs?: number;
  batchSize?: number;
  batchBytes?: number;
  flushIntervalMs?: number;
  maxRetries?: number;
  retryInitialBackoffMs?: number;
  retryMaxBackoffMs?: number;
  dropTimeoutMs?: number;
  maxEventNames?: number;
  maxRoutes?: number;
  anonymousId?: string;
  randomSeed?: number;
  superProperties?: JsonObject;
  alertRules?: JsonObject[];
  alertHistoryLimit?: number;
  hostMetrics?: boolean;
  metricsIntervalMs?: number;
  limits?: JsonObject;
  library?: { name: string; version: string };
  /** Validate every event, send and store nothing; no destination needed (tests, local runs). */
  disabled?: boolean;
  /**
   * Events must name their person (`userId` or `anonymousId`), as Segment's server SDKs
   * require (default true unless `anonymousId` is given); Sonde's own events without a user
   * (requests, timings, errors) are personless (`anonymousId: '$personless'`).
   */
  requirePerson?: boolean;
  /** Log each delivered batch through `logger.debug`; invalid events raise by default. */
  debug?: boolean;
  /**
   * What a tracking call does with an event it cannot accept: throw it (`'raise'`), log it,
   * pass it to `onError` and return null (`'warn'`), or return null (`'drop'`). Default:
   * `'raise'` when disabled, in debug mode or under a test runner, `'warn'` otherwise.
   */
  onInvalid?: 'raise' | 'warn' | 'drop';
  /** Called with the error and the events for every loss (and refusals under `'warn'`). */
  onError?: (error: SondeError & { reason?: string }, events: JsonObject[]) => void;
  /** Where warnings and errors (and debug lines) go; default `console`. */
  logger?: { debug(message: string): void; warn(message: string): void; error(message: string): void };
  /**
   * Scrubs or drops an event tracked in this process before validation: return it (changed
   * or not), or null to drop it (counted as `before_send`).
   */
  beforeSend?: (event: TrackedEvent) => TrackedEvent | null | undefined;
  /** Deliver what is buffered on `beforeExit` (default true). */
  flushOnExit?: boolean;
  /** Also on SIGTERM and SIGINT, then let the signal proceed (default true). */
  handleSignals?: boolean;
  /** How long the exit flush may take (default 2000 ms). */
  exitTimeoutMs?: number;
}

export interface EventOptions {
  userId?: string;
  anonymousId?: string;
  sessionId?: string;
  messageId?: string;
  timestamp?: string | Date;
  context?: JsonObject;
}

export interface ApiRequest extends EventOptions {
  method: string;
  route: string;
  statusCode: number;
  durationMs: number;
  path?: string;
  clientAddress?: string;
  userAgent?: string;
  requestBodySize?: number;
  responseBodySize?: number;
  errorType?: string;
  ttfbMs?: number;
}

export interface IngestItem {
  index: number;
  status: 'accepted' | 'sampled' | 'filtered' | 'queue_full' | 'rejected';
  message_id: string | null;
  errors: Violation[];
  warnings: Violation[];
}

export interface IngestReport {
  accepted: number;
  rejected: number;
  items: IngestItem[];
}

export interface EventQuery {
  type?: SondeEvent['type'];
  event?: string;
  eventPrefix?: string;
  userId?: string;
  anonymousId?: string;
  sessionId?: string;
  from?: string | Date;
  to?: string | Date;
  properties?: { [key: string]: string | number | boolean | null };
  order?: 'asc' | 'desc';
  limit?: number;
  cursor?: string;
  withTotal?: boolean;
}

export interface EventPage {
  events: SondeEvent[];
  next_cursor: string | null;
  total: number | null;
}

/**
 * Statistics. Counters are 64-bit in the core and arrive as JavaScript numbers: exact up to
 * 2^53 (9e15), far beyond what one process counts.
 */
export interface Stats {
  taken_at: string;
  counters: {
    received: number;
    accepted: number;
    delivered: number;
    queued: number;
    queued_bytes: number;
    in_flight: number;
    retries: number;
    batches_delivered: number;
    batches_failed: number;
    plan_violations: number;
    dropped: { [reason: string]: number };
  };
  events: { [name: string]: number };
  routes: { [route: string]: JsonObject };
  operations: { [operation: string]: JsonObject };
  rates: JsonObject;
  gauges: { [name: string]: number };
  /** HTTP destinations with an `outbox`, keyed by endpoint (absent when there are none). */
  outboxes?: { [endpoint: string]: OutboxStats };
  /** Metrics exports (`otlpEndpoint`), keyed by endpoint (absent when there are none). */
  exports?: { [endpoint: string]: { sent: number; failed: number; last_error: string | null } };
}

/** An HTTP destination of `forward`: the options of `endpoint`, per destination. */
export interface ForwardDestination {
  endpoint: string;
  writeKey?: string;
  forwardFormat?: 'segment' | 'posthog';
  httpTimeoutMs?: number;
  outbox?: string;
  outboxMaxBytes?: number;
}

/** What became of the batches an HTTP destination keeps in its outbox file. */
export interface OutboxStats {
  pending_batches: number;
  pending_events: number;
  pending_bytes: number;
  sent: number;
  retries: number;
  dropped: { rejected: number; oversize: number; outbox_full: number };
  last_error: string | null;
}

export interface MiddlewareOptions {
  /** Regular expressions matched at the start of the path; matching requests are not recorded. */
  excludePaths?: string[];
  /** Methods not recorded (default `['OPTIONS']`). */
  excludeMethods?: string[];
  /**
   * Share of requests recorded as `$api_request` events; statistics see every request.
   * (What is recorded of client addresses is the client's `ipPolicy`.)
   */
  requestSampleRate?: number;
  /** Adds `X-Process-Time` (seconds, when the headers are written). */
  processTimeHeader?: boolean;
  /** How many proxies in front of the app to believe: the client is the rightmost hop of
   * `Forwarded` (RFC 7239) or `X-Forwarded-For` that is not one of them. */
  trustedProxies?: number;
  /** Believe every forwarded hop: the leftmost is the client. */
  trustForwarded?: boolean;
  /** The route template of a request (default: Express's `baseUrl` + `route.path`). */
  route?: (req: IncomingMessage) => string | undefined;
  /**
   * The user a request was made by (called when it ends, so what auth middleware put on
   * `req` is there); without one its events are personless, not merged into one person.
   */
  identify?: (req: IncomingMessage & { [key: string]: unknown }, res: ServerResponse) => string | null | undefined;
}

/** Koa's and Hono's middleware options: the route comes from the framework, and `identify` gets its context. */
export type FrameworkMiddlewareOptions = Omit<MiddlewareOptions, 'route' | 'identify'> & {
  identify?: (context: any) => string | null | undefined;
};

/** Options of the analytics API (`router`, `handler`, `fastifyRouter`). */
export interface ApiOptions {
  /** Admin key(s) for management endpoints and event reads (`X-API-Key` or `Bearer`). */
  apiKey?: string | string[];
  /** When given, ingestion needs one (basic auth user, `X-Write-Key` or `?writeKey=`). */
  writeKeys?: string | string[];
  /** Event reads need the admin key (default true). */
  protectReads?: boolean;
  /** Serve management endpoints without a key (local development only). */
  allowUnauthenticated?: boolean;
  /** Origins (or `'*'`) allowed to post from browsers. */
  corsOrigins?: string[];
  /** Request body limit (default: the client's batch limit). */
  maxBodyBytes?: number;
  /** Token(s) that may read `/metrics` and nothing else (a scraper's `Bearer`). */
  metricsToken?: string | string[];
  /** Serve `/metrics` without any key. */
  openMetrics?: boolean;
}

export type Middleware = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;
export type ErrorMiddleware = (
  error: unknown,
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

export interface Timer {
  end(metadata?: JsonObject): string | null;
  fail(error: unknown, metadata?: JsonObject): string | null;
}

export declare class Sonde {
  constructor(options?: SondeOptions);
  readonly anonymousId: string;
  readonly isShutDown: boolean;
  readonly storePath: string | null;
  readonly superProperties: JsonObject;
  exitTimeoutMs: number;
  handleSignals: boolean;

  /** Each event method returns the messageId, or null when `onInvalid` dropped the event or `beforeSend` did. */
  track(event: string, properties?: JsonObject | null, options?: EventOptions): string | null;
  page(name?: string | null, properties?: JsonObject | null, options?: EventOptions): string | null;
  screen(name?: string | null, properties?: JsonObject | null, options?: EventOptions): string | null;
  identify(userId: string, traits?: JsonObject | null, options?: EventOptions): string | null;
  group(groupId: string, traits?: JsonObject | null, options?: EventOptions): string | null;
  /** `previousId` (an anonymous id or an old user id) becomes `userId`. */
  alias(identities: { previousId: string; userId: string }, options?: EventOptions): string | null;
  trackApiRequest(request: ApiRequest): string | null;
  recordRequest(method: string, route: string, statusCode: number, durationMs: number): void;
  trackPerformance(
    operation: string,
    durationMs: number,
    options?: EventOptions & { success?: boolean; errorType?: string; metadata?: JsonObject },
  ): string | null;
  trackInteraction(action: string, target: string, options?: EventOptions & { path?: string; value?: JsonValue }): string | null;
  trackError(errorType: string, message: string, options?: EventOptions & { stack?: string; route?: string }): string | null;
  ingest(body: string | Buffer | JsonObject, options?: { defaultType?: SondeEvent['type']; dryRun?: boolean }): IngestReport;
  register(properties: JsonObject): void;
  unregister(key: string): void;
  limits(): { maxMessageBytes: number; maxBatchBytes: number; maxBatchMessages: number };
  /**
   * Changes core options at run time (`null` removes one): a client built with the merged
   * options takes over; the previous one delivers what it holds within `timeoutMs`.
   * Destinations, `sink` and the exit options cannot change.
   */
  reconfigure(options: { [name: string]: JsonValue | null }, settings?: { timeoutMs?: number }): Promise<void>;
  /** The core options in force (snake_case). */
  readonly options: JsonObject;
  flush(timeoutMs?: number): Promise<void>;
  shutdown(timeoutMs?: number): Promise<void>;
  stats(): Stats;
  /**
   * The statistics of every instance sharing the store, merged, in the Prometheus text
   * format (OpenMetrics with `{ openMetrics: true }`), as `/metrics` serves them.
   */
  metricsText(options?: { openMetrics?: boolean }): Promise<string>;
  systemMetrics(): JsonObject;
  alerts(): JsonObject[];
  evaluateAlerts(): JsonObject[];
  /** The store methods run SQLite on libuv's thread pool, never on the event loop. */
  queryEvents(filters?: EventQuery): Promise<EventPage>;
  getEvent(messageId: string): Promise<SondeEvent | null>;
  updateEvent(messageId: string, properties: JsonObject, options?: { replace?: boolean }): Promise<SondeEvent | null>;
  deleteEvent(messageId: string): Promise<boolean>;
  /** At least one filter (none `undefined` or `null`), or `{ all: true }` alone; paging fields are refused. */
  deleteEvents(filters: Omit<EventQuery, 'limit' | 'cursor' | 'order' | 'withTotal'> | { all: true }): Promise<number>;
  aggregate(options?: { from?: string | Date; to?: string | Date; bucket?: 'minute' | 'hour' | 'day' }): Promise<JsonObject>;
  middleware(options?: MiddlewareOptions): Middleware;
  errorHandler(): ErrorMiddleware;
  /** A Fastify plugin: `app.register(sonde.fastify(), options)`. */
  fastify(): (instance: any, options: MiddlewareOptions, done: (error?: Error) => void) => void;
  /** Koa middleware (`app.use(sonde.koa(options))`, first); `identify(ctx)` gives the request's user. */
  koa(options?: FrameworkMiddlewareOptions): (ctx: any, next: () => Promise<unknown>) => Promise<void>;
  /** Hono middleware on @hono/node-server (`app.use(sonde.hono(options))`); `identify(c)` gives the user. */
  hono(options?: FrameworkMiddlewareOptions): (c: any, next: () => Promise<void>) => Promise<void>;
  wrap(
    handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
    options?: MiddlewareOptions,
  ): (req: IncomingMessage, res: ServerResponse) => void;
  /** The analytics API for Express/Connect: `app.use('/analytics', sonde.router({ apiKey }))`. */
  router(options?: ApiOptions): Middleware;
  /** The analytics API for `node:http` under `prefix`; returns whether it took the request. */
  handler(
    options?: ApiOptions & { prefix?: string },
  ): (req: IncomingMessage, res: ServerResponse, next?: () => void) => boolean;
  /** The analytics API as a Fastify plugin: `app.register(sonde.fastifyRouter(o), { prefix: '/analytics' })`. */
  fastifyRouter(options?: ApiOptions): (instance: any) => Promise<void>;
  time<T>(operation: string, fn: () => T): T;
  startTimer(operation: string): Timer;
}
